//! The mode 01/02 PID table: for every PID we decode, the text before the value and how the
//! value is computed. Labels keep the original's wording where the sample decodes show it
//! (including its "Temparature"); the others follow the SAE J1979 parameter names.

/// How a PID's data bytes become a value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// Four bytes flagging which of the next 32 PIDs the ECU supports.
    Supported,
    /// Monitor status: MIL in bit 31, DTC count in bits 24–30 of four bytes.
    MonitorStatus,
    /// Two bytes: the DTC that stored the freeze frame (0000 = none).
    FreezeDtc,
    /// One or two bytes: state of fuel system 1 (and 2).
    FuelSystem,
    /// One byte: commanded secondary air status.
    SecondaryAir,
    /// One byte of present oxygen sensors, laid out as `banks` banks.
    O2Present { banks: u8 },
    /// One byte: OBD standard the vehicle conforms to.
    Standards,
    /// One byte: PTO active in bit 0.
    Pto,
    /// One byte: fuel type.
    FuelType,
    /// Four bytes: maximum equivalence ratio, O2 voltage, O2 current and MAP.
    MaxValues,
    /// Four bytes: maximum MAF air flow rate in the first, ×10 g/s.
    MaxMaf,
    /// Five bytes: engine percent torque at idle and four points, each `A-125` %.
    TorqueData,
    /// `raw*100/255` truncated to an integer, printed `N%`.
    Percent { bytes: usize },
    /// `raw*mul/div + offset` in integers, then `unit` (which brings its own leading space).
    Int { bytes: usize, mul: i64, div: i64, offset: i64, unit: &'static str },
    /// `raw*mul/div + offset` as a float with six decimals, then `unit`.
    Float { bytes: usize, mul: f64, div: f64, offset: f64, unit: &'static str },
    /// Two bytes as a signed 16-bit value divided by `div`, six decimals, then `unit`.
    Signed { div: f64, unit: &'static str },
    /// One byte of fuel trim: `(A-128)*100/128` %, the same formula for PIDs 06–09.
    Trim,
    /// One or two bytes of secondary O2 trims (banks 1/3 or 2/4), each like [`Kind::Trim`].
    SecondaryTrim,
    /// Two bytes: O2 sensor voltage `A/200` V and short term fuel trim `(B-128)*100/128` %.
    O2Voltage,
    /// Four bytes: equivalence ratio `AB/32768` and voltage `CD/8192` V.
    O2WideVoltage,
    /// Four bytes: equivalence ratio `AB/32768` and current `CD/256 - 128` mA.
    O2WideCurrent,
    /// Any hex payload, printed as it came.
    Raw,
}

use Kind::{Float, Int, Percent, Raw};

/// One row of the table: the PID, the text before the value and the decoding.
pub(super) struct Pid {
    pub id: u8,
    pub label: &'static str,
    pub kind: Kind,
}

const fn pid(id: u8, label: &'static str, kind: Kind) -> Pid {
    Pid { id, label, kind }
}

const fn int(bytes: usize, mul: i64, div: i64, unit: &'static str) -> Kind {
    Int { bytes, mul, div, offset: 0, unit }
}

const fn offset(bytes: usize, offset: i64, unit: &'static str) -> Kind {
    Int { bytes, mul: 1, div: 1, offset, unit }
}

const fn float(bytes: usize, mul: f64, div: f64, offset: f64, unit: &'static str) -> Kind {
    Float { bytes, mul, div, offset, unit }
}

const PCT: Kind = Percent { bytes: 1 };
const TEMP: Kind = offset(1, -40, " degrees C");
const CAT_TEMP: Kind = float(2, 1.0, 10.0, -40.0, " degrees C");
const BITMAP: &str = "PIDs supported bitmap: ";

/// Modes 01 and 02, sorted by PID (a test checks the order).
pub(super) static PIDS: &[Pid] = &[
    pid(0x00, BITMAP, Kind::Supported),
    pid(0x01, "Monitor Status since DTCs cleared: ", Kind::MonitorStatus),
    pid(0x02, "Freeze DTC: ", Kind::FreezeDtc),
    pid(0x03, "Fuel system status: ", Kind::FuelSystem),
    pid(0x04, "Calculated Engine Load Value: ", PCT),
    pid(0x05, "Engine Coolant Temparature: ", TEMP),
    pid(0x06, "Short Term Fuel Trim Bank 1: ", Kind::Trim),
    pid(0x07, "Long Term Fuel Trim Bank 1: ", Kind::Trim),
    pid(0x08, "Short Term Fuel Trim Bank 2: ", Kind::Trim),
    pid(0x09, "Long Term Fuel Trim Bank 2: ", Kind::Trim),
    pid(0x0a, "Fuel Pressure: ", int(1, 3, 1, " kPa")),
    pid(0x0b, "Intake Manifold Absolute Pressure: ", int(1, 1, 1, " kPa")),
    pid(0x0c, "Engine RPM: ", int(2, 1, 4, " rpm")),
    pid(0x0d, "Vehicle Speed: ", int(1, 1, 1, " km/h")),
    pid(0x0e, "Timing Advance: ", float(1, 1.0, 2.0, -64.0, " degrees before TDC")),
    pid(0x0f, "Intake Air Temperature: ", TEMP),
    pid(0x10, "MAF air flow rate ", float(2, 1.0, 100.0, 0.0, " grams/sec")),
    pid(0x11, "Throttle Position: ", PCT),
    pid(0x12, "Commanded Secondary Air Status: ", Kind::SecondaryAir),
    pid(0x13, "Oxygen Sensors Present: ", Kind::O2Present { banks: 2 }),
    pid(0x14, "Oxygen Sensor 1: ", Kind::O2Voltage),
    pid(0x15, "Oxygen Sensor 2: ", Kind::O2Voltage),
    pid(0x16, "Oxygen Sensor 3: ", Kind::O2Voltage),
    pid(0x17, "Oxygen Sensor 4: ", Kind::O2Voltage),
    pid(0x18, "Oxygen Sensor 5: ", Kind::O2Voltage),
    pid(0x19, "Oxygen Sensor 6: ", Kind::O2Voltage),
    pid(0x1a, "Oxygen Sensor 7: ", Kind::O2Voltage),
    pid(0x1b, "Oxygen Sensor 8: ", Kind::O2Voltage),
    pid(0x1c, "OBD standards this vehicle conforms to: ", Kind::Standards),
    pid(0x1d, "Oxygen Sensors Present: ", Kind::O2Present { banks: 4 }),
    pid(0x1e, "Auxiliary Input Status: ", Kind::Pto),
    pid(0x1f, "Run Time Since Engine Start: ", int(2, 1, 1, " s")),
    pid(0x20, BITMAP, Kind::Supported),
    pid(0x21, "Distance Traveled with MIL on: ", int(2, 1, 1, " km")),
    pid(
        0x22,
        "Fuel Rail Pressure (relative to manifold vacuum): ",
        float(2, 0.079, 1.0, 0.0, " kPa"),
    ),
    pid(0x23, "Fuel Rail Gauge Pressure: ", int(2, 10, 1, " kPa")),
    pid(0x24, "Oxygen Sensor 1 (wide range): ", Kind::O2WideVoltage),
    pid(0x25, "Oxygen Sensor 2 (wide range): ", Kind::O2WideVoltage),
    pid(0x26, "Oxygen Sensor 3 (wide range): ", Kind::O2WideVoltage),
    pid(0x27, "Oxygen Sensor 4 (wide range): ", Kind::O2WideVoltage),
    pid(0x28, "Oxygen Sensor 5 (wide range): ", Kind::O2WideVoltage),
    pid(0x29, "Oxygen Sensor 6 (wide range): ", Kind::O2WideVoltage),
    pid(0x2a, "Oxygen Sensor 7 (wide range): ", Kind::O2WideVoltage),
    pid(0x2b, "Oxygen Sensor 8 (wide range): ", Kind::O2WideVoltage),
    pid(0x2c, "Commanded EGR: ", PCT),
    pid(0x2d, "EGR Error: ", Kind::Trim),
    pid(0x2e, "Commanded Evaporative Purge: ", PCT),
    pid(0x2f, "Fuel Tank Level Input: ", PCT),
    pid(0x30, "Warm-ups Since Codes Cleared: ", int(1, 1, 1, "")),
    pid(0x31, "Distance Traveled Since Codes Cleared: ", int(2, 1, 1, " km")),
    pid(0x32, "Evap. System Vapor Pressure: ", Kind::Signed { div: 4.0, unit: " Pa" }),
    pid(0x33, "Absolute Barometric Pressure: ", int(1, 1, 1, " kPa")),
    pid(0x34, "Oxygen Sensor 1 (wide range): ", Kind::O2WideCurrent),
    pid(0x35, "Oxygen Sensor 2 (wide range): ", Kind::O2WideCurrent),
    pid(0x36, "Oxygen Sensor 3 (wide range): ", Kind::O2WideCurrent),
    pid(0x37, "Oxygen Sensor 4 (wide range): ", Kind::O2WideCurrent),
    pid(0x38, "Oxygen Sensor 5 (wide range): ", Kind::O2WideCurrent),
    pid(0x39, "Oxygen Sensor 6 (wide range): ", Kind::O2WideCurrent),
    pid(0x3a, "Oxygen Sensor 7 (wide range): ", Kind::O2WideCurrent),
    pid(0x3b, "Oxygen Sensor 8 (wide range): ", Kind::O2WideCurrent),
    pid(0x3c, "Catalyst Temperature Bank 1 Sensor 1: ", CAT_TEMP),
    pid(0x3d, "Catalyst Temperature Bank 2 Sensor 1: ", CAT_TEMP),
    pid(0x3e, "Catalyst Temperature Bank 1 Sensor 2: ", CAT_TEMP),
    pid(0x3f, "Catalyst Temperature Bank 2 Sensor 2: ", CAT_TEMP),
    pid(0x40, BITMAP, Kind::Supported),
    pid(0x41, "Monitor Status this Drive Cycle: ", Raw),
    pid(0x42, "Control module voltage: ", float(2, 1.0, 1000.0, 0.0, " V")),
    pid(0x43, "Absolute Load Value: ", Percent { bytes: 2 }),
    pid(0x44, "Commanded Equivalence Ratio: ", float(2, 1.0, 32768.0, 0.0, "")),
    pid(0x45, "Relative Throttle Position: ", PCT),
    pid(0x46, "Ambient Air Temperature: ", TEMP),
    pid(0x47, "Absolute Throttle Position B: ", PCT),
    pid(0x48, "Absolute Throttle Position C: ", PCT),
    pid(0x49, "Accelerator Pedal Position D: ", PCT),
    pid(0x4a, "Accelerator Pedal Position E: ", PCT),
    pid(0x4b, "Accelerator Pedal Position F: ", PCT),
    pid(0x4c, "Commanded Throttle Actuator: ", PCT),
    pid(0x4d, "Time Run with MIL on: ", int(2, 1, 1, " min")),
    pid(0x4e, "Time Since Trouble Codes Cleared: ", int(2, 1, 1, " min")),
    pid(0x4f, "Maximum Values: ", Kind::MaxValues),
    pid(0x50, "Maximum MAF air flow rate: ", Kind::MaxMaf),
    pid(0x51, "Fuel Type: ", Kind::FuelType),
    pid(0x52, "Ethanol Fuel: ", PCT),
    pid(0x53, "Absolute Evap System Vapor Pressure: ", float(2, 1.0, 200.0, 0.0, " kPa")),
    pid(0x54, "Evap System Vapor Pressure: ", offset(2, -32767, " Pa")),
    pid(0x55, "Short Term Secondary O2 Trim Bank 1/3: ", Kind::SecondaryTrim),
    pid(0x56, "Long Term Secondary O2 Trim Bank 1/3: ", Kind::SecondaryTrim),
    pid(0x57, "Short Term Secondary O2 Trim Bank 2/4: ", Kind::SecondaryTrim),
    pid(0x58, "Long Term Secondary O2 Trim Bank 2/4: ", Kind::SecondaryTrim),
    pid(0x59, "Fuel Rail Absolute Pressure: ", int(2, 10, 1, " kPa")),
    pid(0x5a, "Relative Accelerator Pedal Position: ", PCT),
    pid(0x5b, "Hybrid Battery Pack Remaining Life: ", PCT),
    pid(0x5c, "Engine Oil Temperature: ", TEMP),
    pid(0x5d, "Fuel Injection Timing: ", float(2, 1.0, 128.0, -210.0, " degrees")),
    pid(0x5e, "Engine Fuel Rate: ", float(2, 0.05, 1.0, 0.0, " L/h")),
    pid(0x5f, "Emission Requirements: ", Raw),
    pid(0x60, BITMAP, Kind::Supported),
    pid(0x61, "Driver's Demand Engine Torque: ", offset(1, -125, "%")),
    pid(0x62, "Actual Engine Torque: ", offset(1, -125, "%")),
    pid(0x63, "Engine Reference Torque: ", int(2, 1, 1, " Nm")),
    pid(0x64, "Engine Percent Torque Data: ", Kind::TorqueData),
    pid(0x65, "Auxiliary Input/Output Supported: ", Raw),
    pid(0x66, "Mass Air Flow Sensor: ", Raw),
    pid(0x67, "Engine Coolant Temperature Sensors: ", Raw),
    pid(0x68, "Intake Air Temperature Sensors: ", Raw),
    pid(0x69, "Commanded EGR and EGR Error: ", Raw),
    pid(0x6a, "Commanded Diesel Intake Air Flow: ", Raw),
    pid(0x6b, "Exhaust Gas Recirculation Temperature: ", Raw),
    pid(0x6c, "Commanded Throttle Actuator Control: ", Raw),
    pid(0x6d, "Fuel Pressure Control System: ", Raw),
    pid(0x6e, "Injection Pressure Control System: ", Raw),
    pid(0x6f, "Turbocharger Compressor Inlet Pressure: ", Raw),
    pid(0x70, "Boost Pressure Control: ", Raw),
    pid(0x71, "Variable Geometry Turbo Control: ", Raw),
    pid(0x72, "Wastegate Control: ", Raw),
    pid(0x73, "Exhaust Pressure: ", Raw),
    pid(0x74, "Turbocharger RPM: ", Raw),
    pid(0x75, "Turbocharger Temperature: ", Raw),
    pid(0x76, "Turbocharger Temperature: ", Raw),
    pid(0x77, "Charge Air Cooler Temperature: ", Raw),
    pid(0x78, "Exhaust Gas Temperature Bank 1: ", Raw),
    pid(0x79, "Exhaust Gas Temperature Bank 2: ", Raw),
    pid(0x7a, "Diesel Particulate Filter Differential Pressure: ", Raw),
    pid(0x7b, "Diesel Particulate Filter: ", Raw),
    pid(0x7c, "Diesel Particulate Filter Temperature: ", Raw),
    pid(0x7d, "NOx NTE Control Area Status: ", Raw),
    pid(0x7e, "PM NTE Control Area Status: ", Raw),
    pid(0x7f, "Engine Run Time: ", Raw),
    pid(0x80, BITMAP, Kind::Supported),
    pid(0x81, "Engine Run Time for AECD: ", Raw),
    pid(0x82, "Engine Run Time for AECD: ", Raw),
    pid(0x83, "NOx Sensor: ", Raw),
    pid(0x84, "Manifold Surface Temperature: ", Raw),
    pid(0x85, "NOx Reagent System: ", Raw),
    pid(0x86, "Particulate Matter Sensor: ", Raw),
    pid(0x87, "Intake Manifold Absolute Pressure Sensors: ", Raw),
    pid(0xa0, BITMAP, Kind::Supported),
    pid(0xc0, BITMAP, Kind::Supported),
];

/// The table row of a PID, if we decode it.
pub(super) fn find(id: u8) -> Option<&'static Pid> {
    PIDS.binary_search_by_key(&id, |p| p.id).ok().map(|i| &PIDS[i])
}

/// OBD standards by PID 1c value, starting at 1; `None` marks the reserved values.
pub(super) static STANDARDS: [Option<&str>; 33] = [
    Some("OBD-II as defined by the CARB"),
    Some("OBD as defined by the EPA"),
    Some("OBD and OBD-II"),
    Some("OBD-I"),
    Some("Not OBD compliant"),
    Some("EOBD (Europe)"),
    Some("EOBD and OBD-II"),
    Some("EOBD and OBD"),
    Some("EOBD, OBD and OBD-II"),
    Some("JOBD (Japan)"),
    Some("JOBD and OBD-II"),
    Some("JOBD and EOBD"),
    Some("JOBD, EOBD, and OBD-II"),
    None,
    None,
    None,
    Some("Engine Manufacturer Diagnostics (EMD)"),
    Some("Engine Manufacturer Diagnostics Enhanced (EMD+)"),
    Some("Heavy Duty On-Board Diagnostics (Child/Partial) (HD OBD-C)"),
    Some("Heavy Duty On-Board Diagnostics (HD OBD)"),
    Some("World Wide Harmonized OBD (WWH OBD)"),
    None,
    Some("Heavy Duty Euro OBD Stage I without NOx control (HD EOBD-I)"),
    Some("Heavy Duty Euro OBD Stage I with NOx control (HD EOBD-I N)"),
    Some("Heavy Duty Euro OBD Stage II without NOx control (HD EOBD-II)"),
    Some("Heavy Duty Euro OBD Stage II with NOx control (HD EOBD-II N)"),
    None,
    Some("Brazil OBD Phase 1 (OBDBr-1)"),
    Some("Brazil OBD Phase 2 (OBDBr-2)"),
    Some("Korean OBD (KOBD)"),
    Some("India OBD I (IOBD I)"),
    Some("India OBD II (IOBD II)"),
    Some("Heavy Duty Euro OBD Stage VI (HD EOBD-IV)"),
];

/// Fuel types by PID 51 value, starting at 0.
pub(super) static FUEL_TYPES: [&str; 24] = [
    "Not available",
    "Gasoline",
    "Methanol",
    "Ethanol",
    "Diesel",
    "LPG",
    "CNG",
    "Propane",
    "Electric",
    "Bifuel running Gasoline",
    "Bifuel running Methanol",
    "Bifuel running Ethanol",
    "Bifuel running LPG",
    "Bifuel running CNG",
    "Bifuel running Propane",
    "Bifuel running Electricity",
    "Bifuel running electric and combustion engine",
    "Hybrid gasoline",
    "Hybrid Ethanol",
    "Hybrid Diesel",
    "Hybrid Electric",
    "Hybrid running electric and combustion engine",
    "Hybrid Regenerative",
    "Bifuel running diesel",
];
