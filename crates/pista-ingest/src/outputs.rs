//! The outputs stage: what the original o2s derived from raw traffic, built once per committed
//! message and sent to every sink. The writer hands each committed batch over (after answering
//! its submitters, so outputs never delay an acknowledgement); this task keeps the device
//! objects (`_map`, published once per device per batch, at its end), writes the watcher lines (`_look`), evaluates geofences and records and
//! publishes their alerts (`_alerts`) and queues them for webhooks, tracks Activo jobs (`_job`),
//! republishes operator names, publishes the answers to requests that came over MQTT (`answers`),
//! and asks the geocoder for addresses. After a deletion it reads
//! the devices concerned again, and clears the retained object of a device that is gone or has
//! no fix left. A slow sink, webhook or geocoder never blocks ingest: MQTT
//! publishing drops when its queue is full, and webhook deliveries and geocoding requests queue
//! apart (see `webhooks` and `geocode`).

mod alerts;
mod answers;
mod devices;
mod fences;
mod jobs;
mod sink;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use pista_core::{DeviceKey, DeviceName, Location, Message, Source, UserName};
use pista_derive::fence::Rules;
use pista_derive::map::Fix;
use pista_derive::{can, look, plmn, wire};
use pista_store::{
    DerivedStore, NewBody, NewMessage, Storage, StoreError, StoredJob, WriteOutcome,
};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::alarm::AlarmHook;
use crate::commands::CommandPublisher;
use crate::geocode::{GeoCache, GeocodeQueue, GeocodeRequest, GeocodeStats, Geocoding};
use crate::webhooks::{WebhookStats, Webhooks};
use alerts::{FenceCheck, FenceEvents};
use devices::{DeviceBook, Reloaded};
use fences::FenceBook;
pub use fences::{FenceSync, SERVER_FENCE_OWNER, sync_configured};
pub use jobs::job_value;
use jobs::{JobBook, JobChange};
pub use sink::{LiveEvent, LiveKind, MqttSink, Publication, Sinks};

/// Topics and rules of the outputs.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// Prefix of the device objects: `<map_topic>/<device topic>`.
    pub map_topic: String,
    /// Prefix of the watcher lines: `<look_topic>/<device topic>/<subtopic>`.
    pub look_topic: String,
    /// Topic of the geofence alerts.
    pub alert_topic: String,
    /// Prefix of the retained job objects: `<job_topic>/<device topic>`.
    pub job_topic: String,
    /// Location keys copied into alerts; `None` for all.
    pub alert_keys: Option<Vec<String>>,
    pub fences: Rules,
    /// Whether operator names are published under `<device>/operators/<code>`.
    pub plmn: bool,
    /// Where alerts are POSTed (the global webhooks and each fence's own); `None` for nowhere.
    pub webhooks: Option<Webhooks>,
    /// What is done with a Greenwich alarm; `None` for nothing beyond storing it.
    pub alarm: Option<AlarmHook>,
    /// Whether other ingest workers share the subscription (`$share/...`): each device object
    /// is then read back from storage before it is published, and job names before a batch's
    /// job events, since this worker sees only part of every device's messages.
    pub shared: bool,
    /// Where answers to requests that came over MQTT are published; `None` for nowhere.
    pub answers: Option<CommandPublisher>,
}

impl Default for OutputOptions {
    fn default() -> Self {
        Self {
            map_topic: "_owntracks/_map".into(),
            look_topic: "_owntracks/_look".into(),
            alert_topic: "_alerts".into(),
            job_topic: "_owntracks/_job".into(),
            alert_keys: None,
            fences: Rules::default(),
            plmn: false,
            webhooks: None,
            alarm: None,
            shared: false,
            answers: None,
        }
    }
}

/// Counters of the outputs since start.
#[derive(Debug, Default)]
pub struct OutputStats {
    pub maps: AtomicU64,
    pub looks: AtomicU64,
    pub alerts: AtomicU64,
    pub jobs: AtomicU64,
    pub failures: AtomicU64,
    /// Batches whose fence states another worker changed meanwhile (evaluated again).
    pub fence_retries: AtomicU64,
}

