//! The OwnTracks Recorder's `.rec` lines, the layout of its `rec/USER/DEVICE/YYYY-MM.rec` files:
//! the fix time (`2023-11-14T22:13:20Z`), a tab, the relative topic left-aligned in 18 columns
//! (`*` for a location, which came on the device's own topic), a tab and the stored message as
//! one line of compact JSON. The Recorder, `pista replay` and Pista's importer read it back.
//! One record is one line whatever the client sent (bug B11): stored messages are compact JSON,
//! and one that somehow holds a raw line break is re-serialised first.
//!
//! This writes one device's lines as one stream; `pista export` splits a whole user's history
//! into the Recorder's tree (`rec/USER/DEVICE/YYYY-MM.rec`) with it. Over HTTP a whole user's
//! `.rec` is refused: one response is one file.

use std::io;

use pista_store::{MessageWriter, PointMessage};
use serde_json::Value;

use crate::time::push_iso;

/// `*` padded to the Recorder's 18 columns.
const LOCATION_TOPIC: &[u8] = b"*                 ";

pub(crate) struct Rec;

impl MessageWriter for Rec {
    fn begin(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }

    fn message(&mut self, out: &mut Vec<u8>, point: &PointMessage<'_>) -> io::Result<()> {
        push_iso(out, point.tst);
        out.push(b'\t');
        out.extend_from_slice(LOCATION_TOPIC);
        out.push(b'\t');
        if point.payload.contains(['\n', '\r']) {
            let value: Value = serde_json::from_str(point.payload)?;
            serde_json::to_writer(&mut *out, &value)?;
        } else {
            out.extend_from_slice(point.payload.as_bytes());
        }
        out.push(b'\n');
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
}
