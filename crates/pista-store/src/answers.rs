//! What every HTTP-mode answer reads, kept in memory: whom each user sees (`friends`) and which
//! devices have commands not yet taken over HTTP. Without it each post costs two more queries
//! than its own write, a third of the work at thousands of posts a second. Each copy is tagged
//! with the revisions (see `schema/revisions`) it was read at; the batch write reads the
//! revisions under its shared lock, so an answer given after its post's commit sees every change
//! committed (by any process) before that batch began. This process's own changes also update
//! the copies directly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pista_core::{DeviceKey, DeviceName, UserName};

use crate::revision::Revisions;

/// Whom each user sees, as [`crate::Storage::friends`] answers.
pub(crate) type FriendLists = HashMap<UserName, Vec<(UserName, Option<DeviceName>)>>;

/// The copies and the revisions they were read at.
#[derive(Default)]
pub(crate) struct Answers {
    /// Revisions of the last batch write (`None` before the first: nothing is kept until then).
    pub seen: Option<Revisions>,
    friends: Option<(Revisions, Arc<FriendLists>)>,
    pending: Option<(Revisions, HashSet<DeviceKey>)>,
}

impl Answers {
    /// The friend lists, if read at the revisions seen last.
    pub fn friends(&self) -> Option<Arc<FriendLists>> {
        let (at, lists) = self.friends.as_ref()?;
        let seen = self.seen?;
        (at.friends == seen.friends && at.deletions == seen.deletions).then(|| Arc::clone(lists))
    }

    /// Keeps `lists`, read when the revisions seen were `at` (not kept before any batch).
    pub fn keep_friends(&mut self, at: Option<Revisions>, lists: FriendLists) -> Arc<FriendLists> {
        let lists = Arc::new(lists);
        self.friends = at.map(|at| (at, Arc::clone(&lists)));
        lists
    }

    /// Forgets the friend lists (this process changed them).
    pub fn forget_friends(&mut self) {
        self.friends = None;
    }

    /// Whether `key` may have commands waiting for HTTP; `None` when not known at the revisions
    /// seen last.
    pub fn may_have_commands(&self, key: &DeviceKey) -> Option<bool> {
        let (at, pending) = self.pending.as_ref()?;
        let seen = self.seen?;
        (at.commands == seen.commands && at.deletions == seen.deletions)
            .then(|| pending.contains(key))
    }

    /// Keeps the devices with waiting commands, read when the revisions seen were `at` (not
    /// kept before any batch).
    pub fn keep_pending(&mut self, at: Option<Revisions>, pending: HashSet<DeviceKey>) {
        self.pending = at.map(|at| (at, pending));
    }

    /// Notes a command queued for `key` by this process.
    pub fn queued(&mut self, key: &DeviceKey) {
        if let Some((_, pending)) = &mut self.pending {
            pending.insert(key.clone());
        }
    }

    /// Notes that this process took every waiting command of `key`.
    pub fn taken(&mut self, key: &DeviceKey) {
        if let Some((_, pending)) = &mut self.pending {
            pending.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str, device: &str) -> DeviceKey {
        DeviceKey::parse(user, device).unwrap()
    }

    #[test]
    fn copies_count_only_at_the_revisions_they_were_read_at() {
        let mut answers = Answers::default();
        let lists = || FriendLists::from([(UserName::parse("jane").unwrap(), Vec::new())]);
        answers.keep_friends(answers.seen, lists());
        assert!(answers.friends().is_none(), "nothing is kept before the first batch");
        answers.seen = Some(Revisions::default());
        assert!(answers.friends().is_none());
        answers.keep_friends(answers.seen, lists());
        assert_eq!(answers.friends().unwrap().len(), 1);
        let seen = answers.seen.as_mut().unwrap();
        seen.commands += 1;
        assert_eq!(answers.friends().unwrap().len(), 1, "commands do not touch friends");
        answers.seen.as_mut().unwrap().friends += 1;
        assert!(answers.friends().is_none());

        answers.keep_pending(answers.seen, HashSet::from([key("jane", "phone")]));
        assert_eq!(answers.may_have_commands(&key("jane", "phone")), Some(true));
        assert_eq!(answers.may_have_commands(&key("jane", "car")), Some(false));
        answers.queued(&key("jane", "car"));
        answers.taken(&key("jane", "phone"));
        assert_eq!(answers.may_have_commands(&key("jane", "phone")), Some(false));
        assert_eq!(answers.may_have_commands(&key("jane", "car")), Some(true));
        answers.seen.as_mut().unwrap().deletions += 1;
        assert_eq!(answers.may_have_commands(&key("jane", "car")), None);
    }
}
