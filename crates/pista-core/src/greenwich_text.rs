//! Plain-text payloads of Greenwich "OwnTracks Edition" devices. Besides its locations, such a
//! device publishes one short text per subtopic of its device topic: supply voltages,
//! temperatures, GPIO pins, its start-up line, the mobile networks it sees, OBD-II and FMS values
//! read from the vehicle, command replies and log lines. This module recognises those subtopics
//! and turns each payload into a kind (`gw-voltage`, `gw-obd2`, ...) and a JSON object of typed
//! values. A subtopic is recognised by its shape: literal levels must match exactly (so
//! `voltage/solar` is not one), while a level that carries a value (a sensor or pin number, an
//! OBD-II CAN id) is checked, and a bad one is an error rather than "not Greenwich".

mod jobs;

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::shorten;

/// Result of reading one Greenwich text payload.
#[derive(Debug, Clone, PartialEq)]
pub struct GreenwichText {
    pub kind: &'static str,
    pub value: Map<String, Value>,
    /// A credential in the text (a command's password) was replaced by `***`.
    pub masked: bool,
}

/// Why a payload on a Greenwich subtopic could not be read. Texts are shortened to 80
/// characters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GreenwichTextError {
    #[error("greenwich {subtopic} payload {text:?} is not UTF-8")]
    NotUtf8 { subtopic: String, text: String },
    #[error("greenwich {subtopic} payload is empty")]
    Empty { subtopic: String },
    #[error("greenwich {subtopic} {text:?} is not {expected}")]
    Invalid { subtopic: String, text: String, expected: &'static str },
}

