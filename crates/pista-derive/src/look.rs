//! The watcher's debug lines (`_look`): one human-readable line per received message, in the
//! original o2s's layouts so that existing consoles and scripts read them unchanged. A line is
//! `<stamp> <topic> <text>` with the stamp (`DD.MM HH:MM:SS`, UTC) padded to 14 characters and
//! the topic to 32. Locations show their own fix time; everything else shows when it arrived.

use crate::map::{Fix, UNKNOWN_ADDR, look_stamp};

/// A line for a location (also an alarm's): its fields in fixed-width columns and the address.
pub fn location_line(topic: &str, fix: &Fix) -> String {
    let int = |value: Option<f64>| value.map_or(0, |value| value.trunc() as i64);
    let velocity = format!("{:>3}", int(fix.vel));
    let position = format!("{},{}", python_float(fix.lat), python_float(fix.lon));
    let text = format!(
        "t={} tid={:<2} c={:<3} v={:<6} a={:<6} trip={:<7} dist={:<5} loc={:<20} {}",
        fix.trigger.as_deref().unwrap_or("-"),
        fix.tid,
        int(fix.cog),
        velocity,
        int(fix.alt),
        int(fix.trip),
        int(fix.dist),
        position,
        fix.addr.as_deref().unwrap_or(UNKNOWN_ADDR),
    );
    line(look_stamp(fix.tst), topic, &text)
}

/// A line for any other message: the time it arrived and its text (a payload, or what a
/// vehicle value means).
pub fn text_line(received_at: i64, topic: &str, text: &str) -> String {
    line(look_stamp(received_at), topic, text)
}

/// The words of a geofence event, as the original logged them.
pub fn alert_text(tid: &str, event: &str, fence: &str, tstamp: &str, meters: i64) -> String {
    format!("ALERT: {tid}: {event} {fence} at {tstamp}. Distance: {meters}m")
}

/// Where a line about a message on `topic` goes: the watcher prefix, the device topic, and the
/// rest of the topic (empty for the device topic itself, so the line's topic ends in `/`).
pub fn topic(prefix: &str, device_topic: &str, subtopic: Option<&str>) -> String {
    format!("{prefix}/{device_topic}/{}", subtopic.unwrap_or_default())
}

fn line(stamp: String, topic: &str, text: &str) -> String {
    format!("{stamp:<14} {topic:<32} {text}")
}

/// A coordinate as Python 2 printed it: shortest form, with `.0` on whole numbers.
fn python_float(value: f64) -> String {
    let text = value.to_string();
    if value.is_finite() && !text.contains('.') { format!("{text}.0") } else { text }
}

/// The line with every control character and bidirectional override written as an escape
/// (`\n`, `\u{1b}`, `\u{202e}`), so that what a device or a fence name puts into a line can
/// neither start a forged second line nor drive a watcher's terminal.
pub fn printable(line: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !line.contains(unsafe_char) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tests::decode_location;

    /// The seed vectors' `_look` lines, from their inputs.
    #[test]
    fn seed_lines_are_reproduced() {
        let cases = [
            (
                "owntracks/gw/jjolie",
                r#"{"cog":-1,"batt":"79","lon":"2.295134","acc":"10","vel":0,"vac":3,"lat":"48.858334","t":"t","tst":"1415719099","alt":171,"_type":"location","tid":"jj"}"#,
                "11.11 15:18:19 owntracks/gw/jjolie              t=t tid=jj c=-1  v=  0    a=171    trip=0       dist=0     loc=48.858334,2.295134   unknown location",
            ),
            (
                "owntracks/gw/K2",
                "K2,542A46AA,k,40365854,4575769,26,4,7,5,8",
                "30.09 05:59:06 owntracks/gw/K2                  t=k tid=K2 c=260 v=  4    a=70     trip=8000    dist=5     loc=40.365854,4.575769   unknown location",
            ),
        ];
        for (device_topic, payload, expected) in cases {
            let fix = Fix::from_location(&decode_location(device_topic, payload));
            assert_eq!(location_line(device_topic, &fix), expected);
            assert_eq!(
                topic("_owntracks/_look", device_topic, None),
                format!("_owntracks/_look/{device_topic}/")
            );
        }
    }

    #[test]
    fn other_lines() {
        assert_eq!(
            text_line(1_417_509_779, "owntracks/gw/K2/voltage/batt", "4.12"),
            "02.12 08:42:59 owntracks/gw/K2/voltage/batt     4.12"
        );
        assert_eq!(
            text_line(1_417_509_779, "owntracks/gw/K2/obd2/000007e8/01/0c", "Engine RPM: 952 rpm"),
            "02.12 08:42:59 owntracks/gw/K2/obd2/000007e8/01/0c Engine RPM: 952 rpm"
        );
        assert_eq!(
            alert_text("BB", "enters", "LOADays", "2014-10-30T18:06:49Z", 78),
            "ALERT: BB: enters LOADays at 2014-10-30T18:06:49Z. Distance: 78m"
        );
        assert_eq!(python_float(52.0), "52.0");
        assert_eq!(python_float(-5.184415), "-5.184415");
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        let forged = "Evil\nALERT: XX: leaves Home\u{0}\u{1b}[2J\u{202e}é\t";
        assert_eq!(printable(forged), "Evil\\nALERT: XX: leaves Home\\u{0}\\u{1b}[2J\\u{202e}é\\t");
        assert!(matches!(printable("plain é line"), std::borrow::Cow::Borrowed(_)));
    }
}
