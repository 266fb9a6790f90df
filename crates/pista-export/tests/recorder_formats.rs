//! The Recorder's `format=` answers byte for byte, for a full fix with an address that needs
//! escaping and a point of interest with odd member names, and for no points: its layouts, with
//! its bugs fixed (stable CSV columns quoted as RFC 4180 says, field names that keep their case,
//! XML without invalid element names, GPX and GeoJSON from the fix's own position).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use pista_core::DeviceKey;
use pista_export::{Exporter, RecorderFormat};
use pista_store::HistoryPoint;

fn points() -> Vec<HistoryPoint> {
    let key = Arc::new(DeviceKey::parse("jane", "phone").unwrap());
    let bare = |id, tst, lat, lon, payload: &str| HistoryPoint {
        id,
        lat,
        lon,
        tid: "JP".into(),
        ..HistoryPoint::of_message(Arc::clone(&key), tst, tst, payload.into())
    };
    let mut full = bare(
        1,
        1_700_000_000,
        48.858334,
        2.295134,
        r#"{"_type":"location","tid":"JP","lat":48.858334,"lon":2.295134,"tst":1700000000,"acc":10.7,"alt":35.5,"vel":12,"batt":79,"SSID":"home","inregions":["a"]}"#,
    );
    full.received_at = 1_700_000_005;
    full.acc = Some(10.7);
    full.alt = Some(35.5);
    full.vel = Some(12.0);
    full.batt = Some(79.0);
    full.addr = Some("1 \"Main\" St, <Tom & Jerry's>".into());
    let poi = bare(
        2,
        1_700_000_600,
        -33.5,
        151.0,
        r#"{"_type":"location","lat":-33.5,"lon":151.0,"tst":1700000600,"poi":"Café, \"Hb\"","bad key":1,"tid":"JP"}"#,
    );
    vec![full, poi]
}

fn answer(format: RecorderFormat, fields: Option<&str>, points: &[HistoryPoint]) -> String {
    let fields = fields.map(|f| f.split(',').map(str::to_owned).collect());
    let exporter = Exporter::recorder(format, points.len() as u64, "0.1.0", fields);
    String::from_utf8(exporter.document(points).unwrap()).unwrap()
}

const TIMES_0: &str = r#""isorcv":"2023-11-14T22:13:25Z","isotst":"2023-11-14T22:13:20Z","disptst":"2023-11-14 22:13:20""#;
const TIMES_1: &str = r#""isorcv":"2023-11-14T22:23:20Z","isotst":"2023-11-14T22:23:20Z","disptst":"2023-11-14 22:23:20""#;

#[test]
fn json_is_the_envelope_with_address_and_times_and_fields_keep_case_and_order() {
    let want = format!(
        concat!(
            r#"{{"count":2,"data":["#,
            r#"{{"_type":"location","tid":"JP","lat":48.858334,"lon":2.295134,"tst":1700000000,"acc":10.7,"alt":35.5,"vel":12,"batt":79,"SSID":"home","inregions":["a"],"#,
            r#""addr":"1 \"Main\" St, <Tom & Jerry's>",{}}},"#,
            r#"{{"_type":"location","lat":-33.5,"lon":151.0,"tst":1700000600,"poi":"Café, \"Hb\"","bad key":1,"tid":"JP",{}}}"#,
            r#"],"status":200,"version":"0.1.0"}}"#
        ),
        TIMES_0, TIMES_1
    );
    assert_eq!(answer(RecorderFormat::Json, None, &points()), want);
    // T25: `SSID` keeps its case; an absent member is left out.
    let want = concat!(
        r#"{"count":2,"data":[{"tst":1700000000,"SSID":"home","addr":"1 \"Main\" St, <Tom & Jerry's>"},"#,
        r#"{"tst":1700000600}],"status":200,"version":"0.1.0"}"#
    );
    assert_eq!(answer(RecorderFormat::Json, Some("tst,SSID,addr,nope"), &points()), want);
    assert_eq!(
        answer(RecorderFormat::Json, None, &[]),
        r#"{"count":0,"data":[],"status":200,"version":"0.1.0"}"#
    );
}

