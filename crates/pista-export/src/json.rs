//! JSON: each point is its stored message with the Recorder's derived times added (`isorcv`,
//! `isotst`, `disptst`), and in exports also `username` and `device`. The export is an array
//! with one point per line; the Recorder's `/api/0/locations` answer (`recorder`) writes its
//! points with [`push_item`] too, with their addresses.
//!
//! The stored message is compact JSON of an object, so the added members are spliced in before
//! its closing brace without parsing it. A message that already holds one of the added names is parsed and the name set
//! in place instead, as the Recorder's own output does.

use std::io;
use std::sync::LazyLock;

use crate::time::{push_display, push_iso, push_iso_and_display};
use memchr::memmem::Finder;
use pista_store::{MessageWriter, PointMessage};
use serde_json::{Map, Value};

/// Appends one point as a JSON object; with `identity`, also `username` and `device`; with
/// `address`, the point's address as `addr` when it has one and the message has none.
pub fn push_item(
    out: &mut Vec<u8>,
    point: &PointMessage<'_>,
    identity: bool,
    address: bool,
) -> io::Result<()> {
    let payload = point.payload;
    let addr = point.addr.filter(|_| address);
    let splice = payload.len() >= 2
        && payload.starts_with('{')
        && payload.ends_with('}')
        && !holds_added_name(payload.as_bytes(), identity, addr.is_some());
    if !splice {
        return push_parsed(out, point, identity, addr);
    }

    out.extend_from_slice(&payload.as_bytes()[..payload.len() - 1]);
    if payload.len() > 2 {
        out.push(b',');
    }
    if identity {
        out.extend_from_slice(b"\"username\":");
        serde_json::to_writer(&mut *out, point.key.user.as_str())?;
        out.extend_from_slice(b",\"device\":");
        serde_json::to_writer(&mut *out, point.key.device.as_str())?;
        out.push(b',');
    }
    if let Some(addr) = addr {
        out.extend_from_slice(b"\"addr\":");
        serde_json::to_writer(&mut *out, addr)?;
        out.push(b',');
    }
    out.extend_from_slice(b"\"isorcv\":\"");
    push_iso(out, point.received_at);
    out.extend_from_slice(b"\",\"isotst\":\"");
    push_iso_and_display(out, point.tst, b"\",\"disptst\":\"");
    out.extend_from_slice(b"\"}");
    Ok(())
}

/// The names the writer adds, quoted: the Recorder's times, then the identity. The searchers
/// are built once; building one per search (as `str::contains` does) was a twentieth of a
/// month's JSON. (One pass over the quotes instead of a search per name was slower: a message
/// holds some thirty quotes.)
static ADDED_NAMES: LazyLock<[Finder<'static>; 5]> = LazyLock::new(|| {
    ["\"isorcv\"", "\"isotst\"", "\"disptst\"", "\"username\"", "\"device\""].map(Finder::new)
});

/// `"addr"`: a message holding it keeps its own address.
static ADDR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"addr\""));

/// Whether `payload` holds `"isorcv"`, `"isotst"` or `"disptst"` (with `identity`, also
/// `"username"` or `"device"`; with `addr`, also `"addr"`) anywhere, as a key or inside a
/// string.
fn holds_added_name(payload: &[u8], identity: bool, addr: bool) -> bool {
    let names = if identity { &ADDED_NAMES[..] } else { &ADDED_NAMES[..3] };
    names.iter().any(|name| name.find(payload).is_some()) || (addr && ADDR.find(payload).is_some())
}

/// The slow path of [`push_item`]: parse, set the members, write again.
fn push_parsed(
    out: &mut Vec<u8>,
    point: &PointMessage<'_>,
    identity: bool,
    addr: Option<&str>,
) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &parsed_item(point, identity, addr))?;
    Ok(())
}

/// The point's stored message as an object (an empty one when it is not one) with the members
/// [`push_item`] adds: the identity, `addr` when the message has none, the derived times.
pub(crate) fn parsed_item(
    point: &PointMessage<'_>,
    identity: bool,
    addr: Option<&str>,
) -> Map<String, Value> {
    let mut item = match serde_json::from_str::<Value>(point.payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if identity {
        item.insert("username".into(), point.key.user.to_string().into());
        item.insert("device".into(), point.key.device.to_string().into());
    }
    if let Some(addr) = addr {
        item.entry("addr").or_insert_with(|| addr.into());
    }
    let time = |push: fn(&mut Vec<u8>, i64), seconds: i64| {
        let mut text = Vec::with_capacity(20);
        push(&mut text, seconds);
        Value::String(String::from_utf8_lossy(&text).into_owned())
    };
    item.insert("isorcv".into(), time(push_iso, point.received_at));
    item.insert("isotst".into(), time(push_iso, point.tst));
    item.insert("disptst".into(), time(push_display, point.tst));
    item
}

/// The export's JSON: an array of points, one per line.
#[derive(Default)]
pub(crate) struct Array {
    items: u64,
}

impl MessageWriter for Array {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.push(b'[');
        Ok(())
    }

    fn message(&mut self, out: &mut Vec<u8>, point: &PointMessage<'_>) -> io::Result<()> {
        out.extend_from_slice(if self.items == 0 { b"\n" } else { b",\n" });
        self.items += 1;
        push_item(out, point, true, false)
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(if self.items == 0 { b"]\n" } else { b"\n]\n" });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::holds_added_name;

    #[test]
    fn added_names_are_found_as_keys_and_as_whole_strings() {
        let cases: [(&str, bool, bool); 9] = [
            (r#"{"_type":"location","tst":1}"#, true, false),
            (r#"{"isotst":"x"}"#, false, true),
            (r#"{"a":1,"isorcv":2}"#, false, true),
            (r#"{"disptst":""}"#, false, true),
            (r#"{"device":"d"}"#, false, false),
            (r#"{"device":"d"}"#, true, true),
            // A string that is one of the names is a false alarm: the slow path, same output.
            (r#"{"desc":"username"}"#, true, true),
            (r#"{"desc":"say \"username\""}"#, true, false),
            (r#"{"isotstx":1,"xdevice":2,"username_":3,"isorcv":4}"#, true, true),
        ];
        for (payload, identity, want) in cases {
            assert_eq!(holds_added_name(payload.as_bytes(), identity, false), want, "{payload}");
        }
        assert!(!holds_added_name(br#"{"isotstx":1,"xdevice":2,"username_":3}"#, true, false));
        // `"addr"` counts only when an address would be added.
        let own = br#"{"tst":1,"addr":"Main St"}"#;
        assert_eq!(
            (holds_added_name(own, true, false), holds_added_name(own, false, true)),
            (false, true)
        );
        assert!(!holds_added_name(br#"{"addrx":1,"xaddr":2}"#, true, true));
    }
}
