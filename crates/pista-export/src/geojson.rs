//! A GeoJSON `FeatureCollection` of `Point` features, one per line, `[lon, lat]` as RFC 7946
//! orders them. Properties: `user`, `device`, `tid`, `tst`, `isotst`, then those of `acc`, `alt`,
//! `vel`, `cog`, `batt`, `t`, `conn` and `addr` the fix has. No points give
//! `{"type":"FeatureCollection","features":[]}` (bug B55).

use std::io::{self, Write};

use pista_store::HistoryPoint;

use crate::Encoder;
use crate::time::push_iso;

#[derive(Default)]
pub(crate) struct GeoJson {
    features: u64,
}

/// Appends `,"name":` and `value` as a JSON string.
fn text(out: &mut Vec<u8>, name: &str, value: &str) -> io::Result<()> {
    write!(out, ",\"{name}\":")?;
    serde_json::to_writer(&mut *out, value)?;
    Ok(())
}

impl Encoder for GeoJson {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        out.extend_from_slice(if self.features == 0 { b"\n" } else { b",\n" });
        self.features += 1;
        write!(
            out,
            r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{},{}]}},"properties":{{"user":"#,
            point.lon, point.lat
        )?;
        serde_json::to_writer(&mut *out, point.key.user.as_str())?;
        text(out, "device", point.key.device.as_str())?;
        text(out, "tid", &point.tid)?;
        write!(out, ",\"tst\":{},\"isotst\":\"", point.tst)?;
        push_iso(out, point.tst);
        out.push(b'"');
        let numbers =
            [("acc", point.acc), ("alt", point.alt), ("vel", point.vel), ("cog", point.cog)];
        for (name, value) in numbers.into_iter().chain([("batt", point.batt)]) {
            if let Some(value) = value {
                write!(out, ",\"{name}\":{value}")?;
            }
        }
        let texts = [
            ("t", point.trigger.as_deref()),
            ("conn", point.conn.as_deref()),
            ("addr", point.addr.as_deref()),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                text(out, name, value)?;
            }
        }
        out.extend_from_slice(b"}}");
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(if self.features == 0 { b"]}\n" } else { b"\n]}\n" });
        Ok(())
    }
}
