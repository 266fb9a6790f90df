//! OBD-II values on `obd2/<canid>/<mode>[/<pid>[/...]]`: modes 01 and 02 through the PID table,
//! mode 03 (stored DTCs) and mode 09 (vehicle information). Mode and PID levels are two hex
//! digits in either case, so "6a" and "6A" are the same PID; levels past the PID (the
//! firmware's freeze-frame `02/<pid>/<dtc>`) are ignored.

use super::dtc::Dtc;
use super::hex::{self, be, float};
use super::pids::{self, FUEL_TYPES, Kind, STANDARDS};

/// Text for the levels after `obd2` (`<canid>/<mode>[/<pid>...]`) and the payload.
pub(super) fn describe<'a>(
    mut levels: impl Iterator<Item = &'a str>,
    payload: &str,
) -> Option<String> {
    let _canid = levels.next()?;
    let mode = hex::level(levels.next()?)?;
    let pid = levels.next().map(hex::level);
    match (mode, pid) {
        (0x01 | 0x02, Some(Some(pid))) => current(pid, payload),
        (0x03, _) => stored_dtcs(payload),
        (0x09, Some(Some(pid))) => vehicle_info(pid, payload),
        _ => None,
    }
}

/// Mode 01/02: the PID's label followed by its decoded value.
fn current(pid: u8, payload: &str) -> Option<String> {
    let row = pids::find(pid)?;
    let value = value(row.kind, pid, payload)?;
    Some(format!("{}{value}", row.label))
}

fn value(kind: Kind, pid: u8, payload: &str) -> Option<String> {
    match kind {
        Kind::Percent { bytes } => {
            Some(format!("{}%", be(&hex::exact(payload, bytes)?) * 100 / 255))
        }
        Kind::Int { bytes, mul, div, offset, unit } => {
            let raw = i64::try_from(be(&hex::exact(payload, bytes)?)).ok()?;
            Some(format!("{}{unit}", raw * mul / div + offset))
        }
        Kind::Float { bytes, mul, div, offset, unit } => {
            let raw = be(&hex::exact(payload, bytes)?) as f64;
            Some(format!("{}{unit}", float(raw * mul / div + offset)))
        }
        Kind::Signed { div, unit } => {
            let b = hex::exact(payload, 2)?;
            Some(format!("{}{unit}", float(f64::from(i16::from_be_bytes([b[0], b[1]])) / div)))
        }
        Kind::Trim => Some(trim(hex::exact(payload, 1)?[0])),
        Kind::Raw => hex::bytes(payload).map(|_| payload.trim().to_owned()),
        Kind::Supported => supported(pid, &hex::exact(payload, 4)?),
        other => special(other, &hex::bytes(payload)?),
    }
}

/// The decodings with their own layouts, given the payload bytes.
fn special(kind: Kind, b: &[u8]) -> Option<String> {
    match (kind, b) {
        (Kind::MonitorStatus, [a, ..]) if b.len() == 4 => Some(monitor_status(*a)),
        (Kind::FreezeDtc, [a, c]) => Some(freeze_dtc(u16::from_be_bytes([*a, *c]))),
        (Kind::FuelSystem, [_] | [_, _]) => fuel_systems(b),
        (Kind::SecondaryAir, [a]) => secondary_air(*a).map(str::to_owned),
        (Kind::O2Present { banks }, [a]) => Some(o2_present(*a, banks)),
        (Kind::Standards, [a]) => Some(standard(*a).to_owned()),
        (Kind::Pto, [a]) => Some(format!("PTO {}", if a & 1 == 1 { "active" } else { "inactive" })),
        (Kind::FuelType, [a]) => FUEL_TYPES.get(usize::from(*a)).map(|&t| t.to_owned()),
        (Kind::MaxValues, [a, v, i, p]) => Some(max_values(*a, *v, *i, *p)),
        (Kind::MaxMaf, [a, _, _, _]) => Some(format!("{} grams/sec", u32::from(*a) * 10)),
        (Kind::TorqueData, [_, _, _, _, _]) => Some(torque_data(b)),
        (Kind::SecondaryTrim, [_] | [_, _]) => {
            Some(b.iter().map(|&t| trim(t)).collect::<Vec<_>>().join(", "))
        }
        (Kind::O2Voltage, [a, t]) => Some(o2_voltage(*a, *t)),
        (Kind::O2WideVoltage, [_, _, _, _]) => Some(o2_wide(b, be(&b[2..]) as f64 / 8192.0, "V")),
        (Kind::O2WideCurrent, [_, _, _, _]) => {
            Some(o2_wide(b, be(&b[2..]) as f64 / 256.0 - 128.0, "mA"))
        }
        _ => None,
    }
}

/// A fuel trim byte, `(A-128)*100/128` percent.
fn trim(a: u8) -> String {
    format!("{}%", float((f64::from(a) - 128.0) * 100.0 / 128.0))
}

/// The PIDs flagged in a four-byte bitmap: bit 31 is `base + 1`, bit 0 is `base + 32`.
fn supported(base: u8, bitmap: &[u8]) -> Option<String> {
    let bits = u32::try_from(be(bitmap)).ok()?;
    let ids: Vec<String> = (0..32u32)
        .filter(|n| bits & (1 << (31 - n)) != 0)
        .map(|n| format!("{:02x}", u32::from(base) + n + 1))
        .collect();
    Some(if ids.is_empty() { "none".to_owned() } else { ids.join(" ") })
}

