//! The one rule set that decides what a user may see and do, whatever door they come through
//! (the web API, the Recorder's API, live streams, exports, HTTP-mode friend lists, ctrld and
//! the embedded broker). A [`RuleBook`] holds every account's superuser flag, ACL entries and
//! groups, and every share; a [`Viewer`] is one user (and, on MQTT, their client id) asking.
//!
//! Reading a topic under `owntracks/<owner>/...` (a leading `/` allowed) is allowed to the
//! owner, to a superuser, to whoever an active share of that device (or of all the owner's
//! devices) names directly or through a group, and to whoever has an ACL entry matching the
//! topic (`%u`/`%c` standing for the user and client). A device as the HTTP side names it is the
//! topic `owntracks/<user>/<device>`. Writing is stricter: a user writes under their own
//! `owntracks/<user>/...`; under another user's only a superuser does, or an ACL entry with
//! write access for that device's `cmd` topic (sending it a command); any other topic needs an
//! ACL entry with write access. Shares never give write access.

use std::collections::HashMap;

use crate::ids::{DeviceKey, DeviceName, GroupName, UserName};
use crate::topic::acl_matches;

/// Who a device is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grantee {
    User(UserName),
    Group(GroupName),
}

impl std::fmt::Display for Grantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(user) => write!(f, "user {user}"),
            Self::Group(group) => write!(f, "group {group}"),
        }
    }
}

/// One user's device, or all of them, shown to another user or a group, possibly until a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The store's id (0 before it is stored).
    pub id: i64,
    pub owner: UserName,
    /// `None` shares every device of the owner, including later ones.
    pub device: Option<DeviceName>,
    pub to: Grantee,
    /// The share ends at this time (UNIX seconds, exclusive); `None` never.
    pub until: Option<i64>,
    pub created_at: i64,
}

impl Share {
    /// Whether the share still holds at `now`.
    pub fn active(&self, now: i64) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    fn covers(&self, user: &str, device: &str) -> bool {
        self.owner.as_str() == user && self.device.as_ref().is_none_or(|d| d.as_str() == device)
    }
}

/// One ACL entry as the rules use it: an MQTT topic filter, possibly with `%u` and `%c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    pub filter: String,
    /// Read and write; otherwise read only.
    pub write: bool,
}

#[derive(Debug, Default, Clone)]
struct Member {
    superuser: bool,
    acls: Vec<AclRule>,
    groups: Vec<GroupName>,
}

/// Every account's rules and every share, as loaded from the store.
#[derive(Debug, Default, Clone)]
pub struct RuleBook {
    members: HashMap<UserName, Member>,
    shares: Vec<Share>,
}

impl RuleBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an account.
    pub fn add_user(&mut self, user: UserName, superuser: bool) {
        self.members.entry(user).or_default().superuser = superuser;
    }

    /// Adds an ACL entry to an account added before; an entry of an unknown user is ignored.
    pub fn add_acl(&mut self, user: &UserName, rule: AclRule) {
        if let Some(member) = self.members.get_mut(user) {
            member.acls.push(rule);
        }
    }

    /// Puts an account added before into a group.
    pub fn add_member(&mut self, group: GroupName, user: &UserName) {
        if let Some(member) = self.members.get_mut(user) {
            member.groups.push(group);
        }
    }

    pub fn add_share(&mut self, share: Share) {
        self.shares.push(share);
    }

    /// Whether there are no accounts at all.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The rules as they apply to `user` (connected as `client_id` on MQTT); `None` when there
    /// is no such account.
    pub fn viewer<'a>(
        &'a self,
        user: &'a UserName,
        client_id: Option<&'a str>,
    ) -> Option<Viewer<'a>> {
        let member = self.members.get(user)?;
        Some(Viewer { book: self, user, member, client_id })
    }
}

/// One user asking.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    book: &'a RuleBook,
    user: &'a UserName,
    member: &'a Member,
    client_id: Option<&'a str>,
}