#[test]
fn geojson_points_have_the_recorders_properties_and_poi_only_points_of_interest() {
    let want = concat!(
        r#"{"type":"FeatureCollection","features":["#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[2.295134,48.858334]},"#,
        r#""properties":{"name":"JP","vel":12,"tst":1700000000,"acc":10,"alt":35,"#,
        r#""address":"1 \"Main\" St, <Tom & Jerry's>","isotst":"2023-11-14T22:13:20Z"}},"#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[151.0,-33.5]},"#,
        r#""properties":{"name":"JP","vel":0,"tst":1700000600,"acc":0,"alt":0,"address":"","#,
        r#""isotst":"2023-11-14T22:23:20Z"}}]}"#
    );
    assert_eq!(answer(RecorderFormat::GeoJson, None, &points()), want);
    // The geometry is the fix's own, whatever `fields` leaves out.
    assert_eq!(answer(RecorderFormat::GeoJson, Some("tst"), &points()), want);
    let want = concat!(
        r#"{"type":"FeatureCollection","features":["#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[151.0,-33.5]},"#,
        r#""properties":{"name":"Café, \"Hb\"","address":"","isotst":"2023-11-14T22:23:20Z"}}]}"#
    );
    assert_eq!(answer(RecorderFormat::GeoJsonPoi, None, &points()), want);
    assert_eq!(
        answer(RecorderFormat::GeoJsonPoi, None, &[]),
        r#"{"type":"FeatureCollection","features":[]}"#
    );
}

#[test]
fn the_line_string_holds_every_point_in_order() {
    let want = concat!(
        r#"{"type":"Feature","properties":{},"geometry":{"coordinates":"#,
        r#"[[2.295134,48.858334],[151.0,-33.5]],"type":"LineString"}}"#
    );
    assert_eq!(answer(RecorderFormat::LineString, None, &points()), want);
    assert_eq!(
        answer(RecorderFormat::LineString, None, &[]),
        r#"{"type":"Feature","properties":{},"geometry":{"coordinates":[],"type":"LineString"}}"#
    );
}

#[test]
fn csv_has_the_same_columns_in_every_row_and_quotes_as_rfc_4180_says() {
    let want = concat!(
        "_type,tid,lat,lon,tst,acc,alt,batt,vel,cog,t,conn,SSID,BSSID,poi,tag,\"addr\",isorcv,isotst,disptst\n",
        "location,JP,48.858334,2.295134,1700000000,10.700000,36,79,12,,,,home,,,,",
        "\"1 \"\"Main\"\" St, <Tom & Jerry's>\",2023-11-14T22:13:25Z,2023-11-14T22:13:20Z,2023-11-14 22:13:20\n",
        "location,JP,-33.500000,151.000000,1700000600,,,,,,,,,,\"Café, \"\"Hb\"\"\",,,",
        "2023-11-14T22:23:20Z,2023-11-14T22:23:20Z,2023-11-14 22:23:20\n",
    );
    assert_eq!(answer(RecorderFormat::Csv, None, &points()), want);
    let want = "tst,SSID,\"addr\",inregions\n1700000000,home,\"1 \"\"Main\"\" St, <Tom & Jerry's>\",\n1700000600,,,\n";
    assert_eq!(answer(RecorderFormat::Csv, Some("tst,SSID,addr,inregions"), &points()), want);
    assert_eq!(answer(RecorderFormat::Csv, Some("tst"), &[]), "tst\n");
}

#[test]
fn xml_writes_each_member_escaped_and_leaves_out_names_that_are_not_xml() {
    let want = concat!(
        "<?xml version='1.0' encoding='UTF-8'?>\n",
        "\t<?xml-stylesheet type='text/xsl' href='owntracks.xsl'?>\n",
        "<owntracks>\n",
        " <point>\n",
        "  <tid>JP</tid>\n",
        "  <lat>48.858334</lat>\n",
        "  <lon>2.295134</lon>\n",
        "  <tst>1700000000</tst>\n",
        "  <acc>10.700000</acc>\n",
        "  <alt>36</alt>\n",
        "  <vel>12</vel>\n",
        "  <batt>79</batt>\n",
        "  <SSID>home</SSID>\n",
        "  <inregions />\n",
        "  <addr>1 &quot;Main&quot; St, &lt;Tom &amp; Jerry&apos;s&gt;</addr>\n",
        "  <isorcv>2023-11-14T22:13:25Z</isorcv>\n",
        "  <isotst>2023-11-14T22:13:20Z</isotst>\n",
        "  <disptst>2023-11-14 22:13:20</disptst>\n",
        " </point>\n",
        "\n",
        " <point>\n",
        "  <lat>-33.500000</lat>\n",
        "  <lon>151.000000</lon>\n",
        "  <tst>1700000600</tst>\n",
        "  <poi>Café, &quot;Hb&quot;</poi>\n",
        "  <tid>JP</tid>\n",
        "  <isorcv>2023-11-14T22:23:20Z</isorcv>\n",
        "  <isotst>2023-11-14T22:23:20Z</isotst>\n",
        "  <disptst>2023-11-14 22:23:20</disptst>\n",
        " </point>\n",
        "\n",
        "</owntracks>\n",
    );
    assert_eq!(answer(RecorderFormat::Xml, None, &points()), want);
    let want = concat!(
        "<?xml version='1.0' encoding='UTF-8'?>\n",
        "\t<?xml-stylesheet type='text/xsl' href='owntracks.xsl'?>\n",
        "<owntracks>\n",
        " <point>\n  <poi />\n  <tst>1700000000</tst>\n </point>\n\n",
        " <point>\n  <poi>Café, &quot;Hb&quot;</poi>\n  <tst>1700000600</tst>\n </point>\n\n",
        "</owntracks>\n",
    );
    assert_eq!(answer(RecorderFormat::Xml, Some("poi,tst,bad key"), &points()), want);
}