/// The recognised subtopics, with the value-carrying levels they hold.
enum Route<'a> {
    Status,
    Info,
    Start,
    Voltage(&'static str),
    Temperature(&'a str),
    Gpio(&'a str),
    CellInfo,
    Operators,
    OperatorName(&'a str),
    Cmd,
    CmdOut,
    Obd2 {
        canid: &'a str,
        mode: &'a str,
        pid: Option<&'a str>,
        path: Option<String>,
    },
    Fms(&'a str),
    Raw,
    Log(&'static str),
    /// An Activo job box's messages, relayed by the device's serial proxy.
    Job(jobs::JobTopic<'a>),
}

fn route(subtopic: &str) -> Option<Route<'_>> {
    let levels: Vec<&str> = subtopic.split('/').collect();
    let route = match levels.as_slice() {
        ["status"] => Route::Status,
        ["info"] => Route::Info,
        ["start"] => Route::Start,
        ["voltage", "batt"] => Route::Voltage("batt"),
        ["voltage", "ext"] => Route::Voltage("ext"),
        ["temperature", sensor] => Route::Temperature(sensor),
        ["gpio", pin] => Route::Gpio(pin),
        ["cellinfo"] => Route::CellInfo,
        ["operators"] => Route::Operators,
        ["operators", code] => Route::OperatorName(code),
        ["cmd"] => Route::Cmd,
        ["cmd", "out"] => Route::CmdOut,
        ["obd2", canid, mode, rest @ ..] => Route::Obd2 {
            canid,
            mode,
            pid: rest.first().copied(),
            path: rest.get(1..).filter(|more| !more.is_empty()).map(|more| more.join("/")),
        },
        ["fms", "data", name] => Route::Fms(name),
        ["fms", name] if *name != "data" => Route::Fms(name),
        ["raw"] => Route::Raw,
        ["log", "E"] => Route::Log("E"),
        ["log", "W"] => Route::Log("W"),
        ["log", "I"] => Route::Log("I"),
        ["log", "D"] => Route::Log("D"),
        ["proxy", "jobs", rest @ ..] => Route::Job(jobs::JobTopic::parse(rest)?),
        _ => return None,
    };
    Some(route)
}

/// Whether `subtopic` is one of the Greenwich text subtopics [`parse_text`] reads.
pub fn is_text_subtopic(subtopic: &str) -> bool {
    route(subtopic).is_some()
}

/// Reads `payload` published on `subtopic` (the levels after the device topic). `Ok(None)` when
/// the subtopic is not a Greenwich text subtopic; an error when it is one but the payload (or a
/// number or id inside the subtopic) does not have the documented form.
pub fn parse_text(
    subtopic: &str,
    payload: &[u8],
) -> Result<Option<GreenwichText>, GreenwichTextError> {
    let Some(route) = route(subtopic) else {
        return Ok(None);
    };
    let text = match std::str::from_utf8(payload) {
        Ok(text) => text.trim_ascii(),
        Err(_) => {
            let text = shorten(&String::from_utf8_lossy(payload));
            return Err(GreenwichTextError::NotUtf8 { subtopic: shorten(subtopic), text });
        }
    };
    if text.is_empty() {
        return Err(GreenwichTextError::Empty { subtopic: shorten(subtopic) });
    }

    let cx = Cx { subtopic };
    let (kind, value) = match route {
        Route::Status => ("gw-status", cx.status(text)?),
        Route::Info => ("gw-info", object([("info", text.into())])),
        Route::Start => ("gw-start", cx.start(text)?),
        Route::Voltage(supply) => {
            let volts = cx.number(text, "a number of volts")?;
            ("gw-voltage", object([("supply", supply.into()), ("volts", volts.into())]))
        }
        Route::Temperature(sensor) => ("gw-temperature", cx.temperature(sensor, text)?),
        Route::Gpio(pin) => ("gw-gpio", cx.gpio(pin, text)?),
        Route::CellInfo => ("gw-cellinfo", cx.cellinfo(text)?),
        Route::Operators => ("gw-operators", cx.operators(text)?),
        Route::OperatorName(code) => {
            let plmn = cx.plmn(code)?;
            ("gw-operator-name", object([("plmn", plmn.into()), ("name", text.into())]))
        }
        Route::Cmd => ("gw-cmd", command(text)),
        Route::CmdOut => ("gw-cmd-out", command_output(text)),
        Route::Obd2 { canid, mode, pid, path } => {
            ("gw-obd2", cx.obd2([canid, mode], pid, path, text)?)
        }
        Route::Fms(name) => {
            let name = cx.name(name)?;
            ("gw-fms", object([("name", name.into()), ("data", text.into())]))
        }
        Route::Raw => ("gw-raw", nmea(text)),
        Route::Log(level) => {
            let (component, message) = split_word(text);
            let value = [("level", level), ("component", component), ("message", message)];
            ("gw-log", object(value.map(|(key, text)| (key, text.into()))))
        }
        Route::Job(topic) => ("gw-job", cx.job(topic, text)?),
    };
    let masked = value.get("masked").is_some_and(|masked| masked == &Value::Bool(true));
    let mut value = value;
    value.remove("masked");
    Ok(Some(GreenwichText { kind, value, masked }))
}

/// The subtopic being read, to name it in errors.
struct Cx<'a> {
    subtopic: &'a str,
}

impl Cx<'_> {
    fn bad(&self, text: &str, expected: &'static str) -> GreenwichTextError {
        GreenwichTextError::Invalid {
            subtopic: shorten(self.subtopic),
            text: shorten(text),
            expected,
        }
    }

    /// `1` connected, `0` connection lost (the broker publishing the will), `-1` switched off.
    fn status(&self, text: &str) -> Result<Map<String, Value>, GreenwichTextError> {
        let status = match text {
            "1" => 1,
            "0" => 0,
            "-1" => -1,
            _ => return Err(self.bad(text, "a status 1, 0 or -1")),
        };
        Ok(object([("status", status.into())]))
    }

    fn temperature(
        &self,
        sensor: &str,
        text: &str,
    ) -> Result<Map<String, Value>, GreenwichTextError> {
        let sensor = self.index(sensor, "a sensor number from 0 to 255")?;
        let celsius = self.number(text, "a temperature in degrees Celsius")?;
        Ok(object([("sensor", sensor.into()), ("celsius", celsius.into())]))
    }

    /// Pins report their inverted electrical level: `1` is an active input (7 = ignition on).
    fn gpio(&self, pin: &str, text: &str) -> Result<Map<String, Value>, GreenwichTextError> {
        let pin = self.index(pin, "a pin number from 0 to 255")?;
        let value = match text {
            "0" => 0,
            "1" => 1,
            _ => return Err(self.bad(text, "a pin value 0 or 1")),
        };
        Ok(object([("pin", pin.into()), ("value", value.into())]))
    }

    /// The topic levels name the ECU, the OBD-II mode and PID; the payload stays as sent (mostly
    /// hex, but the `09` status is `<mode> <speed> 0|1`), for decoders further on.
    fn obd2(
        &self,
        [canid, mode]: [&str; 2],
        pid: Option<&str>,
        path: Option<String>,
        text: &str,
    ) -> Result<Map<String, Value>, GreenwichTextError> {
        let mut value = Map::new();
        value.insert("canid".into(), self.hex(canid, "a hexadecimal CAN id")?.into());
        value.insert("mode".into(), self.hex(mode, "a hexadecimal OBD-II mode")?.into());
        if let Some(pid) = pid {
            value.insert("pid".into(), self.hex(pid, "a hexadecimal OBD-II PID")?.into());
        }
        if let Some(path) = path {
            value.insert("path".into(), path.into());
        }
        value.insert("data".into(), text.into());
        Ok(value)
    }

    /// `IMEI VERSION TIME`; the time is `20140930T085913Z` or, from older firmware,
    /// `2014-09-01 08:37:04` (with a space, so it is everything after the version). A time in
    /// neither form is kept as text rather than failing the whole line.
    fn start(&self, text: &str) -> Result<Map<String, Value>, GreenwichTextError> {
        let (imei, rest) = split_word(text);
        let (version, time) = split_word(rest);
        if version.is_empty() || time.is_empty() {
            return Err(self.bad(text, "an IMEI, a version and a start time"));
        }

        let mut value = object([("imei", imei.into()), ("version", version.into())]);
        match start_time(time) {
            Some(seconds) => value.insert("startup".into(), seconds.into()),
            None => value.insert("startup_text".into(), time.into()),
        };
        Ok(value)
    }

    /// `MCC MNC LAC CellID`, four decimal numbers (the only form seen from devices).
    fn cellinfo(&self, text: &str) -> Result<Map<String, Value>, GreenwichTextError> {
        let expected = "four decimal numbers MCC MNC LAC CellID";
        let fields: Vec<&str> = text.split_ascii_whitespace().collect();
        let [mcc, mnc, lac, cid] = fields.as_slice() else {
            return Err(self.bad(text, expected));
        };
        let mut value = Map::new();
        for (key, field) in [("mcc", mcc), ("mnc", mnc), ("lac", lac), ("cid", cid)] {
            let number = decimal(field).ok_or_else(|| self.bad(text, expected))?;
            value.insert(key.into(), number.into());
        }
        Ok(value)
    }

    /// The current network's MCC+MNC, then other networks marked `+` allowed, `-` forbidden or
    /// `?` unknown. A later code without a mark is "listed"; a first code with a mark means the
    /// device has no current network, and then `current` is left out.
    fn operators(&self, text: &str) -> Result<Map<String, Value>, GreenwichTextError> {
        let mut current = None;
        let mut operators = Vec::new();
        for (index, token) in text.split_ascii_whitespace().enumerate() {
            let (state, code) = match token.split_at_checked(1) {
                Some(("+", code)) => ("allowed", code),
                Some(("-", code)) => ("forbidden", code),
                Some(("?", code)) => ("unknown", code),
                _ if index == 0 => ("current", token),
                _ => ("listed", token),
            };
            let plmn = self.plmn(code)?;
            if index == 0 && state == "current" {
                current = Some(plmn.clone());
            }
            let (mcc, mnc) = plmn.split_at(3);
            let entry = [("plmn", &*plmn), ("mcc", mcc), ("mnc", mnc), ("state", state)];
            operators.push(Value::Object(object(entry.map(|(key, text)| (key, text.into())))));
        }

        let mut value = Map::new();
        if let Some(current) = current {
            value.insert("current".into(), current.into());
        }
        value.insert("operators".into(), operators.into());
        Ok(value)
    }

    /// A network code: three digits of MCC and two or three of MNC.
    fn plmn(&self, code: &str) -> Result<String, GreenwichTextError> {
        let ok = matches!(code.len(), 5 | 6) && code.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| code.to_owned()).ok_or_else(|| self.bad(code, "a network code of 5 or 6 digits"))
    }

    fn number(&self, text: &str, expected: &'static str) -> Result<f64, GreenwichTextError> {
        text.parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| self.bad(text, expected))
    }

    fn index(&self, level: &str, expected: &'static str) -> Result<u8, GreenwichTextError> {
        decimal(level).and_then(|n| u8::try_from(n).ok()).ok_or_else(|| self.bad(level, expected))
    }

    fn hex<'t>(
        &self,
        level: &'t str,
        expected: &'static str,
    ) -> Result<&'t str, GreenwichTextError> {
        let ok = !level.is_empty() && level.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then_some(level).ok_or_else(|| self.bad(level, expected))
    }

    fn name<'t>(&self, level: &'t str) -> Result<&'t str, GreenwichTextError> {
        let ok = !level.is_empty() && level.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then_some(level).ok_or_else(|| self.bad(level, "an FMS value name"))
    }
}

