//! `GET /api/0/track?user=&device=&from=&to=[&zoom=][&bbox=][&every=]`: one device's track to
//! draw, simplified on the server (`pista_export::track`): with `zoom` to half a pixel at that
//! zoom level, without it every point; with `bbox=west,south,east,north` only the part inside
//! the box. The answer carries the whole range's point count, length, bounds and marks every
//! `every` km whatever the simplification, so the tracks page asks once for the overview and
//! again for the visible part in full detail when zoomed in. The history is read page by page
//! and only the answer is kept: a year costs the memory of its simplified line. The caller must
//! be allowed to see the device, as for `/api/0/export`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use pista_core::DeviceKey;
use pista_export::track::{
    Bbox, TrackBuilder, TrackError, TrackOptions, parse_every, parse_zoom, tolerance_for_zoom,
};
use pista_store::{HistoryColumns, HistoryQuery};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::api::{parse_device, parse_user};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// What a track request asks for.
#[derive(Debug, PartialEq)]
struct TrackQuery {
    key: DeviceKey,
    from: Option<i64>,
    to: Option<i64>,
    zoom: Option<u8>,
    options: TrackOptions,
}

/// The track of one device in a range.
pub async fn track(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::new(query.as_deref())?;
    let query = track_query(&params, &headers)?;
    caller.require_read(&query.key, pista_ingest::now())?;

    let history = HistoryQuery {
        from: query.from,
        to: query.to,
        columns: HistoryColumns::All,
        ..HistoryQuery::new(query.key.user.clone(), Some(query.key.device.clone()))
    };
    let mut pages = state.store.history(&history).await?.pages;
    let mut builder = TrackBuilder::new(query.options);
    while let Some(page) = pages.next().await {
        builder.page(&page?);
    }
    let track = builder.finish();
    tracing::debug!(
        device = %query.key, points = track.points, returned = track.returned(), zoom = ?query.zoom,
        "track read"
    );

    let bbox = query.options.bbox.map(|b| json!([b.west, b.south, b.east, b.north]));
    let head: Map<String, Value> = [
        ("user", Value::from(query.key.user.to_string())),
        ("device", query.key.device.to_string().into()),
        ("from", query.from.into()),
        ("to", query.to.into()),
        ("zoom", query.zoom.into()),
        ("tolerance", query.options.tolerance.into()),
        ("bbox", bbox.unwrap_or(Value::Null)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let body = track.write_json(head);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn track_query(params: &Params, headers: &HeaderMap) -> Result<TrackQuery, ApiError> {
    let (Some(user), Some(device)) =
        (params.limited(headers, "user")?, params.limited(headers, "device")?)
    else {
        return Err(ApiError::bad_request("user and device are required"));
    };
    let key = DeviceKey { user: parse_user(user)?, device: parse_device(device)? };

    let (from, to) = params.range(headers)?;

    let bad = |e: TrackError| ApiError::bad_request(e.to_string());
    let zoom = params.query("zoom").map(parse_zoom).transpose().map_err(bad)?;
    let bbox = params.query("bbox").map(Bbox::parse).transpose().map_err(bad)?;
    let every_km = params.query("every").map(parse_every).transpose().map_err(bad)?;
    let tolerance = zoom.map_or(0.0, tolerance_for_zoom);
    let options = TrackOptions { tolerance, bbox, every_km };
    Ok(TrackQuery { key, from, to, zoom, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<TrackQuery, String> {
        let params = Params::new(Some(text)).map_err(|e| e.message)?;
        track_query(&params, &HeaderMap::new()).map_err(|e| e.message)
    }

    #[test]
    fn track_parameters_are_read() {
        let q =
            query("user=Jane&device=bike&from=2026-03-10&to=1773183599&zoom=10&every=2").unwrap();
        assert_eq!(
            (q.key.to_string(), q.from, q.to, q.zoom),
            ("jane/bike".to_owned(), Some(1_773_100_800), Some(1_773_183_599), Some(10))
        );
        let want = TrackOptions { tolerance: 180.0 / 262_144.0, bbox: None, every_km: Some(2.0) };
        assert_eq!(q.options, want);
        let q = query("user=jane&device=bike&bbox=2.2,48.8,2.4,48.9").unwrap();
        let bbox = Bbox { west: 2.2, south: 48.8, east: 2.4, north: 48.9 };
        assert_eq!(
            (q.from, q.zoom, q.options.tolerance, q.options.bbox),
            (None, None, 0.0, Some(bbox))
        );
    }

    #[test]
    fn bad_track_parameters_are_named() {
        let cases = [
            ("user=jane", "user and device are required"),
            ("user=jane&device=bike&zoom=30", "zoom \"30\" is not a whole number from 0 to 24"),
            (
                "user=jane&device=bike&bbox=1,2",
                "bbox \"1,2\" is not west,south,east,north in degrees (south below north; a west above east crosses the antimeridian)",
            ),
            (
                "user=jane&device=bike&every=-2",
                "every \"-2\" is not a distance in km from 0.1 to 10000",
            ),
            (
                "user=jane&device=bike&from=2026-03-11&to=2026-03-10",
                "impossible range: from 2026-03-11T00:00:00Z is after to 2026-03-10T00:00:00Z",
            ),
            (
                "user=jane&device=bike&from=soon",
                "from: \"soon\" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM, an RFC 3339 time with offset, or epoch seconds",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(query(text).unwrap_err(), want, "{text}");
        }
    }
}
