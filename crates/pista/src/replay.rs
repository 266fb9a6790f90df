//! `pista replay`: publishes a file of recorded OwnTracks messages to a broker (QoS 1, waiting
//! for every acknowledgement) or over HTTP mode, at the recorded pace, faster, or as fast as
//! possible. It reads the OwnTracks Recorder's `.rec` lines and JSON lines — either one message
//! per line, or `{"topic": ..., "payload": ...}` objects like the project's test vectors — and
//! reports every line it skips with the reason.

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use pista_core::{DeviceName, TopicParts, UserName};
use pista_ingest::BrokerUrl;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayItem {
    /// 1-based line number in the file.
    pub line: usize,
    pub topic: String,
    pub payload: Vec<u8>,
    /// Recorded time (UNIX seconds) used for pacing.
    pub time: Option<i64>,
}

/// A line that was not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// Where lines without their own topic go.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Topic for JSON lines without one.
    pub topic: String,
    /// `owntracks/<user>/<device>` for `.rec` lines, if known.
    pub rec_base: Option<String>,
}

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    Fast,
    /// Recorded time divided by this factor.
    Speed(f64),
}

/// Where to send.
#[derive(Debug, Clone)]
pub enum Target {
    Mqtt(BrokerUrl),
    Http(url::Url),
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub sent: usize,
    /// Lines the target cannot take (checked before sending).
    pub skipped: Vec<Skipped>,
    /// Lines the server refused.
    pub failed: Vec<Skipped>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}")]
    Read { path: String, source: std::io::Error },
    #[error("--to {url:?} is not usable: {reason}")]
    Target { url: String, reason: String },
    #[error("--speed {0:?} must be a number greater than 0")]
    Speed(String),
    #[error("mqtt broker {broker}: {detail}")]
    Mqtt { broker: String, detail: String },
    #[error("--{flag}: {reason}")]
    Name { flag: &'static str, reason: String },
}

/// Splits a file into messages and skipped lines.
pub fn parse_lines(text: &str, defaults: &Defaults) -> (Vec<ReplayItem>, Vec<Skipped>) {
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed = if trimmed.starts_with('{') {
            json_line(trimmed, defaults)
        } else {
            rec_line(line, defaults)
        };
        match parsed {
            Ok((topic, payload, time)) => {
                items.push(ReplayItem { line: number, topic, payload, time })
            }
            Err(reason) => skipped.push(Skipped { line: number, reason }),
        }
    }
    (items, skipped)
}

type Parsed = (String, Vec<u8>, Option<i64>);

fn json_line(line: &str, defaults: &Defaults) -> Result<Parsed, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(object) = &value else { return Err("not a JSON object".to_owned()) };
    let topic = object.get("topic").and_then(Value::as_str).unwrap_or(&defaults.topic).to_owned();
    let payload = match object.get("payload") {
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(Value::Null) => Vec::new(),
        Some(inner) => serde_json::to_vec(inner).map_err(|e| e.to_string())?,
        None => line.as_bytes().to_vec(),
    };
    Ok((topic, payload.clone(), tst_of(&payload)))
}

/// `<YYYY-MM-DDTHH:MM:SSZ>\t<reltopic padded>\t<payload>`, the Recorder's on-disk format.
fn rec_line(line: &str, defaults: &Defaults) -> Result<Parsed, String> {
    let mut fields = line.splitn(3, '\t');
    let (Some(stamp), Some(reltopic), Some(payload)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err("neither a JSON line nor a .rec line (TIME<tab>TOPIC<tab>PAYLOAD)".to_owned());
    };
    let time = pista_core::time::parse_bound(stamp).map_err(|e| format!(".rec time: {e}"))?;
    let base = defaults
        .rec_base
        .as_deref()
        .ok_or("cannot tell the user and device of .rec lines; pass --user and --device")?;
    let reltopic = reltopic.trim();
    let topic = match reltopic {
        "*" | "lwt" | "" => base.to_owned(),
        sub => format!("{base}/{sub}"),
    };
    Ok((topic, payload.as_bytes().to_vec(), tst_of(payload.as_bytes()).or(Some(time))))
}

