//! Walking a large JSON document without holding it: the elements of the arrays under chosen
//! keys of the top-level object (or of a top-level array) are handed over one at a time, and
//! everything else is skipped as it is read. Google Takeout and GeoJSON files keep all their
//! points in one such array, often hundreds of megabytes long.
//!
//! The walk finds where each element begins and ends itself (brackets and strings only) and
//! parses each element on its own, so a syntax error, a byte that is not UTF-8 or an element
//! over [`MAX_RECORD`] costs that element only: the walk carries on with the next one. Only a
//! fault in the structure around the elements (the file cut off, a stray byte between keys)
//! stops it, with the line and byte where it stopped.

use std::io::{self, BufRead};

use serde_json::Value;

use crate::entry::{Entry, InputFile, Sink};

/// The largest element parsed, in bytes: the largest message live ingest takes (the default of
/// `http.max_body` and `broker.max_packet`). A longer one is read past, never held whole.
pub const MAX_RECORD: usize = 4 << 20;

/// One element of a chosen array.
#[derive(Debug)]
pub struct Element<'a> {
    /// The array's key (`""` for a top-level array).
    pub key: &'a str,
    pub index: usize,
    /// The line of the file the element starts on.
    pub line: u64,
    /// The element, or why it cannot be read (with the line and column in the file).
    pub value: Result<Value, String>,
    /// Bytes that were not UTF-8 were replaced by U+FFFD before parsing.
    pub lossy: bool,
}

/// Receives each element; returns `false` to stop reading.
pub type Each<'a> = dyn FnMut(Element<'_>) -> bool + 'a;

/// Why the walk stopped before the end of the document.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("is empty")]
    Empty,
    #[error("is not JSON: it starts with {start:?}{hint}")]
    NotJson { start: char, hint: &'static str },
    #[error("ends at line {line} (byte {byte}) inside {inside}: cut off?")]
    Truncated { line: u64, byte: u64, inside: String },
    #[error(
        "has {found:?} at line {line} (byte {byte}) where {expected} should be; the rest of \
         the file from there was not read"
    )]
    Structure { found: char, line: u64, byte: u64, expected: &'static str },
    #[error("cannot be read at byte {byte}: {source}")]
    Io { byte: u64, source: io::Error },
}

/// What the walk saw of the document's outline, for telling one format from another.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outline {
    /// The keys of the top-level object, in order.
    pub keys: Vec<String>,
    /// Elements handed over.
    pub elements: usize,
}

/// Calls `each` for every element of the arrays under `keys` in the top-level object, or of
/// the top-level array (with the key `""`). A UTF-8 byte order mark at the start is skipped.
pub fn for_each_element(
    reader: impl BufRead,
    keys: &[&str],
    each: &mut Each<'_>,
) -> Result<Outline, WalkError> {
    let mut walk = Walk { scan: Scanner::new(reader), keys, each, outline: Outline::default() };
    walk.scan.skip_bom()?;
    match walk.scan.skip_space()? {
        None => Err(WalkError::Empty),
        Some(b'{') => {
            walk.scan.bump()?;
            walk.object()?;
            Ok(walk.outline)
        }
        Some(b'[') => {
            walk.scan.bump()?;
            walk.elements("")?;
            Ok(walk.outline)
        }
        Some(other) => Err(WalkError::NotJson { start: char::from(other), hint: hint(other) }),
    }
}

fn hint(first: u8) -> &'static str {
    match first {
        b'<' => " (it looks like XML: a GPX file?)",
        _ => "",
    }
}

struct Walk<'k, 'e, 'f, R> {
    scan: Scanner<R>,
    keys: &'k [&'k str],
    each: &'e mut Each<'f>,
    outline: Outline,
}

