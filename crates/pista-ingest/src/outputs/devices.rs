//! The device objects behind `_map`: one [`DeviceState`] per device, loaded from storage at
//! start (so a restart loses nothing and the broker gets every object again) and changed by each
//! committed message that says something about the device.

use std::collections::HashMap;

use pista_core::{DeviceKey, Message};
use pista_derive::map::{DeviceState, Fix};
use pista_store::{DerivedStore, Storage, StoreError, StoredLocation};
use serde_json::Value;

/// A device's state and the id of the stored fix it shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Device {
    pub state: DeviceState,
    pub fix_id: Option<i64>,
}

/// What reading a device again after a deletion found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reloaded {
    /// It has a fix to show.
    Shown,
    /// It is registered but has no fix left.
    NoFix,
    /// It is unknown now; it was dropped from the book. Holds its device topic.
    Gone(String),
}

/// Every device's state.
#[derive(Debug, Default)]
pub(crate) struct DeviceBook {
    pub devices: HashMap<DeviceKey, Device>,
}

impl DeviceBook {
    /// Builds the book from what is stored: newest fixes with their addresses, liveness, info,
    /// voltages and the Greenwich inventory.
    pub async fn load(store: &dyn Storage) -> Result<Self, StoreError> {
        let mut book = Self::default();
        for last in store.last(None, None).await? {
            let point = &last.location;
            let device = book.entry(&last.key, &point.topic);
            device.state.fix = Some(stored_fix(point));
            device.fix_id = Some(point.id);
        }

        let versions: HashMap<String, String> =
            store.inventory().await?.into_iter().map(|item| (item.imei, item.version)).collect();
        let keys: Vec<DeviceKey> = book.devices.keys().cloned().collect();
        for key in keys {
            let Some(stored) = store.device_state(&key).await? else { continue };
            let Some(device) = book.devices.get_mut(&key) else { continue };
            let state = &mut device.state;
            state.status = stored.online;
            state.info = stored.info;
            state.version = stored.imei.as_ref().and_then(|imei| versions.get(imei).cloned());
            state.imei = stored.imei;
            state.vbatt = stored.vbatt;
            state.vext = stored.vext;
            state.odo = stored.odo;
        }
        Ok(book)
    }

    /// Reads one device's newest fix again (after a deletion); a device the store no longer
    /// knows is dropped.
    pub async fn reload(
        &mut self,
        store: &dyn Storage,
        key: &DeviceKey,
    ) -> Result<Reloaded, StoreError> {
        let last = store.last(Some(&key.user), Some(&key.device)).await?.into_iter().next();
        if last.is_none() && store.device_state(key).await?.is_none() {
            let topic = self.devices.remove(key).map(|d| d.state.topic).unwrap_or_default();
            return Ok(Reloaded::Gone(topic));
        }
        let Some(device) = self.devices.get_mut(key) else { return Ok(Reloaded::NoFix) };
        let Some(last) = last else {
            device.state.fix = None;
            device.fix_id = None;
            return Ok(Reloaded::NoFix);
        };
        device.state.fix = Some(stored_fix(&last.location));
        device.fix_id = Some(last.location.id);
        Ok(Reloaded::Shown)
    }

    /// Reads a device's object from storage again: its newest fix, liveness, Greenwich state and
    /// running job. With another ingest worker on the same database, what this worker saw of a
    /// device is only part of what arrived; the stored state is the whole.
    pub async fn refresh(
        &mut self,
        store: &dyn Storage,
        derived: &dyn DerivedStore,
        key: &DeviceKey,
    ) -> Result<(), StoreError> {
        let last = store.last(Some(&key.user), Some(&key.device)).await?.into_iter().next();
        let stored = store.device_state(key).await?;
        let running = derived.jobs(Some(key), true).await?.pop();
        let Some(device) = self.devices.get_mut(key) else { return Ok(()) };
        if let Some(last) = last {
            device.state.fix = Some(stored_fix(&last.location));
            device.fix_id = Some(last.location.id);
        }
        let state = &mut device.state;
        if let Some(stored) = stored {
            if stored.imei != state.imei {
                state.version = None;
            }
            state.status = stored.online;
            state.info = stored.info;
            state.imei = stored.imei;
            state.vbatt = stored.vbatt;
            state.vext = stored.vext;
            state.odo = stored.odo;
        }
        match running {
            Some(job) => {
                state.job = Some(super::jobs::job_value(&job.job));
                state.jobname = Some(job.jobname);
            }
            None if state.job.is_some() => {
                state.job = Some(0.into());
                state.jobname = None;
            }
            None => {}
        }
        Ok(())
    }

    /// Reads a device's odometer base from storage again (on its start-up line, as the original
    /// read it from its inventory then); returns whether the object changed.
    pub async fn read_odometer(
        &mut self,
        store: &dyn Storage,
        key: &DeviceKey,
    ) -> Result<bool, StoreError> {
        let odo = store.device_state(key).await?.and_then(|stored| stored.odo);
        Ok(self.set_odometer(key, odo))
    }

    /// Sets a known device's odometer base; returns whether the object changed.
    pub fn set_odometer(&mut self, key: &DeviceKey, odo: Option<f64>) -> bool {
        let Some(device) = self.devices.get_mut(key) else { return false };
        let changed = device.state.odo != odo;
        device.state.odo = odo;
        changed
    }

    /// The device's entry, created with its topic if new.
    pub fn entry(&mut self, key: &DeviceKey, topic: &str) -> &mut Device {
        let device = self.devices.entry(key.clone()).or_default();
        if device.state.topic.is_empty() {
            device.state.topic = topic.to_owned();
        }
        device
    }

    /// Applies what a stored message (not a location) says about its device. Returns whether
    /// the device object changed.
    pub fn apply_message(
        &mut self,
        key: &DeviceKey,
        device_topic: &str,
        message: &Message,
    ) -> bool {
        let json = &message.json;
        let text = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
        let device = self.entry(key, device_topic);
        let state = &mut device.state;
        match message.msg_type.as_str() {
            "lwt" => state.status = Some(0),
            "gw-status" => state.status = json.get("status").and_then(Value::as_i64),
            "gw-info" => state.info = text("info"),
            "gw-start" => {
                state.imei = text("imei");
                state.version = text("version");
            }
            "gw-voltage" => {
                let volts = json.get("volts").and_then(Value::as_f64);
                match json.get("supply").and_then(Value::as_str) {
                    Some("batt") => state.vbatt = volts,
                    Some("ext") => state.vext = volts,
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
    }
}

/// The device object's fix from a stored fix, with its address.
pub(crate) fn stored_fix(point: &StoredLocation) -> Fix {
    let mut fix = Fix::from_json(point.tst, point.lat, point.lon, &point.json);
    fix.addr = point.addr.clone();
    fix.cc = point.cc.clone();
    fix
}
