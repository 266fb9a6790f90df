//! A history's order apart from how its pages are read: [`Merge`] keeps one cursor per device,
//! says which device needs its next page read, and hands out pages of up to `PAGE_ROWS` points
//! with a user's devices merged by fix time. The async reader on the connection pool and the
//! blocking SQLite reader drive the same merge, so both give the same pages.

use std::collections::VecDeque;
use std::sync::Arc;

use pista_core::DeviceKey;

use super::{FixOrder, HistoryPoint, PAGE_ROWS};

/// One device's place in a history read.
pub(super) struct Cursor {
    pub(super) device_id: i64,
    pub(super) key: Arc<DeviceKey>,
    /// The place of the last fix read; `None` before the first page.
    pub(super) after: Option<FixOrder>,
    /// Rows read but not handed out yet.
    rows: VecDeque<HistoryPoint>,
    /// The last read came back short: the device has nothing more to read.
    done: bool,
}

/// What the reader does next.
pub(super) enum Step {
    /// Read the next page of the cursor at this index and hand it to [`Merge::fill`].
    Read(usize),
    /// Hand out this page; an empty page is the end of the history.
    Page(Vec<HistoryPoint>),
}

/// The devices of a history read and the page being put together.
pub(super) struct Merge {
    /// Devices with rows left, read or unread.
    cursors: Vec<Cursor>,
    page: Vec<HistoryPoint>,
}

impl Merge {
    pub(super) fn new(devices: Vec<(i64, Arc<DeviceKey>)>) -> Self {
        let cursors = devices
            .into_iter()
            .map(|(device_id, key)| Cursor {
                device_id,
                key,
                after: None,
                rows: VecDeque::new(),
                done: false,
            })
            .collect();
        Self { cursors, page: Vec::new() }
    }

    pub(super) fn cursor(&self, index: usize) -> &Cursor {
        &self.cursors[index]
    }

    /// The next thing to do. Between devices the earliest head goes first (by `tst`, then id);
    /// a single device's pages are handed out as they were read.
    pub(super) fn step(&mut self) -> Step {
        loop {
            if let Some(index) = self.cursors.iter().position(|c| c.rows.is_empty() && !c.done) {
                return Step::Read(index);
            }
            if self.page.is_empty()
                && let [cursor] = self.cursors.as_mut_slice()
            {
                let rows = Vec::from(std::mem::take(&mut cursor.rows));
                if cursor.done {
                    self.cursors.clear();
                }
                return Step::Page(rows);
            }

            let heads = self.cursors.iter().enumerate();
            let next = heads.filter_map(|(i, c)| c.rows.front().map(|p| ((p.tst, p.id), i))).min();
            let Some((_, index)) = next else {
                return Step::Page(std::mem::take(&mut self.page));
            };
            let cursor = &mut self.cursors[index];
            self.page.extend(cursor.rows.pop_front());
            if cursor.rows.is_empty() && cursor.done {
                self.cursors.swap_remove(index);
            }
            if self.page.len() as u64 == PAGE_ROWS {
                return Step::Page(std::mem::take(&mut self.page));
            }
        }
    }

    /// Whether the history has more than one device: points must then carry their ids.
    pub(super) fn merges(&self) -> bool {
        self.cursors.len() > 1
    }

    /// Takes the page read for the cursor at `index` after [`Step::Read`], and moves the
    /// cursor past it, to `after` (the place of its last row, needed when the page is full).
    pub(super) fn fill(&mut self, index: usize, rows: Vec<HistoryPoint>, after: Option<FixOrder>) {
        let cursor = &mut self.cursors[index];
        cursor.done = (rows.len() as u64) < PAGE_ROWS;
        if after.is_some() {
            cursor.after = after;
        }
        if rows.is_empty() {
            self.cursors.swap_remove(index);
        } else {
            cursor.rows = VecDeque::from(rows);
        }
    }
}
