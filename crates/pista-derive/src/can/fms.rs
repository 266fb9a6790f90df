//! FMS (truck J1939) values on `fms/<name>` and `fms/data/<name>`, printed `<Label> = <value>`.
//! Multi-byte values are read little-endian, the J1939 byte order the firmware passes through
//! unchanged; every value needs its exact byte count, otherwise the raw payload is shown.

use super::hex::{self, float, le};

/// Text for the levels after `fms` (`<name>` or `data/<name>`) and the payload.
pub(super) fn describe<'a>(
    mut levels: impl Iterator<Item = &'a str>,
    payload: &str,
) -> Option<String> {
    let mut name = levels.next()?;
    if name.eq_ignore_ascii_case("data") {
        name = levels.next()?;
    }
    if levels.next().is_some() {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let text = |label: &str, value: String| Some(format!("{label} = {value}"));
    match name.as_str() {
        "timedate" => time_date(&hex::exact(payload, 6)?),
        "vehicleid" => text("Vehicle ID", hex::ascii(&hex::bytes(payload)?)?),
        "driverid" => text("Driver ID", hex::ascii(&hex::bytes(payload)?)?),
        "fmssw" => text("FMS Software Version", hex::ascii(&hex::bytes(payload)?)?),
        "tachodata" => {
            text("Tachograph Data", hex::bytes(payload).map(|_| payload.trim().to_owned())?)
        }
        "selectedgear" => text("Selected Gear", gear(hex::exact(payload, 1)?[0])?),
        "currentgear" => text("Current Gear", gear(hex::exact(payload, 1)?[0])?),
        other => counter(other, payload).or_else(|| measure(other, payload)),
    }
}

/// The sample counters: 16-bit little-endian counts of how often the vehicle was in a speed,
/// RPM or pedal band, braking, on cruise control or driving the PTO.
fn counter(name: &str, payload: &str) -> Option<String> {
    let label = match name {
        "brakes" => "Brake Counter".to_owned(),
        "cruise" => "Cruise Control Counter".to_owned(),
        "pto" => "PTO Counter".to_owned(),
        _ => banded(name)?,
    };
    Some(format!("{label} = {}", le(&hex::exact(payload, 2)?)))
}

/// "speed16" → "Speed Counter 16", likewise for `rpmN` and `pedalN`.
fn banded(name: &str) -> Option<String> {
    let (kind, band) = [("speed", "Speed"), ("rpm", "RPM"), ("pedal", "Pedal")]
        .into_iter()
        .find_map(|(prefix, kind)| Some((kind, name.strip_prefix(prefix)?)))?;
    let numeric = !band.is_empty() && band.bytes().all(|b| b.is_ascii_digit());
    numeric.then(|| format!("{kind} Counter {band}"))
}

/// The measured values: (label, bytes, scale, offset, unit, integer?).
fn measure(name: &str, payload: &str) -> Option<String> {
    let (label, bytes, scale, offset, unit, integer) = match name {
        "maxspeed" => ("Maximum Speed", 1, 1.0, 0.0, "km/h", true),
        "totalfuel" => ("Total Fuel Used", 4, 0.5, 0.0, "L", false),
        "enginehours" => ("Engine Hours", 4, 0.05, 0.0, "h", false),
        "totaldist" => ("Total Distance", 4, 0.005, 0.0, "km", false),
        "fuellevel" => ("Fuel Level", 1, 0.4, 0.0, "%", false),
        "axlesweight" => ("Axle Weight", 2, 0.5, 0.0, "kg", false),
        "coolingtemp" => ("Engine Coolant Temperature", 1, 1.0, -40.0, "degrees C", true),
        "engineload" => ("Engine Load", 1, 1.0, 0.0, "%", true),
        // J1939 service distance: 5 km per bit, offset -160 635 km, computed from the two
        // little-endian bytes (the original's arithmetic here was wrong).
        "servicedist" => ("Service Distance", 2, 5.0, -160_635.0, "km", true),
        "tachospeed" => ("Tachograph Speed", 2, 1.0 / 256.0, 0.0, "km/h", false),
        "fuelrate" => ("Fuel Rate", 2, 0.05, 0.0, "L/h", false),
        "fuelecon" => ("Fuel Economy", 2, 1.0 / 512.0, 0.0, "km/L", false),
        _ => return None,
    };
    let value = le(&hex::exact(payload, bytes)?) as f64 * scale + offset;
    let value = if integer { format!("{value:.0}") } else { float(value) };
    Some(format!("{label} = {value} {unit}"))
}

/// Gear byte: `A-125`, with 0 shown as `N` and 126 (raw 251) as `P`; raw 252–255 (reserved,
/// error, not available) give `None`.
fn gear(raw: u8) -> Option<String> {
    match i16::from(raw) - 125 {
        0 => Some("N".to_owned()),
        126 => Some("P".to_owned()),
        127.. => None,
        gear => Some(gear.to_string()),
    }
}

/// Six bytes: seconds (¼ s), minutes, hours, month, day (¼ day), year since 1985; printed
/// `Date = Y-M-D h:m:s` without zero padding, and only when the day is set.
fn time_date(b: &[u8]) -> Option<String> {
    let (seconds, day) = (u16::from(b[0]).div_ceil(4), u16::from(b[4]).div_ceil(4));
    let year = u16::from(b[5]) + 1985;
    (day > 0).then(|| format!("Date = {year}-{}-{day} {}:{}:{seconds}", b[3], b[2], b[1]))
}
