//! Credentials that devices send inside their messages (an app's exported configuration holds
//! its MQTT password and its encryption key; a Greenwich `login` its password; any URL may carry
//! a user and password) are masked before anything is stored or served. Keys are matched without
//! case and surrounding spaces, at any depth, whatever the type of their value; URL passwords are
//! masked in every text value. For bytes that are not (complete) JSON, such as a quarantined
//! payload cut short, [`mask_text`] finds the same keys in the text.

use serde_json::{Map, Value};

/// Keys whose values are credentials.
const SECRET_KEYS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "encryptionkey",
    "passphrase",
    "tlsclientcrtpassword",
    "clientpkcs",
    "secret",
    "token",
    "apikey",
    "opencageapikey",
];

const MASK: &str = "***";

/// Whether `key` names a credential.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    SECRET_KEYS.contains(&key.as_str())
}

/// Masks credentials in `object` at any depth; returns the paths masked.
pub fn mask_json(object: &mut Map<String, Value>) -> Vec<String> {
    let mut masked = Vec::new();
    for (key, value) in object.iter_mut() {
        mask_value(key, value, key, &mut masked);
    }
    masked
}

fn mask_value(key: &str, value: &mut Value, path: &str, masked: &mut Vec<String>) {
    if is_secret_key(key) && !value.is_null() && value.as_str() != Some("") {
        *value = Value::String(MASK.to_owned());
        masked.push(path.to_owned());
        return;
    }
    match value {
        Value::Object(inner) => {
            for (key, value) in inner.iter_mut() {
                mask_value(key, value, &format!("{path}.{key}"), masked);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                mask_value("", item, &format!("{path}[{index}]"), masked);
            }
        }
        Value::String(text) => {
            if let Some(hidden) = mask_url_password(text) {
                *text = hidden;
                masked.push(path.to_owned());
            }
        }
        _ => {}
    }
}

/// `scheme://user:password@host...` with the password masked, when `text` holds one.
fn mask_url_password(text: &str) -> Option<String> {
    let start = text.find("://")? + 3;
    let rest = &text[start..];
    let at = rest.find('@')?;
    let userinfo = &rest[..at];
    if userinfo.contains('/') {
        return None;
    }
    let colon = userinfo.find(':')?;
    if colon + 1 == userinfo.len() {
        return None;
    }
    Some(format!("{}{}:{MASK}{}", &text[..start], &userinfo[..colon], &rest[at..]))
}

/// Masks credentials in bytes that may not be valid JSON: complete JSON is masked as such; other
/// text has the value after each credential key (`"password" : "..."` or a bare token) replaced.
/// Returns `None` when nothing needed masking.
pub fn mask_text(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(text) {
        return (!mask_json(&mut object).is_empty())
            .then(|| serde_json::to_vec(&object).unwrap_or_default());
    }
    if let Ok(Value::Array(mut items)) = serde_json::from_str::<Value>(text) {
        let mut masked = Vec::new();
        for (index, item) in items.iter_mut().enumerate() {
            mask_value("", item, &format!("[{index}]"), &mut masked);
        }
        return (!masked.is_empty()).then(|| serde_json::to_vec(&items).unwrap_or_default());
    }
    let quoted = mask_loose(text);
    let assigned = mask_assignments(quoted.as_deref().unwrap_or(text));
    assigned.or(quoted).map(String::into_bytes)
}

/// Masks `key=value` assignments of credential keys in loose text (`password=abc&user=x`,
/// `set pass=abc`): the value runs to the next space, `&`, `,`, `;` or quote.
fn mask_assignments(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(equals) = rest.find('=') {
        let before = &rest[..equals];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |index| index + 1);
        let key = &before[start..];
        let after = &rest[equals + 1..];
        let end =
            after.find([' ', '\t', '\n', '\r', '&', ',', ';', '"', '\'']).unwrap_or(after.len());
        out.push_str(&rest[..=equals]);
        if is_secret_key(key) && end > 0 && &after[..end] != MASK {
            out.push_str(MASK);
            changed = true;
        } else {
            out.push_str(&after[..end]);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Masks `"key" : value` pairs in text that is not complete JSON.
fn mask_loose(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find('"') else { break };
        let key = &after_open[..close];
        let tail = &after_open[close + 1..];
        let colon = tail.trim_start();
        out.push_str(&rest[..open + 1 + close + 1]);
        rest = tail;
        if !is_secret_key(key) || !colon.starts_with(':') {
            continue;
        }
        let value_start = colon[1..].trim_start();
        let skipped = rest.len() - value_start.len();
        out.push_str(&rest[..skipped]);
        let end = value_end(value_start);
        out.push_str(&format!("\"{MASK}\""));
        rest = &value_start[end..];
        changed = true;
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Where a JSON value starting at the beginning of `text` ends (a string, or a bare token).
fn value_end(text: &str) -> usize {
    if let Some(inner) = text.strip_prefix('"') {
        let mut escaped = false;
        for (index, c) in inner.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return index + 2,
                _ => escaped = false,
            }
        }
        return text.len();
    }
    text.find([',', '}', ']', '\n']).unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn credentials_are_masked_at_any_depth_case_and_type() {
        let Value::Object(mut object) = json!({"_type":"dump","configuration":{
            "Password":"a","PASSWORD ":"b","EncryptionKey":"c","pass":["x"],"token":{"v":1},
            "list":[[{"passwd":2}]],"url":"https://joe:pw@example.org/pub","host":"h",
            "empty":"","password2":"kept","secret":null}})
        else {
            unreachable!()
        };
        let masked = mask_json(&mut object);
        assert_eq!(
            Value::Object(object),
            json!({"_type":"dump","configuration":{"Password":"***","PASSWORD ":"***",
                "EncryptionKey":"***","pass":"***","token":"***","list":[[{"passwd":"***"}]],
                "url":"https://joe:***@example.org/pub","host":"h","empty":"",
                "password2":"kept","secret":null}})
        );
        assert_eq!(masked.len(), 7);
    }

    #[test]
    fn text_that_is_not_json_is_masked_too() {
        let cases: [(&str, Option<&str>); 8] = [
            (
                r#"{"_type":"configuration","password":"LEAK2""#,
                Some(r#"{"_type":"configuration","password":"***""#),
            ),
            (
                r#"{"pass" : "a\"b", "Password":12345, "x":1"#,
                Some(r#"{"pass" : "***", "Password":"***", "x":1"#),
            ),
            (r#"{"_type":"location","lat":1}"#, None),
            (r#"[{"password":"x"}]"#, Some(r#"[{"password":"***"}]"#)),
            ("login secret", None),
            ("{broken password=RAWPASS1 x=1", Some("{broken password=*** x=1")),
            ("user=jane&Pass=hunter2&x=3", Some("user=jane&Pass=***&x=3")),
            (r#"{"token":"a", oops token=b"#, Some(r#"{"token":"***", oops token=***"#)),
        ];
        for (input, want) in cases {
            let got = mask_text(input.as_bytes()).map(|b| String::from_utf8(b).unwrap());
            assert_eq!(got.as_deref(), want, "{input}");
        }
    }
}
