//! CSV with a fixed set of columns, the same for every row whatever each message holds (the
//! Recorder took its header from the first row), quoted as RFC 4180 says by the `csv` crate:
//! a field holding a comma, a quote or a line break is quoted, inner quotes doubled, and records
//! end with CRLF. Numbers are written as stored (`10`, `48.858334`); absent values are empty.

use std::io;

use pista_store::HistoryPoint;

use crate::Encoder;
use crate::time::iso_string;

/// The columns, in order.
pub(crate) const COLUMNS: [&str; 15] = [
    "user", "device", "tst", "isotst", "lat", "lon", "tid", "acc", "alt", "vel", "cog", "batt",
    "t", "conn", "addr",
];

#[derive(Default)]
pub(crate) struct Table;

fn writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out)
}

fn number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

impl Encoder for Table {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut writer = writer(out);
        writer.write_record(COLUMNS)?;
        writer.flush()
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
        let record = [
            point.key.user.to_string(),
            point.key.device.to_string(),
            point.tst.to_string(),
            iso_string(point.tst),
            point.lat.to_string(),
            point.lon.to_string(),
            point.tid.clone(),
            number(point.acc),
            number(point.alt),
            number(point.vel),
            number(point.cog),
            number(point.batt),
            text(point.trigger.as_deref()),
            text(point.conn.as_deref()),
            text(point.addr.as_deref()),
        ];
        let mut writer = writer(out);
        writer.write_record(&record)?;
        writer.flush()
    }

    fn end(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
}
