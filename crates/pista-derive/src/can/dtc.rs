//! Diagnostic trouble codes: the two bytes a vehicle reports turned into the five-character
//! code ("P0133") and its description. Descriptions come from `data/dtc.tsv` (derived from the
//! CC0 OBDex catalogue, see `data/NOTICE-dtc`), with `data/dtc-fixes.tsv` taking precedence for
//! the codes whose catalogue wording differs from SAE J2012.

use std::fmt;
use std::sync::LazyLock;

use super::hex;

/// Code, description pairs sorted by code; the fixes are searched before the catalogue.
struct Table {
    fixes: Vec<(&'static str, &'static str)>,
    catalogue: Vec<(&'static str, &'static str)>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| Table {
    fixes: parse(include_str!("../../data/dtc-fixes.tsv")),
    catalogue: parse(include_str!("../../data/dtc.tsv")),
});

fn parse(text: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut rows: Vec<_> = text.lines().filter_map(|line| line.split_once('\t')).collect();
    rows.sort_unstable_by_key(|&(code, _)| code);
    rows
}

fn search(rows: &[(&'static str, &'static str)], code: &str) -> Option<&'static str> {
    let index = rows.binary_search_by(|&(key, _)| key.cmp(code)).ok()?;
    Some(rows[index].1)
}

/// The description of a code written as `P0133` (either letter case), or `None` when the
/// table does not know it.
pub fn dtc_description(code: &str) -> Option<&'static str> {
    let code = code.to_ascii_uppercase();
    search(&TABLE.fixes, &code).or_else(|| search(&TABLE.catalogue, &code))
}

/// A diagnostic trouble code as the vehicle sends it: two bytes, shown as `P0133`.
///
/// The top two bits choose the letter (00 P powertrain, 01 C chassis, 10 B body, 11 U network),
/// the next two bits are the first digit (0–3) and the low twelve bits are the last three
/// digits in hex. Display gives `<code> - <description>`, or `<code> - unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dtc(u16);

impl Dtc {
    /// The code carried by these two bytes (big-endian, as on the wire).
    pub const fn from_raw(raw: u16) -> Self {
        Dtc(raw)
    }

    /// The two bytes of the code.
    pub const fn raw(self) -> u16 {
        self.0
    }

    /// The five-character code, e.g. `P0133`, `C0123`, `U0100`.
    pub fn code(self) -> String {
        let letter = ['P', 'C', 'B', 'U'][usize::from(self.0 >> 14)];
        format!("{letter}{}{:03X}", (self.0 >> 12) & 0x3, self.0 & 0x0fff)
    }

    /// The description of the code, if the table knows it.
    pub fn description(self) -> Option<&'static str> {
        dtc_description(&self.code())
    }
}

impl fmt::Display for Dtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let description = self.description().unwrap_or("unknown");
        write!(f, "{} - {description}", self.code())
    }
}

/// The code in four hex digits as the firmware publishes it ("0133", "c100"), or `None` when
/// the text is not exactly four hex digits. Unlike the original, the digits are read as hex,
/// so codes with the letters A–F decode instead of crashing.
pub fn decode_dtc(code: &str) -> Option<Dtc> {
    let bytes = hex::exact(code, 2)?;
    Some(Dtc::from_raw(u16::from_be_bytes([bytes[0], bytes[1]])))
}
