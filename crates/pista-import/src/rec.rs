//! The OwnTracks Recorder's store (recorder.md §1.7, §3.7): `rec/<user>/<device>/YYYY-MM.rec`
//! files of `TIME<tab>SUBTOPIC<tab>PAYLOAD` lines, the last position in `last/`, device cards in
//! `cards/` and regions in `waypoints/`. A store directory, a `rec/` tree, one device's directory
//! or a single `.rec` file may be given; the user and device come from the path (`rec/U/D/`)
//! or from `--user`/`--device`. Each line is one record: a line that cannot be read is skipped
//! and counted, and the rest of the file still comes in (bug case B11). Payloads go to ingest as
//! they are, so ISO 8601 `tst` strings get the same time rule as live messages (B01).

use std::fs;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use pista_core::DeviceKey;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::SourceError;
use crate::entry::{self, Entry, Progress, Record, Sink};
use crate::json_stream::MAX_RECORD;

/// What a file of the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `.rec` lines.
    Rec,
    /// One JSON message, sent on `subtopic` (empty for the device topic).
    Json { subtopic: &'static str },
}

/// One file to read and the device topic its messages belong to.
#[derive(Debug)]
struct Input {
    path: PathBuf,
    /// The path as messages name it (relative to what was given).
    shown: String,
    topic: String,
    kind: Kind,
}

/// Lists the files under `path` and starts reading them in order on a blocking thread.
pub fn start(
    path: &Path,
    device: Option<DeviceKey>,
) -> Result<(mpsc::Receiver<Entry>, Arc<Progress>), SourceError> {
    let inputs = inputs(path, device.as_ref())?;
    let total = inputs.iter().filter_map(|input| fs::metadata(&input.path).ok()).map(|m| m.len());
    let progress = Progress::with_total(total.sum());
    let shared = progress.clone();
    Ok(entry::spawn(progress, move |sink| {
        for input in &inputs {
            if !read_input(input, &shared, sink) {
                return;
            }
        }
    }))
}

fn topic(user: &str, device: &str) -> String {
    format!("owntracks/{user}/{device}")
}

fn inputs(path: &Path, device: Option<&DeviceKey>) -> Result<Vec<Input>, SourceError> {
    let given = |path: &Path, kind| -> Result<Input, SourceError> {
        let topic = match (device, device_of(path)) {
            (Some(key), _) => topic(key.user.as_str(), key.device.as_str()),
            (None, Some((user, device))) => topic(&user, &device),
            (None, None) => return Err(SourceError::RecDevice { path: path.to_owned() }),
        };
        let shown = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        Ok(Input { path: path.to_owned(), shown, topic, kind })
    };
    if !path.is_dir() {
        // Opened here so a missing file is reported before anything starts.
        fs::File::open(path)
            .map_err(|source| SourceError::Open { path: path.to_owned(), source })?;
        return Ok(vec![given(path, Kind::Rec)?]);
    }
    let several = path.join("rec").is_dir() || path.file_name().is_some_and(|name| name == "rec");
    if several && device.is_some() {
        return Err(SourceError::Override { path: path.to_owned() });
    }
    if path.join("rec").is_dir() {
        return store(path);
    }
    if path.file_name().is_some_and(|name| name == "rec") {
        return tree(path, path, Kind::Rec, |_, _| true);
    }
    let mut files = listing(path)?;
    files.retain(|file| is_rec(file));
    if !files.is_empty() {
        return files.iter().map(|file| given(file, Kind::Rec)).collect();
    }
    // One user's directory (`rec/<user>`): the devices in it.
    let user = user_dir(path)?;
    if user.is_empty() {
        return Err(SourceError::NoRecFiles { path: path.to_owned() });
    }
    if device.is_some() {
        return Err(SourceError::Override { path: path.to_owned() });
    }
    Ok(user)
}

fn is_rec(file: &Path) -> bool {
    file.is_file() && file.extension().is_some_and(|e| e == "rec")
}

/// The `.rec` files of the device directories in `dir`, named after `dir` and each device.
fn user_dir(dir: &Path) -> Result<Vec<Input>, SourceError> {
    let Some(user) = name(dir) else { return Ok(Vec::new()) };
    let mut inputs = Vec::new();
    for device in listing(dir)?.iter().filter(|p| p.is_dir()) {
        let Some(d) = name(device) else { continue };
        for file in listing(device)?.into_iter().filter(|file| is_rec(file)) {
            let shown = file.strip_prefix(dir).unwrap_or(&file).display().to_string();
            inputs.push(Input { path: file, shown, topic: topic(&user, &d), kind: Kind::Rec });
        }
    }
    Ok(inputs)
}

