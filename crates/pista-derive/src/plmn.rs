//! Mobile operators from the `operators` payload of Greenwich devices: space-separated
//! MCC+MNC codes, each optionally prefixed `+` (allowed), `-` (forbidden) or `?` (unknown),
//! the first one being the network in use. Each code is looked up in an embedded table
//! (`data/plmn.tsv`, derived from the npm package mcc-mnc-list, see `data/NOTICE-plmn`) to
//! give the country, brand and operator name, and the original's republished text
//! `<brand> (<CC>)`.
//!
//! A code is the 3-digit MCC followed by a 2- or 3-digit MNC, so its length says how long the
//! MNC is: "26201" is MCC 262 MNC 01 and "310260" is MCC 310 MNC 260. The lookup takes the
//! table entry with exactly that MNC; only when there is none does it try the same number
//! written with the other width ("262001" ↔ "26201", "31026" ↔ "310026"), because some devices
//! pad or strip a leading zero.

mod table;
#[cfg(test)]
mod tests;

/// What the device says about a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The network in use: always the first code of the payload, whatever its prefix.
    Current,
    /// `+`: a network the device may use.
    Allowed,
    /// `-`: a network the device must not use.
    Forbidden,
    /// `?`, or no prefix after the first code.
    Unknown,
}

/// One code of an `operators` payload with what the table knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The MCC+MNC digits, prefix removed.
    pub plmn: String,
    /// From the prefix, or [`Status::Current`] for the first code.
    pub status: Status,
    /// ISO 3166 alpha-2 country of the network, else of its MCC; `None` for networks without
    /// a country (test and international MCCs) and unknown MCCs.
    pub country: Option<&'static str>,
    /// The name the network is marketed under, e.g. "Telekom".
    pub brand: Option<&'static str>,
    /// The company running the network, e.g. "Telekom Deutschland GmbH".
    pub name: Option<&'static str>,
}

/// A token of an `operators` payload that is not an MCC+MNC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlmnError {
    #[error("plmn token {token:?} holds a character other than digits after its prefix")]
    NotDigits { token: String },
    #[error("plmn token {token:?} has {digits} digits, expected 5 or 6 (MCC 3, MNC 2 or 3)")]
    Length { token: String, digits: usize },
}

/// Every code of the payload in order; the first is [`Status::Current`]. An empty payload
/// gives an empty list; the first bad token is the error.
pub fn parse_operators(payload: &str) -> Result<Vec<Operator>, PlmnError> {
    payload.split_whitespace().enumerate().map(|(i, token)| operator(i, token)).collect()
}

fn operator(index: usize, token: &str) -> Result<Operator, PlmnError> {
    let (status, digits) = match token.as_bytes().first() {
        Some(b'+') => (Status::Allowed, &token[1..]),
        Some(b'-') => (Status::Forbidden, &token[1..]),
        Some(b'?') => (Status::Unknown, &token[1..]),
        _ => (Status::Unknown, token),
    };
    check(token, digits)?;
    let status = if index == 0 { Status::Current } else { status };
    let entry = find(digits);
    Ok(Operator {
        plmn: digits.to_owned(),
        status,
        country: entry.and_then(|e| e.cc).or_else(|| table::country(&digits[..3])),
        brand: entry.and_then(|e| e.brand),
        name: entry.and_then(|e| e.operator),
    })
}

fn check(token: &str, digits: &str) -> Result<(), PlmnError> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PlmnError::NotDigits { token: token.to_owned() });
    }
    if !(5..=6).contains(&digits.len()) {
        return Err(PlmnError::Length { token: token.to_owned(), digits: digits.len() });
    }
    Ok(())
}

/// The table entry for a code of 5 or 6 digits, by the rule in the module docs.
fn find(plmn: &str) -> Option<table::Entry> {
    if check(plmn, plmn).is_err() {
        return None;
    }
    let (mcc, mnc) = plmn.split_at(3);
    let other_width = match (mnc.len(), mnc.strip_prefix('0')) {
        (3, Some(short)) => Some(short.to_owned()),
        (2, _) => Some(format!("0{mnc}")),
        _ => None,
    };
    table::exact(mcc, mnc).or_else(|| table::exact(mcc, other_width.as_deref()?))
}

/// Country (ISO alpha-2, or `??` for networks without one), brand and operator of an
/// MCC+MNC code given as 5 or 6 digits; `None` when the code is malformed or not in the table.
/// The table keeps only networks in service or of unknown status; when the source lists one
/// code for several territories, the MCC's own country wins (310260 is US).
pub fn lookup(plmn: &str) -> Option<(&'static str, Option<&'static str>, Option<&'static str>)> {
    let entry = find(plmn)?;
    Some((entry.cc.unwrap_or("??"), entry.brand, entry.operator))
}

/// The original's republished text: "<brand> (<CC>)", e.g. "T-Mobile (DE)", or "not found".
/// Leading `+`, `-` and `?` are ignored. Where the table has no brand the operator name stands
/// in (the original printed nothing before the parenthesis).
pub fn label(plmn: &str) -> String {
    match lookup(plmn.trim_start_matches(['+', '-', '?'])) {
        Some((cc, brand, operator)) => format!("{} ({cc})", brand.or(operator).unwrap_or("")),
        None => "not found".to_owned(),
    }
}