impl<R: BufRead> Walk<'_, '_, '_, R> {
    /// The top-level object after its `{`.
    fn object(&mut self) -> Result<(), WalkError> {
        let mut buf = Vec::new();
        loop {
            match self.scan.skip_space()? {
                Some(b'}') => return Ok(()),
                Some(b',') => {
                    self.scan.bump()?;
                    continue;
                }
                Some(b'"') => {}
                found => return Err(self.scan.unexpected(found, "a key", "the top-level object")),
            }
            buf.clear();
            self.scan.value(&mut buf, 1024)?;
            let key: String = serde_json::from_slice(&buf).unwrap_or_default();
            match self.scan.skip_space()? {
                Some(b':') => self.scan.bump()?,
                found => return Err(self.scan.unexpected(found, "':'", "the top-level object")),
            };
            let chosen = self.keys.contains(&key.as_str());
            if chosen && self.scan.skip_space()? == Some(b'[') {
                self.scan.bump()?;
                if !self.elements(&key)? {
                    return Ok(());
                }
            } else {
                self.scan.skip_space()?;
                let inside = format!("the value of {key:?}");
                if !self.scan.value(&mut Vec::new(), 0)?.complete {
                    return Err(self.scan.truncated(inside));
                }
            }
            self.outline.keys.push(key);
        }
    }

    /// The elements of an array after its `[`; returns `false` when `each` asked to stop.
    fn elements(&mut self, key: &str) -> Result<bool, WalkError> {
        let mut buf = Vec::new();
        let mut index = 0;
        loop {
            match self.scan.skip_space()? {
                None => return Err(self.scan.truncated(format!("the array {key:?}"))),
                Some(b']') => {
                    self.scan.bump()?;
                    return Ok(true);
                }
                // Between elements (or a stray one): nothing to read.
                Some(b',') => {
                    self.scan.bump()?;
                    continue;
                }
                Some(_) => {}
            }
            let (line, column) = (self.scan.line, self.scan.column);
            buf.clear();
            let end = self.scan.value(&mut buf, MAX_RECORD)?;
            if !end.complete {
                let inside = format!("element {} of {key:?} (from line {line})", index + 1);
                return Err(self.scan.truncated(inside));
            }
            let (value, lossy) = if end.length > MAX_RECORD as u64 {
                (Err(format!("longer than {MAX_RECORD} bytes ({} bytes)", end.length)), false)
            } else {
                parse(&buf, line, column)
            };
            self.outline.elements += 1;
            if !(self.each)(Element { key, index, line, value, lossy }) {
                return Ok(false);
            }
            index += 1;
        }
    }
}

/// Reads the chosen arrays of `file` into `sink`: `each(key, element, at)` takes a good
/// element; `name(key, index)` says which one it is (`feature 3`). An element that cannot be
/// read is skipped as `bad JSON`; a walk that stops early is said in the summary. Returns the
/// outline when the whole file was read.
pub fn read_elements(
    file: InputFile,
    keys: &[&str],
    sink: &mut Sink,
    name: impl Fn(&str, usize) -> String,
    mut each: impl FnMut(&str, Value, String, &mut Sink) -> bool,
) -> Option<Outline> {
    let file_name = file.name.clone();
    let result = for_each_element(file.reader, keys, &mut |element| {
        let at =
            format!("{} of {file_name}, line {}", name(element.key, element.index), element.line);
        if element.lossy && !sink.send(Entry::Repaired("invalid UTF-8 replaced")) {
            return false;
        }
        match element.value {
            Ok(value) => each(element.key, value, at, sink),
            Err(detail) => sink.skip("bad JSON", at, detail),
        }
    });
    match result {
        Ok(outline) => Some(outline),
        Err(error) => {
            sink.stopped(format!("{file_name} {error}"));
            None
        }
    }
}

