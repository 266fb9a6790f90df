//! Every format's exact output for the same two points, with names and an address that need
//! escaping (`<`, `&`, `"`, `'`, a comma), and for no points at all (bugs B47, B50, B55, B11).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use futures::StreamExt;
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_export::{ExportError, Exporter, Format, RecorderFormat, Subject, Zone, stream};
use pista_store::{HistoryPoint, StoreError};

fn key() -> Arc<DeviceKey> {
    Arc::new(DeviceKey::parse("jane", "a<b&\"c'").unwrap())
}

fn subject(device: Option<&str>) -> Subject {
    Subject {
        user: UserName::parse("jane").unwrap(),
        device: device.map(|d| DeviceName::parse(d).unwrap()),
    }
}

/// A full fix with an address, then a bare one with no altitude.
fn points() -> Vec<HistoryPoint> {
    let key = key();
    vec![
        HistoryPoint {
            key: Arc::clone(&key),
            id: 7,
            tst: 1_700_000_000,
            lat: 48.858334,
            lon: 2.295134,
            received_at: 1_700_000_005,
            tid: "JP".into(),
            trigger: Some("u".into()),
            acc: Some(10.0),
            alt: Some(35.5),
            vel: Some(12.0),
            cog: None,
            batt: Some(79.0),
            conn: Some("w".into()),
            payload: r#"{"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000,"acc":10,"alt":35.5,"tid":"JP"}"#.into(),
            addr: Some("1 \"Main\" St, <Tom & Jerry's>".into()),
        },
        HistoryPoint {
            id: 9,
            lat: -33.5,
            lon: 151.0,
            tid: "JP".into(),
            ..HistoryPoint::of_message(
                key,
                1_700_000_600,
                1_700_000_600,
                r#"{"_type":"location","lat":-33.5,"lon":151.0,"tst":1700000600,"tid":"JP"}"#.into(),
            )
        },
    ]
}

fn document(format: Format, device: Option<&str>, points: &[HistoryPoint]) -> String {
    let exporter = Exporter::new(format, &subject(device)).unwrap();
    String::from_utf8(exporter.document(points).unwrap()).unwrap()
}

#[test]
fn rec_is_one_line_per_fix_in_the_recorders_layout() {
    let mut points = points();
    // B11: a stored message with a raw line break still becomes one line.
    points[1].payload =
        "{\"_type\":\"location\",\n  \"lat\":-33.5,\"lon\":151.0,\"tst\":1700000600}".into();
    let want = concat!(
        "2023-11-14T22:13:20Z\t*                 \t",
        r#"{"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000,"acc":10,"alt":35.5,"tid":"JP"}"#,
        "\n",
        "2023-11-14T22:23:20Z\t*                 \t",
        r#"{"_type":"location","lat":-33.5,"lon":151.0,"tst":1700000600}"#,
        "\n",
    );
    assert_eq!(document(Format::Rec, Some("a<b&\"c'"), &points), want);
    assert_eq!(document(Format::Rec, Some("phone"), &[]), "");
}

#[test]
fn rec_of_a_whole_user_is_refused_by_name() {
    let error = Exporter::new(Format::Rec, &subject(None)).err().unwrap();
    assert_eq!(
        error.to_string(),
        r#"format rec holds one device's history; name a device of user "jane""#
    );
}

#[test]
fn gpx_keeps_the_schema_order_and_escapes_names_and_addresses() {
    let want = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<gpx version=\"1.1\" creator=\"Pista 0.1.0\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n",
        "<trk><name>jane/a&lt;b&amp;&quot;c&apos;</name><trkseg>\n",
        "<trkpt lat=\"48.858334\" lon=\"2.295134\"><ele>35.5</ele><time>2023-11-14T22:13:20Z</time>",
        "<desc>1 &quot;Main&quot; St, &lt;Tom &amp; Jerry&apos;s&gt;</desc></trkpt>\n",
        "<trkpt lat=\"-33.5\" lon=\"151\"><time>2023-11-14T22:23:20Z</time></trkpt>\n",
        "</trkseg></trk>\n",
        "</gpx>\n",
    );
    assert_eq!(document(Format::Gpx, Some("a<b&\"c'"), &points()), want);
}

#[test]
fn gpx_without_points_is_a_closed_document_with_an_empty_track() {
    let want = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<gpx version=\"1.1\" creator=\"Pista 0.1.0\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n",
        "<trk><name>jane/phone</name><trkseg>\n",
        "</trkseg></trk>\n",
        "</gpx>\n",
    );
    assert_eq!(document(Format::Gpx, Some("phone"), &[]), want);
}

#[test]
fn gpx_of_a_user_starts_a_track_when_the_device_changes() {
    let mut points = points();
    points[1].key = Arc::new(DeviceKey::parse("jane", "watch").unwrap());
    let text = document(Format::Gpx, None, &points);
    let tracks: Vec<&str> = text.lines().filter(|l| l.starts_with("<trk>")).collect();
    assert_eq!(
        tracks,
        [
            "<trk><name>jane/a&lt;b&amp;&quot;c&apos;</name><trkseg>",
            "<trk><name>jane/watch</name><trkseg>"
        ]
    );
    assert!(text.ends_with("</trkpt>\n</trkseg></trk>\n</gpx>\n"), "{text}");
}

