//! Field typing shared by every message type. A message type declares its fields as a schema
//! (name, JSON type, required or not); [`Schema::apply`] walks the client's object in its own
//! order, converts what can be converted without guessing (numbers sent as text, booleans sent as
//! `0`/`1`, times in milliseconds or RFC 3339), drops optional fields of the wrong type with a
//! note, and refuses the message when a required field is unusable. Keys outside the schema are
//! kept untouched: clients add their own, and nothing they send is thrown away.

use serde_json::{Map, Number, Value};

use crate::time::read_epoch;

/// The JSON type a field must have once normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// A finite number; text holding one is converted.
    Number,
    /// Text; a number is turned into its decimal text.
    Text,
    /// `true`/`false`; `0`/`1` and their text forms are converted.
    Bool,
    /// An array of texts; other elements are dropped.
    TextList,
    /// UNIX seconds, read by [`read_epoch`].
    Time,
    Object,
    Array,
    /// One of the given texts.
    OneOf(&'static [&'static str]),
}

/// One field of a schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

pub(crate) const fn req(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: true }
}

pub(crate) const fn opt(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: false }
}

/// Why a required field is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{msg_type} has no {field}")]
    Missing { msg_type: String, field: &'static str },
    #[error("{msg_type} {field} is {found}, expected {expected}")]
    Wrong { msg_type: String, field: &'static str, found: String, expected: String },
}

impl FieldError {
    /// Whether the error concerns `field`.
    pub fn is_about(&self, field: &str) -> bool {
        match self {
            FieldError::Missing { field: f, .. } | FieldError::Wrong { field: f, .. } => {
                *f == field
            }
        }
    }
}

/// The fields of one message type.
pub(crate) struct Schema<'a> {
    pub msg_type: &'a str,
    pub fields: &'static [Field],
}

/// A normalised object with the notes on what was changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Typed {
    pub json: Map<String, Value>,
    pub repairs: Vec<String>,
}

impl Schema<'_> {
    pub fn apply(&self, object: Map<String, Value>) -> Result<Typed, FieldError> {
        for field in self.fields.iter().filter(|f| f.required) {
            if !object.contains_key(field.name) {
                return Err(FieldError::Missing {
                    msg_type: self.msg_type.to_owned(),
                    field: field.name,
                });
            }
        }
        let mut typed = Typed { json: Map::with_capacity(object.len()), repairs: Vec::new() };
        for (key, value) in object {
            let Some(field) = self.fields.iter().find(|f| f.name == key) else {
                typed.json.insert(key, value);
                continue;
            };
            match convert(field, &value) {
                Ok((converted, note)) => {
                    if let Some(note) = note {
                        typed.repairs.push(note);
                    }
                    typed.json.insert(key, converted);
                }
                Err(expected) if field.required => {
                    return Err(FieldError::Wrong {
                        msg_type: self.msg_type.to_owned(),
                        field: field.name,
                        found: describe(&value),
                        expected,
                    });
                }
                Err(expected) => {
                    typed.repairs.push(format!(
                        "{}: dropped {}, expected {expected}",
                        field.name,
                        describe(&value)
                    ));
                }
            }
        }
        Ok(typed)
    }
}