/// A committed batch, as the writer hands it over.
pub(crate) struct Committed {
    pub batch: Vec<NewMessage>,
    pub outcomes: Vec<WriteOutcome>,
}

/// A device object as the outputs stage holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceObject {
    pub key: DeviceKey,
    /// The device topic, e.g. `owntracks/gw/K2`.
    pub topic: String,
    /// The object as published on `_map`.
    pub object: Value,
}

/// Something other than a batch that changes the outputs.
pub(crate) enum Control {
    /// Fences were created, changed or deleted outside ingest (API, configuration); `deleted`
    /// is a fence the API deleted, announced even if the stage never saw it.
    FencesChanged { deleted: Option<pista_store::StoredFence> },
    /// The geocoder found the address of stored fixes.
    Address { key: DeviceKey, ids: Vec<i64>, cc: Option<String>, addr: Option<String> },
    /// Asks for every device object, with its device.
    Devices(tokio::sync::oneshot::Sender<Vec<DeviceObject>>),
    /// Rows of a user's devices (or of one device) were deleted: read them again.
    Deleted { user: UserName, device: Option<DeviceName> },
    /// A device's odometer base was set (`Some`, km) or cleared over the API.
    Odometer { key: DeviceKey, odo: Option<f64> },
}

/// A cheap handle on the running outputs stage.
#[derive(Clone)]
pub struct OutputsHandle {
    pub(crate) committed: mpsc::Sender<Committed>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    live: broadcast::Sender<Arc<LiveEvent>>,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    stats: Arc<OutputStats>,
    /// The MQTT client of the outputs, when they go to a broker (for its drop count).
    mqtt: Option<Arc<MqttSink>>,
    geocode: Option<Arc<GeocodeStats>>,
    webhooks: Option<Webhooks>,
    alarm: Option<AlarmHook>,
}

impl OutputsHandle {
    /// The geocoder's counters, when it runs.
    pub fn geocode_stats(&self) -> Option<&GeocodeStats> {
        self.geocode.as_deref()
    }

    /// The alarm hook's counters, when it is set up.
    pub fn alarm_stats(&self) -> Option<&crate::AlarmStats> {
        self.alarm.as_ref().map(AlarmHook::stats)
    }

    /// The webhook deliveries' counters, when webhooks are set up.
    pub fn webhook_stats(&self) -> Option<&WebhookStats> {
        self.webhooks.as_ref().map(Webhooks::stats)
    }

    /// Every device object (as published on `_map`), sorted by device topic.
    pub async fn device_objects(&self) -> Result<Vec<DeviceObject>, String> {
        let (answer, objects) = tokio::sync::oneshot::channel();
        self.control.send(Control::Devices(answer)).map_err(|_| "outputs stopped".to_owned())?;
        objects.await.map_err(|_| "outputs stopped".to_owned())
    }

    /// Tells the stage that rows of `user`'s devices (or of one `device`) were deleted, so it
    /// reads their newest fixes again and forgets devices that are gone.
    pub fn deleted(&self, user: &UserName, device: Option<&DeviceName>) {
        let _ = self.control.send(Control::Deleted { user: user.clone(), device: device.cloned() });
    }

    /// Tells the stage that a device's odometer base is now `odo` (already stored), so its
    /// object shows it at once.
    pub fn odometer_changed(&self, key: &DeviceKey, odo: Option<f64>) {
        let _ = self.control.send(Control::Odometer { key: key.clone(), odo });
    }

    /// Tells the stage to read the fences again.
    pub fn fences_changed(&self) {
        let _ = self.control.send(Control::FencesChanged { deleted: None });
    }

    /// The API deleted `fence`: like [`OutputsHandle::fences_changed`], and live listeners who
    /// may see it hear of it even when it came and went between two reloads of the stage.
    pub fn fence_deleted(&self, fence: pista_store::StoredFence) {
        let _ = self.control.send(Control::FencesChanged { deleted: Some(fence) });
    }