#[test]
fn geojson_is_a_feature_collection_with_lon_lat_points() {
    let want = concat!(
        "{\"type\":\"FeatureCollection\",\"features\":[\n",
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[2.295134,48.858334]},"#,
        r#""properties":{"user":"jane","device":"a<b&\"c'","tid":"JP","tst":1700000000,"#,
        r#""isotst":"2023-11-14T22:13:20Z","acc":10,"alt":35.5,"vel":12,"batt":79,"t":"u","#,
        r#""conn":"w","addr":"1 \"Main\" St, <Tom & Jerry's>"}},"#,
        "\n",
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[151,-33.5]},"#,
        r#""properties":{"user":"jane","device":"a<b&\"c'","tid":"JP","tst":1700000600,"#,
        r#""isotst":"2023-11-14T22:23:20Z"}}"#,
        "\n]}\n",
    );
    let text = document(Format::GeoJson, None, &points());
    assert_eq!(text, want);
    serde_json::from_str::<serde_json::Value>(&text).unwrap();
}

#[test]
fn geojson_without_points_is_an_empty_collection() {
    // B55: valid and empty, never a broken geometry.
    let text = document(Format::GeoJson, Some("phone"), &[]);
    assert_eq!(text, "{\"type\":\"FeatureCollection\",\"features\":[]}\n");
}

#[test]
fn csv_has_fixed_columns_and_rfc_4180_quoting() {
    let want = concat!(
        "user,device,tst,isotst,lat,lon,tid,acc,alt,vel,cog,batt,t,conn,addr\r\n",
        "jane,\"a<b&\"\"c'\",1700000000,2023-11-14T22:13:20Z,48.858334,2.295134,JP,10,35.5,12,,79,u,w,",
        "\"1 \"\"Main\"\" St, <Tom & Jerry's>\"\r\n",
        "jane,\"a<b&\"\"c'\",1700000600,2023-11-14T22:23:20Z,-33.5,151,JP,,,,,,,,\r\n",
    );
    assert_eq!(document(Format::Csv, None, &points()), want);
    assert_eq!(
        document(Format::Csv, None, &[]),
        "user,device,tst,isotst,lat,lon,tid,acc,alt,vel,cog,batt,t,conn,addr\r\n"
    );
}

#[test]
fn kml_has_a_placemark_per_fix_with_escaped_text() {
    let want = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document><name>jane</name>\n",
        "<Placemark><name>JP</name>",
        "<description>1 &quot;Main&quot; St, &lt;Tom &amp; Jerry&apos;s&gt;</description>",
        "<TimeStamp><when>2023-11-14T22:13:20Z</when></TimeStamp>",
        "<Point><coordinates>2.295134,48.858334,35.5</coordinates></Point></Placemark>\n",
        "<Placemark><name>JP</name><TimeStamp><when>2023-11-14T22:23:20Z</when></TimeStamp>",
        "<Point><coordinates>151,-33.5</coordinates></Point></Placemark>\n",
        "</Document></kml>\n",
    );
    assert_eq!(document(Format::Kml, None, &points()), want);
    let empty = document(Format::Kml, Some("phone"), &[]);
    assert!(empty.ends_with("<Document><name>jane/phone</name>\n</Document></kml>\n"), "{empty}");
}

#[test]
fn json_adds_identity_and_the_recorders_times_to_each_stored_message() {
    let mut points = points();
    // A message that already has one of the added names gets it replaced in place.
    points[1].payload = r#"{"_type":"location","isotst":"x","lat":-33.5,"lon":151.0}"#.into();
    let want = concat!(
        "[\n",
        r#"{"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000,"acc":10,"alt":35.5,"tid":"JP","#,
        r#""username":"jane","device":"a<b&\"c'","isorcv":"2023-11-14T22:13:25Z","#,
        r#""isotst":"2023-11-14T22:13:20Z","disptst":"2023-11-14 22:13:20"},"#,
        "\n",
        r#"{"_type":"location","isotst":"2023-11-14T22:23:20Z","lat":-33.5,"lon":151.0,"#,
        r#""username":"jane","device":"a<b&\"c'","isorcv":"2023-11-14T22:23:20Z","#,
        r#""disptst":"2023-11-14 22:23:20"}"#,
        "\n]\n",
    );
    assert_eq!(document(Format::Json, None, &points), want);
    assert_eq!(document(Format::Json, None, &[]), "[]\n");
}