/// Monitor status from the first of its four bytes: bit 7 of it (bit 31 of the value) is the
/// MIL, bits 0–6 (24–30) the DTC count. The original read the MIL from bit 15.
fn monitor_status(a: u8) -> String {
    format!("{} {}", a & 0x7f, if a & 0x80 != 0 { "MIL" } else { "___" })
}

fn freeze_dtc(raw: u16) -> String {
    if raw == 0 { "none".to_owned() } else { Dtc::from_raw(raw).to_string() }
}

fn fuel_systems(states: &[u8]) -> Option<String> {
    let text = |n: usize, s: u8| Some(format!("system {} {}", n + 1, fuel_system(s)?));
    let parts: Option<Vec<String>> = states.iter().enumerate().map(|(n, &s)| text(n, s)).collect();
    Some(parts?.join(", "))
}

fn fuel_system(state: u8) -> Option<&'static str> {
    Some(match state {
        0 => "not present",
        1 => "open loop (engine cold)",
        2 => "closed loop",
        4 => "open loop (engine load or deceleration)",
        8 => "open loop (system failure)",
        16 => "closed loop (feedback fault)",
        _ => return None,
    })
}

fn secondary_air(state: u8) -> Option<&'static str> {
    Some(match state {
        1 => "upstream",
        2 => "downstream of catalytic converter",
        4 => "from the outside atmosphere or off",
        8 => "pump commanded on for diagnostics",
        _ => return None,
    })
}

/// Present sensors as `B<bank>S<sensor>`; bit 0 is bank 1 sensor 1, banks follow each other.
fn o2_present(bits: u8, banks: u8) -> String {
    let per_bank = 8 / banks;
    let names: Vec<String> = (0..8u8)
        .filter(|n| bits & (1 << n) != 0)
        .map(|n| format!("B{}S{}", n / per_bank + 1, n % per_bank + 1))
        .collect();
    if names.is_empty() { "none".to_owned() } else { names.join(" ") }
}

fn standard(value: u8) -> &'static str {
    match STANDARDS.get(usize::from(value).wrapping_sub(1)) {
        Some(Some(name)) => name,
        _ if value >= 251 => "Not available for assignment",
        _ => "Reserved",
    }
}

/// PID 4f: each quantity is one byte (the original read the hex digit pairs as decimal).
fn max_values(ratio: u8, volts: u8, milliamps: u8, map: u8) -> String {
    format!(
        "equivalence ratio {ratio}, O2 sensor voltage {volts} V, O2 sensor current \
         {milliamps} mA, intake manifold absolute pressure {} kPa",
        u32::from(map) * 10
    )
}

/// PID 64: five bytes, each `A-125` percent (the original read the hex pairs as decimal).
fn torque_data(b: &[u8]) -> String {
    let pct = |i: usize| i32::from(b[i]) - 125;
    format!(
        "idle {}%, point 1 {}%, point 2 {}%, point 3 {}%, point 4 {}%",
        pct(0),
        pct(1),
        pct(2),
        pct(3),
        pct(4)
    )
}

fn o2_voltage(volts: u8, fuel_trim: u8) -> String {
    let volts = float(f64::from(volts) / 200.0);
    if fuel_trim == 0xff {
        format!("{volts} V, not used for fuel trim")
    } else {
        format!("{volts} V, short term fuel trim {}", trim(fuel_trim))
    }
}

fn o2_wide(b: &[u8], second: f64, unit: &str) -> String {
    let ratio = be(&b[..2]) as f64 / 32768.0;
    format!("equivalence ratio {}, {} {unit}", float(ratio), float(second))
}

/// Mode 03: a count byte, then that many two-byte DTCs. A count of zero, or a payload whose
/// length does not match its count, gives `None`.
fn stored_dtcs(payload: &str) -> Option<String> {
    let bytes = hex::bytes(payload)?;
    let (&count, codes) = bytes.split_first()?;
    if count == 0 || codes.len() != usize::from(count) * 2 {
        return None;
    }
    let dtcs: Vec<String> = codes
        .chunks_exact(2)
        .map(|c| Dtc::from_raw(u16::from_be_bytes([c[0], c[1]])).to_string())
        .collect();
    Some(format!("DTCs ({count}): {}", dtcs.join(", ")))
}

/// Mode 09: supported PIDs, message counts, VIN, calibration IDs and CVNs.
fn vehicle_info(pid: u8, payload: &str) -> Option<String> {
    let count = |label: &str| Some(format!("{label}: {}", hex::exact(payload, 1)?[0]));
    match pid {
        0x00 => Some(format!("PIDs supported bitmap: {}", supported(0, &hex::exact(payload, 4)?)?)),
        0x01 => count("VIN message count"),
        0x02 => Some(format!("VIN: {}", hex::ascii(&hex::bytes(payload)?)?)),
        0x03 => count("Calibration ID message count"),
        0x04 => Some(format!("Calibration ID: {}", hex::ascii(&hex::bytes(payload)?)?)),
        0x05 => count("CVN message count"),
        0x06 => hex::bytes(payload).map(|_| format!("CVN: {}", payload.trim())),
        _ => None,
    }
}
