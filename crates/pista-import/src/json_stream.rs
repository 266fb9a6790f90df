//! Walking a large JSON document without holding it: the elements of the arrays under chosen
//! keys of the top-level object (or of a top-level array) are handed over one at a time, and
//! everything else is skipped as it is read. Google Takeout and GeoJSON files keep all their
//! points in one such array, often hundreds of megabytes long.

use std::fmt;
use std::io::Read;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Receives `(array key, index, element)`; returns `false` to stop reading.
pub type Each<'a> = dyn FnMut(&str, usize, Value) -> bool + 'a;

/// Calls `each` for every element of the arrays under `keys` in the top-level object, or of
/// the top-level array (with the key `""`). Fails on JSON that is not well formed; `each` has
/// then seen every element before the fault.
pub fn for_each_element(
    reader: impl Read,
    keys: &[&str],
    each: &mut Each<'_>,
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    Top { keys, each }.deserialize(&mut deserializer)?;
    deserializer.end()
}

struct Top<'k, 'e, 'f> {
    keys: &'k [&'k str],
    each: &'e mut Each<'f>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if self.keys.contains(&key.as_str()) {
                map.next_value_seed(Elements { key: &key, each: &mut *self.each })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Elements { key: "", each: self.each }.visit_seq(seq)
    }
}

struct Elements<'k, 'e, 'f> {
    key: &'k str,
    each: &'e mut Each<'f>,
}

impl<'de> DeserializeSeed<'de> for Elements<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array under {:?}", self.key)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        let mut reading = true;
        while reading {
            match seq.next_element::<Value>()? {
                Some(element) => reading = (self.each)(self.key, index, element),
                None => return Ok(()),
            }
            index += 1;
        }
        // Stopped early: the rest is read past, not kept.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(text: &str, keys: &[&str]) -> (Vec<String>, Option<String>) {
        let mut seen = Vec::new();
        let result = for_each_element(text.as_bytes(), keys, &mut |key, index, value| {
            seen.push(format!("{key}[{index}]={value}"));
            true
        });
        (seen, result.err().map(|e| e.to_string()))
    }

    #[test]
    fn elements_of_chosen_arrays_only() {
        let text = r#"{"a":[1,{"x":2}],"skip":{"a":[9]},"b":[],"c":[3]}"#;
        assert_eq!(
            walk(text, &["a", "c"]),
            (vec!["a[0]=1".into(), r#"a[1]={"x":2}"#.into(), "c[0]=3".into()], None)
        );
        assert_eq!(walk("[true, null]", &[]), (vec!["[0]=true".into(), "[1]=null".into()], None));
    }

    #[test]
    fn a_fault_ends_the_walk_after_what_was_good() {
        let (seen, error) = walk("{\"a\":[1,\n2,\n}", &["a"]);
        assert_eq!(seen, vec!["a[0]=1", "a[1]=2"]);
        assert_eq!(error.as_deref(), Some("expected value at line 3 column 1"));
        let (_, error) = walk(r#"{"a":{"not":"an array"}}"#, &["a"]);
        assert_eq!(
            error.as_deref(),
            Some("invalid type: map, expected an array under \"a\" at line 1 column 6")
        );
    }
}