/// A command sent to the device. Passwords in it are masked before the command is stored
/// anywhere: the argument of `login` (`login PW`, `login=PW`) and the value of a credential
/// setting (`set pass=PW`, `set password PW`).
fn command(text: &str) -> Map<String, Value> {
    let shown = mask_command(text);
    let masked = shown != text;
    let (verb, _) = split_word(&shown);
    let verb = verb.split_once('=').map_or(verb, |(verb, _)| verb).to_owned();
    let mut value = object([("command", shown.into()), ("verb", verb.into())]);
    if masked {
        value.insert("masked".into(), true.into());
    }
    value
}

fn mask_command(text: &str) -> String {
    let (verb, argument) = split_word(text);
    if let Some((login, secret)) = verb.split_once('=')
        && login.eq_ignore_ascii_case("login")
        && !secret.is_empty()
    {
        return format!("{login}=***");
    }
    if verb.eq_ignore_ascii_case("login") && !argument.is_empty() {
        return format!("{verb} ***");
    }
    if verb.eq_ignore_ascii_case("set") {
        let end = argument.find(|c: char| c == '=' || c.is_ascii_whitespace());
        if let Some(end) = end {
            let (key, rest) = argument.split_at(end);
            let separator = &rest[..1];
            let secret = rest[1..].trim_ascii_start();
            if crate::secrets::is_secret_key(key) && !secret.is_empty() {
                return format!("{verb} {key}{separator}***");
            }
        }
    }
    text.to_owned()
}

