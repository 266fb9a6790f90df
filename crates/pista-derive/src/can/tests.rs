//! Table tests for `describe` (the original's sample decodes first, then every formula family,
//! the corrected behaviours and malformed payloads), DTC decoding, and a property test that no
//! subtopic or payload makes the decoders panic.

use proptest::prelude::*;

use super::{Dtc, decode_dtc, describe, dtc_description};

const ECU: &str = "obd2/000007e8";

/// The sample decodes of seed-inventory §2.7, run through the original decoder. Two rows
/// differ on purpose: PID 00 lists the supported PIDs instead of "TODO 983ba013", and PID 1c
/// value 6 is "EOBD (Europe)" (the original's table was off by one and printed the name of 7).
const SAMPLES: &[(&str, &str, &str)] = &[
    ("01/04", "8c", "Calculated Engine Load Value: 54%"),
    ("01/05", "82", "Engine Coolant Temparature: 90 degrees C"),
    ("01/0c", "0ee0", "Engine RPM: 952 rpm"),
    ("01/0d", "03", "Vehicle Speed: 3 km/h"),
    ("01/10", "03aa", "MAF air flow rate 9.380000 grams/sec"),
    ("01/1c", "06", "OBD standards this vehicle conforms to: EOBD (Europe)"),
    ("01/42", "3930", "Control module voltage: 14.640000 V"),
    ("01/00", "983ba013", "PIDs supported bitmap: 01 04 05 0b 0c 0d 0f 10 11 13 1c 1f 20"),
    (
        "03",
        "0201330420",
        "DTCs (2): P0133 - O2 Sensor Circuit Slow Response (Bank 1 Sensor 1), \
         P0420 - Catalyst System Efficiency Below Threshold (Bank 1)",
    ),
    ("09/02", "5756575a5a5a314b5a3657313233343536", "VIN: WVWZZZ1KZ6W123456"),
];

const FMS_SAMPLES: &[(&str, &str, &str)] = &[
    ("fms/data/maxspeed", "5a", "Maximum Speed = 90 km/h"),
    ("fms/data/fuellevel", "80", "Fuel Level = 51.200000 %"),
    ("fms/data/selectedgear", "7d", "Selected Gear = N"),
    ("fms/vehicleid", "57564d", "Vehicle ID = WVM"),
];

