//! Fix times as text, written straight into the output: `2023-11-14T22:13:20Z` (ISO 8601, UTC)
//! and the Recorder's `2023-11-14 22:13:20`. Exports write two or three of these per point, and
//! formatting through chrono's pattern interpreter was the largest cost of a month's JSON; the
//! digits are computed here instead, with chrono's text kept for years outside 0000–9999. A
//! time written in both forms is computed once ([`push_iso_and_display`]).

use std::cell::Cell;

use pista_core::time::{display, iso};

/// The last second of 9999-12-31.
const LAST_FOUR_DIGIT_YEAR: i64 = 253_402_300_799;

/// Appends `seconds` as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn push_iso(out: &mut Vec<u8>, seconds: i64) {
    if !(0..=LAST_FOUR_DIGIT_YEAR).contains(&seconds) {
        return out.extend_from_slice(iso(seconds).as_bytes());
    }
    out.extend_from_slice(&date_time(seconds, b'T'));
    out.push(b'Z');
}

/// Appends `seconds` as ISO, then `between`, then as the display form: the JSON writer's
/// `isotst` and `disptst`, which share their digits.
pub(crate) fn push_iso_and_display(out: &mut Vec<u8>, seconds: i64, between: &[u8]) {
    if !(0..=LAST_FOUR_DIGIT_YEAR).contains(&seconds) {
        push_iso(out, seconds);
        out.extend_from_slice(between);
        return push_display(out, seconds);
    }
    let mut text = date_time(seconds, b'T');
    out.extend_from_slice(&text);
    out.push(b'Z');
    out.extend_from_slice(between);
    text[10] = b' ';
    out.extend_from_slice(&text);
}

/// Appends `seconds` as `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn push_display(out: &mut Vec<u8>, seconds: i64) {
    if !(0..=LAST_FOUR_DIGIT_YEAR).contains(&seconds) {
        return out.extend_from_slice(display(seconds).as_bytes());
    }
    out.extend_from_slice(&date_time(seconds, b' '));
}

/// `seconds` as `YYYY-MM-DDTHH:MM:SSZ`, in a new string.
pub(crate) fn iso_string(seconds: i64) -> String {
    let mut out = Vec::with_capacity(20);
    push_iso(&mut out, seconds);
    String::from_utf8(out).unwrap_or_default()
}

/// `YYYY-MM-DD?HH:MM:SS` with `separator` between date and time, for a four-digit year.
fn date_time(seconds: i64, separator: u8) -> [u8; 19] {
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Below 86,400: 32-bit arithmetic, cheaper than 64-bit division.
    let second_of_day = second_of_day as u32;
    let mut text = *b"0000-00-00T00:00:00";
    text[..10].copy_from_slice(&date_text(days));
    text[10] = separator;
    put_two(&mut text[11..13], second_of_day / 3600);
    put_two(&mut text[14..16], second_of_day % 3600 / 60);
    put_two(&mut text[17..19], second_of_day % 60);
    text
}

thread_local! {
    /// The day [`date_text`] wrote last and its text: a track's points mostly share their day,
    /// and the calendar arithmetic was a sixteenth of a month's JSON.
    static LAST_DAY: Cell<(i64, [u8; 10])> = const { Cell::new((i64::MIN, [0; 10])) };
}

/// `YYYY-MM-DD` of a day count from 1970-01-01.
fn date_text(days: i64) -> [u8; 10] {
    LAST_DAY.with(|last| {
        let (day, text) = last.get();
        if day == days {
            return text;
        }
        let (year, month, day) = civil_date(days);
        let mut text = *b"0000-00-00";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day);
        last.set((days, text));
        text
    })
}

/// Writes a number below 100 as two digits.
fn put_two(digits: &mut [u8], value: u32) {
    digits[0] = b'0' + (value / 10) as u8;
    digits[1] = b'0' + (value % 10) as u8;
}

/// The proleptic Gregorian date of a day count from 1970-01-01, counted in 400-year eras of
/// 146,097 days whose years start on 1 March (so the leap day falls at the end of a year).
fn civil_date(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 { march_month + 3 } else { march_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes the last `digits.len()` decimal digits of a non-negative `value`, zero-padded.
fn put_digits(digits: &mut [u8], mut value: i64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(push: fn(&mut Vec<u8>, i64), seconds: i64) -> String {
        let mut out = Vec::new();
        push(&mut out, seconds);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn known_instants() {
        assert_eq!(text(push_iso, 0), "1970-01-01T00:00:00Z");
        assert_eq!(text(push_iso, 1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(text(push_display, 1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(text(push_iso, 951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(text(push_iso, LAST_FOUR_DIGIT_YEAR), "9999-12-31T23:59:59Z");
        assert_eq!(text(push_iso, -1), iso(-1));
        assert_eq!(text(push_display, LAST_FOUR_DIGIT_YEAR + 1), display(LAST_FOUR_DIGIT_YEAR + 1));
        let both = |seconds| text(|out, s| push_iso_and_display(out, s, b"|"), seconds);
        assert_eq!(both(1_700_000_000), "2023-11-14T22:13:20Z|2023-11-14 22:13:20");
        assert_eq!(both(-1), format!("{}|{}", iso(-1), display(-1)));
    }

    #[test]
    fn agrees_with_chrono_across_the_four_digit_years() {
        // A prime step visits every time of day, month, leap day and century rule.
        let mut seconds = 0;
        while seconds <= LAST_FOUR_DIGIT_YEAR {
            assert_eq!(text(push_iso, seconds), iso(seconds), "{seconds}");
            assert_eq!(text(push_display, seconds), display(seconds), "{seconds}");
            let both = text(|out, s| push_iso_and_display(out, s, b"|"), seconds);
            assert_eq!(both, format!("{}|{}", iso(seconds), display(seconds)), "{seconds}");
            seconds += 7_919_993;
        }
    }
}