/// One reply line: `NACK: reason`, `KEY=VALUE` (the value may be quoted) or free text.
fn command_output(text: &str) -> Map<String, Value> {
    let mut value = object([("line", text.into())]);
    if let Some(reason) = text.strip_prefix("NACK:") {
        value.insert("nack".into(), reason.trim_ascii().into());
    } else if let Some((key, setting)) = text.split_once('=') {
        let is_key = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if is_key && crate::secrets::is_secret_key(key) {
            value.insert("line".into(), format!("{key}=***").into());
            value.insert("key".into(), key.into());
            value.insert("value".into(), "***".into());
            value.insert("masked".into(), true.into());
        } else if is_key {
            let unquoted = setting.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
            value.insert("key".into(), key.into());
            value.insert("value".into(), unquoted.unwrap_or(setting).into());
        }
    }
    value
}

/// A raw NMEA sentence, with `checksum_ok` when it ends in `*HH`.
fn nmea(text: &str) -> Map<String, Value> {
    let mut value = object([("sentence", text.into())]);
    if let Some(ok) = nmea_checksum(text) {
        value.insert("checksum_ok".into(), ok.into());
    }
    value
}

/// The checksum of an NMEA sentence is the XOR of the bytes between `$` and `*`.
fn nmea_checksum(sentence: &str) -> Option<bool> {
    let (body, sum) = sentence.strip_prefix('$')?.rsplit_once('*')?;
    if sum.len() != 2 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let expected = u8::from_str_radix(sum, 16).ok()?;
    Some(body.bytes().fold(0, |sum, byte| sum ^ byte) == expected)
}

/// Start times are UTC; both firmware forms are tried.
fn start_time(text: &str) -> Option<i64> {
    ["%Y%m%dT%H%M%SZ", "%Y-%m-%d %H:%M:%S"]
        .into_iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|time| time.and_utc().timestamp())
}

/// Splits off the first word; the rest has its leading whitespace removed.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((word, rest)) => (word, rest.trim_ascii_start()),
        None => (text, ""),
    }
}

/// Digits only: no sign, no spaces, no hexadecimal.
fn decimal(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

fn object<const N: usize>(entries: [(&str, Value); N]) -> Map<String, Value> {
    entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

#[cfg(test)]
mod tests;
