//! GPX 1.1 tracks: one `<trk>` (named `user/device`) per run of one device's points, one
//! `<trkseg>` in it, one `<trkpt>` per fix. Inside a point the schema's order is kept: `ele`
//! (from `alt`), then `time`, then `desc` (the address) (bug B47). The document is always
//! closed, with an empty track when there are no points (bugs B50, B55).

use std::io;
use std::sync::Arc;

use pista_core::DeviceKey;
use pista_store::HistoryPoint;

use crate::Encoder;
use crate::time::iso_string;
use crate::xml::{declaration, element, end, start};

const NAMESPACE: &str = "http://www.topografix.com/GPX/1/1";

pub(crate) struct Gpx {
    /// The name of the empty track of an export without points.
    label: String,
    /// The device whose track is open.
    open: Option<Arc<DeviceKey>>,
}

impl Gpx {
    pub(crate) fn new(label: String) -> Self {
        Self { label, open: None }
    }
}

fn open_track(out: &mut Vec<u8>, name: &str) -> io::Result<()> {
    start(out, "trk", &[])?;
    element(out, "name", name)?;
    start(out, "trkseg", &[])?;
    out.push(b'\n');
    Ok(())
}

fn close_track(out: &mut Vec<u8>) -> io::Result<()> {
    end(out, "trkseg")?;
    end(out, "trk")?;
    out.push(b'\n');
    Ok(())
}

impl Encoder for Gpx {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        declaration(out)?;
        let creator = concat!("Pista ", env!("CARGO_PKG_VERSION"));
        start(out, "gpx", &[("version", "1.1"), ("creator", creator), ("xmlns", NAMESPACE)])?;
        out.push(b'\n');
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        if self.open.as_ref() != Some(&point.key) {
            if self.open.is_some() {
                close_track(out)?;
            }
            open_track(out, &format!("{}/{}", point.key.user, point.key.device))?;
            self.open = Some(Arc::clone(&point.key));
        }
        let (lat, lon) = (point.lat.to_string(), point.lon.to_string());
        start(out, "trkpt", &[("lat", &lat), ("lon", &lon)])?;
        if let Some(alt) = point.alt {
            element(out, "ele", &alt.to_string())?;
        }
        element(out, "time", &iso_string(point.tst))?;
        if let Some(addr) = &point.addr {
            element(out, "desc", addr)?;
        }
        end(out, "trkpt")?;
        out.push(b'\n');
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if self.open.is_none() {
            open_track(out, &self.label)?;
        }
        close_track(out)?;
        end(out, "gpx")?;
        out.push(b'\n');
        Ok(())
    }
}