/// What a topic says about who owns it.
enum Owner<'t> {
    /// Not under `owntracks/<user>`.
    Nobody,
    /// Under `owntracks/<user>`: the raw user level, the device level if any, whether it is the
    /// device's `cmd` topic.
    User { user: &'t str, device: Option<&'t str>, cmd: bool },
}

fn owner(topic: &str) -> Owner<'_> {
    let trimmed = topic.strip_prefix('/').unwrap_or(topic);
    let mut levels = trimmed.split('/');
    if levels.next() != Some("owntracks") {
        return Owner::Nobody;
    }
    let Some(user) = levels.next() else { return Owner::Nobody };
    let device = levels.next();
    let rest: Vec<&str> = levels.collect();
    Owner::User { user, device, cmd: rest == ["cmd"] }
}

/// The topic a device is checked as on the HTTP side.
pub fn device_topic(key: &DeviceKey) -> String {
    format!("owntracks/{}/{}", key.user, key.device)
}

impl Viewer<'_> {
    pub fn user(&self) -> &UserName {
        self.user
    }

    pub fn superuser(&self) -> bool {
        self.member.superuser
    }

    /// Whether the user owns `user`'s data (is that user, or a superuser).
    pub fn manages(&self, user: &UserName) -> bool {
        self.member.superuser || self.user == user
    }

    fn is(&self, raw_user: &str) -> bool {
        // Names are case-folded; a topic's level may not be.
        UserName::parse(raw_user).is_ok_and(|user| &user == self.user)
    }

    fn acl(&self, topic: &str, write: bool) -> bool {
        self.member.acls.iter().any(|rule| {
            (rule.write || !write)
                && acl_matches(&rule.filter, self.user.as_str(), self.client_id, topic)
        })
    }

    fn shared(&self, user: &str, device: &str, now: i64) -> bool {
        let (Ok(user), Ok(device)) = (UserName::parse(user), DeviceName::parse(device)) else {
            return false;
        };
        self.book.shares.iter().any(|share| {
            share.active(now)
                && share.covers(user.as_str(), device.as_str())
                && match &share.to {
                    Grantee::User(to) => to == self.user,
                    Grantee::Group(group) => self.member.groups.contains(group),
                }
        })
    }

    /// The devices shared with the user at `now`: each owner with one device, or `None` for all
    /// of the owner's devices.
    pub fn shared_with_me(&self, now: i64) -> Vec<(UserName, Option<DeviceName>)> {
        let mut found: Vec<(UserName, Option<DeviceName>)> = self
            .book
            .shares
            .iter()
            .filter(|share| {
                share.active(now)
                    && match &share.to {
                        Grantee::User(to) => to == self.user,
                        Grantee::Group(group) => self.member.groups.contains(group),
                    }
            })
            .map(|share| (share.owner.clone(), share.device.clone()))
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// The topic filters OwnTracksCTRL subscribes to for this user, each `<root>/<user>/<device>`
    /// deep (the app splits every topic by the depth of the first): all devices for a superuser;
    /// else the user's own, what is shared with them, and their ACL entries, where `%u` is
    /// the user, an entry naming the client (`%c`) or starting with `_` is left out, a trailing
    /// `/#` below the device level is dropped, and a `#` at the device level stands for `+`.
    pub fn ctrl_topics(&self, now: i64) -> Vec<String> {
        if self.member.superuser {
            return vec!["owntracks/+/+".to_owned()];
        }
        let mut topics = vec![format!("owntracks/{}/+", self.user)];
        for (owner, device) in self.shared_with_me(now) {
            let device = device.as_ref().map_or("+", DeviceName::as_str);
            topics.push(format!("owntracks/{owner}/{device}"));
        }
        for rule in &self.member.acls {
            let filter = rule.filter.as_str();
            if filter.starts_with('_') || filter.split('/').any(|level| level == "%c") {
                continue;
            }
            let (slash, body) = match filter.strip_prefix('/') {
                Some(body) => ("/", body),
                None => ("", filter),
            };
            let mut levels: Vec<&str> = body
                .split('/')
                .map(|level| if level == "%u" { self.user.as_str() } else { level })
                .collect();
            if levels.len() > 3 && levels.last() == Some(&"#") {
                levels.pop();
            }
            if levels.len() == 3 && levels[2] == "#" {
                levels[2] = "+";
            }
            if levels.len() != 3 || levels[..2].contains(&"#") {
                continue;
            }
            topics.push(format!("{slash}{}", levels.join("/")));
        }
        let mut seen = std::collections::HashSet::new();
        topics.retain(|topic| seen.insert(topic.clone()));
        topics
    }

    /// Whether the user may see a device's data.
    pub fn reads_device(&self, key: &DeviceKey, now: i64) -> bool {
        self.reads_topic(&device_topic(key), now)
    }

    /// Whether the user may receive a message on `topic` at `now`.
    pub fn reads_topic(&self, topic: &str, now: i64) -> bool {
        if self.member.superuser {
            return true;
        }
        if let Owner::User { user, device, .. } = owner(topic) {
            if self.is(user) {
                return true;
            }
            if device.is_some_and(|device| self.shared(user, device, now)) {
                return true;
            }
        }
        self.acl(topic, false)
    }

    /// Whether the user may publish on `topic`.
    pub fn writes_topic(&self, topic: &str) -> bool {
        if self.member.superuser {
            return true;
        }
        match owner(topic) {
            Owner::User { user, .. } if self.is(user) => true,
            Owner::User { cmd, .. } => cmd && self.acl(topic, true),
            Owner::Nobody => self.acl(topic, true),
        }
    }

    /// Whether the user may send a command to a device.
    pub fn commands_device(&self, key: &DeviceKey) -> bool {
        self.writes_topic(&format!("{}/cmd", device_topic(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    fn book() -> RuleBook {
        let mut book = RuleBook::new();
        for name in ["jane", "bob", "kid", "ops", "eve"] {
            book.add_user(user(name), false);
        }
        book.add_user(user("root"), true);
        book.add_acl(&user("ops"), AclRule { filter: "owntracks/+/+".into(), write: false });
        book.add_acl(&user("ops"), AclRule { filter: "fleet/#".into(), write: true });
        book.add_acl(&user("jane"), AclRule { filter: "owntracks/kid/+/cmd".into(), write: true });
        book.add_acl(&user("eve"), AclRule { filter: "owntracks/%u/%c".into(), write: true });
        let group = GroupName::parse("family").unwrap();
        book.add_member(group.clone(), &user("bob"));
        book.add_share(Share {
            id: 1,
            owner: user("kid"),
            device: None,
            to: Grantee::Group(group),
            until: None,
            created_at: 0,
        });
        book.add_share(Share {
            id: 2,
            owner: user("jane"),
            device: Some(DeviceName::parse("phone").unwrap()),
            to: Grantee::User(user("bob")),
            until: Some(1000),
            created_at: 0,
        });
        book
    }

    #[test]
    fn reading_follows_ownership_shares_groups_acls_and_expiry() {
        let book = book();
        let cases = [
            ("jane", "owntracks/jane/phone", 0, true),
            ("jane", "/owntracks/Jane/phone/event", 0, true),
            ("jane", "owntracks/bob/phone", 0, false),
            // Shared until 1000, exclusive, and only that device.
            ("bob", "owntracks/jane/phone", 999, true),
            ("bob", "owntracks/jane/phone/event", 999, true),
            ("bob", "owntracks/jane/phone", 1000, false),
            ("bob", "owntracks/jane/tablet", 0, false),
            // Through the group, every device of kid.
            ("bob", "owntracks/kid/watch", 5_000_000, true),
            ("jane", "owntracks/kid/watch", 0, false),
            // ACL: ops reads device topics but not subtopics.
            ("ops", "owntracks/jane/phone", 0, true),
            ("ops", "owntracks/jane/phone/event", 0, false),
            ("ops", "fleet/truck", 0, true),
            ("root", "owntracks/anyone/x/y", 0, true),
            ("eve", "$SYS/broker/uptime", 0, false),
            ("eve", "_owntracks/_map/jane/phone", 0, false),
        ];
        for (name, topic, now, want) in cases {
            let name = user(name);
            let viewer = book.viewer(&name, None).unwrap();
            assert_eq!(viewer.reads_topic(topic, now), want, "{name} reads {topic} at {now}");
        }
    }

    #[test]
    fn writing_is_own_topics_commands_by_acl_and_acl_topics() {
        let book = book();
        let cases = [
            ("jane", None, "owntracks/jane/phone", true),
            ("jane", None, "owntracks/JANE/phone/event", true),
            ("jane", None, "owntracks/bob/phone", false),
            // A share reads, never writes.
            ("bob", None, "owntracks/jane/phone", false),
            // The ACL lets jane command kid's devices, and nothing else of kid's.
            ("jane", None, "owntracks/kid/watch/cmd", true),
            ("jane", None, "owntracks/kid/watch", false),
            ("jane", None, "owntracks/kid/watch/cmd/extra", false),
            // A write ACL over other users' locations gives no write there.
            ("ops", None, "fleet/truck", true),
            ("ops", None, "elsewhere", false),
            ("eve", Some("phone"), "owntracks/eve/phone", true),
            ("eve", Some("phone"), "other/topic", false),
            ("root", None, "owntracks/jane/phone", true),
        ];
        for (name, client, topic, want) in cases {
            let name = user(name);
            let viewer = book.viewer(&name, client).unwrap();
            assert_eq!(viewer.writes_topic(topic), want, "{name} writes {topic}");
        }
        let bob = user("bob");
        let shared = book.viewer(&bob, None).unwrap().shared_with_me(999);
        let phone = Some(DeviceName::parse("phone").unwrap());
        assert_eq!(shared, vec![(user("jane"), phone), (user("kid"), None)]);
        assert_eq!(
            book.viewer(&bob, None).unwrap().shared_with_me(1000),
            vec![(user("kid"), None)]
        );
        let jane = user("jane");
        let viewer = book.viewer(&jane, None).unwrap();
        assert!(viewer.commands_device(&DeviceKey::parse("kid", "watch").unwrap()));
        assert!(!viewer.commands_device(&DeviceKey::parse("bob", "watch").unwrap()));
    }

    #[test]
    fn ctrl_topics_are_device_deep_filters_of_own_shared_and_acl_topics() {
        let mut book = book();
        let bob = user("bob");
        for filter in [
            "owntracks/%u/#",
            "/owntracks/gw/#",
            "owntracks/+/+/#",
            "_owntracks/_map/#",
            "owntracks/%c/+",
            "owntracks/fleet",
            "owntracks/a/b/c/#",
            "owntracks/bob/+",
        ] {
            book.add_acl(&bob, AclRule { filter: filter.into(), write: false });
        }
        let topics = book.viewer(&bob, None).unwrap().ctrl_topics(999);
        assert_eq!(
            topics,
            [
                "owntracks/bob/+",
                "owntracks/jane/phone",
                "owntracks/kid/+",
                "/owntracks/gw/+",
                "owntracks/+/+",
            ]
        );
        // The share of jane's phone has ended by 1000.
        let later = book.viewer(&bob, None).unwrap().ctrl_topics(1000);
        assert!(!later.contains(&"owntracks/jane/phone".to_owned()));
        assert_eq!(book.viewer(&user("root"), None).unwrap().ctrl_topics(0), ["owntracks/+/+"]);
    }

    #[test]
    fn unknown_users_have_no_viewer_and_their_entries_are_dropped() {
        let mut book = book();
        book.add_acl(&user("ghost"), AclRule { filter: "#".into(), write: true });
        assert!(book.viewer(&user("ghost"), None).is_none());
        let jane = user("jane");
        let viewer = book.viewer(&jane, None).unwrap();
        assert!(viewer.manages(&jane));
        assert!(!viewer.manages(&user("bob")));
        assert!(book.viewer(&user("root"), None).unwrap().manages(&jane));
    }
}
