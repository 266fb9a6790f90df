//! The original's JSON text forms, which consumers of `_map`, `_alerts` and `_job` compare byte
//! for byte: keys sorted, every non-ASCII character escaped as `\uXXXX`, and either no spaces at
//! all (`compact`, the device and job objects) or Python's default `", "` and `": "` separators
//! (`spaced`, the alerts).

use std::fmt::Write;

use serde_json::Value;

/// `{"a":1,"b":[2,3]}`: sorted keys, no whitespace, ASCII only.
pub fn compact(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, (",", ":"));
    out
}

/// `{"a": 1, "b": [2, 3]}`: sorted keys, Python's default separators, ASCII only.
pub fn spaced(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, (", ", ": "));
    out
}

fn write_value(out: &mut String, value: &Value, separators: (&str, &str)) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push_str(separators.0);
                }
                write_string(out, key);
                out.push_str(separators.1);
                write_value(out, &map[key], separators);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(separators.0);
                }
                write_value(out, item, separators);
            }
            out.push(']');
        }
        Value::String(text) => write_string(out, text),
        // Numbers, booleans and null have one spelling; serde_json's is the shortest round trip.
        other => out.push_str(&other.to_string()),
    }
}

/// Writes `text` as Python's `json` does by default: ASCII only, short escapes where JSON has
/// them, and `\uXXXX` (lowercase hex, surrogate pairs beyond the BMP) for everything else outside
/// space..tilde.
pub(crate) fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn forms_match_the_originals() {
        let value = json!({"b": [1, 2.5], "a": "Málaga 😀", "c": {"z": null, "y": true}});
        assert_eq!(
            compact(&value),
            r#"{"a":"M\u00e1laga \ud83d\ude00","b":[1,2.5],"c":{"y":true,"z":null}}"#
        );
        assert_eq!(
            spaced(&value),
            r#"{"a": "M\u00e1laga \ud83d\ude00", "b": [1, 2.5], "c": {"y": true, "z": null}}"#
        );
        assert_eq!(compact(&json!("a\"b\\c\n\u{1}")), r#""a\"b\\c\n\u0001""#);
        assert_eq!(compact(&json!("\u{8}\u{c}\u{7f}~")), r#""\b\f\u007f~""#);
    }
}