/// OBD-II rows beyond the samples: (levels after the CAN id, payload, text).
const OBD: &[(&str, &str, &str)] = &[
    ("01/01", "000eeb00", "Monitor Status since DTCs cleared: 0 ___"),
    ("01/01", "83076500", "Monitor Status since DTCs cleared: 3 MIL"),
    ("01/01", "00008000", "Monitor Status since DTCs cleared: 0 ___"),
    ("01/01", "7f000000", "Monitor Status since DTCs cleared: 127 ___"),
    ("01/02", "0133", "Freeze DTC: P0133 - O2 Sensor Circuit Slow Response (Bank 1 Sensor 1)"),
    ("01/02", "0000", "Freeze DTC: none"),
    ("01/03", "0200", "Fuel system status: system 1 closed loop, system 2 not present"),
    ("01/03", "01", "Fuel system status: system 1 open loop (engine cold)"),
    ("01/06", "80", "Short Term Fuel Trim Bank 1: 0.000000%"),
    ("01/07", "64", "Long Term Fuel Trim Bank 1: -21.875000%"),
    ("01/08", "00", "Short Term Fuel Trim Bank 2: -100.000000%"),
    ("01/09", "ff", "Long Term Fuel Trim Bank 2: 99.218750%"),
    ("01/0a", "20", "Fuel Pressure: 96 kPa"),
    ("01/0b", "66", "Intake Manifold Absolute Pressure: 102 kPa"),
    ("01/0e", "8c", "Timing Advance: 6.000000 degrees before TDC"),
    ("01/0e", "7f", "Timing Advance: -0.500000 degrees before TDC"),
    ("01/0f", "35", "Intake Air Temperature: 13 degrees C"),
    ("01/11", "6b", "Throttle Position: 41%"),
    ("01/12", "04", "Commanded Secondary Air Status: from the outside atmosphere or off"),
    ("01/13", "33", "Oxygen Sensors Present: B1S1 B1S2 B2S1 B2S2"),
    ("01/1d", "33", "Oxygen Sensors Present: B1S1 B1S2 B3S1 B3S2"),
    ("01/13", "00", "Oxygen Sensors Present: none"),
    ("01/14", "5a80", "Oxygen Sensor 1: 0.450000 V, short term fuel trim 0.000000%"),
    ("01/1b", "5aff", "Oxygen Sensor 8: 0.450000 V, not used for fuel trim"),
    ("01/1c", "07", "OBD standards this vehicle conforms to: EOBD and OBD-II"),
    ("01/1c", "0e", "OBD standards this vehicle conforms to: Reserved"),
    ("01/1c", "00", "OBD standards this vehicle conforms to: Reserved"),
    (
        "01/1c",
        "21",
        "OBD standards this vehicle conforms to: Heavy Duty Euro OBD Stage VI (HD EOBD-IV)",
    ),
    ("01/1c", "fb", "OBD standards this vehicle conforms to: Not available for assignment"),
    ("01/1e", "01", "Auxiliary Input Status: PTO active"),
    ("01/1e", "02", "Auxiliary Input Status: PTO inactive"),
    ("01/1f", "0517", "Run Time Since Engine Start: 1303 s"),
    ("01/20", "a001b001", "PIDs supported bitmap: 21 23 30 31 33 34 40"),
    ("01/21", "0000", "Distance Traveled with MIL on: 0 km"),
    ("01/22", "0100", "Fuel Rail Pressure (relative to manifold vacuum): 20.224000 kPa"),
    ("01/23", "0100", "Fuel Rail Gauge Pressure: 2560 kPa"),
    ("01/24", "80000800", "Oxygen Sensor 1 (wide range): equivalence ratio 1.000000, 0.250000 V"),
    ("01/34", "0dc380f0", "Oxygen Sensor 1 (wide range): equivalence ratio 0.107513, 0.937500 mA"),
    ("01/2c", "ff", "Commanded EGR: 100%"),
    ("01/2d", "80", "EGR Error: 0.000000%"),
    ("01/30", "17", "Warm-ups Since Codes Cleared: 23"),
    ("01/32", "fffc", "Evap. System Vapor Pressure: -1.000000 Pa"),
    ("01/3c", "1234", "Catalyst Temperature Bank 1 Sensor 1: 426.000000 degrees C"),
    ("01/40", "ccd20001", "PIDs supported bitmap: 41 42 45 46 49 4a 4c 4f 60"),
    ("01/41", "000eeb01", "Monitor Status this Drive Cycle: 000eeb01"),
    ("01/43", "0100", "Absolute Load Value: 100%"),
    ("01/44", "8000", "Commanded Equivalence Ratio: 1.000000"),
    ("01/45", "ff", "Relative Throttle Position: 100%"),
    ("01/46", "32", "Ambient Air Temperature: 10 degrees C"),
    ("01/49", "3a", "Accelerator Pedal Position D: 22%"),
    ("01/4d", "003c", "Time Run with MIL on: 60 min"),
    (
        "01/4f",
        "20000000",
        "Maximum Values: equivalence ratio 32, O2 sensor voltage 0 V, O2 sensor current 0 mA, \
         intake manifold absolute pressure 0 kPa",
    ),
    (
        "01/4f",
        "0a1419ff",
        "Maximum Values: equivalence ratio 10, O2 sensor voltage 20 V, O2 sensor current 25 mA, \
         intake manifold absolute pressure 2550 kPa",
    ),
    ("01/50", "0f000000", "Maximum MAF air flow rate: 150 grams/sec"),
    ("01/51", "04", "Fuel Type: Diesel"),
    ("01/53", "0190", "Absolute Evap System Vapor Pressure: 2.000000 kPa"),
    ("01/54", "0000", "Evap System Vapor Pressure: -32767 Pa"),
    ("01/55", "7a86", "Short Term Secondary O2 Trim Bank 1/3: -4.687500%, 4.687500%"),
    ("01/58", "7a", "Long Term Secondary O2 Trim Bank 2/4: -4.687500%"),
    ("01/5c", "5a", "Engine Oil Temperature: 50 degrees C"),
    ("01/5d", "6900", "Fuel Injection Timing: 0.000000 degrees"),
    ("01/5e", "0064", "Engine Fuel Rate: 5.000000 L/h"),
    ("01/60", "02800301", "PIDs supported bitmap: 67 69 77 78 80"),
    ("01/61", "7d", "Driver's Demand Engine Torque: 0%"),
    ("01/62", "af", "Actual Engine Torque: 50%"),
    ("01/63", "0190", "Engine Reference Torque: 400 Nm"),
    (
        "01/64",
        "7d8caaff00",
        "Engine Percent Torque Data: idle 0%, point 1 15%, point 2 45%, point 3 130%, \
         point 4 -125%",
    ),
    ("01/67", "018200", "Engine Coolant Temperature Sensors: 018200"),
    ("01/6a", "00", "Commanded Diesel Intake Air Flow: 00"),
    ("01/6A", "00", "Commanded Diesel Intake Air Flow: 00"),
    ("01/77", "0367470000", "Charge Air Cooler Temperature: 0367470000"),
    ("01/80", "29200000", "PIDs supported bitmap: 83 85 88 8b"),
    ("01/c0", "00000000", "PIDs supported bitmap: none"),
    ("01/0C", "0EE0", "Engine RPM: 952 rpm"),
    ("02/0c", "0ee0", "Engine RPM: 952 rpm"),
    ("02/0c/0133", "0ee0", "Engine RPM: 952 rpm"),
    ("03", "01c100", "DTCs (1): U0100 - Lost Communication with ECM/PCM \"A\""),
    (
        "03",
        "0301334123abcd",
        "DTCs (3): P0133 - O2 Sensor Circuit Slow Response (Bank 1 Sensor 1), \
         C0123 - unknown, B2BCD - unknown",
    ),
    ("09/00", "55400000", "PIDs supported bitmap: 02 04 06 08 0a"),
    ("09/01", "05", "VIN message count: 5"),
    ("09/02", "0000005756575a5a5a314b5a3657313233343536", "VIN: WVWZZZ1KZ6W123456"),
    ("09/03", "01", "Calibration ID message count: 1"),
    ("09/04", "4a4d422a3336373631353030", "Calibration ID: JMB*36761500"),
    ("09/05", "01", "CVN message count: 1"),
    ("09/06", "1791bc82", "CVN: 1791bc82"),
];

