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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_export::{ExportError, Exporter, Format, Subject, Zone};
use pista_store::HistoryQuery;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;

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
    let mut response = Body::from_stream(forwarded(chunks.boxed(), STALL_LIMIT)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(d).ok()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// How long a client may take nothing of a streamed answer before it loses it. The answer's
/// history read holds one of the few heavy-read turns (`pista_store::HEAVY_READS`) until it
/// ends, so a handful of clients that stopped reading would otherwise keep every other export
/// and `locations` answer busy for as long as they stay connected.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// `chunks` handed to the answer's body by a task of their own. A chunk the client does not
/// take within `limit` ends the answer with an error (the transfer is aborted, never ended as if
/// complete) and drops `chunks` at once, and with them the history read and its turn.
fn forwarded(
    chunks: BoxStream<'static, Result<Bytes, ExportError>>,
    limit: Duration,
) -> BoxStream<'static, Result<Bytes, StreamError>> {
    let (sender, receiver) = mpsc::channel(1);
    let complete = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&complete);
    tokio::spawn(async move {
        let mut chunks = chunks;
        while let Some(chunk) = chunks.next().await {
            let failed = chunk.is_err();
            match sender.send_timeout(chunk.map_err(StreamError::Export), limit).await {
                Ok(()) if !failed => {}
                Ok(()) | Err(SendTimeoutError::Closed(_)) => return,
                Err(SendTimeoutError::Timeout(_)) => {
                    let seconds = limit.as_secs_f64();
                    tracing::warn!(seconds, "streamed answer dropped: the client stopped reading");
                    return;
                }
            }
        }
        done.store(true, Ordering::SeqCst);
    });
    stream::unfold(Some((receiver, complete)), move |state| async move {
        let (mut receiver, complete) = state?;
        match receiver.recv().await {
            Some(Ok(chunk)) => Some((Ok(chunk), Some((receiver, complete)))),
            // An error is the last item.
            Some(Err(error)) => Some((Err(error), None)),
            None if complete.load(Ordering::SeqCst) => None,
            None => Some((Err(StreamError::Stalled { limit }), None)),
        }
    })
    .boxed()
}

/// Why a streamed answer was cut short.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    #[error(transparent)]
    Export(ExportError),
    #[error("the client took nothing for {limit:?}")]
    Stalled { limit: Duration },
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

    /// The outcomes of a forwarded stream, as text.
    async fn outcomes(stream: BoxStream<'static, Result<Bytes, StreamError>>) -> Vec<String> {
        let outcome = |chunk: Result<Bytes, StreamError>| match chunk {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) => format!("error: {error}"),
        };
        stream.map(outcome).collect().await
    }

    #[tokio::test]
    async fn a_forwarded_answer_ends_as_its_chunks_do() {
        let limit = Duration::from_secs(5);
        let whole = stream::iter(["a", "b", "c"].map(|t| Ok(Bytes::from(t)))).boxed();
        assert_eq!(outcomes(forwarded(whole, limit)).await, ["a", "b", "c"]);

        let failed = ExportError::Store(pista_store::StoreError::Closed { path: "x.db".into() });
        let broken = stream::iter([Ok(Bytes::from("a")), Err(failed)]).boxed();
        assert_eq!(
            outcomes(forwarded(broken, limit)).await,
            ["a", "error: reading the history failed"]
        );
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_loses_the_answer_and_its_history_read() {
        // The source holds `read` (as a history holds its heavy-read turn) until it is dropped.
        let read = Arc::new(());
        let held = Arc::clone(&read);
        let source = stream::iter(0..)
            .map(move |n: u64| {
                let _turn = &held;
                Ok(Bytes::from(n.to_string()))
            })
            .boxed();
        let mut body = forwarded(source, Duration::from_millis(50));
        assert_eq!(body.next().await.unwrap().unwrap(), "0");

        // The client takes nothing more: within the limit the source is dropped.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(Arc::strong_count(&read), 1, "the history read must be dropped");
        // What was already handed over comes, then the error; never a clean end.
        let rest = outcomes(body).await;
        let (last, before) = rest.split_last().unwrap();
        assert_eq!(last, "error: the client took nothing for 50ms");
        assert!(before.len() <= 2, "{before:?}");
    }
}
