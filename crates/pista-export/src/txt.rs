//! The original back end's TXT download: fixed-width text to read or print. A header line
//! (`Latitude`, `Longitude`, `Timestamp(<zone>)`, `Speed`, `Location`), then a line per fix:
//! latitude and longitude left-aligned in 10 columns, the local time `YYYY-MM-DD HH:MM:SS` in
//! the zone asked for, the speed right-aligned in 9 columns inside a left-aligned field of 14,
//! the address right-aligned in 6 and the original's always-empty second address field; after
//! a blank line `Trip: <km> kilometers`, the great-circle length of the track with two
//! decimals. Lines end with LF (the original chose CRLF for browsers on Windows).
//!
//! Where the original differs, on purpose: its length used an Earth radius of 6367 km, this one
//! geo's mean radius (6371.0088 km, what the tracks page shows); a fix without speed is written
//! with speed 0 instead of being left out, and one without address with an empty address
//! instead of `None`.

use std::io::{self, Write};

use geo::{Distance, Haversine, Point};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use pista_store::HistoryPoint;

use crate::{Encoder, ExportError};

/// A zone for TXT times: its name as the header shows it, and its rules.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    rules: TimeZone,
}

impl Zone {
    /// Coordinated Universal Time, the zone when none is asked for.
    pub fn utc() -> Self {
        Self { name: "UTC".to_owned(), rules: TimeZone::UTC }
    }

    /// The IANA zone `name` (`Europe/Berlin`), from the time zone database in the binary.
    pub fn named(name: &str) -> Result<Self, ExportError> {
        let rules = jiff::tz::db()
            .get(name)
            .map_err(|_| ExportError::UnknownZone { value: name.to_owned() })?;
        Ok(Self { name: name.to_owned(), rules })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `seconds` as `YYYY-MM-DD HH:MM:SS` in this zone.
    fn local(&self, seconds: i64) -> String {
        match Timestamp::from_second(seconds) {
            Ok(instant) => {
                self.rules.to_datetime(instant).strftime("%Y-%m-%d %H:%M:%S").to_string()
            }
            // Beyond jiff's years (±9999): the UTC text, as other formats write it.
            Err(_) => pista_core::time::display(seconds),
        }
    }
}

pub(crate) struct Txt {
    zone: Zone,
    /// The previous fix's position, and the length so far in metres.
    last: Option<Point<f64>>,
    metres: f64,
}

impl Txt {
    pub(crate) fn new(zone: Zone) -> Self {
        Self { zone, last: None, metres: 0.0 }
    }
}

impl Encoder for Txt {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let zone = format!("Timestamp({})", self.zone.name);
        writeln!(out, "{:<10} {:<10} {zone} Speed Location", "Latitude", "Longitude")
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        let here = Point::new(point.lon, point.lat);
        if let Some(last) = self.last {
            self.metres += Haversine.distance(last, here);
        }
        self.last = Some(here);

        // The speed as a whole number, truncated like the original's integer conversion.
        let speed = format!("{:>9}", point.vel.unwrap_or(0.0) as i64);
        let addr = point.addr.as_deref().unwrap_or("");
        let time = self.zone.local(point.tst);
        writeln!(out, "{:<10} {:<10} {time} {speed:<14} {addr:>6} ", point.lat, point.lon)
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        write!(out, "\nTrip: {:.2} kilometers\n", self.metres / 1000.0)
    }
}
