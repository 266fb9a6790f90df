//! The OwnTracks Recorder's store (recorder.md §1.7, §3.7): `rec/<user>/<device>/YYYY-MM.rec`
//! files of `TIME<tab>SUBTOPIC<tab>PAYLOAD` lines, the last position in `last/`, device cards in
//! `cards/` and regions in `waypoints/`. A store directory, a `rec/` tree, one device's directory
//! or a single `.rec` file may be given; the user and device come from the path (`rec/U/D/`)
//! or from `--user`/`--device`. Each line is one record: a line that cannot be read is skipped
//! and counted, and the rest of the file still comes in (bug case B11). Payloads go to ingest as
//! they are, so ISO 8601 `tst` strings get the same time rule as live messages (B01).

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use pista_core::DeviceKey;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::SourceError;
use crate::entry::{self, Entry, Progress, Record, Sink};

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
    if path.join("rec").is_dir() {
        return store(path);
    }
    if path.file_name().is_some_and(|name| name == "rec") {
        return tree(path, path, Kind::Rec, |_, _| true);
    }
    let mut files = listing(path)?;
    files.retain(|file| file.extension().is_some_and(|e| e == "rec"));
    files.iter().map(|file| given(file, Kind::Rec)).collect()
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

fn rec_lines(reader: &mut impl BufRead, input: &Input, sink: &mut Sink) -> bool {
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) => {
                let at = format!("line {} of {}", number + 1, input.shown);
                return sink.skip("unreadable file", at, error.to_string());
            }
        }
        number += 1;
        let text = line.trim_ascii_end();
        if text.is_empty() {
            continue;
        }
        let at = format!("line {number} of {}", input.shown);
        let entry = match rec_line(text, &input.topic) {
            Ok((topic, payload)) => Entry::Record(Record { topic, payload, at }),
            Err((reason, detail)) => Entry::Skip(crate::Skip { reason, at, detail }),
        };
        if !sink.send(entry) {
            return false;
        }
    }
}

/// One `.rec` line as the topic and payload the device sent.
fn rec_line(line: &[u8], base: &str) -> Result<(String, Bytes), (&'static str, String)> {
    let mut fields = line.splitn(3, |b| *b == b'\t');
    let (Some(time), Some(subtopic), Some(payload)) = (fields.next(), fields.next(), fields.next())
    else {
        let shown = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
        return Err(("not a .rec line", format!("{shown:?}")));
    };
    if pista_core::time::parse_bound(&String::from_utf8_lossy(time)).is_err() {
        return Err(("not a .rec line", format!("time {:?}", String::from_utf8_lossy(time))));
    }
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
    Ok((topic, Bytes::copy_from_slice(payload)))
}

/// A file holding one JSON message (`last/`, `cards/`, `waypoints/`).
fn json_file(reader: &mut impl BufRead, input: &Input, subtopic: &str, sink: &mut Sink) -> bool {
    let at = input.shown.clone();
    let mut value: Value = match serde_json::from_reader(reader) {
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
            ("owntracks/jane/phone/status".into(), Bytes::from_static(b"1"))
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

    #[test]
    fn paths_name_the_device() {
        let path = Path::new("/store/rec/jane/phone/2024-08.rec");
        assert_eq!(device_of(path), Some(("jane".into(), "phone".into())));
        assert_eq!(device_of(Path::new("track.rec")), None);
    }
}
