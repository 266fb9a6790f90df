//! Splitting an MQTT topic into the device it belongs to and the subtopic that says what kind of
//! data it carries. OwnTracks topics are `<root>/<user>/<device>[/<subtopic>...]`: the root may be
//! anything, a leading `/` is tolerated (old Greenwich setups publish `/owntracks/...`), and every
//! level after the device is the subtopic (`event`, `cmd/out`, `voltage/ext`, `obd2/7e8/01/0c`).

use crate::ids::{DeviceKey, NameError};

/// Why a topic names no device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic {topic:?} has fewer than 3 levels (<root>/<user>/<device>)")]
    TooShort { topic: String },
    #[error("topic {topic:?}: {source}")]
    BadName { topic: String, source: NameError },
}

/// The device and subtopic of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicParts {
    pub key: DeviceKey,
    /// Everything after the device level, without the separating `/`; `None` for the device's
    /// own topic.
    pub subtopic: Option<String>,
}

impl TopicParts {
    /// Parses `topic` by the OwnTracks rule.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let trimmed = topic.strip_prefix('/').unwrap_or(topic);
        let mut levels = trimmed.splitn(4, '/');
        let (Some(_root), Some(user), Some(device)) = (levels.next(), levels.next(), levels.next())
        else {
            return Err(TopicError::TooShort { topic: topic.to_owned() });
        };
        let key = DeviceKey::parse(user, device)
            .map_err(|source| TopicError::BadName { topic: topic.to_owned(), source })?;
        let subtopic = levels.next().filter(|rest| !rest.is_empty()).map(str::to_owned);
        Ok(Self { key, subtopic })
    }
}

