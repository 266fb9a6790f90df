//! The text the watcher (`_look`) shows for CAN values that Greenwich devices publish as hex
//! strings: OBD-II on `obd2/<canid>/<mode>[/<pid>[/...]]` and FMS on `fms/<name>` or
//! `fms/data/<name>`. Layouts follow the original o2s decoder where it was right; where it was
//! wrong (DTCs read as decimal, the MIL bit, upper-case-only PIDs 6A–7F, fuel trims, PIDs 4f and
//! 64, the FMS service distance, the PID 1c table off by one) the value is computed correctly.
//! A payload that is not valid hex of the expected length never panics: it gives `None`, and
//! the caller shows the raw payload.

mod dtc;
mod fms;
mod hex;
mod obd;
mod pids;
#[cfg(test)]
mod tests;

pub use dtc::{Dtc, decode_dtc, dtc_description};

/// Text for a value on an obd2/fms subtopic (the part after the device topic, e.g.
/// "obd2/000007e8/01/0c"), or None when there is nothing better than the raw payload.
pub fn describe(subtopic: &str, payload: &str) -> Option<String> {
    let mut levels = subtopic.split('/');
    let family = levels.next()?;
    if family.eq_ignore_ascii_case("obd2") {
        obd::describe(levels, payload)
    } else if family.eq_ignore_ascii_case("fms") {
        fms::describe(levels, payload)
    } else {
        None
    }
}