    /// Listens to outputs as they are made.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.live.subscribe()
    }

    /// Completes when the server stops (never, when it was started without a stop signal), so
    /// long-lived listeners such as event streams end and let the server shut down.
    pub async fn stopped(&self) {
        match self.stop.clone() {
            Some(mut stop) => {
                let _ = stop.wait_for(|stop| *stop).await;
            }
            None => std::future::pending().await,
        }
    }

    pub fn stats(&self) -> &OutputStats {
        &self.stats
    }

    /// MQTT outputs dropped so far (a full queue, or larger than the broker takes); `None`
    /// when the outputs go to no broker.
    pub fn mqtt_dropped(&self) -> Option<u64> {
        self.mqtt.as_ref().map(|sink| sink.dropped())
    }
}

/// The running stage's state (see the module documentation).
pub struct Outputs {
    /// Read again after deletions.
    store: Arc<dyn Storage>,
    derived: Arc<dyn DerivedStore>,
    options: OutputOptions,
    sinks: Sinks,
    devices: DeviceBook,
    fences: FenceBook,
    jobs: JobBook,
    /// The retained topic and object each fence was last published with, by fence id.
    fence_topics: HashMap<i64, (String, String)>,
    /// Every usable fence as live listeners last heard of it, by id: a reload that finds one
    /// new, different or gone sends a `fence` event.
    fence_seen: HashMap<i64, pista_store::StoredFence>,
    geocode: Option<(GeocodeQueue, GeoCache)>,
    stats: Arc<OutputStats>,
    /// In a batch: the devices whose objects are published at its end, once each (read back
    /// from storage first with a shared subscription).
    deferred: Option<BTreeSet<DeviceKey>>,
    /// With a shared subscription: devices whose objects are published once more when their
    /// traffic has been quiet for [`SETTLE`], by when they were last touched.
    settling: HashMap<DeviceKey, tokio::time::Instant>,
    /// The `deletions` revision the device objects were last read against.
    deletions_seen: i64,
}

/// How long a device's traffic must be quiet before its object is published once more (shared
/// subscription; see [`Outputs::settle`]).
const SETTLE: Duration = Duration::from_secs(2);

/// How often the outputs stage looks for other workers' and processes' changes while no batch
/// comes (see [`Outputs::follow_revisions`]).
const FOLLOW: Duration = Duration::from_secs(5);

impl Outputs {
    /// Loads device objects and fences, publishes them (retained) and starts the stage.
    pub async fn start(
        store: Arc<dyn Storage>,
        derived: Arc<dyn DerivedStore>,
        options: OutputOptions,
        sinks: Sinks,
        geocoding: Option<Geocoding>,
    ) -> Result<(OutputsHandle, JoinHandle<()>), StoreError> {
        // Read first: a deletion after it shows as a newer revision at the first batch.
        let deletions_seen = derived.deletion_revision().await?;
        let mut devices = DeviceBook::load(store.as_ref()).await?;
        let fences = FenceBook::load(derived.as_ref(), options.fences).await?;
        let jobs = JobBook::load(derived.as_ref()).await?;
        for job in jobs.running.values() {
            if let Some(device) = devices.devices.get_mut(&job.key) {
                device.state.job = Some(jobs::job_value(&job.job));
                device.state.jobname = Some(job.jobname.clone());
            }
        }
        let (committed, batches) = mpsc::channel(64);
        let (control, controls) = mpsc::unbounded_channel();
        let geocode = geocoding
            .map(|geocoding| crate::geocode::spawn(geocoding, derived.clone(), control.clone()));
        let stats = Arc::new(OutputStats::default());
        let handle = OutputsHandle {
            committed,
            control,
            live: sinks.live.clone(),
            stop: sinks.stop.clone(),
            stats: stats.clone(),
            mqtt: sinks.mqtt.clone(),
            geocode: geocode.as_ref().map(|(queue, _)| queue.stats.clone()),
            webhooks: options.webhooks.clone(),
            alarm: options.alarm.clone(),
        };
        let mut outputs = Outputs {
            store,
            derived,
            options,
            sinks,
            devices,
            fences,
            jobs,
            fence_topics: HashMap::new(),
            fence_seen: HashMap::new(),
            geocode,
            stats,
            deferred: None,
            settling: HashMap::new(),
            deletions_seen,
        };
        outputs.publish_all();
        let task = tokio::spawn(outputs.run(batches, controls));
        Ok((handle, task))
    }