/// Whether `topic` matches the MQTT subscription `filter` (`+` one level, `#` the rest). A
/// shared-subscription prefix `$share/<group>/` on the filter is ignored.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let filter = match filter.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, f)| f),
        None => filter,
    };
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match (level, topic_levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (want, Some(got)) if want == got => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

/// Whether the ACL topic `filter` allows `topic` to `user`, connected as `client_id` (`None`
/// where there is no MQTT client: HTTP and the API). As in mosquitto and the original back end,
/// `%u` stands for the user name and `%c` for the client id, each as a whole level; a filter
/// that names the client matches nothing without one, or for a client id that holds `/`, `+`
/// or `#` (it would reach other topics than its own).
pub fn acl_matches(filter: &str, user: &str, client_id: Option<&str>, topic: &str) -> bool {
    if !filter.contains('%') {
        return topic_matches(filter, topic);
    }
    let client = client_id.filter(|id| !id.is_empty() && !id.contains(['/', '+', '#']));
    let mut levels = Vec::new();
    for level in filter.split('/') {
        levels.push(match level {
            "%u" => user,
            "%c" => match client {
                Some(client) => client,
                None => return false,
            },
            other => other,
        });
    }
    topic_matches(&levels.join("/"), topic)
}

/// Why `filter` is not an MQTT topic filter, if it is not: `#` must be a whole level and the
/// last one, `+` a whole level, and no level holds a NUL character.
pub fn filter_problem(filter: &str) -> Option<&'static str> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('\0') {
            return Some("holds a NUL character");
        }
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Some("has '#' that is not a whole level at the end");
        }
        if level.contains('+') && level != "+" {
            return Some("has '+' that is not a whole level");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_filters_stand_for_the_user_and_the_client_as_whole_levels() {
        let cases = [
            ("owntracks/%u/#", "jane", None, "owntracks/jane/phone", true),
            ("owntracks/%u/#", "jane", None, "owntracks/bob/phone", false),
            ("owntracks/%u/+", "jane", None, "owntracks/jane/phone/event", false),
            ("owntracks/%u/%c", "jane", Some("phone"), "owntracks/jane/phone", true),
            ("owntracks/%u/%c", "jane", Some("tablet"), "owntracks/jane/phone", false),
            ("owntracks/%u/%c", "jane", None, "owntracks/jane/phone", false),
            ("owntracks/%u/%c/#", "jane", Some("a/b"), "owntracks/jane/a/b", false),
            ("owntracks/%u/%c", "jane", Some("#"), "owntracks/jane/phone", false),
            // Only a whole level stands for a name.
            ("owntracks/x%u/#", "jane", None, "owntracks/xjane/phone", false),
            ("owntracks/#", "jane", None, "owntracks/bob/phone", true),
            ("owntracks/bob/phone", "jane", None, "owntracks/bob/phone", true),
        ];
        for (filter, user, client, topic, allowed) in cases {
            assert_eq!(acl_matches(filter, user, client, topic), allowed, "{filter} {topic}");
        }
    }

    #[test]
    fn filters_put_wildcards_only_where_mqtt_allows_them() {
        for good in ["owntracks/#", "owntracks/%u/+", "#", "+/+/#", "owntracks/jane/phone"] {
            assert_eq!(filter_problem(good), None, "{good}");
        }
        let bad = [
            ("owntracks/#/x", "has '#' that is not a whole level at the end"),
            ("owntracks/ja#", "has '#' that is not a whole level at the end"),
            ("owntracks/j+/phone", "has '+' that is not a whole level"),
            ("owntracks/\0", "holds a NUL character"),
        ];
        for (filter, problem) in bad {
            assert_eq!(filter_problem(filter), Some(problem), "{filter}");
        }
    }

    fn parts(topic: &str) -> (String, String, Option<String>) {
        let p = TopicParts::parse(topic).unwrap();
        (p.key.user.to_string(), p.key.device.to_string(), p.subtopic)
    }

    #[test]
    fn topics_split_into_user_device_and_subtopic() {
        let s = |v: &str| v.to_owned();
        let cases = [
            ("owntracks/jane/phone", (s("jane"), s("phone"), None)),
            ("/owntracks/gw/K2", (s("gw"), s("k2"), None)),
            ("owntracks/gw/K2/voltage/ext", (s("gw"), s("k2"), Some(s("voltage/ext")))),
            ("/oo/gg/JP/cmd/out", (s("gg"), s("jp"), Some(s("cmd/out")))),
            ("x/jane@example.org/i.phone", (s("jane@example.org"), s("i.phone"), None)),
            ("owntracks/a-b/c", (s("a-b"), s("c"), None)),
            ("owntracks/a/b-c", (s("a"), s("b-c"), None)),
            ("owntracks/jane/phone/", (s("jane"), s("phone"), None)),
        ];
        for (topic, want) in cases {
            assert_eq!(parts(topic), want, "{topic}");
        }
    }

    #[test]
    fn filters_match_like_a_broker() {
        let cases = [
            ("owntracks/#", "owntracks/jane/phone", true),
            ("owntracks/#", "owntracks", true),
            ("owntracks/#", "_owntracks/x/y", false),
            ("owntracks/+/+", "owntracks/jane/phone", true),
            ("owntracks/+/+", "owntracks/jane/phone/event", false),
            ("owntracks/gw/#", "owntracks/gw/K2/voltage/ext", true),
            ("$share/pista/owntracks/#", "owntracks/a/b", true),
            ("#", "/owntracks/a/b", true),
            ("+/owntracks/#", "/owntracks/a/b", true),
        ];
        for (filter, topic, want) in cases {
            assert_eq!(topic_matches(filter, topic), want, "{filter} {topic}");
        }
    }

    #[test]
    fn short_or_empty_levels_are_refused() {
        assert_eq!(
            TopicParts::parse("owntracks/jane").unwrap_err().to_string(),
            "topic \"owntracks/jane\" has fewer than 3 levels (<root>/<user>/<device>)"
        );
        assert_eq!(
            TopicParts::parse("owntracks//phone").unwrap_err().to_string(),
            "topic \"owntracks//phone\": user name is empty"
        );
    }
}