#[test]
fn gpx_keeps_the_recorders_spacing_with_the_fix_time_and_altitude() {
    let want = concat!(
        "<?xml version='1.0' encoding='UTF-8' standalone='no' ?>\n",
        "<gpx version='1.1' creator='Pista' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' ",
        "xmlns='http://www.topografix.com/GPX/1/1'>\n",
        " <trk>\n",
        "  <trkseg>\n",
        "    <trkpt lat='48.858334' lon='2.295134'>\n",
        "\t<time>2023-11-14T22:13:20Z</time>\n",
        "\t<ele>35.50</ele>\n",
        "\t</trkpt>\n",
        "    <trkpt lat='-33.500000' lon='151.000000'>\n",
        "\t<time>2023-11-14T22:23:20Z</time>\n",
        "\t</trkpt>\n",
        "  </trkseg>\n",
        "</trk>\n",
        "</gpx>\n",
    );
    assert_eq!(answer(RecorderFormat::Gpx, None, &points()), want);
}

#[test]
fn formats_are_named_case_insensitively_with_their_media_types() {
    let names: Vec<&str> = RecorderFormat::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(names, ["json", "geojson", "geojsonpoi", "linestring", "csv", "xml", "gpx"]);
    assert_eq!("GeoJSONpoi".parse::<RecorderFormat>().unwrap(), RecorderFormat::GeoJsonPoi);
    assert_eq!(
        "kml".parse::<RecorderFormat>().unwrap_err().to_string(),
        r#"unknown format "kml"; known: json, geojson, geojsonpoi, linestring, csv, xml, gpx"#
    );
    let types: Vec<&str> = RecorderFormat::ALL.iter().map(|f| f.content_type()).collect();
    assert_eq!(
        types,
        [
            "application/json",
            "application/geo+json",
            "application/geo+json",
            "application/geo+json",
            "text/csv; charset=utf-8; header=present",
            "application/xml",
            "application/gpx+xml"
        ]
    );
}

#[test]
fn odd_values_stay_valid_and_exact() {
    let mut points = points();
    points.truncate(1);
    // U+FFFF and a control character cannot be in XML; a CR would be read as a line feed.
    points[0].payload = "{\"_type\":\"location\",\"SSID\":\"a\u{ffff}b\\u0001c\\r\\nd\",\"alt\":1e20,\"acc\":-12.9,\"poi\":\"\",\"tst\":1700000000}".into();
    let xml = answer(RecorderFormat::Xml, Some("_type,SSID"), &points);
    assert!(
        xml.contains(
            " <point>\n  <_type>location</_type>\n  <SSID>abc&#13;\nd</SSID>\n </point>\n"
        ),
        "{xml}"
    );
    // Whole numbers too large to truncate exactly stay as they are.
    let geojson = answer(RecorderFormat::GeoJson, None, &points);
    assert!(geojson.contains(r#""vel":0,"tst":1700000000,"acc":-12,"alt":1e+20,"#), "{geojson}");
    // An empty `poi` is no point of interest.
    assert_eq!(
        answer(RecorderFormat::GeoJsonPoi, None, &points),
        r#"{"type":"FeatureCollection","features":[]}"#
    );
}