    async fn run(
        mut self,
        mut batches: mpsc::Receiver<Committed>,
        mut controls: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut settle = tokio::time::interval(SETTLE);
        settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut follow = tokio::time::interval(FOLLOW);
        follow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = batches.recv() => match batch {
                    Some(batch) => self.batch(batch).await,
                    None => break,
                },
                Some(control) = controls.recv() => self.control(control).await,
                _ = settle.tick(), if !self.settling.is_empty() => self.settle().await,
                _ = follow.tick() => self.follow_revisions(false).await,
            }
        }
        tracing::debug!("outputs stopped");
    }

    /// Every device, fence and running job object, retained: at start the broker may have lost
    /// them.
    fn publish_all(&mut self) {
        let keys: Vec<DeviceKey> = self.devices.devices.keys().cloned().collect();
        for key in keys {
            self.publish_map(&key);
        }
        self.publish_fences(Vec::new());
        let running: Vec<StoredJob> = self.jobs.running.values().cloned().collect();
        for job in running {
            // A device that never sent a fix has no topic on record: the usual one, then.
            let usual = format!("owntracks/{}/{}", job.key.user, job.key.device);
            let topic = self.devices.entry(&job.key, &usual).state.topic.clone();
            self.publish_job(&topic, &job);
        }
    }

    async fn control(&mut self, control: Control) {
        match control {
            Control::FencesChanged { deleted } => {
                // A deletion the stage never announced a creation of (it came and went
                // between two reloads) is announced first; one it did, the reload announces.
                if let Some(fence) = deleted {
                    self.announce_unseen_deletion(fence);
                }
                self.reload_fences().await;
            }
            Control::Devices(answer) => {
                let mut objects: Vec<DeviceObject> = self
                    .devices
                    .devices
                    .iter()
                    .filter_map(|(key, device)| {
                        Some(DeviceObject {
                            key: key.clone(),
                            topic: device.state.topic.clone(),
                            object: device.state.object()?,
                        })
                    })
                    .collect();
                objects.sort_by(|a, b| a.topic.cmp(&b.topic));
                let _ = answer.send(objects);
            }
            Control::Deleted { user, device } => self.reload_devices(&user, device.as_ref()).await,
            Control::Odometer { key, odo } => {
                if self.devices.set_odometer(&key, odo) {
                    self.publish_map(&key);
                }
            }
            Control::Address { key, ids, cc, addr } => {
                let Some(device) = self.devices.devices.get_mut(&key) else { return };
                let shown = device.fix_id.is_some_and(|id| ids.contains(&id));
                if let (true, Some(fix)) = (shown, device.state.fix.as_mut()) {
                    fix.addr = addr;
                    fix.cc = cc;
                    self.publish_map(&key);
                }
            }
        }
    }

    async fn batch(&mut self, committed: Committed) {
        // A device's object goes out once per batch, however many of its messages it holds.
        self.deferred = Some(BTreeSet::new());
        self.follow_others(&committed).await;
        let mut fences_changed = false;
        let mut events = FenceEvents::default();
        let mut jobs = Vec::new();
        let mut started = BTreeSet::new();
        for (message, outcome) in committed.batch.iter().zip(&committed.outcomes) {
            let Some(key) = &message.key else { continue };
            match (&message.body, outcome) {
                (NewBody::Location { location, .. }, WriteOutcome::Location { id, newest }) => {
                    self.location(key, message, location, *id, *newest, &mut events);
                }
                (NewBody::Message { message: typed, original, payload }, outcome) => {
                    fences_changed |= matches!(typed.msg_type.as_str(), "waypoint" | "waypoints");
                    self.message(key, message, typed, original.as_ref(), payload);
                    // A copy the broker sent again is no new job event.
                    let stored = matches!(outcome, WriteOutcome::Message { .. });
                    if stored && typed.msg_type == "gw-job" {
                        jobs.extend(self.job_change(key, message, typed));
                    }
                    if typed.msg_type == "gw-start" {
                        started.insert(key.clone());
                    }
                    if let (WriteOutcome::Message { id }, "alarm") =
                        (outcome, typed.msg_type.as_str())
                    {
                        self.alarm(*id, message, typed);
                    }
                    if let WriteOutcome::Answered { command, .. } = outcome {
                        self.publish_answer(key, message, *command);
                    }
                }
                (NewBody::Quarantine { reason, problem, .. }, WriteOutcome::Quarantined { .. }) => {
                    let text = format!("quarantined ({reason}): {problem}");
                    self.look_text(key, message, &text);
                }
                _ => {}
            }
        }
        self.record(events).await;
        self.record_jobs(jobs).await;
        self.read_odometers(started).await;
        if fences_changed {
            self.reload_fences().await;
        }
        if let Some(keys) = self.deferred.take() {
            for key in keys {
                match self.options.shared {
                    true => {
                        self.refresh_map(&key).await;
                        self.settling.insert(key, tokio::time::Instant::now());
                    }
                    false => self.publish_map(&key),
                }
            }
        }
    }

    /// Reads the odometer base of devices that sent a start-up line, as the original did then:
    /// one set by another process (or worker) since shows from the device's restart on.
    async fn read_odometers(&mut self, started: BTreeSet<DeviceKey>) {
        for key in started {
            match self.devices.read_odometer(self.store.as_ref(), &key).await {
                Ok(true) => self.publish_map(&key),
                Ok(false) => {}
                Err(error) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(device = %key, %error, "odometer base not read on start-up");
                }
            }
        }
    }

    /// Catches up with what other ingest workers and processes changed: the fence list when its
    /// stored revision moved; with a shared subscription, job names (before job events) and,
    /// after the batch, the device objects it touched.
    async fn follow_others(&mut self, committed: &Committed) {
        self.follow_revisions(true).await;
        if !self.options.shared {
            return;
        }
        let jobs = committed.batch.iter().any(|message| {
            matches!(&message.body, NewBody::Message { message, .. } if message.msg_type == "gw-job")
        });
        if jobs && let Err(error) = self.jobs.reload_names(self.derived.as_ref()).await {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, "job names not read again");
        }
    }

    /// Reads the fence list again when its stored revision moved, and the device objects when
    /// the deletions revision did (a deletion by another worker or by `pista delete`). Run
    /// before each batch (`after_batch`: the revisions that batch's write read, no query) and
    /// every [`FOLLOW`] when there is no traffic.
    async fn follow_revisions(&mut self, after_batch: bool) {
        let known = match after_batch {
            true => self.derived.batch_revisions(),
            false => None,
        };
        let fences = match known {
            Some((fences, _)) => Ok(fences),
            None => self.derived.fence_revision().await,
        };
        match fences {
            Ok(fences) if self.fences.stale(fences) => self.reload_fences().await,
            Ok(_) => {}
            Err(error) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "fence revision not read");
            }
        }
        let deletions = match known {
            Some((_, deletions)) => Ok(deletions),
            None => self.derived.deletion_revision().await,
        };
        match deletions {
            Ok(seen) if seen != self.deletions_seen => {
                self.deletions_seen = seen;
                tracing::info!(revision = seen, "devices deleted elsewhere; reading devices again");
                let users: BTreeSet<UserName> =
                    self.devices.devices.keys().map(|key| key.user.clone()).collect();
                for user in users {
                    self.reload_devices(&user, None).await;
                }
            }
            Ok(_) => {}
            Err(error) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "deletion revision not read");
            }
        }
    }

    /// Publishes again, as stored, the objects of devices last touched at least [`SETTLE`]
    /// ago (shared subscription). Two workers' publishes of one device can reach the broker in
    /// either order, so a stale object may end up retained; this later publish, after the
    /// device's traffic went quiet, leaves the stored state retained.
    async fn settle(&mut self) {
        let Some(quiet) = tokio::time::Instant::now().checked_sub(SETTLE) else { return };
        let due: Vec<DeviceKey> =
            self.settling.iter().filter(|(_, at)| **at <= quiet).map(|(k, _)| k.clone()).collect();
        for key in due {
            self.settling.remove(&key);
            self.refresh_map(&key).await;
        }
    }

    /// Publishes a device's object as stored (shared subscription).
    async fn refresh_map(&mut self, key: &DeviceKey) {
        let refreshed = self.devices.refresh(self.store.as_ref(), self.derived.as_ref(), key).await;
        if let Err(error) = refreshed {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(device = %key, %error, "device object not read back; publishing ours");
        }
        self.publish_map(key);
    }

    fn location(
        &mut self,
        key: &DeviceKey,
        message: &NewMessage,
        location: &Location,
        id: i64,
        newest: bool,
        events: &mut FenceEvents,
    ) {
        let mut fix = Fix::from_location(location);
        if let Some((queue, cache)) = &self.geocode {
            if let Some(found) = cache.get(location.lat, location.lon) {
                fix.addr = found.addr;
                fix.cc = found.cc;
            }
            queue.request(GeocodeRequest { id, key: key.clone(), lat: fix.lat, lon: fix.lon });
        }
        let device_topic = device_topic(message);
        let line = look::location_line(&message.topic, &fix);
        self.look(key, &device_topic, message.subtopic.as_deref(), line);
        if !newest {
            return;
        }

        if !self.fences.fences.is_empty() {
            events.checks.push(FenceCheck {
                key: key.clone(),
                keys: fix.keys(&device_topic),
                device_topic: device_topic.clone(),
                lat: fix.lat,
                lon: fix.lon,
                tst: fix.tst,
            });
        }

        let device = self.devices.entry(key, &device_topic);
        device.state.fix = Some(fix);
        device.state.status = Some(1);
        device.fix_id = Some(id);
        self.publish_map(key);
    }

    fn message(
        &mut self,
        key: &DeviceKey,
        message: &NewMessage,
        typed: &Message,
        original: Option<&Bytes>,
        payload: &str,
    ) {
        let device_topic = device_topic(message);
        // The client's own text, unless credentials in it were masked.
        let text = match original {
            Some(bytes) if !typed.masked => String::from_utf8_lossy(bytes).into_owned(),
            _ => payload.to_owned(),
        };
        let subtopic = message.subtopic.as_deref();
        let line = match typed.msg_type.as_str() {
            "alarm" => alarm_fix(typed).map(|fix| look::location_line(&message.topic, &fix)),
            "gw-obd2" | "gw-fms" => subtopic
                .and_then(|sub| can::describe(sub, &text))
                .map(|decoded| look::text_line(message.received_at, &message.topic, &decoded)),
            _ => None,
        };
        let line =
            line.unwrap_or_else(|| look::text_line(message.received_at, &message.topic, &text));
        self.look(key, &device_topic, subtopic, line);

        if typed.msg_type == "gw-operators" && self.options.plmn {
            self.operator_names(key, &message.topic, &text);
        }
        if self.devices.apply_message(key, &device_topic, typed) {
            self.publish_map(key);
        }
    }

    /// The original's republished operator names: `<topic>/<code>` → `Brand (CC)`.
    fn operator_names(&self, key: &DeviceKey, topic: &str, text: &str) {
        let operators = match plmn::parse_operators(text) {
            Ok(operators) => operators,
            Err(error) => {
                tracing::debug!(device = %key, %error, "operator list not republished");
                return;
            }
        };
        for operator in operators {
            let label = plmn::label(&operator.plmn);
            self.sinks.mqtt_only(Publication::new(
                format!("{topic}/{}", operator.plmn),
                label,
                false,
            ));
        }
    }

    fn look_text(&self, key: &DeviceKey, message: &NewMessage, text: &str) {
        let line = look::text_line(message.received_at, &message.topic, text);
        self.look(key, &device_topic(message), message.subtopic.as_deref(), line);
    }

    fn look(&self, key: &DeviceKey, device_topic: &str, subtopic: Option<&str>, line: String) {
        let topic = look::topic(&self.options.look_topic, device_topic, subtopic);
        let line = look::printable(&line).into_owned();
        self.stats.looks.fetch_add(1, Ordering::Relaxed);
        self.sinks.send(LiveKind::Look, Some(key), Publication::new(topic, line, false));
    }

    /// Hands a stored alarm to the hook, with the original's location keys.
    fn alarm(&self, id: i64, message: &NewMessage, typed: &Message) {
        let (Some(hook), Some(fix)) = (&self.options.alarm, alarm_fix(typed)) else { return };
        let mut object = fix.keys(&device_topic(message));
        object.insert("_type".into(), "alarm".into());
        hook.fire(id, object);
    }

    /// What a stored `gw-job` message changes, with names applied at once.
    fn job_change(
        &mut self,
        key: &DeviceKey,
        message: &NewMessage,
        typed: &Message,
    ) -> Option<JobChange> {
        let event = typed.json.get("event").and_then(Value::as_str);
        // An external broker's retained copy of an `active` or current-job message is an old
        // event (o2s skipped those too); a name is still worth reading.
        if message.retained && message.source == Source::Mqtt && event != Some("name") {
            tracing::debug!(device = %key, topic = %message.topic, "retained job event skipped");
            return None;
        }
        // Job objects go to the device's topic as first seen, whatever case a message uses.
        let device = self.devices.entry(key, &device_topic(message));
        let device_topic = device.state.topic.clone();
        let tid = device.state.fix.as_ref().map(|fix| fix.tid.clone());
        let tid = tid.unwrap_or_else(|| pista_derive::map::UNKNOWN_CC.to_owned());
        self.jobs.apply(key, &device_topic, &tid, &typed.json, message.received_at)
    }

    /// Saves the batch's job names, then records each job event in order and publishes the
    /// jobs it ended and started (`_job`) and the device's current job (`_map`).
    async fn record_jobs(&mut self, changes: Vec<JobChange>) {
        let mut names = Vec::new();
        let mut events = Vec::new();
        for change in changes {
            match change {
                JobChange::Name(name) => names.push(name),
                JobChange::Event { key, device_topic, at, start } => {
                    events.push((key, device_topic, at, start));
                }
            }
        }
        if !names.is_empty()
            && let Err(error) = self.derived.put_job_names(&names, crate::now()).await
        {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, names = names.len(), "job names not saved");
        }
        for (key, device_topic, at, start) in events {
            let jobs = match self.derived.record_job(&key, at, start.as_ref()).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(device = %key, %error, "job event not recorded");
                    // Not running after all: the same job sent again is a start.
                    self.jobs.batch_active.remove(&key);
                    continue;
                }
            };
            for job in &jobs {
                self.publish_job(&device_topic, job);
            }
            // Each job event shows in `_map` on its own, after the device's state before it.
            self.flush_map(&key);
            let device = self.devices.entry(&key, &device_topic);
            match jobs.last().filter(|job| job.ended_at.is_none()) {
                Some(job) => {
                    device.state.job = Some(jobs::job_value(&job.job));
                    device.state.jobname = Some(job.jobname.clone());
                    self.jobs.running.insert(key.clone(), job.clone());
                }
                None => {
                    device.state.job = Some(0.into());
                    device.state.jobname = None;
                    self.jobs.running.remove(&key);
                }
            }
            self.jobs.batch_active.remove(&key);
            self.send_map(&key);
            if self.options.shared
                && let Some(deferred) = &mut self.deferred
            {
                deferred.insert(key.clone());
            }
        }
    }

    fn publish_job(&self, device_topic: &str, job: &StoredJob) {
        let topic = format!("{}/{device_topic}", self.options.job_topic);
        let object = jobs::job_object(device_topic, job);
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        self.sinks.send(
            LiveKind::Job,
            Some(&job.key),
            Publication::new(topic, wire::compact(&object), true),
        );
    }

    /// Reads the matching devices again after a deletion: a device's object shows its newest
    /// fix left; a device without one has its retained `_map` object cleared, and a device that
    /// is gone is forgotten (with its fence states and running job, whose `_job` object is
    /// cleared too).
    async fn reload_devices(&mut self, user: &UserName, device: Option<&DeviceName>) {
        let keys: Vec<DeviceKey> = self
            .devices
            .devices
            .keys()
            .filter(|key| key.user == *user && device.is_none_or(|d| key.device == *d))
            .cloned()
            .collect();
        for key in keys {
            let reloaded = match self.devices.reload(self.store.as_ref(), &key).await {
                Ok(reloaded) => reloaded,
                Err(error) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(device = %key, %error, "device not read again after a deletion");
                    continue;
                }
            };
            match reloaded {
                Reloaded::Shown => self.publish_map(&key),
                Reloaded::NoFix => self.clear_map(&key),
                Reloaded::Gone(topic) => {
                    self.clear(format!("{}/{topic}", self.options.map_topic));
                    self.fences.forget(&key);
                    self.jobs.batch_active.remove(&key);
                    if self.jobs.running.remove(&key).is_some() {
                        self.clear(format!("{}/{topic}", self.options.job_topic));
                    }
                }
            }
        }
    }

    fn clear_map(&self, key: &DeviceKey) {
        let Some(device) = self.devices.devices.get(key) else { return };
        self.clear(format!("{}/{}", self.options.map_topic, device.state.topic));
    }

    /// An empty retained publish, which removes the broker's retained message on `topic`.
    fn clear(&self, topic: String) {
        self.sinks.mqtt_only(Publication::new(topic, Bytes::new(), true));
    }

    /// Publishes a device's object, at the end of the batch when in one.
    fn publish_map(&mut self, key: &DeviceKey) {
        match &mut self.deferred {
            Some(deferred) => {
                deferred.insert(key.clone());
            }
            None => self.send_map(key),
        }
    }

    /// Publishes a device's object now if the batch holds it back.
    fn flush_map(&mut self, key: &DeviceKey) {
        if self.deferred.as_mut().is_some_and(|deferred| deferred.remove(key)) {
            self.send_map(key);
        }
    }

    fn send_map(&self, key: &DeviceKey) {
        let Some(device) = self.devices.devices.get(key) else { return };
        let Some(object) = device.state.object() else { return };
        let topic = format!("{}/{}", self.options.map_topic, device.state.topic);
        self.stats.maps.fetch_add(1, Ordering::Relaxed);
        self.sinks.send(
            LiveKind::Map,
            Some(key),
            Publication::new(topic, wire::compact(&object), true),
        );
    }
}

/// The device topic of a message: its topic without the subtopic.
fn device_topic(message: &NewMessage) -> String {
    let topic = message.topic.as_str();
    match &message.subtopic {
        Some(sub) => topic.strip_suffix(sub.as_str()).map_or(topic, |t| t.trim_end_matches('/')),
        None => topic,
    }
    .to_owned()
}

/// The position of a Greenwich alarm, which is a location sent on its own subtopic.
fn alarm_fix(message: &Message) -> Option<Fix> {
    let json = &message.json;
    let lat = json.get("lat").and_then(Value::as_f64)?;
    let lon = json.get("lon").and_then(Value::as_f64)?;
    Some(Fix::from_json(message.tst?, lat, lon, json))
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outputs").field("options", &self.options).finish_non_exhaustive()
    }
}
