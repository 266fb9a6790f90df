//! What the original o2s derived from raw traffic, as pure functions: the merged per-device
//! object (`map`), the watcher's debug lines (`look`), geofence evaluation (`fence`), the text of
//! OBD-II, FMS and DTC values (`can`) and mobile operator names (`plmn`). Nothing here does I/O;
//! the ingest pipeline feeds it committed messages and publishes what it returns.

pub mod alert;
pub mod can;
pub mod fence;
pub mod look;
pub mod map;
pub mod plmn;
pub mod wire;
