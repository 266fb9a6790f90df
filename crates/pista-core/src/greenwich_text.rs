//! Plain-text payloads of Greenwich "OwnTracks Edition" devices. Besides its locations, such a
//! device publishes one short text per subtopic of its device topic: supply voltages,
//! temperatures, GPIO pins, its start-up line, the mobile networks it sees, OBD-II and FMS values
//! read from the vehicle, command replies and log lines. This module recognises those subtopics
//! and turns each payload into a kind (`gw-voltage`, `gw-obd2`, ...) and a JSON object of typed
//! values. A subtopic is recognised by its shape: literal levels must match exactly (so
//! `voltage/solar` is not one), while a level that carries a value (a sensor or pin number, an
//! OBD-II CAN id) is checked, and a bad one is an error rather than "not Greenwich".

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// Longest text kept in an error, in characters.
const SHOWN_CHARS: usize = 80;

/// Result of reading one Greenwich text payload.
#[derive(Debug, Clone, PartialEq)]
pub struct GreenwichText {
    pub kind: &'static str,
    pub value: Map<String, Value>,
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
    Obd2 { canid: &'a str, mode: &'a str, pid: Option<&'a str>, path: Option<String> },
    Fms(&'a str),
    Raw,
    Log(&'static str),
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
        _ => return None,
    };
    Some(route)
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
    };
    Ok(Some(GreenwichText { kind, value }))
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

/// A command sent to the device. The argument of `login` is the device password, so it is
/// masked before the command is stored anywhere.
fn command(text: &str) -> Map<String, Value> {
    let (verb, argument) = split_word(text);
    let shown = if verb.eq_ignore_ascii_case("login") && !argument.is_empty() {
        format!("{verb} ***")
    } else {
        text.to_owned()
    };
    object([("command", shown.into()), ("verb", verb.into())])
}

/// One reply line: `NACK: reason`, `KEY=VALUE` (the value may be quoted) or free text.
fn command_output(text: &str) -> Map<String, Value> {
    let mut value = object([("line", text.into())]);
    if let Some(reason) = text.strip_prefix("NACK:") {
        value.insert("nack".into(), reason.trim_ascii().into());
    } else if let Some((key, setting)) = text.split_once('=') {
        let is_key = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if is_key {
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

fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some(_) => text.chars().take(SHOWN_CHARS - 1).chain(['…']).collect(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Greenwich text payload of the vector corpus (protocol and o2s seed payloads, each
    /// once; the simulator's `4.<2..6>` templates filled in) plus forms the devices document.
    const DECODED: &[(&str, &str, &str, &str)] = &[
        ("status", "1", "gw-status", r#"{"status":1}"#),
        ("status", "0", "gw-status", r#"{"status":0}"#),
        ("status", "-1\n", "gw-status", r#"{"status":-1}"#),
        ("info", "your driver: Janine", "gw-info", r#"{"info":"your driver: Janine"}"#),
        ("info", "su conductor: Jose-Maria", "gw-info", r#"{"info":"su conductor: Jose-Maria"}"#),
        ("info", "Ihr Fahrer: Hans Werner", "gw-info", r#"{"info":"Ihr Fahrer: Hans Werner"}"#),
        (
            "info",
            "votre conductrice: Anne Marie",
            "gw-info",
            r#"{"info":"votre conductrice: Anne Marie"}"#,
        ),
        ("info", "Germany-France", "gw-info", r#"{"info":"Germany-France"}"#),
        ("info", "ruta: norte", "gw-info", r#"{"info":"ruta: norte"}"#),
        ("info", " next tour: June ", "gw-info", r#"{"info":"next tour: June"}"#),
        (
            "start",
            "123456789012345 0.8.1 20140930T085913Z",
            "gw-start",
            r#"{"imei":"123456789012345","version":"0.8.1","startup":1412067553}"#,
        ),
        (
            "start",
            "12345678901230 0.10.97 20141202T084939Z",
            "gw-start",
            r#"{"imei":"12345678901230","version":"0.10.97","startup":1417510179}"#,
        ),
        (
            "start",
            "123456789012345 0.7.38 2014-09-01 08:37:04",
            "gw-start",
            r#"{"imei":"123456789012345","version":"0.7.38","startup":1409560624}"#,
        ),
        (
            "start",
            "123456789012345  0.7.38\t2014-09-01 08:37:04",
            "gw-start",
            r#"{"imei":"123456789012345","version":"0.7.38","startup":1409560624}"#,
        ),
        (
            "start",
            "123456789012345 0.8.1 20141302T084939Z",
            "gw-start",
            r#"{"imei":"123456789012345","version":"0.8.1","startup_text":"20141302T084939Z"}"#,
        ),
        (
            "start",
            "123456789012345 0.8.1 2014-09-01 08:37:04 CEST",
            "gw-start",
            concat!(
                r#"{"imei":"123456789012345","version":"0.8.1","#,
                r#""startup_text":"2014-09-01 08:37:04 CEST"}"#,
            ),
        ),
        ("voltage/batt", "4.4", "gw-voltage", r#"{"supply":"batt","volts":4.4}"#),
        ("voltage/ext", "12.2", "gw-voltage", r#"{"supply":"ext","volts":12.2}"#),
        ("voltage/batt", "4.2", "gw-voltage", r#"{"supply":"batt","volts":4.2}"#),
        ("voltage/ext", "13.6", "gw-voltage", r#"{"supply":"ext","volts":13.6}"#),
        ("voltage/ext", "0", "gw-voltage", r#"{"supply":"ext","volts":0.0}"#),
        ("temperature/0", "4.41", "gw-temperature", r#"{"sensor":0,"celsius":4.41}"#),
        ("temperature/1", "24.82", "gw-temperature", r#"{"sensor":1,"celsius":24.82}"#),
        ("temperature/255", "-12.5", "gw-temperature", r#"{"sensor":255,"celsius":-12.5}"#),
        ("gpio/1", "0", "gw-gpio", r#"{"pin":1,"value":0}"#),
        ("gpio/3", "1", "gw-gpio", r#"{"pin":3,"value":1}"#),
        ("gpio/3", "0", "gw-gpio", r#"{"pin":3,"value":0}"#),
        ("gpio/7", "0", "gw-gpio", r#"{"pin":7,"value":0}"#),
        ("gpio/7", "1", "gw-gpio", r#"{"pin":7,"value":1}"#),
        ("cellinfo", "262 7 1451 35", "gw-cellinfo", r#"{"mcc":262,"mnc":7,"lac":1451,"cid":35}"#),
        (
            "operators",
            "26207 +22801 +22802 +22803 -26201 -22602 -26203 ?33301",
            "gw-operators",
            concat!(
                r#"{"current":"26207","operators":["#,
                r#"{"plmn":"26207","mcc":"262","mnc":"07","state":"current"},"#,
                r#"{"plmn":"22801","mcc":"228","mnc":"01","state":"allowed"},"#,
                r#"{"plmn":"22802","mcc":"228","mnc":"02","state":"allowed"},"#,
                r#"{"plmn":"22803","mcc":"228","mnc":"03","state":"allowed"},"#,
                r#"{"plmn":"26201","mcc":"262","mnc":"01","state":"forbidden"},"#,
                r#"{"plmn":"22602","mcc":"226","mnc":"02","state":"forbidden"},"#,
                r#"{"plmn":"26203","mcc":"262","mnc":"03","state":"forbidden"},"#,
                r#"{"plmn":"33301","mcc":"333","mnc":"01","state":"unknown"}]}"#,
            ),
        ),
        (
            "operators",
            "26201 +26202",
            "gw-operators",
            concat!(
                r#"{"current":"26201","operators":["#,
                r#"{"plmn":"26201","mcc":"262","mnc":"01","state":"current"},"#,
                r#"{"plmn":"26202","mcc":"262","mnc":"02","state":"allowed"}]}"#,
            ),
        ),
        (
            "operators",
            "26202 +26201 +26203 +26207",
            "gw-operators",
            concat!(
                r#"{"current":"26202","operators":["#,
                r#"{"plmn":"26202","mcc":"262","mnc":"02","state":"current"},"#,
                r#"{"plmn":"26201","mcc":"262","mnc":"01","state":"allowed"},"#,
                r#"{"plmn":"26203","mcc":"262","mnc":"03","state":"allowed"},"#,
                r#"{"plmn":"26207","mcc":"262","mnc":"07","state":"allowed"}]}"#,
            ),
        ),
        (
            "operators",
            "+310410 310260",
            "gw-operators",
            concat!(
                r#"{"operators":["#,
                r#"{"plmn":"310410","mcc":"310","mnc":"410","state":"allowed"},"#,
                r#"{"plmn":"310260","mcc":"310","mnc":"260","state":"listed"}]}"#,
            ),
        ),
        (
            "operators/26201",
            "T-Mobile (DE)",
            "gw-operator-name",
            r#"{"plmn":"26201","name":"T-Mobile (DE)"}"#,
        ),
        (
            "operators/26202",
            "Vodafone (DE)",
            "gw-operator-name",
            r#"{"plmn":"26202","name":"Vodafone (DE)"}"#,
        ),
        ("cmd", "login xxx", "gw-cmd", r#"{"command":"login ***","verb":"login"}"#),
        ("cmd", "login 123456", "gw-cmd", r#"{"command":"login ***","verb":"login"}"#),
        ("cmd", "LOGIN  two words", "gw-cmd", r#"{"command":"LOGIN ***","verb":"LOGIN"}"#),
        ("cmd", "login", "gw-cmd", r#"{"command":"login","verb":"login"}"#),
        ("cmd", "out 1 0", "gw-cmd", r#"{"command":"out 1 0","verb":"out"}"#),
        ("cmd", "state", "gw-cmd", r#"{"command":"state","verb":"state"}"#),
        (
            "cmd/out",
            "NACK: incorrect login",
            "gw-cmd-out",
            r#"{"line":"NACK: incorrect login","nack":"incorrect login"}"#,
        ),
        (
            "cmd/out",
            "NUMSAT=10",
            "gw-cmd-out",
            r#"{"line":"NUMSAT=10","key":"NUMSAT","value":"10"}"#,
        ),
        ("cmd/out", "BEARER=3", "gw-cmd-out", r#"{"line":"BEARER=3","key":"BEARER","value":"3"}"#),
        ("cmd/out", "GPRS=1", "gw-cmd-out", r#"{"line":"GPRS=1","key":"GPRS","value":"1"}"#),
        ("cmd/out", "CREG=5", "gw-cmd-out", r#"{"line":"CREG=5","key":"CREG","value":"5"}"#),
        ("cmd/out", "CGREG=5", "gw-cmd-out", r#"{"line":"CGREG=5","key":"CGREG","value":"5"}"#),
        ("cmd/out", "BATT=4.4", "gw-cmd-out", r#"{"line":"BATT=4.4","key":"BATT","value":"4.4"}"#),
        (
            "cmd/out",
            "EXTV=12.2",
            "gw-cmd-out",
            r#"{"line":"EXTV=12.2","key":"EXTV","value":"12.2"}"#,
        ),
        ("cmd/out", "Q=0", "gw-cmd-out", r#"{"line":"Q=0","key":"Q","value":"0"}"#),
        ("cmd/out", "CONN=1", "gw-cmd-out", r#"{"line":"CONN=1","key":"CONN","value":"1"}"#),
        ("cmd/out", "NETW=1", "gw-cmd-out", r#"{"line":"NETW=1","key":"NETW","value":"1"}"#),
        (
            "cmd/out",
            r#"OPER="Provider""#,
            "gw-cmd-out",
            r#"{"line":"OPER=\"Provider\"","key":"OPER","value":"Provider"}"#,
        ),
        (
            "cmd/out",
            "WAKEUP=IgnitionWakeup",
            "gw-cmd-out",
            r#"{"line":"WAKEUP=IgnitionWakeup","key":"WAKEUP","value":"IgnitionWakeup"}"#,
        ),
        (
            "cmd/out",
            "DATE=2014-08-28 15:02:40",
            "gw-cmd-out",
            r#"{"line":"DATE=2014-08-28 15:02:40","key":"DATE","value":"2014-08-28 15:02:40"}"#,
        ),
        ("cmd/out", "a = b", "gw-cmd-out", r#"{"line":"a = b"}"#),
        ("cmd/out", "=1", "gw-cmd-out", r#"{"line":"=1"}"#),
        ("obd2/000007e8/03", "00", "gw-obd2", r#"{"canid":"000007e8","mode":"03","data":"00"}"#),
        (
            "obd2/000007e8/09",
            "01 0 1",
            "gw-obd2",
            r#"{"canid":"000007e8","mode":"09","data":"01 0 1"}"#,
        ),
        (
            "obd2/000007E9/02/0105/0133",
            "82",
            "gw-obd2",
            r#"{"canid":"000007E9","mode":"02","pid":"0105","path":"0133","data":"82"}"#,
        ),
        (
            "obd2/000007e8/02/01/02/03",
            "ff",
            "gw-obd2",
            r#"{"canid":"000007e8","mode":"02","pid":"01","path":"02/03","data":"ff"}"#,
        ),
        ("fms/timedate", "1c1e0f08341d", "gw-fms", r#"{"name":"timedate","data":"1c1e0f08341d"}"#),
        ("fms/vehicleid", "57564d", "gw-fms", r#"{"name":"vehicleid","data":"57564d"}"#),
        ("fms/driverid", "4a4f", "gw-fms", r#"{"name":"driverid","data":"4a4f"}"#),
        ("fms/data/maxspeed", "5a", "gw-fms", r#"{"name":"maxspeed","data":"5a"}"#),
        ("fms/data/fuellevel", "80", "gw-fms", r#"{"name":"fuellevel","data":"80"}"#),
        (
            "raw",
            "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
            "gw-raw",
            concat!(
                r#"{"sentence":"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,"#,
                r#"003.1,W*6A","checksum_ok":true}"#,
            ),
        ),
        (
            "raw",
            "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n",
            "gw-raw",
            concat!(
                r#"{"sentence":"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"#,
                r#"*47","checksum_ok":true}"#,
            ),
        ),
        (
            "raw",
            "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48",
            "gw-raw",
            concat!(
                r#"{"sentence":"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"#,
                r#"*48","checksum_ok":false}"#,
            ),
        ),
        ("raw", "$GPGSV,1,1,00*7", "gw-raw", r#"{"sentence":"$GPGSV,1,1,00*7"}"#),
        ("raw", "GPRMC,1*00", "gw-raw", r#"{"sentence":"GPRMC,1*00"}"#),
        (
            "log/E",
            "GPS fix lost after 30 s",
            "gw-log",
            r#"{"level":"E","component":"GPS","message":"fix lost after 30 s"}"#,
        ),
        ("log/I", "boot", "gw-log", r#"{"level":"I","component":"boot","message":""}"#),
        (
            "log/D",
            "MQTT  connected",
            "gw-log",
            r#"{"level":"D","component":"MQTT","message":"connected"}"#,
        ),
    ];

    /// The 30 OBD-II values of the manual (`obd2/000007e8/01/<pid>`).
    const MODE_01: &[(&str, &str)] = &[
        ("00", "983ba013"),
        ("01", "000eeb00"),
        ("04", "8c"),
        ("05", "82"),
        ("0b", "66"),
        ("0c", "0ee0"),
        ("0d", "03"),
        ("0f", "35"),
        ("10", "03aa"),
        ("11", "6b"),
        ("13", "01"),
        ("1c", "06"),
        ("1f", "0517"),
        ("20", "a001b001"),
        ("21", "0000"),
        ("34", "0dc380f0"),
        ("40", "ccd20001"),
        ("41", "000eeb01"),
        ("42", "3930"),
        ("45", "ff"),
        ("46", "32"),
        ("49", "3a"),
        ("4a", "42"),
        ("4c", "ff"),
        ("4f", "20000000"),
        ("60", "02800301"),
        ("67", "018200"),
        ("77", "0367470000"),
        ("80", "29200000"),
    ];

    fn decoded(subtopic: &str, payload: &[u8]) -> (&'static str, String) {
        let text = parse_text(subtopic, payload).unwrap().unwrap();
        (text.kind, serde_json::to_string(&text.value).unwrap())
    }

    #[test]
    fn documented_payloads_decode_to_exact_values() {
        for (subtopic, payload, kind, json) in DECODED {
            let got = decoded(subtopic, payload.as_bytes());
            assert_eq!(got, (*kind, json.to_string()), "{subtopic} {payload:?}");
        }
    }

    #[test]
    fn manual_obd2_values_decode_to_exact_values() {
        assert_eq!(MODE_01.len() + 1, 30, "the manual's 30 samples include mode 03 above");
        for (pid, data) in MODE_01 {
            let subtopic = format!("obd2/000007e8/01/{pid}");
            let want =
                format!(r#"{{"canid":"000007e8","mode":"01","pid":"{pid}","data":"{data}"}}"#);
            assert_eq!(decoded(&subtopic, data.as_bytes()), ("gw-obd2", want), "{subtopic}");
        }
    }

    #[test]
    fn other_subtopics_are_not_greenwich_text() {
        let cases = [
            ("", "X0,542A46AA,k,30365854,7575769,26,4,7,5,872"),
            ("event", r#"{"_type":"transition"}"#),
            ("waypoint", r#"{"_type":"waypoint"}"#),
            ("waypoints", r#"{"_type":"waypoints"}"#),
            ("alarm", r#"{"_type": "location",  "t": "a"}"#),
            ("hw", "Cinterion,EGS5-X,REVISION 02.004"),
            ("sw/gw", "02.16B,02.01,02.16"),
            ("proxy/jobs/active", "3"),
            ("voltage", "4.4"),
            ("voltage/solar", "4.4"),
            ("temperature", "4.4"),
            ("temperature/0/1", "4.4"),
            ("gpio/1/2", "1"),
            ("status/1", "1"),
            ("cmd/in", "state"),
            ("cmd/out/1", "Q=0"),
            ("obd2", "00"),
            ("obd2/000007e8", "00"),
            ("fms", "5a"),
            ("fms/data", "5a"),
            ("fms/data/speed0/1", "5a"),
            ("log", "GPS lost"),
            ("log/X", "GPS lost"),
            ("log/e", "GPS lost"),
            ("Status", "1"),
        ];
        for (subtopic, payload) in cases {
            assert_eq!(parse_text(subtopic, payload.as_bytes()), Ok(None), "{subtopic}");
        }
        // Routing comes first: an unknown subtopic is not judged on its payload.
        assert_eq!(parse_text("event", b"\xff"), Ok(None));
    }

    #[test]
    fn bad_payloads_and_levels_are_named() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("status", b"\xff\xfe1", "greenwich status payload \"\u{fffd}\u{fffd}1\" is not UTF-8"),
            ("info", b" \r\n\t", "greenwich info payload is empty"),
            ("cmd/out", b"", "greenwich cmd/out payload is empty"),
            ("status", b"2", r#"greenwich status "2" is not a status 1, 0 or -1"#),
            ("status", b"+1", r#"greenwich status "+1" is not a status 1, 0 or -1"#),
            ("voltage/ext", b"12,2", r#"greenwich voltage/ext "12,2" is not a number of volts"#),
            ("voltage/batt", b"NaN", r#"greenwich voltage/batt "NaN" is not a number of volts"#),
            ("voltage/batt", b"inf", r#"greenwich voltage/batt "inf" is not a number of volts"#),
            (
                "voltage/ext",
                b"-infinity",
                r#"greenwich voltage/ext "-infinity" is not a number of volts"#,
            ),
            (
                "voltage/ext",
                b"4.<2..6>",
                r#"greenwich voltage/ext "4.<2..6>" is not a number of volts"#,
            ),
            (
                "temperature/0",
                b"24.82C",
                r#"greenwich temperature/0 "24.82C" is not a temperature in degrees Celsius"#,
            ),
            (
                "temperature/256",
                b"1",
                r#"greenwich temperature/256 "256" is not a sensor number from 0 to 255"#,
            ),
            ("gpio/7", b"x", r#"greenwich gpio/7 "x" is not a pin value 0 or 1"#),
            ("gpio/7", b"2", r#"greenwich gpio/7 "2" is not a pin value 0 or 1"#),
            ("gpio/x", b"1", r#"greenwich gpio/x "x" is not a pin number from 0 to 255"#),
            ("gpio/-1", b"1", r#"greenwich gpio/-1 "-1" is not a pin number from 0 to 255"#),
            (
                "start",
                b"123456789012345 0.8.1",
                concat!(
                    r#"greenwich start "123456789012345 0.8.1" "#,
                    "is not an IMEI, a version and a start time",
                ),
            ),
            (
                "start",
                b"123456789012345",
                r#"greenwich start "123456789012345" is not an IMEI, a version and a start time"#,
            ),
            (
                "cellinfo",
                b"262 7 1451",
                r#"greenwich cellinfo "262 7 1451" is not four decimal numbers MCC MNC LAC CellID"#,
            ),
            (
                "cellinfo",
                b"262 7 5a3 35",
                concat!(
                    r#"greenwich cellinfo "262 7 5a3 35" "#,
                    "is not four decimal numbers MCC MNC LAC CellID",
                ),
            ),
            (
                "operators",
                b"26207 +2280",
                r#"greenwich operators "2280" is not a network code of 5 or 6 digits"#,
            ),
            (
                "operators",
                b"26207 *22801",
                r#"greenwich operators "*22801" is not a network code of 5 or 6 digits"#,
            ),
            (
                "operators/T-Mobile",
                b"T-Mobile (DE)",
                r#"greenwich operators/T-Mobile "T-Mobile" is not a network code of 5 or 6 digits"#,
            ),
            (
                "obd2/7e8g/01/0c",
                b"0ee0",
                r#"greenwich obd2/7e8g/01/0c "7e8g" is not a hexadecimal CAN id"#,
            ),
            (
                "obd2/000007e8/x1/0c",
                b"0ee0",
                r#"greenwich obd2/000007e8/x1/0c "x1" is not a hexadecimal OBD-II mode"#,
            ),
            (
                "obd2/000007e8/01/rpm",
                b"0ee0",
                r#"greenwich obd2/000007e8/01/rpm "rpm" is not a hexadecimal OBD-II PID"#,
            ),
            ("obd2//01", b"00", r#"greenwich obd2//01 "" is not a hexadecimal CAN id"#),
            (
                "fms/data/max speed",
                b"5a",
                r#"greenwich fms/data/max speed "max speed" is not an FMS value name"#,
            ),
            ("fms/", b"5a", r#"greenwich fms/ "" is not an FMS value name"#),
        ];
        for (subtopic, payload, message) in cases {
            let error = parse_text(subtopic, payload).unwrap_err();
            assert_eq!(error.to_string(), *message, "{subtopic} {payload:?}");
        }
    }

    #[test]
    fn long_texts_are_shortened_in_errors() {
        let long = "9".repeat(200) + ",5";
        let shown = "9".repeat(79) + "…";
        let want = GreenwichTextError::Invalid {
            subtopic: "voltage/ext".into(),
            text: shown.clone(),
            expected: "a number of volts",
        };
        assert_eq!(parse_text("voltage/ext", long.as_bytes()), Err(want));
        let cases = [("", ""), ("abc", "abc"), (&long[..80], &long[..80]), (&long[..81], &shown)];
        for (text, want) in cases {
            assert_eq!(shorten(text), want, "{text}");
        }
        assert_eq!(shorten(&"é".repeat(81)).chars().count(), 80);
    }
}
