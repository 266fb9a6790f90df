//! Hex payload parsing shared by the OBD-II and FMS decoders. Every decoder reads its payload
//! through [`bytes`], so a malformed payload (empty, odd length, a non-hex character) turns
//! into `None` before any formula runs, and the watcher shows the raw payload instead.

/// The bytes of a hex payload (surrounding whitespace ignored, either letter case), or `None`
/// when it is empty, of odd length or holds a character that is not a hex digit.
pub(super) fn bytes(payload: &str) -> Option<Vec<u8>> {
    let text = payload.trim().as_bytes();
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// The bytes of a payload that must be exactly `len` bytes long.
pub(super) fn exact(payload: &str, len: usize) -> Option<Vec<u8>> {
    bytes(payload).filter(|b| b.len() == len)
}

fn nibble(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// A two-digit hex topic level ("0c", "6A") as a number; case does not matter.
pub(super) fn level(text: &str) -> Option<u8> {
    match text.as_bytes() {
        [high, low] => Some(nibble(*high)? << 4 | nibble(*low)?),
        _ => None,
    }
}

/// Big-endian value of at most eight bytes, the byte order of OBD-II data.
pub(super) fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| acc << 8 | u64::from(b))
}

/// Little-endian value of at most eight bytes, the byte order of J1939 (FMS) data.
pub(super) fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |acc, &b| acc << 8 | u64::from(b))
}

/// The bytes as printable ASCII text, with NUL padding at either end removed; `None` when
/// nothing is left or another byte is not printable ASCII.
pub(super) fn ascii(bytes: &[u8]) -> Option<String> {
    let start = bytes.iter().position(|&b| b != 0)?;
    let end = bytes.iter().rposition(|&b| b != 0)?;
    let text = &bytes[start..=end];
    text.iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ')
        .then(|| text.iter().map(|&b| char::from(b)).collect())
}

/// A float the way the original printed it: fixed, six decimals (Python's `%f`).
pub(super) fn float(value: f64) -> String {
    format!("{value:.6}")
}