/// FMS rows beyond the samples.
const FMS: &[(&str, &str, &str)] = &[
    ("fms/timedate", "141e0c0b301d", "Date = 2014-11-12 12:30:5"),
    ("fms/driverid", "4a4f4c4945", "Driver ID = JOLIE"),
    ("fms/data/fmssw", "30332e3031", "FMS Software Version = 03.01"),
    ("fms/data/speed16", "e803", "Speed Counter 16 = 1000"),
    ("fms/data/rpm801", "0100", "RPM Counter 801 = 1"),
    ("fms/data/pedal80", "0001", "Pedal Counter 80 = 256"),
    ("fms/data/brakes", "0a00", "Brake Counter = 10"),
    ("fms/data/cruise", "ffff", "Cruise Control Counter = 65535"),
    ("fms/data/pto", "0000", "PTO Counter = 0"),
    ("fms/data/totalfuel", "10270000", "Total Fuel Used = 5000.000000 L"),
    ("fms/data/enginehours", "10270000", "Engine Hours = 500.000000 h"),
    ("fms/data/totaldist", "40420f00", "Total Distance = 5000.000000 km"),
    ("fms/data/axlesweight", "1027", "Axle Weight = 5000.000000 kg"),
    ("fms/data/coolingtemp", "5a", "Engine Coolant Temperature = 50 degrees C"),
    ("fms/data/engineload", "32", "Engine Load = 50 %"),
    ("fms/data/servicedist", "7f7d", "Service Distance = 0 km"),
    ("fms/data/servicedist", "ffa0", "Service Distance = 45440 km"),
    ("fms/data/servicedist", "0000", "Service Distance = -160635 km"),
    ("fms/data/tachodata", "0a0b", "Tachograph Data = 0a0b"),
    ("fms/data/tachospeed", "0050", "Tachograph Speed = 80.000000 km/h"),
    ("fms/data/fuelrate", "6400", "Fuel Rate = 5.000000 L/h"),
    ("fms/data/fuelecon", "0010", "Fuel Economy = 8.000000 km/L"),
    ("fms/data/currentgear", "7e", "Current Gear = 1"),
    ("fms/data/currentgear", "7c", "Current Gear = -1"),
    ("fms/data/selectedgear", "fb", "Selected Gear = P"),
    ("FMS/DATA/MAXSPEED", "5A", "Maximum Speed = 90 km/h"),
];