/// A whole store: `rec/`, then `last/`, `cards/` and `waypoints/`.
fn store(root: &Path) -> Result<Vec<Input>, SourceError> {
    let mut inputs = tree(root, &root.join("rec"), Kind::Rec, |_, file| {
        file.extension().is_some_and(|e| e == "rec")
    })?;
    let own_file = |stem: &str, file: &Path| file.file_name().is_some_and(|n| *n == *stem);
    let sections: [(&str, &'static str, &str); 4] = [
        ("last", "", "json"),
        ("cards", "info", "json"),
        ("waypoints", "waypoints", "otrw"),
        ("waypoints", "waypoint", "json"),
    ];
    for (dir, subtopic, extension) in sections {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        let only_own = dir.ends_with("last") || dir.ends_with("cards") || extension == "otrw";
        let kind = Kind::Json { subtopic };
        inputs.extend(tree(root, &dir, kind, |base, file| {
            let own = format!("{}.{extension}", base.replace('/', "-"));
            file.extension().is_some_and(|e| e == extension) && (!only_own || own_file(&own, file))
        })?);
    }
    Ok(inputs)
}

/// The files of `<dir>/<user>/<device>/` that `keep(user/device, file)` accepts, sorted.
fn tree(
    root: &Path,
    dir: &Path,
    kind: Kind,
    keep: impl Fn(&str, &Path) -> bool,
) -> Result<Vec<Input>, SourceError> {
    let mut inputs = Vec::new();
    for user in listing(dir)?.iter().filter(|p| p.is_dir()) {
        for device in listing(user)?.iter().filter(|p| p.is_dir()) {
            let (Some(u), Some(d)) = (name(user), name(device)) else { continue };
            for file in listing(device)? {
                if file.is_file() && keep(&format!("{u}/{d}"), &file) {
                    let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
                    inputs.push(Input { path: file, shown, topic: topic(&u, &d), kind });
                }
            }
        }
    }
    Ok(inputs)
}

fn name(path: &Path) -> Option<String> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
}

fn listing(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let error = |source| SourceError::Open { path: dir.to_owned(), source };
    let mut paths = fs::read_dir(dir)
        .map_err(error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(error)?;
    paths.sort();
    Ok(paths)
}

/// The user and device of a path `.../rec/<user>/<device>/<file>`.
fn device_of(path: &Path) -> Option<(String, String)> {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    let at = parts.iter().rposition(|p| *p == "rec")?;
    match parts.get(at + 1..) {
        Some([user, device, _file]) => Some(((*user).to_owned(), (*device).to_owned())),
        _ => None,
    }
}

/// Reads one file into `sink`; returns `false` when the sink is closed.
fn read_input(input: &Input, progress: &Arc<Progress>, sink: &mut Sink) -> bool {
    let file = match fs::File::open(&input.path) {
        Ok(file) => file,
        Err(error) => return sink.skip("unreadable file", input.shown.clone(), error.to_string()),
    };
    let mut file = entry::open_counted(file, &input.path, progress.clone());
    match input.kind {
        Kind::Rec => rec_lines(&mut file.reader, input, sink),
        Kind::Json { subtopic } => json_file(&mut file.reader, input, subtopic, sink),
    }
}

/// Lines of a `.rec` file. A line that does not start with a time continues the record
/// before it while that record's JSON is unfinished (pretty-printed JSON, bug case B11), so a
/// record spread over several lines comes in as one.
fn rec_lines(reader: &mut impl BufRead, input: &Input, sink: &mut Sink) -> bool {
    let mut line = Vec::new();
    let mut number = 0;
    let mut pending: Option<Pending> = None;
    loop {
        line.clear();
        let length = match read_line(reader, &mut line) {
            Ok(length) => length,
            Err(error) => {
                let at = format!("line {} of {}", number + 1, input.shown);
                return flush(pending.take(), input, sink)
                    && sink.stopped(format!("{at}: cannot be read: {error}"));
            }
        };
        if length == 0 {
            return flush(pending.take(), input, sink);
        }
        number += 1;
        let mut text = line.trim_ascii_end();
        if number == 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        if text.len() > MAX_RECORD {
            let at = format!("line {number} of {}", input.shown);
            let detail =
                format!("line {number} is longer than {MAX_RECORD} bytes ({length} bytes)");
            if !flush(pending.take(), input, sink) || !sink.skip("line too long", at, detail) {
                return false;
            }
            continue;
        }
        if text.is_empty() {
            continue;
        }
        if let Some(open) = pending.as_mut().filter(|p| !starts_with_time(text) && p.unfinished()) {
            open.text.push(b'\n');
            open.text.extend_from_slice(text);
            open.last = number;
            continue;
        }
        if !flush(pending.take(), input, sink) {
            return false;
        }
        pending = Some(Pending { first: number, last: number, text: text.to_vec() });
    }
}

/// A record read so far: its lines and text.
struct Pending {
    first: u64,
    last: u64,
    text: Vec<u8>,
}

impl Pending {
    /// Whether it is a JSON record whose JSON has not ended yet.
    fn unfinished(&self) -> bool {
        let mut fields = self.text.splitn(3, |b| *b == b'\t');
        let payload = fields.nth(2).unwrap_or_default();
        payload.first() == Some(&b'{')
            && self.text.len() < MAX_RECORD
            && serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err()
    }
}

fn starts_with_time(line: &[u8]) -> bool {
    let time = line.split(|b| *b == b'\t').next().unwrap_or_default();
    line.contains(&b'\t') && pista_core::time::parse_bound(&String::from_utf8_lossy(time)).is_ok()
}

/// Hands over the record read so far, if any; bytes that are not UTF-8 are replaced.
fn flush(pending: Option<Pending>, input: &Input, sink: &mut Sink) -> bool {
    let Some(pending) = pending else { return true };
    let at = match pending.first == pending.last {
        true => format!("line {} of {}", pending.first, input.shown),
        false => format!("lines {}-{} of {}", pending.first, pending.last, input.shown),
    };
    let text = String::from_utf8_lossy(&pending.text);
    if matches!(text, std::borrow::Cow::Owned(_))
        && !sink.send(Entry::Repaired("invalid UTF-8 replaced"))
    {
        return false;
    }
    sink.send(match rec_line(text.as_bytes(), &input.topic) {
        Ok((topic, payload, received_at)) => {
            Entry::Record(Record { topic, payload, at, received_at: Some(received_at) })
        }
        Err((reason, detail)) => Entry::Skip(crate::Skip { reason, at, detail }),
    })
}

/// Reads one line into `line`, keeping at most [`MAX_RECORD`] bytes of it; returns its whole
/// length (0 at the end of the input). A longer line is read past, never held.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut length = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(length);
        }
        let (taken, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(end) => (end + 1, true),
            None => (buf.len(), false),
        };
        let room = (MAX_RECORD + 1).saturating_sub(line.len()).min(taken);
        line.extend_from_slice(&buf[..room]);
        reader.consume(taken);
        length += taken;
        if done {
            return Ok(length);
        }
    }
}