/// Parses one element that starts at `line` and `column` of the file; the error names the
/// place in the file, not in the element.
fn parse(bytes: &[u8], line: u64, column: u64) -> (Result<Value, String>, bool) {
    let (text, lossy) = match std::str::from_utf8(bytes) {
        Ok(text) => (std::borrow::Cow::Borrowed(text), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    };
    let value = serde_json::from_str(&text).map_err(|error| {
        let full = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let what = full.strip_suffix(&suffix).unwrap_or(&full);
        let (at_line, at_column) = match error.line() as u64 {
            1 => (line, column + error.column() as u64 - 1),
            more => (line + more - 1, error.column() as u64),
        };
        format!("{what} at line {at_line} column {at_column}")
    });
    (value, lossy)
}

/// How a value ended.
struct End {
    /// Whether its end was found before the end of the input.
    complete: bool,
    /// Its length in bytes, including what was not kept.
    length: u64,
}

/// A byte reader that knows the line, column and offset it is at.
struct Scanner<R> {
    reader: R,
    byte: u64,
    line: u64,
    column: u64,
}

impl<R: BufRead> Scanner<R> {
    fn new(reader: R) -> Self {
        Self { reader, byte: 0, line: 1, column: 1 }
    }

    fn peek(&mut self) -> Result<Option<u8>, WalkError> {
        let byte = self.byte;
        let buf = self.reader.fill_buf().map_err(|source| WalkError::Io { byte, source })?;
        Ok(buf.first().copied())
    }

    fn bump(&mut self) -> Result<Option<u8>, WalkError> {
        let next = self.peek()?;
        if let Some(byte) = next {
            self.reader.consume(1);
            self.byte += 1;
            if byte == b'\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        Ok(next)
    }

    fn skip_bom(&mut self) -> Result<(), WalkError> {
        let byte = self.byte;
        let buf = self.reader.fill_buf().map_err(|source| WalkError::Io { byte, source })?;
        if buf.starts_with(b"\xEF\xBB\xBF") {
            self.reader.consume(3);
            self.byte += 3;
        }
        Ok(())
    }

    /// Skips white space; returns the next byte without taking it.
    fn skip_space(&mut self) -> Result<Option<u8>, WalkError> {
        while let Some(byte) = self.peek()? {
            if !byte.is_ascii_whitespace() {
                return Ok(Some(byte));
            }
            self.bump()?;
        }
        Ok(None)
    }

    /// Reads one value (at least one byte), keeping its first `keep` bytes in `out`.
    fn value(&mut self, out: &mut Vec<u8>, keep: usize) -> Result<End, WalkError> {
        let mut length = 0_u64;
        let mut push = |out: &mut Vec<u8>, byte: u8| {
            length += 1;
            if out.len() < keep {
                out.push(byte);
            }
        };
        let Some(first) = self.bump()? else { return Ok(End { complete: false, length }) };
        push(out, first);
        let (mut depth, mut in_string, mut escaped) = match first {
            b'{' | b'[' => (1_u32, false, false),
            b'"' => (0, true, false),
            _ => {
                while let Some(byte) = self.peek()? {
                    if byte.is_ascii_whitespace() || b",]}".contains(&byte) {
                        break;
                    }
                    self.bump()?;
                    push(out, byte);
                }
                return Ok(End { complete: true, length });
            }
        };
        while let Some(byte) = self.bump()? {
            push(out, byte);
            if in_string {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else {
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
            }
            if depth == 0 && !in_string {
                return Ok(End { complete: true, length });
            }
        }
        Ok(End { complete: false, length })
    }

    fn truncated(&self, inside: String) -> WalkError {
        WalkError::Truncated { line: self.line, byte: self.byte, inside }
    }

    fn unexpected(&self, found: Option<u8>, expected: &'static str, inside: &str) -> WalkError {
        match found {
            Some(found) => WalkError::Structure {
                found: char::from(found),
                line: self.line,
                byte: self.byte,
                expected,
            },
            None => self.truncated(inside.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(text: &[u8], keys: &[&str]) -> (Vec<String>, Option<String>) {
        let mut seen = Vec::new();
        let result = for_each_element(text, keys, &mut |element| {
            let shown = match element.value {
                Ok(value) => value.to_string(),
                Err(error) => format!("error: {error}"),
            };
            let lossy = if element.lossy { " (lossy)" } else { "" };
            seen.push(format!(
                "{}[{}]@{}={shown}{lossy}",
                element.key, element.index, element.line
            ));
            true
        });
        (seen, result.err().map(|e| e.to_string()))
    }

    #[test]
    fn elements_of_chosen_arrays_only() {
        let text = br#"{"a":[1,{"x":"]}"}],"skip":{"a":[9]},"b":[],"c":[3]}"#;
        assert_eq!(
            walk(text, &["a", "c"]),
            (vec!["a[0]@1=1".into(), r#"a[1]@1={"x":"]}"}"#.into(), "c[0]@1=3".into()], None)
        );
        assert_eq!(
            walk(b"[true, null]", &[]),
            (vec!["[0]@1=true".into(), "[1]@1=null".into()], None)
        );
    }

    #[test]
    fn a_broken_element_costs_only_itself() {
        // F1: a trailing comma inside element 2; F2: a Latin-1 byte in element 3.
        let text =
            b"\xEF\xBB\xBF{\"a\":[{\"n\":1},\n  {\"n\":2,},\n  {\"n\":\"Caf\xe9\"},\n  {\"n\":4}]}";
        assert_eq!(
            walk(text, &["a"]),
            (
                vec![
                    r#"a[0]@1={"n":1}"#.into(),
                    "a[1]@2=error: trailing comma at line 2 column 10".into(),
                    "a[2]@3={\"n\":\"Caf\u{FFFD}\"} (lossy)".into(),
                    r#"a[3]@4={"n":4}"#.into(),
                ],
                None
            )
        );
    }

    #[test]
    fn a_fault_in_the_structure_says_where_reading_stopped() {
        let (seen, error) = walk(b"{\"a\":[1,\n2,\n{\"x\":", &["a"]);
        assert_eq!(seen, vec!["a[0]@1=1", "a[1]@2=2"]);
        assert_eq!(
            error.as_deref(),
            Some("ends at line 3 (byte 17) inside element 3 of \"a\" (from line 3): cut off?")
        );
        let (_, error) = walk(b"{\"a\":[1] x", &["a"]);
        assert_eq!(
            error.as_deref(),
            Some(
                "has 'x' at line 1 (byte 9) where a key should be; the rest of the file from \
                 there was not read"
            )
        );
        let (_, error) = walk(b"  <?xml version=\"1.0\"?>", &["a"]);
        assert_eq!(
            error.as_deref(),
            Some("is not JSON: it starts with '<' (it looks like XML: a GPX file?)")
        );
        assert_eq!(walk(b"\n", &["a"]).1.as_deref(), Some("is empty"));
    }

    #[test]
    fn an_element_over_the_limit_is_read_past() {
        let big = format!("[\"{}\",2]", "x".repeat(MAX_RECORD + 10));
        assert_eq!(
            walk(big.as_bytes(), &[]).0,
            vec![
                format!("[0]@1=error: longer than {MAX_RECORD} bytes ({} bytes)", MAX_RECORD + 12),
                "[1]@1=2".into()
            ]
        );
    }
}