/// Subtopics and payloads with nothing better than the raw payload.
const RAW: &[(&str, &str)] = &[
    ("obd2/000007e8/01/0c", "0ee"),
    ("obd2/000007e8/01/0c", "zzzz"),
    ("obd2/000007e8/01/0c", ""),
    ("obd2/000007e8/01/0c", "0e"),
    ("obd2/000007e8/01/0c", "0ee000"),
    ("obd2/000007e8/01/01", "0000"),
    ("obd2/000007e8/01/02", "01"),
    ("obd2/000007e8/01/03", "03"),
    ("obd2/000007e8/01/12", "03"),
    ("obd2/000007e8/01/51", "18"),
    ("obd2/000007e8/01/64", "7d8caaff"),
    ("obd2/000007e8/01/67", "01820"),
    ("obd2/000007e8/01/90", "00"),
    ("obd2/000007e8/01/zz", "00"),
    ("obd2/000007e8/01/100", "00"),
    ("obd2/000007e8/01", "00"),
    ("obd2/000007e8/05/0c", "0ee0"),
    ("obd2/000007e8/03", "00"),
    ("obd2/000007e8/03", "02013304"),
    ("obd2/000007e8/03", "0101330420"),
    ("obd2/000007e8/09", "01 30 1"),
    ("obd2/000007e8/09/02", "ff41"),
    ("obd2/000007e8/09/02", "0000"),
    ("obd2/000007e8/09/07", "00"),
    ("obd2", "00"),
    ("fms/timedate", "141e0c0b001d"),
    ("fms/timedate", "141e0c0b30"),
    ("fms/data/totalfuel", "1027"),
    ("fms/data/selectedgear", "ff"),
    ("fms/data/speedx", "0100"),
    ("fms/data/speed", "0100"),
    ("fms/data/unknown", "00"),
    ("fms/data/maxspeed/extra", "5a"),
    ("fms/vehicleid", "0a41"),
    ("fms", "5a"),
    ("gpio/7", "1"),
    ("", ""),
];

#[test]
fn obd_rows_give_their_texts() {
    for &(levels, payload, text) in SAMPLES.iter().chain(OBD) {
        let subtopic = format!("{ECU}/{levels}");
        assert_eq!(describe(&subtopic, payload).as_deref(), Some(text), "{subtopic} {payload}");
    }
}

