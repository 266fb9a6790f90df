//! KML 2.2: a `<Document>` named `user/device` (or `user`) with one `<Placemark>` per fix, named
//! by the device's tracker id, with the address as `<description>`, the fix time as a
//! `<TimeStamp>` and a `<Point>` (`lon,lat[,alt]`), in the order the KML schema gives.

use std::io;

use pista_store::HistoryPoint;

use crate::Encoder;
use crate::time::iso_string;
use crate::xml::{declaration, element, end, start};

const NAMESPACE: &str = "http://www.opengis.net/kml/2.2";

pub(crate) struct Kml {
    label: String,
}

impl Kml {
    pub(crate) fn new(label: String) -> Self {
        Self { label }
    }
}

impl Encoder for Kml {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        declaration(out)?;
        start(out, "kml", &[("xmlns", NAMESPACE)])?;
        start(out, "Document", &[])?;
        element(out, "name", &self.label)?;
        out.push(b'\n');
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        start(out, "Placemark", &[])?;
        element(out, "name", &point.tid)?;
        if let Some(addr) = &point.addr {
            element(out, "description", addr)?;
        }
        start(out, "TimeStamp", &[])?;
        element(out, "when", &iso_string(point.tst))?;
        end(out, "TimeStamp")?;
        let coordinates = match point.alt {
            Some(alt) => format!("{},{},{alt}", point.lon, point.lat),
            None => format!("{},{}", point.lon, point.lat),
        };
        start(out, "Point", &[])?;
        element(out, "coordinates", &coordinates)?;
        end(out, "Point")?;
        end(out, "Placemark")?;
        out.push(b'\n');
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        end(out, "Document")?;
        end(out, "kml")?;
        out.push(b'\n');
        Ok(())
    }
}