/// One `.rec` line as the topic and payload the device sent, and the line's time (when the
/// Recorder received it).
fn rec_line(line: &[u8], base: &str) -> Result<(String, Bytes, i64), (&'static str, String)> {
    let mut fields = line.splitn(3, |b| *b == b'\t');
    let (Some(time), Some(subtopic), Some(payload)) = (fields.next(), fields.next(), fields.next())
    else {
        let shown = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
        return Err(("not a .rec line", format!("{shown:?}")));
    };
    let Ok(received_at) = pista_core::time::parse_bound(&String::from_utf8_lossy(time)) else {
        return Err(("not a .rec line", format!("time {:?}", String::from_utf8_lossy(time))));
    };
    let subtopic = String::from_utf8_lossy(subtopic).trim().to_owned();
    let json = subtopic == "*" || payload.first() == Some(&b'{');
    if json && let Err(error) = serde_json::from_slice::<Value>(payload) {
        return Err(("bad JSON", error.to_string()));
    }
    let topic = match subtopic.as_str() {
        // The Recorder files last wills under `lwt`; they arrive on the device topic.
        "*" | "lwt" => base.to_owned(),
        sub => format!("{base}/{sub}"),
    };
    Ok((topic, Bytes::copy_from_slice(payload), received_at))
}