#[test]
fn json_writes_unicode_escapes_and_nested_objects_of_the_stored_message_unchanged() {
    let mut points = points();
    points.truncate(1);
    // "device" inside a nested object sends the export's item through the parser (it looks for
    // the name anywhere), the Recorder's answer splices: both write the message as stored.
    let stored = r#"{"_type":"location","desc":"Zürich \"Hb\"\n\\ 🚲 \u0007","inregions":["a,b"],"x":{"device":"n","y":[{}]},"tst":1700000000}"#;
    points[0].payload = stored.into();
    let stored = &stored[..stored.len() - 1];
    let times = concat!(
        r#""isorcv":"2023-11-14T22:13:25Z","isotst":"2023-11-14T22:13:20Z","#,
        r#""disptst":"2023-11-14 22:13:20"}"#
    );

    let identity = r#""username":"jane","device":"a<b&\"c'","#;
    let want = format!(
        "[
{stored},{identity}{times}
]
"
    );
    assert_eq!(document(Format::Json, None, &points), want);
    // The Recorder's answer adds the fix's address, which the message does not hold.
    let answer =
        Exporter::recorder(RecorderFormat::Json, 1, "0.1.0", None).document(&points).unwrap();
    let addr = r#""addr":"1 \"Main\" St, <Tom & Jerry's>","#;
    let want =
        format!(r#"{{"count":1,"data":[{stored},{addr}{times}],"status":200,"version":"0.1.0"}}"#);
    assert_eq!(String::from_utf8(answer).unwrap(), want);
}

#[test]
fn the_recorder_envelope_counts_first_and_closes_with_status_and_version() {
    let exporter = Exporter::recorder(RecorderFormat::Json, 1, "0.1.0", None);
    let text = String::from_utf8(exporter.document(&points()[1..]).unwrap()).unwrap();
    let want = concat!(
        r#"{"count":1,"data":[{"_type":"location","lat":-33.5,"lon":151.0,"tst":1700000600,"tid":"JP","#,
        r#""isorcv":"2023-11-14T22:23:20Z","isotst":"2023-11-14T22:23:20Z","disptst":"2023-11-14 22:23:20"}],"#,
        r#""status":200,"version":"0.1.0"}"#,
    );
    assert_eq!(text, want);
}

#[test]
fn formats_are_named_with_their_media_types_and_file_names() {
    let names: Vec<String> = Format::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["rec", "gpx", "geojson", "csv", "kml", "json", "txt"]);
    assert_eq!(Format::Txt.content_type(), "text/plain; charset=utf-8");
    assert_eq!("GPX".parse::<Format>().unwrap(), Format::Gpx);
    let error = "shp".parse::<Format>().unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"unknown format "shp"; known: rec, gpx, geojson, csv, kml, json, txt"#
    );
    assert_eq!(Format::Gpx.content_type(), "application/gpx+xml");
    assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8; header=present");
    assert_eq!(subject(Some("a<b&\"c'")).file_name(Format::Gpx), "jane-a_b__c_.gpx");
    assert_eq!(subject(None).file_name(Format::Csv), "jane.csv");
}

#[tokio::test]
async fn a_store_error_ends_the_stream_without_the_documents_end() {
    let pages = futures::stream::iter(vec![
        Ok(points()),
        Err(StoreError::Busy { permits: 1 }),
        Ok(points()),
    ])
    .boxed();
    let exporter = Exporter::new(Format::Gpx, &subject(Some("phone"))).unwrap();
    let chunks: Vec<_> = stream(exporter, pages).collect().await;
    assert_eq!(chunks.len(), 3, "start, one page, then the error and nothing after it");
    assert!(chunks[..2].iter().all(Result::is_ok));
    assert!(matches!(chunks[2], Err(ExportError::Store(StoreError::Busy { .. }))));
    let sent: Vec<u8> = chunks[..2].iter().flat_map(|c| c.as_ref().unwrap().to_vec()).collect();
    assert!(!String::from_utf8(sent).unwrap().contains("</gpx>"));
}

#[test]
fn txt_is_the_originals_fixed_width_layout_in_the_zone_asked_for() {
    let exporter = Exporter::txt(Zone::named("Europe/Berlin").unwrap());
    let text = String::from_utf8(exporter.document(&points()).unwrap()).unwrap();
    let want = concat!(
        "Latitude   Longitude  Timestamp(Europe/Berlin) Speed Location\n",
        "48.858334  2.295134   2023-11-14 23:13:20        12      1 \"Main\" St, <Tom & Jerry's> \n",
        "-33.5      151        2023-11-14 23:23:20         0             \n",
        "\n",
        "Trip: 16922.29 kilometers\n",
    );
    assert_eq!(text, want);

    // Without a zone: UTC; without points: the header and a trip of nothing.
    let utc = Exporter::new(Format::Txt, &subject(Some("phone"))).unwrap();
    let text = String::from_utf8(utc.document(&points()[1..]).unwrap()).unwrap();
    assert!(text.starts_with("Latitude   Longitude  Timestamp(UTC) Speed Location\n"), "{text}");
    assert!(text.contains(" 2023-11-14 22:23:20 "), "{text}");
    let empty = Exporter::txt(Zone::utc()).document(&[]).unwrap();
    assert_eq!(
        String::from_utf8(empty).unwrap(),
        "Latitude   Longitude  Timestamp(UTC) Speed Location\n\nTrip: 0.00 kilometers\n"
    );
    assert_eq!(
        Zone::named("Mars/Olympus").unwrap_err().to_string(),
        "unknown time zone \"Mars/Olympus\"; use an IANA name such as Europe/Berlin or UTC"
    );
}