/// Converts one value; `Err` names what was expected.
fn convert(field: &Field, value: &Value) -> Result<(Value, Option<String>), String> {
    let name = field.name;
    let changed = |what: &str| Some(format!("{name}: {} {what}", describe(value)));
    match (field.ty, value) {
        (Ty::Number, Value::Number(_)) => Ok((value.clone(), None)),
        (Ty::Number, Value::String(text)) => match number_text(text) {
            Some(n) => Ok((Value::Number(n), changed("turned into a number"))),
            None => Err("a number".to_owned()),
        },
        (Ty::Number, _) => Err("a number".to_owned()),
        (Ty::Text, Value::String(_)) => Ok((value.clone(), None)),
        (Ty::Text, Value::Number(n)) => {
            Ok((Value::String(n.to_string()), changed("turned into text")))
        }
        (Ty::Text, _) => Err("text".to_owned()),
        (Ty::Bool, Value::Bool(_)) => Ok((value.clone(), None)),
        (Ty::Bool, other) => match bool_like(other) {
            Some(b) => Ok((Value::Bool(b), changed("turned into a boolean"))),
            None => Err("true or false".to_owned()),
        },
        (Ty::TextList, Value::Array(items)) => {
            let texts: Vec<Value> = items.iter().filter(|v| v.is_string()).cloned().collect();
            let note = (texts.len() != items.len()).then(|| {
                format!("{name}: dropped {} elements that are not text", items.len() - texts.len())
            });
            Ok((Value::Array(texts), note))
        }
        (Ty::TextList, _) => Err("an array of texts".to_owned()),
        (Ty::Time, _) => match read_epoch(name, Some(value)) {
            Ok((seconds, note)) => Ok((Value::from(seconds), note)),
            Err(error) => Err(format!("a time in seconds ({error})")),
        },
        (Ty::Object, Value::Object(_)) | (Ty::Array, Value::Array(_)) => Ok((value.clone(), None)),
        (Ty::Object, _) => Err("an object".to_owned()),
        (Ty::Array, _) => Err("an array".to_owned()),
        (Ty::OneOf(allowed), Value::String(text)) if allowed.contains(&text.as_str()) => {
            Ok((value.clone(), None))
        }
        (Ty::OneOf(allowed), _) => Err(format!("one of {}", allowed.join(", "))),
    }
}

fn bool_like(value: &Value) -> Option<bool> {
    match value {
        Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A finite decimal number written as text (`"48.858330"`, `"-1"`, `"12e3"`).
pub(crate) fn number_text(text: &str) -> Option<Number> {
    let text = text.trim();
    let looks_decimal = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    if !looks_decimal {
        return None;
    }
    if let Ok(int) = text.parse::<i64>() {
        return Some(Number::from(int));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// A short description of a JSON value for notes and errors: text quoted and cut short.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            format!("{:?}...", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The kind of a JSON value, for "payload is JSON ..." messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SCHEMA: Schema = Schema {
        msg_type: "test",
        fields: &[
            req("event", Ty::OneOf(&["enter", "leave"])),
            opt("acc", Ty::Number),
            opt("desc", Ty::Text),
            opt("shared", Ty::Bool),
            opt("inregions", Ty::TextList),
            opt("wtst", Ty::Time),
        ],
    };

    fn apply(value: Value) -> Result<Typed, FieldError> {
        let Value::Object(object) = value else { panic!("objects only") };
        SCHEMA.apply(object)
    }

    #[test]
    fn fields_are_converted_dropped_or_refused() {
        let typed = apply(json!({"event":"enter","acc":"18.3","desc":5,"shared":"1",
            "inregions":["a",1,"b"],"wtst":"1505910709000","x":[1]}))
        .unwrap();
        assert_eq!(
            Value::Object(typed.json),
            json!({"event":"enter","acc":18.3,"desc":"5","shared":true,"inregions":["a","b"],
                "wtst":1505910709,"x":[1]})
        );
        assert_eq!(
            typed.repairs,
            [
                "acc: \"18.3\" turned into a number",
                "desc: 5 turned into text",
                "shared: \"1\" turned into a boolean",
                "inregions: dropped 1 elements that are not text",
                "wtst: \"1505910709000\" text turned into a number, milliseconds turned into seconds",
            ]
        );

        let typed = apply(json!({"event":"leave","acc":null,"desc":{},"wtst":"later"})).unwrap();
        assert_eq!(Value::Object(typed.json), json!({"event":"leave"}));
        assert_eq!(
            typed.repairs,
            [
                "acc: dropped null, expected a number",
                "desc: dropped an object, expected text",
                "wtst: dropped \"later\", expected a time in seconds (wtst \"later\" is not a \
                 time in seconds)",
            ]
        );

        assert_eq!(apply(json!({"acc":1})).unwrap_err().to_string(), "test has no event");
        assert_eq!(
            apply(json!({"event":1})).unwrap_err().to_string(),
            "test event is 1, expected one of enter, leave"
        );
    }
}
