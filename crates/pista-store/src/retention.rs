//! Retention and deletion: the [`RetentionStore`] trait (delete a time range or everything of a
//! user or device, keep the deletion log, keep the per-user and per-device retention rules) and
//! its records. A trait of its own beside [`crate::Storage`], because only the deletion paths
//! (API, CLI, the scheduled retention pass) use it.
//!
//! Deletions run in transactions of a bounded number of rows per table, each under the same
//! in-process write turn as ingest, so a large deletion never holds up a batch for long. Time
//! ranges apply to the fix's own time (`tst`), never the arrival time, so late uploads age with
//! the day they describe (bug case B08). See `delete` for what each table is matched by.

mod delete;
mod rules;

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use pista_core::{DeviceKey, DeviceName, UserName};

use crate::error::StoreError;

/// What a deletion takes, by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Everything of the user or device: its history and its registry rows (regions, cards,
    /// secrets, friends, the device itself).
    All,
    /// History whose own time lies in `from..=to`; `None` is an open end. Registry rows stay.
    Range { from: Option<i64>, to: Option<i64> },
}

/// Whose data a deletion takes: one device of a user, or every device of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub user: UserName,
    pub device: Option<DeviceName>,
    pub span: Span,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            Some(device) => write!(f, "{}/{device}", self.user)?,
            None => write!(f, "{} (every device)", self.user)?,
        }
        let bound = |t: Option<i64>| t.map_or_else(|| "*".to_owned(), pista_core::time::iso);
        match self.span {
            Span::All => write!(f, ", everything"),
            Span::Range { from, to } => write!(f, ", {} to {}", bound(from), bound(to)),
        }
    }
}

/// Who asked for a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedBy {
    Cli,
    Api,
    /// The scheduled retention pass.
    Retention,
}

impl DeletedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Api => "api",
            Self::Retention => "retention",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "cli" => Ok(Self::Cli),
            "api" => Ok(Self::Api),
            "retention" => Ok(Self::Retention),
            other => Err(StoreError::Corrupt { what: "deletion", detail: format!("by {other:?}") }),
        }
    }
}

/// What one deletion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Rows deleted per table; tables without deleted rows are absent.
    pub counts: BTreeMap<String, u64>,
    /// Devices that lost rows, sorted.
    pub devices: Vec<DeviceKey>,
    /// Devices whose registry row went too (they are unknown afterwards), sorted.
    pub removed: Vec<DeviceKey>,
    /// The deletion log entry; `None` for a retention pass that found nothing to delete.
    pub log_id: Option<i64>,
}

impl Deleted {
    /// Rows deleted in all tables.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// An entry of the deletion log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeletion {
    pub id: i64,
    pub at: i64,
    pub by: DeletedBy,
    pub user: String,
    /// `None` when every device of the user was meant.
    pub device: Option<String>,
    pub everything: bool,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub counts: BTreeMap<String, u64>,
    pub total: u64,
    /// Why the deletion stopped part way; what it deleted until then is in `counts`.
    pub error: Option<String>,
}

/// How many days of history a user (all devices) or one device keeps; 0 keeps everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    pub user: UserName,
    pub device: Option<DeviceName>,
    pub days: u64,
    pub updated_at: i64,
}

/// Deletion, its log and the retention rules.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes what `selector` names, at most `chunk` rows of a table per transaction, and
    /// logs it (a retention pass that deleted nothing is not logged). When a step fails, what
    /// was deleted until then is logged with the error, and the error is returned.
    async fn delete(
        &self,
        selector: &Selector,
        by: DeletedBy,
        at: i64,
        chunk: u64,
    ) -> Result<Deleted, StoreError>;

    /// The newest `limit` entries of the deletion log, newest first.
    async fn deletions(&self, limit: u64) -> Result<Vec<StoredDeletion>, StoreError>;

    /// Every retention rule, sorted by user and device (user rules first).
    async fn retention_rules(&self) -> Result<Vec<RetentionRule>, StoreError>;

    /// Sets the rule of a device, or of a user when `device` is `None`; returns whether it
    /// replaced one.
    async fn set_retention_rule(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
        days: u64,
        at: i64,
    ) -> Result<bool, StoreError>;

    /// Removes a rule; returns whether there was one.
    async fn remove_retention_rule(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError>;

    /// Every registered device, sorted.
    async fn known_devices(&self) -> Result<Vec<DeviceKey>, StoreError>;
}

/// The days `key` keeps: its device rule, else its user's rule, else `default` (0 keeps
/// everything).
pub fn effective_days(rules: &[RetentionRule], key: &DeviceKey, default: u64) -> u64 {
    let device =
        rules.iter().find(|r| r.user == key.user && r.device.as_ref() == Some(&key.device));
    let user = || rules.iter().find(|r| r.user == key.user && r.device.is_none());
    device.or_else(user).map_or(default, |rule| rule.days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(user: &str, device: Option<&str>, days: u64) -> RetentionRule {
        RetentionRule {
            user: UserName::parse(user).unwrap(),
            device: device.map(|d| DeviceName::parse(d).unwrap()),
            days,
            updated_at: 0,
        }
    }

    #[test]
    fn device_rule_beats_user_rule_beats_default() {
        let rules = [rule("jane", None, 30), rule("jane", Some("car"), 0), rule("bob", None, 7)];
        let days = |user: &str, device: &str| {
            effective_days(&rules, &DeviceKey::parse(user, device).unwrap(), 365)
        };
        assert_eq!(
            [days("jane", "phone"), days("jane", "car"), days("bob", "phone"), days("al", "x")],
            [30, 0, 7, 365]
        );
    }

    #[test]
    fn selectors_read_in_logs() {
        let selector = Selector {
            user: UserName::parse("jane").unwrap(),
            device: Some(DeviceName::parse("phone").unwrap()),
            span: Span::Range { from: None, to: Some(1_700_000_000) },
        };
        assert_eq!(selector.to_string(), "jane/phone, * to 2023-11-14T22:13:20Z");
        let all = Selector { device: None, span: Span::All, ..selector };
        assert_eq!(all.to_string(), "jane (every device), everything");
    }
}
