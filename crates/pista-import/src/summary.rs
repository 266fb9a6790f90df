//! The account of one import: how many records were read, stored, already present, and skipped
//! by reason, with the first few skipped records named so the user can find them.

use std::collections::BTreeMap;
use std::fmt;

/// How many skipped records are named one by one; the rest are only counted.
const NAMED: usize = 20;

/// Rows of a table that is filled directly rather than through ingest (o2s users, ACLs,
/// addresses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCount {
    pub added: u64,
    /// Already there (a re-run, or the same key twice).
    pub present: u64,
    pub skipped: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records read from the input, imported or not.
    pub read: u64,
    /// Rows ingest added (locations and other messages).
    pub stored: u64,
    /// Records ingest already had: the same fix of the same device, the same message.
    pub duplicates: u64,
    /// Skipped records by reason. Reasons from ingest's validation are its reason codes
    /// (`tst_too_old`); those records are kept in quarantine like any refused message.
    pub skipped: BTreeMap<String, u64>,
    /// Fixes whose numbers needed a repair that was unambiguous (`decimal comma`).
    pub repaired: BTreeMap<String, u64>,
    /// The first skipped records with where they were and why, then notes on the input.
    pub notes: Vec<String>,
    /// Tables written directly, by name.
    pub tables: BTreeMap<&'static str, TableCount>,
    /// Whether part of the input was not read (see the notes): the command then exits non-zero.
    pub incomplete: bool,
}

impl Summary {
    /// Counts a skipped record.
    pub fn skip(&mut self, reason: &str, at: &str, detail: &str) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
        if self.skipped_total() <= NAMED as u64 {
            self.notes.push(format!("{at}: {reason}: {detail}"));
        }
    }

    /// Notes that part of the input was not read.
    pub fn stop(&mut self, note: String) {
        self.incomplete = true;
        self.notes.push(note);
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn table(&mut self, name: &'static str) -> &mut TableCount {
        self.tables.entry(name).or_default()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "read {}, stored {}, already present {}, skipped {}",
            self.read,
            self.stored,
            self.duplicates,
            self.skipped_total()
        )?;
        if self.incomplete {
            writeln!(f, "incomplete: part of the input was not read (see below)")?;
        } else if self.read > 0 && self.stored == 0 && self.read == self.duplicates {
            writeln!(f, "nothing new: everything read was already stored")?;
        }
        for (reason, count) in &self.skipped {
            writeln!(f, "  skipped {count}: {reason}")?;
        }
        for (repair, count) in &self.repaired {
            writeln!(f, "  repaired {count}: {repair}")?;
        }
        for (table, count) in &self.tables {
            writeln!(
                f,
                "  {table}: added {}, already present {}, skipped {}",
                count.added, count.present, count.skipped
            )?;
        }
        for note in &self.notes {
            writeln!(f, "  {note}")?;
        }
        let unnamed = self.skipped_total().saturating_sub(NAMED as u64);
        if unnamed > 0 {
            writeln!(f, "  ... and {unnamed} more skipped records, counted above but not listed")?;
        }
        Ok(())
    }
}
