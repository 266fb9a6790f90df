//! `GET /api/0/export?user=&device=&from=&to=&format=[&tz=]`: a user's or device's history as a
//! file (`.rec`, GPX, GeoJSON, CSV, KML, JSON, or TXT with times in the zone `tz`), streamed in
//! chunks as the store reads its pages, so a year costs the memory of a page. The status and
//! headers go out before the first page is read; a storage error after that aborts the transfer
//! (the chunked body never ends), so a client never takes a cut file for a whole one. Also
//! [`streamed`], the response every streamed answer uses (`/api/0/locations` too). A device's
//! export needs the right to see it; a whole user's, the right to see every one of their
//! devices.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_export::{ExportError, Exporter, Format, Subject, Zone};
use pista_store::HistoryQuery;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// The export of one user's or device's history in one format.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::new(query.as_deref())?;
    let (query, format) = export_query(&params, &headers)?;
    let now = pista_ingest::now();
    match &query.device {
        Some(device) => {
            caller.require_read(
                &DeviceKey { user: query.user.clone(), device: device.clone() },
                now,
            )?;
        }
        None if caller.manages(&query.user) => {}
        None => {
            // Every device of the user, and the user's existence, stay unsaid to whoever may
            // not see them all.
            let devices = match state.store.devices(&query.user).await {
                Ok(devices) => devices,
                Err(pista_store::StoreError::UnknownUser { .. }) => Vec::new(),
                Err(error) => return Err(error.into()),
            };
            let all = !devices.is_empty()
                && devices.into_iter().all(|device| {
                    caller.reads(&DeviceKey { user: query.user.clone(), device }, now)
                });
            if !all {
                let who = caller.user().map_or_else(|| "nobody".to_owned(), ToString::to_string);
                let user = &query.user;
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    format!("user {who} may not export every device of user {user}"),
                ));
            }
        }
    }
    let subject = Subject { user: query.user.clone(), device: query.device.clone() };
    let bad = |e: ExportError| ApiError::bad_request(e.to_string());
    let exporter = match (format, params.query("tz")) {
        // TXT writes local times: of the zone asked for (the tracks page sends the browser's).
        (Format::Txt, Some(zone)) => Exporter::txt(Zone::named(zone).map_err(bad)?),
        _ => Exporter::new(format, &subject).map_err(bad)?,
    };

    let history = state.store.history(&query).await?;
    tracing::debug!(user = %subject.user, device = ?subject.device, %format, "export started");
    let chunks = exporter.written(history);
    let disposition = format!("attachment; filename=\"{}\"", subject.file_name(format));
    Ok(streamed(chunks, format.content_type(), Some(&disposition)))
}

/// A chunked answer of `chunks`; an error among them is logged and aborts the transfer.
pub(crate) fn streamed(
    chunks: BoxStream<'static, Result<Bytes, ExportError>>,
    content_type: &'static str,
    disposition: Option<&str>,
) -> Response {
    let chunks = chunks.inspect(|chunk| {
        if let Err(error) = chunk {
            let cause = std::error::Error::source(error).map(ToString::to_string);
            tracing::error!(%error, ?cause, "streamed answer aborted");
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(d).ok()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn export_query(params: &Params, headers: &HeaderMap) -> Result<(HistoryQuery, Format), ApiError> {
    let bad = |e: &dyn std::fmt::Display| ApiError::bad_request(e.to_string());
    let Some(user) = params.limited(headers, "user")? else {
        return Err(ApiError::bad_request("user is required"));
    };
    let user = UserName::parse(user).map_err(|e| bad(&e))?;
    let device = params.limited(headers, "device")?.map(DeviceName::parse);
    let device = device.transpose().map_err(|e| bad(&e))?;
    let format = params.query("format").unwrap_or("json").parse::<Format>().map_err(|e| bad(&e))?;

    let (from, to) = params.range(headers)?;
    let columns = format.columns();
    let query = HistoryQuery { from, to, columns, ..HistoryQuery::new(user, device) };
    Ok((query, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<(HistoryQuery, Format), String> {
        let params = Params::new(Some(text)).map_err(|e| e.message)?;
        export_query(&params, &HeaderMap::new()).map_err(|e| e.message)
    }

    #[test]
    fn export_parameters_read_whole_histories_by_default() {
        let (q, format) = query("user=Jane&format=gpx").unwrap();
        assert_eq!(
            (q.user.as_str(), q.device, q.from, q.to, format),
            ("jane", None, None, None, Format::Gpx)
        );
        let (q, format) = query("user=jane&device=phone&from=2023-11-14&to=1700006400").unwrap();
        assert_eq!(q.device.map(|d| d.to_string()), Some("phone".to_owned()));
        assert_eq!((q.from, q.to, format), (Some(1699920000), Some(1700006400), Format::Json));
    }

    #[test]
    fn bad_export_parameters_are_named() {
        let cases = [
            ("device=phone", "user is required"),
            (
                "user=jane&format=shp",
                "unknown format \"shp\"; known: rec, gpx, geojson, csv, kml, json, txt",
            ),
            (
                "user=jane&from=2023-11-15&to=2023-11-14",
                "impossible range: from 2023-11-15T00:00:00Z is after to 2023-11-14T00:00:00Z",
            ),
            (
                "user=jane&to=later",
                "to: \"later\" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM, an RFC 3339 time with offset, or epoch seconds",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(query(text).unwrap_err(), want, "{text}");
        }
    }
}