fn tst_of(payload: &[u8]) -> Option<i64> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    match value.get("tst")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `owntracks/<user>/<device>` from a Recorder store path `.../rec/<user>/<device>/<month>.rec`.
pub fn rec_base_from_path(path: &Path) -> Option<String> {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    let at = parts.iter().rposition(|p| *p == "rec")?;
    match &parts[at + 1..] {
        [user, device, _file] => Some(format!("owntracks/{user}/{device}")),
        _ => None,
    }
}

/// Sends `items` to `target` at `pace`, skipping (with the reason) those the target cannot
/// take.
pub async fn send(
    items: &[ReplayItem],
    target: &Target,
    pace: Pace,
) -> Result<Summary, ReplayError> {
    let (ok, skipped): (Vec<_>, Vec<_>) =
        items.iter().map(|item| (item, unsendable(item, target))).partition(|(_, r)| r.is_none());
    let ok: Vec<ReplayItem> = ok.into_iter().map(|(item, _)| item.clone()).collect();
    let skipped = skipped
        .into_iter()
        .filter_map(|(item, reason)| reason.map(|reason| Skipped { line: item.line, reason }))
        .collect();

    let (sent, failed) = match target {
        Target::Mqtt(url) => (send_mqtt(&ok, url, pace).await?, Vec::new()),
        Target::Http(url) => send_http(&ok, url, pace).await,
    };
    Ok(Summary { sent, skipped, failed })
}

/// Why `item` cannot go to `target`, if it cannot.
fn unsendable(item: &ReplayItem, target: &Target) -> Option<String> {
    let topic = &item.topic;
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        return Some(format!("topic {topic:?} cannot be published (empty, or with + # or NUL)"));
    }
    let Target::Http(_) = target else { return None };
    match TopicParts::parse(topic) {
        Err(error) => Some(error.to_string()),
        Ok(parts) if parts.subtopic.is_some() && !item.payload.starts_with(b"{") => {
            Some(format!("HTTP mode has no subtopics; send {topic:?} with --to mqtt://"))
        }
        Ok(_) => None,
    }
}

/// Sleeps until the recorded time of `item`, scaled, measured from the first item.
async fn pace_for(item: &ReplayItem, first: Option<i64>, started: Instant, pace: Pace) {
    let (Pace::Speed(factor), Some(first), Some(time)) = (pace, first, item.time) else { return };
    let offset = (time - first).max(0) as f64 / factor;
    let due = started + Duration::from_secs_f64(offset.min(86_400.0));
    tokio::time::sleep_until(due.into()).await;
}

async fn send_mqtt(
    items: &[ReplayItem],
    url: &BrokerUrl,
    pace: Pace,
) -> Result<usize, ReplayError> {
    let broker = url.masked();
    let mut options = url.client_options(&format!("pista-replay-{}", std::process::id()), None);
    options.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(16 << 20, 16 << 20);

    let (client, mut events) = AsyncClient::new(options, 1024);
    let (acks, mut acked) = mpsc::unbounded_channel::<Result<(), String>>();
    let poller = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    if acks.send(Ok(())).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let _ = acks.send(Err(error.to_string()));
                    break;
                }
            }
        }
    });
    let failure = |detail: String| ReplayError::Mqtt { broker: broker.clone(), detail };

    let started = Instant::now();
    let first = items.iter().find_map(|i| i.time);
    let mut confirmed = 0;
    for item in items {
        pace_for(item, first, started, pace).await;
        client
            .publish(item.topic.clone(), QoS::AtLeastOnce, false, item.payload.clone())
            .await
            .map_err(|e| failure(e.to_string()))?;
        while let Ok(ack) = acked.try_recv() {
            ack.map_err(&failure)?;
            confirmed += 1;
        }
    }

    while confirmed < items.len() {
        match tokio::time::timeout(Duration::from_secs(30), acked.recv()).await {
            Ok(Some(Ok(()))) => confirmed += 1,
            Ok(Some(Err(detail))) => return Err(failure(detail)),
            Ok(None) | Err(_) => {
                return Err(failure(format!(
                    "only {confirmed} of {} messages were acknowledged",
                    items.len()
                )));
            }
        }
    }

    let _ = client.disconnect().await;
    poller.abort();
    Ok(confirmed)
}