#[test]
fn fms_rows_give_their_texts() {
    for &(subtopic, payload, text) in FMS_SAMPLES.iter().chain(FMS) {
        assert_eq!(describe(subtopic, payload).as_deref(), Some(text), "{subtopic} {payload}");
    }
}

#[test]
fn malformed_or_unknown_values_give_none() {
    for &(subtopic, payload) in RAW {
        assert_eq!(describe(subtopic, payload), None, "{subtopic} {payload:?}");
    }
}

#[test]
fn dtc_codes_are_read_as_hex() {
    let cases = [
        ("0133", "P0133"),
        ("0420", "P0420"),
        ("4123", "C0123"),
        ("c100", "U0100"),
        ("C100", "U0100"),
        ("8100", "B0100"),
        ("1234", "P1234"),
        ("3fff", "P3FFF"),
        ("abcd", "B2BCD"),
        ("ffff", "U3FFF"),
    ];
    for (hex, code) in cases {
        assert_eq!(decode_dtc(hex).map(Dtc::code).as_deref(), Some(code), "{hex}");
    }
    for bad in ["013", "01330", "01g3", "", "+133"] {
        assert_eq!(decode_dtc(bad), None, "{bad:?}");
    }
}

#[test]
fn dtcs_display_their_description_or_unknown() {
    let shown = |raw| Dtc::from_raw(raw).to_string();
    assert_eq!(shown(0x0420), "P0420 - Catalyst System Efficiency Below Threshold (Bank 1)");
    assert_eq!(shown(0x0139), "P0139 - O2 Sensor Circuit Slow Response (Bank 1 Sensor 2)");
    assert_eq!(shown(0x0171), "P0171 - System Too Lean (Bank 1)");
    assert_eq!(shown(0x1234), "P1234 - unknown");
    assert_eq!(dtc_description("p0133"), Some("O2 Sensor Circuit Slow Response (Bank 1 Sensor 1)"));
    assert_eq!(dtc_description("P013"), None);
    assert_eq!(Dtc::from_raw(0xc100).raw(), 0xc100);
}

#[test]
fn the_pid_table_is_sorted_for_binary_search() {
    let ids: Vec<u8> = super::pids::PIDS.iter().map(|p| p.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:02x?}");
}

fn hex_payload() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..24)
        .prop_map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn known_subtopic() -> impl Strategy<Value = String> {
    let pid = any::<u8>().prop_map(|p| format!("{p:02x}"));
    let mode = prop::sample::select(vec!["01", "02", "03", "09", "0A", "1"]);
    let fms = prop::sample::select(vec![
        "timedate",
        "vehicleid",
        "fmssw",
        "speed0",
        "rpm1701",
        "pedal40",
        "totalfuel",
        "servicedist",
        "selectedgear",
        "currentgear",
        "tachodata",
        "fuelecon",
        "speed",
    ]);
    prop_oneof![
        (mode, pid).prop_map(|(m, p)| format!("obd2/000007e8/{m}/{p}")),
        fms.prop_map(|name| format!("fms/data/{name}")),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(subtopic in "\\PC{0,40}", payload in "\\PC{0,40}") {
        let _ = describe(&subtopic, &payload);
        let _ = decode_dtc(&payload);
        let _ = dtc_description(&payload);
    }

    #[test]
    fn near_miss_topics_never_panic(
        subtopic in "(obd2|fms|OBD2)(/[0-9a-fA-FgG]{0,3}){0,5}",
        payload in "[0-9a-fA-F xZ]{0,40}",
    ) {
        let _ = describe(&subtopic, &payload);
    }

    #[test]
    fn known_topics_with_random_bytes_never_panic(
        subtopic in known_subtopic(),
        payload in hex_payload(),
        odd in any::<bool>(),
    ) {
        let payload = if odd { format!("{payload}f") } else { payload };
        let _ = describe(&subtopic, &payload);
    }
}
