//! Newtype names for users and devices, and the one rule that turns what a client sent into an
//! identity: names are case-folded to lower case (so `Alice/Phone` and
//! `alice/phone` are one device, as in the OwnTracks Recorder) and must be non-empty, without
//! control characters or the MQTT separators `/`, `+` and `#`. Any other character, including
//! `-`, `@`, `.` and non-ASCII letters, is kept as it is, so distinct names never collide.

use std::fmt;

/// Why a user or device name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} name is empty")]
    Empty { what: &'static str },
    #[error("{what} name {name:?} contains {found:?}, which is not allowed in names")]
    BadChar { what: &'static str, name: String, found: char },
    #[error("{what} name {name:?} is longer than {max} bytes")]
    TooLong { what: &'static str, name: String, max: usize },
}

/// Longest accepted name in bytes; it keeps names indexable by every database backend.
const MAX_NAME_BYTES: usize = 190;

fn normalise(what: &'static str, raw: &str) -> Result<String, NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty { what });
    }
    if let Some(found) = raw.chars().find(|c| c.is_control() || matches!(c, '/' | '+' | '#')) {
        return Err(NameError::BadChar { what, name: raw.to_owned(), found });
    }
    let folded = raw.to_lowercase();
    if folded.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong { what, name: raw.to_owned(), max: MAX_NAME_BYTES });
    }
    Ok(folded)
}

/// A user name, case-folded. The user is the second level of an OwnTracks topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

/// A device name, case-folded. The device is the third level of an OwnTracks topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceName(String);

/// A group of users that devices can be shared with, named by the rules of user names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(String);

impl GroupName {
    /// Validates and case-folds a group name.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        normalise("group", raw).map(Self)
    }

    /// The case-folded name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl UserName {
    /// Validates and case-folds a user name as a client sent it.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        normalise("user", raw).map(Self)
    }

    /// The case-folded name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl DeviceName {
    /// Validates and case-folds a device name as a client sent it.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        normalise("device", raw).map(Self)
    }

    /// The case-folded name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tracker id shown when a message has none: the last two characters of the device name,
    /// as the apps and the Greenwich firmware derive their default.
    pub fn default_tid(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars[chars.len().saturating_sub(2)..].iter().collect()
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One device of one user: the identity every stored message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    pub user: UserName,
    pub device: DeviceName,
}

impl DeviceKey {
    /// Validates both names.
    pub fn parse(user: &str, device: &str) -> Result<Self, NameError> {
        Ok(Self { user: UserName::parse(user)?, device: DeviceName::parse(device)? })
    }
}

impl fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.user, self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_case_and_keep_other_characters() {
        let cases = [
            ("Alice", "alice"),
            ("jane@example.org", "jane@example.org"),
            ("a-b.c_d", "a-b.c_d"),
            ("Ünïcødé", "ünïcødé"),
            ("27A2DC28-0371-4077-B607-85FE50BDCB74", "27a2dc28-0371-4077-b607-85fe50bdcb74"),
        ];
        for (raw, want) in cases {
            assert_eq!(UserName::parse(raw).unwrap().as_str(), want, "{raw}");
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        assert_eq!(UserName::parse(""), Err(NameError::Empty { what: "user" }));
        assert_eq!(
            DeviceName::parse("a/b").unwrap_err().to_string(),
            "device name \"a/b\" contains '/', which is not allowed in names"
        );
        assert!(matches!(DeviceName::parse("x#"), Err(NameError::BadChar { found: '#', .. })));
        assert!(matches!(DeviceName::parse("x\u{0}"), Err(NameError::BadChar { .. })));
        assert!(matches!(UserName::parse(&"x".repeat(191)), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn default_tid_is_the_last_two_characters() {
        assert_eq!(DeviceName::parse("jjolie").unwrap().default_tid(), "ie");
        assert_eq!(DeviceName::parse("x").unwrap().default_tid(), "x");
        assert_eq!(DeviceName::parse("Wagen-Ö1").unwrap().default_tid(), "ö1");
    }
}
