//! Tours at `GET /view/<uuid>`: the share links devices ask for with a `request` message (see
//! `pista_core::tour`; the store makes and deletes them, ingest answers the device). A tour is
//! open to whoever has its link, without a login: the random uuid is the permission, as with
//! the Recorder. It shows only its device's points between its `from` and `to`: a page of our
//! own that draws the track (`tours/page.html`, self-contained: no request leaves the server),
//! `?geodata=1` (the track as a GeoJSON line string, as views give it) and `?lastpos=1` (the
//! newest point of the window). A deleted tour answers 404 at once: nothing about it is cached,
//! here or, as the answers say, in the browser.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pista_core::time::iso;
use pista_core::tour::TourId;
use serde_json::{Map, json};

use crate::AppState;
use crate::error::ApiError;
use crate::params::Params;
use crate::views::{View, geodata, html_escape, lastpos};

/// The page, with `@@LABEL@@`, `@@FROM@@`, `@@TO@@` and `@@GEO@@` to fill in.
const PAGE: &str = include_str!("tours/page.html");

/// What the page may load: nothing but its own inline script and style, and its track.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Answers `/view/<uuid>` for the tour `uuid`.
pub(crate) async fn tour(
    state: &AppState,
    uuid: &TourId,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let params = Params::new(query)?;
    let Some(stored) = state.store.tour(uuid).await? else {
        tracing::debug!(tour = %uuid, "no such tour");
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no tour {uuid}")));
    };
    let tour = stored.tour;
    let mut members = Map::new();
    members.insert("user".to_owned(), json!(stored.key.user.as_str()));
    members.insert("device".to_owned(), json!(stored.key.device.as_str()));
    members.insert("label".to_owned(), json!(tour.label));
    members.insert("from".to_owned(), json!(tour.from));
    members.insert("to".to_owned(), json!(tour.to));
    members.insert("uuid".to_owned(), json!(tour.uuid.as_str()));
    let view = View {
        user: stored.key.user,
        device: stored.key.device,
        page: String::new(),
        from: tour.from_tst,
        to: tour.to_tst,
        label: tour.label.clone(),
        auth: Vec::new(),
        members,
    };
    let mut response = if params.query("geodata").is_some_and(|v| v == "1") {
        geodata(state, &view).await?
    } else if params.query("lastpos").is_some_and(|v| v == "1") {
        lastpos(state, &view).await?
    } else {
        let html = PAGE
            .replace("@@LABEL@@", &html_escape(&tour.label))
            .replace("@@FROM@@", &html_escape(&iso(tour.from_tst)))
            .replace("@@TO@@", &html_escape(&iso(tour.to_tst)))
            .replace("@@GEO@@", &format!("{uuid}?geodata=1"));
        let mut page = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
        let headers = page.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        page
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    Ok(response)
}