/// Posts each item to HTTP mode; returns how many were accepted and which were refused.
async fn send_http(items: &[ReplayItem], url: &url::Url, pace: Pace) -> (usize, Vec<Skipped>) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let first = items.iter().find_map(|i| i.time);

    let (mut sent, mut failed) = (0, Vec::new());
    for item in items {
        pace_for(item, first, started, pace).await;
        let fail = |reason: String| Skipped { line: item.line, reason };
        let Ok(parts) = TopicParts::parse(&item.topic) else { continue };

        let request = client
            .post(url.clone())
            .header("X-Limit-U", parts.key.user.as_str())
            .header("X-Limit-D", parts.key.device.as_str())
            .header("Content-Type", "application/json")
            .body(item.payload.clone());
        match request.send().await {
            Ok(response) if response.status().is_success() => sent += 1,
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                failed.push(fail(format!("HTTP {status}: {}", body.trim())));
            }
            Err(error) => failed.push(fail(error.to_string())),
        }
    }
    (sent, failed)
}

/// The `pista replay` command.
pub async fn run_cli(args: &clap::ArgMatches) -> anyhow::Result<()> {
    let get = |name: &str| args.get_one::<String>(name).cloned().unwrap_or_default();
    let file = get("file");
    let text = std::fs::read_to_string(&file)
        .map_err(|source| ReplayError::Read { path: file.clone(), source })?;
    let rec_base = match (args.get_one::<String>("user"), args.get_one::<String>("device")) {
        (Some(user), Some(device)) => {
            let name =
                |flag, e: pista_core::NameError| ReplayError::Name { flag, reason: e.to_string() };
            UserName::parse(user).map_err(|e| name("user", e))?;
            DeviceName::parse(device).map_err(|e| name("device", e))?;
            Some(format!("owntracks/{user}/{device}"))
        }
        (None, None) => rec_base_from_path(Path::new(&file)),
        _ => {
            let reason = "give --user and --device together".to_owned();
            return Err(ReplayError::Name { flag: "user", reason }.into());
        }
    };

    let defaults = Defaults { topic: get("topic"), rec_base };
    let pace = if args.get_flag("fast") {
        Pace::Fast
    } else {
        let speed = get("speed");
        match speed.parse::<f64>() {
            Ok(f) if f > 0.0 && f.is_finite() => Pace::Speed(f),
            _ => return Err(ReplayError::Speed(speed).into()),
        }
    };

    let to = get("to");
    let target = parse_target(&to)?;

    let (items, skipped) = parse_lines(&text, &defaults);
    let started = Instant::now();
    let summary = send(&items, &target, pace).await?;
    let shown = match &target {
        Target::Mqtt(url) => url.masked(),
        Target::Http(url) => crate::settings::masked_url(url.as_str()),
    };
    println!(
        "replayed {} of {} messages from {file} to {shown} in {:.1} s",
        summary.sent,
        items.len(),
        started.elapsed().as_secs_f64()
    );

    let mut problems: Vec<&Skipped> =
        skipped.iter().chain(&summary.skipped).chain(&summary.failed).collect();
    problems.sort_by_key(|p| p.line);
    for line in problems.iter().take(20) {
        println!("  line {}: {}", line.line, line.reason);
    }
    if problems.len() > 20 {
        println!("  ... and {} more", problems.len() - 20);
    }
    if !summary.failed.is_empty() {
        anyhow::bail!("{} messages were not accepted", summary.failed.len());
    }
    if summary.sent == 0 {
        anyhow::bail!("nothing was replayed from {file}: {} lines skipped", problems.len());
    }
    Ok(())
}