/// A file holding one JSON message (`last/`, `cards/`, `waypoints/`).
fn json_file(reader: &mut impl BufRead, input: &Input, subtopic: &str, sink: &mut Sink) -> bool {
    let at = input.shown.clone();
    let mut bytes = Vec::new();
    if let Err(error) = reader.take(MAX_RECORD as u64 + 1).read_to_end(&mut bytes) {
        return sink.skip("unreadable file", at, error.to_string());
    }
    if bytes.len() > MAX_RECORD {
        return sink.skip("file too long", at, format!("longer than {MAX_RECORD} bytes"));
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => return sink.skip("bad JSON", at, error.to_string()),
    };
    if let Value::Object(object) = &mut value {
        // What the Recorder adds to the last position; the device never sent it.
        for key in ["topic", "username", "device", "ghash"] {
            object.remove(key);
        }
    }
    let topic = match subtopic {
        "" => input.topic.clone(),
        sub => format!("{}/{sub}", input.topic),
    };
    sink.record(&topic, &value, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_their_topic() {
        let base = "owntracks/jane/phone";
        let line = b"2024-08-30T15:56:41Z\t*                 \t{\"_type\":\"location\"}";
        assert_eq!(rec_line(line, base).unwrap().0, base);
        let line = b"2024-08-30T15:56:41Z\tevent             \t{\"_type\":\"transition\"}";
        assert_eq!(rec_line(line, base).unwrap().0, "owntracks/jane/phone/event");
        let line = b"2024-08-30T15:56:41Z\tlwt               \t{\"_type\":\"lwt\"}";
        assert_eq!(rec_line(line, base).unwrap().0, base);
        let line = b"2024-08-30T15:56:41Z\tstatus            \t1";
        assert_eq!(
            rec_line(line, base).unwrap(),
            ("owntracks/jane/phone/status".into(), Bytes::from_static(b"1"), 1725033401)
        );
    }

    #[test]
    fn broken_lines_say_why() {
        let base = "owntracks/jane/phone";
        let bad = b"2024-08-30T15:56:41Z\t*                 \tnot json at all";
        assert_eq!(
            rec_line(bad, base).unwrap_err(),
            ("bad JSON", "expected ident at line 1 column 2".into())
        );
        assert_eq!(rec_line(b"hello", base).unwrap_err(), ("not a .rec line", "\"hello\"".into()));
        let time = b"yesterday\t*\t{}";
        assert_eq!(
            rec_line(time, base).unwrap_err(),
            ("not a .rec line", "time \"yesterday\"".into())
        );
    }

    /// What the lines of `text` come in as, one string an entry.
    fn lines(text: &[u8]) -> Vec<String> {
        let input = Input {
            path: PathBuf::from("x.rec"),
            shown: "x.rec".into(),
            topic: "owntracks/u/d".into(),
            kind: Kind::Rec,
        };
        let (out, mut entries) = mpsc::channel(64);
        let mut sink = Sink::new(out);
        assert!(rec_lines(&mut &text[..], &input, &mut sink));
        drop(sink);
        std::iter::from_fn(|| entries.try_recv().ok())
            .map(|entry| match entry {
                Entry::Record(r) => format!("{}: {}", r.at, String::from_utf8_lossy(&r.payload)),
                Entry::Skip(skip) => format!("{}: skip {}: {}", skip.at, skip.reason, skip.detail),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn bom_bad_bytes_and_pretty_json() {
        // F2: a byte order mark, and a Latin-1 byte that costs nothing but the byte.
        let text = b"\xEF\xBB\xBF2024-08-30T15:56:41Z\t*\t{\"n\":1}\n\
                     2024-08-30T15:56:42Z\t*\t{\"desc\":\"Caf\xe9\"}\n";
        assert_eq!(
            lines(text),
            [
                "line 1 of x.rec: {\"n\":1}",
                "Repaired(\"invalid UTF-8 replaced\")",
                "line 2 of x.rec: {\"desc\":\"Caf\u{FFFD}\"}",
            ]
        );
        // F12 (B11): pretty-printed JSON is one record; a stray line after a whole one is not
        // glued to it.
        let text = b"2024-08-30T15:56:41Z\t*\t{\n  \"n\": 1,\n  \"m\": 2\n}\nstray\n\
                     2024-08-30T15:56:43Z\t*\t{\n  \"n\": 3,\n";
        assert_eq!(
            lines(text),
            [
                "lines 1-4 of x.rec: {\n  \"n\": 1,\n  \"m\": 2\n}",
                "line 5 of x.rec: skip not a .rec line: \"stray\"",
                "lines 6-7 of x.rec: skip bad JSON: EOF while parsing a value at line 2 column 9",
            ]
        );
    }

    #[test]
    fn a_line_over_the_limit_is_read_past() {
        // F11: never held whole, and the next line still comes in.
        let mut text = b"2024-08-30T15:56:41Z\t*\t{\"n\":\"".to_vec();
        text.resize(MAX_RECORD + 100, b'x');
        text.extend_from_slice(b"\"}\n2024-08-30T15:56:42Z\t*\t{\"n\":2}\n");
        assert_eq!(
            lines(&text),
            [
                format!(
                    "line 1 of x.rec: skip line too long: line 1 is longer than {MAX_RECORD} \
                     bytes ({} bytes)",
                    MAX_RECORD + 103
                ),
                "line 2 of x.rec: {\"n\":2}".into(),
            ]
        );
    }

    #[test]
    fn paths_name_the_device() {
        let path = Path::new("/store/rec/jane/phone/2024-08.rec");
        assert_eq!(device_of(path), Some(("jane".into(), "phone".into())));
        assert_eq!(device_of(Path::new("track.rec")), None);
    }
}
