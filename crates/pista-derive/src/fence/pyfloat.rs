//! Floats written the way Python 2.7 writes them, because o2s put such text into a hashed topic
//! name (`str`) and into retained JSON (`repr`, which its `json` module uses), and Pista must
//! produce the same bytes. Both forms add `.0` to whole numbers and switch to an exponent with
//! at least two digits (`1e-05`) for very small or large values.

/// `str(x)`: rounded to 12 significant digits, exponent from 1e12 on.
pub(super) fn py_str(x: f64) -> String {
    special(x).unwrap_or_else(|| {
        let (digits, exp) = decompose(&format!("{:.11e}", x.abs()));
        layout(x.is_sign_negative(), &digits, exp, 12)
    })
}

/// `repr(x)`: the shortest text that reads back as the same float, exponent from 1e16 on.
pub(super) fn py_repr(x: f64) -> String {
    special(x).unwrap_or_else(|| {
        let (digits, exp) = decompose(&format!("{:e}", x.abs()));
        layout(x.is_sign_negative(), &digits, exp, 16)
    })
}

fn special(x: f64) -> Option<String> {
    let text = if x.is_nan() {
        "nan"
    } else if x == f64::INFINITY {
        "inf"
    } else if x == f64::NEG_INFINITY {
        "-inf"
    } else {
        return None;
    };
    Some(text.to_owned())
}

/// Splits Rust's `d.ddde±x` text into its significant digits (trailing zeros dropped, at least
/// one digit kept) and the decimal exponent of the first digit.
fn decompose(scientific: &str) -> (String, i32) {
    let (mantissa, exp) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, exp.parse().unwrap_or(0))
}

/// Places the digits as Python does: positional from 1e-4 up to (not including)
/// 10^`exp_limit`, scientific otherwise.
fn layout(negative: bool, digits: &str, exp: i32, exp_limit: i32) -> String {
    let sign = if negative { "-" } else { "" };
    if exp < -4 || exp >= exp_limit {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{exp_sign}{:02}", exp.unsigned_abs());
    }

    if exp < 0 {
        let zeros = "0".repeat(exp.unsigned_abs() as usize - 1);
        return format!("{sign}0.{zeros}{digits}");
    }
    let whole = exp.unsigned_abs() as usize + 1;
    if digits.len() > whole {
        let (int, frac) = digits.split_at(whole);
        format!("{sign}{int}.{frac}")
    } else {
        format!("{sign}{digits}{}.0", "0".repeat(whole - digits.len()))
    }
}