/// Reads `--to`: an MQTT broker URL or an HTTP(S) URL of `/pub`.
pub fn parse_target(to: &str) -> Result<Target, ReplayError> {
    if to.starts_with("http://") || to.starts_with("https://") {
        let url = url::Url::parse(to)
            .map_err(|e| ReplayError::Target { url: to.to_owned(), reason: e.to_string() })?;
        return Ok(Target::Http(url));
    }
    BrokerUrl::parse(to).map(Target::Mqtt).map_err(|e| {
        let reason = match e {
            pista_ingest::UrlError::Scheme { scheme, .. } => format!(
                "scheme {scheme:?} is not allowed; use mqtt://, mqtts://, http://.../pub or \
                 https://.../pub"
            ),
            other => other.to_string(),
        };
        ReplayError::Target { url: to.to_owned(), reason }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_with_another_scheme_names_the_ones_that_work() {
        let error = parse_target("ftp://x").err().unwrap();
        assert_eq!(
            error.to_string(),
            "--to \"ftp://x\" is not usable: scheme \"ftp\" is not allowed; use mqtt://, \
             mqtts://, http://.../pub or https://.../pub"
        );
    }

    fn defaults() -> Defaults {
        Defaults {
            topic: "owntracks/replay/device".into(),
            rec_base: Some("owntracks/jane/phone".into()),
        }
    }

    #[test]
    fn lines_of_every_form_are_read() {
        let text = concat!(
            "# a comment\n",
            "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1700000000}\n",
            "{\"kind\":\"gw-status\",\"topic\":\"owntracks/gw/C1/status\",\"payload\":\"1\"}\n",
            "{\"topic\":null,\"payload\":{\"_type\":\"lwt\",\"tst\":5}}\n",
            "2026-12-04T15:03:39Z\t*                 \t{\"_type\":\"location\",\"lat\":3,\"lon\":4,\"tst\":1796396619}\n",
            "2026-12-04T15:06:30Z\tevent             \t{\"_type\":\"transition\"}\n",
            "2026-12-04T15:06:31Z\tlwt               \t{\"_type\":\"lwt\"}\n",
            "garbage\n",
            "{broken\n",
        );
        let (items, skipped) = parse_lines(text, &defaults());
        let got: Vec<(usize, &str, String, Option<i64>)> = items
            .iter()
            .map(|i| {
                (i.line, i.topic.as_str(), String::from_utf8_lossy(&i.payload).into_owned(), i.time)
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    2,
                    "owntracks/replay/device",
                    "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1700000000}".into(),
                    Some(1700000000)
                ),
                (3, "owntracks/gw/C1/status", "1".into(), None),
                (4, "owntracks/replay/device", "{\"_type\":\"lwt\",\"tst\":5}".into(), Some(5)),
                (
                    5,
                    "owntracks/jane/phone",
                    "{\"_type\":\"location\",\"lat\":3,\"lon\":4,\"tst\":1796396619}".into(),
                    Some(1796396619)
                ),
                (
                    6,
                    "owntracks/jane/phone/event",
                    "{\"_type\":\"transition\"}".into(),
                    Some(1796396790)
                ),
                (7, "owntracks/jane/phone", "{\"_type\":\"lwt\"}".into(), Some(1796396791)),
            ]
        );
        assert_eq!(
            skipped,
            [
                Skipped {
                    line: 8,
                    reason: "neither a JSON line nor a .rec line (TIME<tab>TOPIC<tab>PAYLOAD)"
                        .into()
                },
                Skipped {
                    line: 9,
                    reason: "invalid JSON: key must be a string at line 1 column 2".into()
                },
            ]
        );
    }

    #[test]
    fn rec_paths_name_the_device() {
        let path = Path::new("/var/spool/owntracks/recorder/store/rec/jane/phone/2026-12.rec");
        assert_eq!(rec_base_from_path(path).as_deref(), Some("owntracks/jane/phone"));
        assert_eq!(rec_base_from_path(Path::new("track.rec")), None);
        let (items, skipped) = parse_lines(
            "2026-12-04T15:03:39Z\t*\t{}\n",
            &Defaults { rec_base: None, ..defaults() },
        );
        assert!(items.is_empty());
        assert_eq!(
            skipped[0].reason,
            "cannot tell the user and device of .rec lines; pass --user and --device"
        );
    }
}
