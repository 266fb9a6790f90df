//! Tests of the Greenwich text payloads: every payload of the vector corpus and the forms the
//! devices document, read to their exact kind and value, and the errors for bad levels and texts.

use super::*;

/// Every Greenwich text payload of the vector corpus (protocol and o2s seed payloads, each
/// once; the simulator's `4.<2..6>` templates filled in) plus forms the devices document.
const DECODED: &[(&str, &str, &str, &str)] = &[
    ("status", "1", "gw-status", r#"{"status":1}"#),
    ("status", "0", "gw-status", r#"{"status":0}"#),
    ("status", "-1\n", "gw-status", r#"{"status":-1}"#),
    ("info", "your driver: Janine", "gw-info", r#"{"info":"your driver: Janine"}"#),
    ("info", "su conductor: Jose-Maria", "gw-info", r#"{"info":"su conductor: Jose-Maria"}"#),
    ("info", "Ihr Fahrer: Hans Werner", "gw-info", r#"{"info":"Ihr Fahrer: Hans Werner"}"#),
    (
        "info",
        "votre conductrice: Anne Marie",
        "gw-info",
        r#"{"info":"votre conductrice: Anne Marie"}"#,
    ),
    ("info", "Germany-France", "gw-info", r#"{"info":"Germany-France"}"#),
    ("info", "ruta: norte", "gw-info", r#"{"info":"ruta: norte"}"#),
    ("info", " next tour: June ", "gw-info", r#"{"info":"next tour: June"}"#),
    (
        "start",
        "123456789012345 0.8.1 20140930T085913Z",
        "gw-start",
        r#"{"imei":"123456789012345","version":"0.8.1","startup":1412067553}"#,
    ),
    (
        "start",
        "12345678901230 0.10.97 20141202T084939Z",
        "gw-start",
        r#"{"imei":"12345678901230","version":"0.10.97","startup":1417510179}"#,
    ),
    (
        "start",
        "123456789012345 0.7.38 2014-09-01 08:37:04",
        "gw-start",
        r#"{"imei":"123456789012345","version":"0.7.38","startup":1409560624}"#,
    ),
    (
        "start",
        "123456789012345  0.7.38\t2014-09-01 08:37:04",
        "gw-start",
        r#"{"imei":"123456789012345","version":"0.7.38","startup":1409560624}"#,
    ),
    (
        "start",
        "123456789012345 0.8.1 20141302T084939Z",
        "gw-start",
        r#"{"imei":"123456789012345","version":"0.8.1","startup_text":"20141302T084939Z"}"#,
    ),
    (
        "start",
        "123456789012345 0.8.1 2014-09-01 08:37:04 CEST",
        "gw-start",
        concat!(
            r#"{"imei":"123456789012345","version":"0.8.1","#,
            r#""startup_text":"2014-09-01 08:37:04 CEST"}"#,
        ),
    ),
    ("voltage/batt", "4.4", "gw-voltage", r#"{"supply":"batt","volts":4.4}"#),
    ("voltage/ext", "12.2", "gw-voltage", r#"{"supply":"ext","volts":12.2}"#),
    ("voltage/batt", "4.2", "gw-voltage", r#"{"supply":"batt","volts":4.2}"#),
    ("voltage/ext", "13.6", "gw-voltage", r#"{"supply":"ext","volts":13.6}"#),
    ("voltage/ext", "0", "gw-voltage", r#"{"supply":"ext","volts":0.0}"#),
    ("temperature/0", "4.41", "gw-temperature", r#"{"sensor":0,"celsius":4.41}"#),
    ("temperature/1", "24.82", "gw-temperature", r#"{"sensor":1,"celsius":24.82}"#),
    ("temperature/255", "-12.5", "gw-temperature", r#"{"sensor":255,"celsius":-12.5}"#),
    ("gpio/1", "0", "gw-gpio", r#"{"pin":1,"value":0}"#),
    ("gpio/3", "1", "gw-gpio", r#"{"pin":3,"value":1}"#),
    ("gpio/3", "0", "gw-gpio", r#"{"pin":3,"value":0}"#),
    ("gpio/7", "0", "gw-gpio", r#"{"pin":7,"value":0}"#),
    ("gpio/7", "1", "gw-gpio", r#"{"pin":7,"value":1}"#),
    ("cellinfo", "262 7 1451 35", "gw-cellinfo", r#"{"mcc":262,"mnc":7,"lac":1451,"cid":35}"#),
    (
        "operators",
        "26207 +22801 +22802 +22803 -26201 -22602 -26203 ?33301",
        "gw-operators",
        concat!(
            r#"{"current":"26207","operators":["#,
            r#"{"plmn":"26207","mcc":"262","mnc":"07","state":"current"},"#,
            r#"{"plmn":"22801","mcc":"228","mnc":"01","state":"allowed"},"#,
            r#"{"plmn":"22802","mcc":"228","mnc":"02","state":"allowed"},"#,
            r#"{"plmn":"22803","mcc":"228","mnc":"03","state":"allowed"},"#,
            r#"{"plmn":"26201","mcc":"262","mnc":"01","state":"forbidden"},"#,
            r#"{"plmn":"22602","mcc":"226","mnc":"02","state":"forbidden"},"#,
            r#"{"plmn":"26203","mcc":"262","mnc":"03","state":"forbidden"},"#,
            r#"{"plmn":"33301","mcc":"333","mnc":"01","state":"unknown"}]}"#,
        ),
    ),
    (
        "operators",
        "26201 +26202",
        "gw-operators",
        concat!(
            r#"{"current":"26201","operators":["#,
            r#"{"plmn":"26201","mcc":"262","mnc":"01","state":"current"},"#,
            r#"{"plmn":"26202","mcc":"262","mnc":"02","state":"allowed"}]}"#,
        ),
    ),
    (
        "operators",
        "26202 +26201 +26203 +26207",
        "gw-operators",
        concat!(
            r#"{"current":"26202","operators":["#,
            r#"{"plmn":"26202","mcc":"262","mnc":"02","state":"current"},"#,
            r#"{"plmn":"26201","mcc":"262","mnc":"01","state":"allowed"},"#,
            r#"{"plmn":"26203","mcc":"262","mnc":"03","state":"allowed"},"#,
            r#"{"plmn":"26207","mcc":"262","mnc":"07","state":"allowed"}]}"#,
        ),
    ),
    (
        "operators",
        "+310410 310260",
        "gw-operators",
        concat!(
            r#"{"operators":["#,
            r#"{"plmn":"310410","mcc":"310","mnc":"410","state":"allowed"},"#,
            r#"{"plmn":"310260","mcc":"310","mnc":"260","state":"listed"}]}"#,
        ),
    ),
    (
        "operators/26201",
        "T-Mobile (DE)",
        "gw-operator-name",
        r#"{"plmn":"26201","name":"T-Mobile (DE)"}"#,
    ),
    (
        "operators/26202",
        "Vodafone (DE)",
        "gw-operator-name",
        r#"{"plmn":"26202","name":"Vodafone (DE)"}"#,
    ),
    ("cmd", "login xxx", "gw-cmd", r#"{"command":"login ***","verb":"login"}"#),
    ("cmd", "login 123456", "gw-cmd", r#"{"command":"login ***","verb":"login"}"#),
    ("cmd", "LOGIN  two words", "gw-cmd", r#"{"command":"LOGIN ***","verb":"LOGIN"}"#),
    ("cmd", "login", "gw-cmd", r#"{"command":"login","verb":"login"}"#),
    ("cmd", "login=GWPASS6", "gw-cmd", r#"{"command":"login=***","verb":"login"}"#),
    ("cmd", "set pass=GWPASS4", "gw-cmd", r#"{"command":"set pass=***","verb":"set"}"#),
    ("cmd", "set pass GWPASS5", "gw-cmd", r#"{"command":"set pass ***","verb":"set"}"#),
    ("cmd", "SET Password  GWPASS3", "gw-cmd", r#"{"command":"SET Password ***","verb":"SET"}"#),
    ("cmd", "set interval=60", "gw-cmd", r#"{"command":"set interval=60","verb":"set"}"#),
    ("cmd/out", "pass=GWPASS7", "gw-cmd-out", r#"{"line":"pass=***","key":"pass","value":"***"}"#),
    ("cmd", "out 1 0", "gw-cmd", r#"{"command":"out 1 0","verb":"out"}"#),
    ("cmd", "state", "gw-cmd", r#"{"command":"state","verb":"state"}"#),
    (
        "cmd/out",
        "NACK: incorrect login",
        "gw-cmd-out",
        r#"{"line":"NACK: incorrect login","nack":"incorrect login"}"#,
    ),
    ("cmd/out", "NUMSAT=10", "gw-cmd-out", r#"{"line":"NUMSAT=10","key":"NUMSAT","value":"10"}"#),
    ("cmd/out", "BEARER=3", "gw-cmd-out", r#"{"line":"BEARER=3","key":"BEARER","value":"3"}"#),
    ("cmd/out", "GPRS=1", "gw-cmd-out", r#"{"line":"GPRS=1","key":"GPRS","value":"1"}"#),
    ("cmd/out", "CREG=5", "gw-cmd-out", r#"{"line":"CREG=5","key":"CREG","value":"5"}"#),
    ("cmd/out", "CGREG=5", "gw-cmd-out", r#"{"line":"CGREG=5","key":"CGREG","value":"5"}"#),
    ("cmd/out", "BATT=4.4", "gw-cmd-out", r#"{"line":"BATT=4.4","key":"BATT","value":"4.4"}"#),
    ("cmd/out", "EXTV=12.2", "gw-cmd-out", r#"{"line":"EXTV=12.2","key":"EXTV","value":"12.2"}"#),
    ("cmd/out", "Q=0", "gw-cmd-out", r#"{"line":"Q=0","key":"Q","value":"0"}"#),
    ("cmd/out", "CONN=1", "gw-cmd-out", r#"{"line":"CONN=1","key":"CONN","value":"1"}"#),
    ("cmd/out", "NETW=1", "gw-cmd-out", r#"{"line":"NETW=1","key":"NETW","value":"1"}"#),
    (
        "cmd/out",
        r#"OPER="Provider""#,
        "gw-cmd-out",
        r#"{"line":"OPER=\"Provider\"","key":"OPER","value":"Provider"}"#,
    ),
    (
        "cmd/out",
        "WAKEUP=IgnitionWakeup",
        "gw-cmd-out",
        r#"{"line":"WAKEUP=IgnitionWakeup","key":"WAKEUP","value":"IgnitionWakeup"}"#,
    ),
    (
        "cmd/out",
        "DATE=2014-08-28 15:02:40",
        "gw-cmd-out",
        r#"{"line":"DATE=2014-08-28 15:02:40","key":"DATE","value":"2014-08-28 15:02:40"}"#,
    ),
    ("cmd/out", "a = b", "gw-cmd-out", r#"{"line":"a = b"}"#),
    ("cmd/out", "=1", "gw-cmd-out", r#"{"line":"=1"}"#),
    ("obd2/000007e8/03", "00", "gw-obd2", r#"{"canid":"000007e8","mode":"03","data":"00"}"#),
    (
        "obd2/000007e8/09",
        "01 0 1",
        "gw-obd2",
        r#"{"canid":"000007e8","mode":"09","data":"01 0 1"}"#,
    ),
    (
        "obd2/000007E9/02/0105/0133",
        "82",
        "gw-obd2",
        r#"{"canid":"000007E9","mode":"02","pid":"0105","path":"0133","data":"82"}"#,
    ),
    (
        "obd2/000007e8/02/01/02/03",
        "ff",
        "gw-obd2",
        r#"{"canid":"000007e8","mode":"02","pid":"01","path":"02/03","data":"ff"}"#,
    ),
    ("fms/timedate", "1c1e0f08341d", "gw-fms", r#"{"name":"timedate","data":"1c1e0f08341d"}"#),
    ("fms/vehicleid", "57564d", "gw-fms", r#"{"name":"vehicleid","data":"57564d"}"#),
    ("fms/driverid", "4a4f", "gw-fms", r#"{"name":"driverid","data":"4a4f"}"#),
    ("fms/data/maxspeed", "5a", "gw-fms", r#"{"name":"maxspeed","data":"5a"}"#),
    ("fms/data/fuellevel", "80", "gw-fms", r#"{"name":"fuellevel","data":"80"}"#),
    (
        "raw",
        "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
        "gw-raw",
        concat!(
            r#"{"sentence":"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,"#,
            r#"003.1,W*6A","checksum_ok":true}"#,
        ),
    ),
    (
        "raw",
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n",
        "gw-raw",
        concat!(
            r#"{"sentence":"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"#,
            r#"*47","checksum_ok":true}"#,
        ),
    ),
    (
        "raw",
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48",
        "gw-raw",
        concat!(
            r#"{"sentence":"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"#,
            r#"*48","checksum_ok":false}"#,
        ),
    ),
    ("raw", "$GPGSV,1,1,00*7", "gw-raw", r#"{"sentence":"$GPGSV,1,1,00*7"}"#),
    ("raw", "GPRMC,1*00", "gw-raw", r#"{"sentence":"GPRMC,1*00"}"#),
    (
        "log/E",
        "GPS fix lost after 30 s",
        "gw-log",
        r#"{"level":"E","component":"GPS","message":"fix lost after 30 s"}"#,
    ),
    ("log/I", "boot", "gw-log", r#"{"level":"I","component":"boot","message":""}"#),
    (
        "log/D",
        "MQTT  connected",
        "gw-log",
        r#"{"level":"D","component":"MQTT","message":"connected"}"#,
    ),
    // An Activo job box, through the device's serial proxy (o2s's job tracking).
    ("proxy/jobs/active", "3", "gw-job", r#"{"event":"active","job":3}"#),
    ("proxy/jobs/active", "0\n", "gw-job", r#"{"event":"active","job":0}"#),
    (
        "proxy/jobs/currentjob/1430726400",
        "3 2 1 4",
        "gw-job",
        r#"{"event":"current","tst":1430726400,"job":3,"task":2,"place":1,"machine":4}"#,
    ),
    (
        "proxy/jobs/3",
        "Delivery",
        "gw-job",
        r#"{"event":"name","of":"job","id":3,"name":"Delivery"}"#,
    ),
    (
        "proxy/jobs/job/3",
        "Gravel run",
        "gw-job",
        r#"{"event":"name","of":"job","id":3,"name":"Gravel run"}"#,
    ),
    (
        "proxy/jobs/job/3/2",
        "Unload",
        "gw-job",
        r#"{"event":"name","of":"task","job":3,"id":2,"name":"Unload"}"#,
    ),
    (
        "proxy/jobs/place/1",
        "North quarry",
        "gw-job",
        r#"{"event":"name","of":"place","id":1,"name":"North quarry"}"#,
    ),
    (
        "proxy/jobs/machine/4",
        "Excavator",
        "gw-job",
        r#"{"event":"name","of":"machine","id":4,"name":"Excavator"}"#,
    ),
];

/// The 30 OBD-II values of the manual (`obd2/000007e8/01/<pid>`).
const MODE_01: &[(&str, &str)] = &[
    ("00", "983ba013"),
    ("01", "000eeb00"),
    ("04", "8c"),
    ("05", "82"),
    ("0b", "66"),
    ("0c", "0ee0"),
    ("0d", "03"),
    ("0f", "35"),
    ("10", "03aa"),
    ("11", "6b"),
    ("13", "01"),
    ("1c", "06"),
    ("1f", "0517"),
    ("20", "a001b001"),
    ("21", "0000"),
    ("34", "0dc380f0"),
    ("40", "ccd20001"),
    ("41", "000eeb01"),
    ("42", "3930"),
    ("45", "ff"),
    ("46", "32"),
    ("49", "3a"),
    ("4a", "42"),
    ("4c", "ff"),
    ("4f", "20000000"),
    ("60", "02800301"),
    ("67", "018200"),
    ("77", "0367470000"),
    ("80", "29200000"),
];

fn decoded(subtopic: &str, payload: &[u8]) -> (&'static str, String) {
    let text = parse_text(subtopic, payload).unwrap().unwrap();
    (text.kind, serde_json::to_string(&text.value).unwrap())
}

#[test]
fn documented_payloads_decode_to_exact_values() {
    for (subtopic, payload, kind, json) in DECODED {
        let got = decoded(subtopic, payload.as_bytes());
        assert_eq!(got, (*kind, json.to_string()), "{subtopic} {payload:?}");
    }
}

#[test]
fn manual_obd2_values_decode_to_exact_values() {
    assert_eq!(MODE_01.len() + 1, 30, "the manual's 30 samples include mode 03 above");
    for (pid, data) in MODE_01 {
        let subtopic = format!("obd2/000007e8/01/{pid}");
        let want = format!(r#"{{"canid":"000007e8","mode":"01","pid":"{pid}","data":"{data}"}}"#);
        assert_eq!(decoded(&subtopic, data.as_bytes()), ("gw-obd2", want), "{subtopic}");
    }
}

#[test]
fn other_subtopics_are_not_greenwich_text() {
    let cases = [
        ("", "X0,542A46AA,k,30365854,7575769,26,4,7,5,872"),
        ("event", r#"{"_type":"transition"}"#),
        ("waypoint", r#"{"_type":"waypoint"}"#),
        ("waypoints", r#"{"_type":"waypoints"}"#),
        ("alarm", r#"{"_type": "location",  "t": "a"}"#),
        ("hw", "Cinterion,EGS5-X,REVISION 02.004"),
        ("sw/gw", "02.16B,02.01,02.16"),
        ("proxy/jobs/currentjob", "3"),
        ("proxy/jobs/jobs/3", "3"),
        ("proxy/jobs/-3", "Delivery"),
        ("proxy/serial", "led-on"),
        ("voltage", "4.4"),
        ("voltage/solar", "4.4"),
        ("temperature", "4.4"),
        ("temperature/0/1", "4.4"),
        ("gpio/1/2", "1"),
        ("status/1", "1"),
        ("cmd/in", "state"),
        ("cmd/out/1", "Q=0"),
        ("obd2", "00"),
        ("obd2/000007e8", "00"),
        ("fms", "5a"),
        ("fms/data", "5a"),
        ("fms/data/speed0/1", "5a"),
        ("log", "GPS lost"),
        ("log/X", "GPS lost"),
        ("log/e", "GPS lost"),
        ("Status", "1"),
    ];
    for (subtopic, payload) in cases {
        assert_eq!(parse_text(subtopic, payload.as_bytes()), Ok(None), "{subtopic}");
    }
    // Routing comes first: an unknown subtopic is not judged on its payload.
    assert_eq!(parse_text("event", b"\xff"), Ok(None));
}

#[test]
fn bad_payloads_and_levels_are_named() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("status", b"\xff\xfe1", "greenwich status payload \"\u{fffd}\u{fffd}1\" is not UTF-8"),
        ("info", b" \r\n\t", "greenwich info payload is empty"),
        ("cmd/out", b"", "greenwich cmd/out payload is empty"),
        ("status", b"2", r#"greenwich status "2" is not a status 1, 0 or -1"#),
        ("status", b"+1", r#"greenwich status "+1" is not a status 1, 0 or -1"#),
        ("voltage/ext", b"12,2", r#"greenwich voltage/ext "12,2" is not a number of volts"#),
        ("voltage/batt", b"NaN", r#"greenwich voltage/batt "NaN" is not a number of volts"#),
        ("voltage/batt", b"inf", r#"greenwich voltage/batt "inf" is not a number of volts"#),
        (
            "voltage/ext",
            b"-infinity",
            r#"greenwich voltage/ext "-infinity" is not a number of volts"#,
        ),
        (
            "voltage/ext",
            b"4.<2..6>",
            r#"greenwich voltage/ext "4.<2..6>" is not a number of volts"#,
        ),
        (
            "temperature/0",
            b"24.82C",
            r#"greenwich temperature/0 "24.82C" is not a temperature in degrees Celsius"#,
        ),
        (
            "temperature/256",
            b"1",
            r#"greenwich temperature/256 "256" is not a sensor number from 0 to 255"#,
        ),
        ("gpio/7", b"x", r#"greenwich gpio/7 "x" is not a pin value 0 or 1"#),
        ("gpio/7", b"2", r#"greenwich gpio/7 "2" is not a pin value 0 or 1"#),
        ("gpio/x", b"1", r#"greenwich gpio/x "x" is not a pin number from 0 to 255"#),
        ("gpio/-1", b"1", r#"greenwich gpio/-1 "-1" is not a pin number from 0 to 255"#),
        (
            "start",
            b"123456789012345 0.8.1",
            concat!(
                r#"greenwich start "123456789012345 0.8.1" "#,
                "is not an IMEI, a version and a start time",
            ),
        ),
        (
            "start",
            b"123456789012345",
            r#"greenwich start "123456789012345" is not an IMEI, a version and a start time"#,
        ),
        (
            "cellinfo",
            b"262 7 1451",
            r#"greenwich cellinfo "262 7 1451" is not four decimal numbers MCC MNC LAC CellID"#,
        ),
        (
            "cellinfo",
            b"262 7 5a3 35",
            concat!(
                r#"greenwich cellinfo "262 7 5a3 35" "#,
                "is not four decimal numbers MCC MNC LAC CellID",
            ),
        ),
        (
            "operators",
            b"26207 +2280",
            r#"greenwich operators "2280" is not a network code of 5 or 6 digits"#,
        ),
        (
            "operators",
            b"26207 *22801",
            r#"greenwich operators "*22801" is not a network code of 5 or 6 digits"#,
        ),
        (
            "operators/T-Mobile",
            b"T-Mobile (DE)",
            r#"greenwich operators/T-Mobile "T-Mobile" is not a network code of 5 or 6 digits"#,
        ),
        (
            "obd2/7e8g/01/0c",
            b"0ee0",
            r#"greenwich obd2/7e8g/01/0c "7e8g" is not a hexadecimal CAN id"#,
        ),
        (
            "obd2/000007e8/x1/0c",
            b"0ee0",
            r#"greenwich obd2/000007e8/x1/0c "x1" is not a hexadecimal OBD-II mode"#,
        ),
        (
            "obd2/000007e8/01/rpm",
            b"0ee0",
            r#"greenwich obd2/000007e8/01/rpm "rpm" is not a hexadecimal OBD-II PID"#,
        ),
        ("obd2//01", b"00", r#"greenwich obd2//01 "" is not a hexadecimal CAN id"#),
        (
            "fms/data/max speed",
            b"5a",
            r#"greenwich fms/data/max speed "max speed" is not an FMS value name"#,
        ),
        ("fms/", b"5a", r#"greenwich fms/ "" is not an FMS value name"#),
        (
            "proxy/jobs/active",
            b"three",
            r#"greenwich proxy/jobs/active "three" is not a job number (0 for none)"#,
        ),
        (
            "proxy/jobs/active",
            b"-1",
            r#"greenwich proxy/jobs/active "-1" is not a job number (0 for none)"#,
        ),
        (
            "proxy/jobs/currentjob/soon",
            b"3 2 1 4",
            r#"greenwich proxy/jobs/currentjob/soon "soon" is not a time in seconds since 1970"#,
        ),
        (
            "proxy/jobs/currentjob/1430726400",
            b"3 2 1",
            r#"greenwich proxy/jobs/currentjob/1430726400 "3 2 1" is not four numbers: job task place machine"#,
        ),
        (
            "proxy/jobs/place/x",
            b"Yard",
            r#"greenwich proxy/jobs/place/x "x" is not a job, place or machine number"#,
        ),
        (
            "proxy/jobs/job/3/two",
            b"Unload",
            r#"greenwich proxy/jobs/job/3/two "two" is not a task number"#,
        ),
        (
            "proxy/jobs/job/3",
            b"Gravel\x07run",
            r#"greenwich proxy/jobs/job/3 "Gravel\u{7}run" is not a name of at most 200 characters on one line"#,
        ),
    ];
    for (subtopic, payload, message) in cases {
        let error = parse_text(subtopic, payload).unwrap_err();
        assert_eq!(error.to_string(), *message, "{subtopic} {payload:?}");
    }
}

#[test]
fn long_texts_are_shortened_in_errors() {
    let long = "9".repeat(200) + ",5";
    let shown = "9".repeat(79) + "…";
    let want = GreenwichTextError::Invalid {
        subtopic: "voltage/ext".into(),
        text: shown.clone(),
        expected: "a number of volts",
    };
    assert_eq!(parse_text("voltage/ext", long.as_bytes()), Err(want));
    let cases = [("", ""), ("abc", "abc"), (&long[..80], &long[..80]), (&long[..81], &shown)];
    for (text, want) in cases {
        assert_eq!(shorten(text), want, "{text}");
    }
    assert_eq!(shorten(&"é".repeat(81)).chars().count(), 80);
}
