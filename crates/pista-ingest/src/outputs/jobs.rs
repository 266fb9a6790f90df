//! Activo job tracking: per device, the names its job box gave to jobs, tasks, places and
//! machines, and the job running now. Both are loaded from storage at start, so unlike the
//! original (global name tables, lost on restart) a restart or a second device never changes
//! what a job is called. A `gw-job` message either names something (saved) or starts or ends a
//! job (recorded in the job history, then published as the `_job` object and in `_map`).

use std::collections::HashMap;

use pista_core::DeviceKey;
use pista_store::{DerivedStore, JobName, NewJob, StoreError, StoredJob};
use serde_json::{Map, Value};

/// A name's place in a device's table: kind, the task's job (0 for other kinds), number.
type NameKey = (String, i64, i64);

/// Names and running jobs of every device.
#[derive(Debug, Default)]
pub(crate) struct JobBook {
    names: HashMap<DeviceKey, HashMap<NameKey, String>>,
    pub running: HashMap<DeviceKey, StoredJob>,
    /// The `active` job number each device's latest event of the batch under way asked for
    /// (`0`: none), until the batch's events are recorded and `running` says so.
    pub batch_active: HashMap<DeviceKey, i64>,
}

/// What one `gw-job` message asks to record.
#[derive(Debug)]
pub(crate) enum JobChange {
    Name(JobName),
    /// Ends the running job at `at` and starts `start`, if any.
    Event {
        key: DeviceKey,
        device_topic: String,
        at: i64,
        start: Option<NewJob>,
    },
}

impl JobBook {
    pub async fn load(derived: &dyn DerivedStore) -> Result<Self, StoreError> {
        let mut book = Self::default();
        book.reload_names(derived).await?;
        for job in derived.jobs(None, true).await? {
            book.running.insert(job.key.clone(), job);
        }
        Ok(book)
    }

    /// Reads every device's names again (another ingest worker may have saved some).
    pub async fn reload_names(&mut self, derived: &dyn DerivedStore) -> Result<(), StoreError> {
        self.names.clear();
        for entry in derived.job_names().await? {
            self.names
                .entry(entry.key)
                .or_default()
                .insert((entry.kind, entry.job, entry.number), entry.name);
        }
        Ok(())
    }

    /// Reads a `gw-job` object; names take effect at once (a later message in the same batch
    /// sees them). `received_at` is the time of an `active` event.
    pub fn apply(
        &mut self,
        key: &DeviceKey,
        device_topic: &str,
        tid: &str,
        json: &Map<String, Value>,
        received_at: i64,
    ) -> Option<JobChange> {
        let number = |name: &str| json.get(name).and_then(Value::as_i64);
        match json.get("event").and_then(Value::as_str)? {
            "name" => {
                let kind = json.get("of").and_then(Value::as_str)?.to_owned();
                let text = json.get("name").and_then(Value::as_str)?.to_owned();
                let (job, id) = match kind.as_str() {
                    "task" => (number("job")?, number("id")?),
                    _ => (0, number("id")?),
                };
                let names = self.names.entry(key.clone()).or_default();
                names.insert((kind.clone(), job, id), text.clone());
                Some(JobChange::Name(JobName {
                    key: key.clone(),
                    kind,
                    job,
                    number: id,
                    name: text,
                }))
            }
            "active" => {
                let job = number("job")?;
                // The job running already, again: the box's echo of a job Pista set (both come
                // in on the same topic), or a retained copy sent again. No new start. What this
                // batch started counts before it is recorded.
                let again = match self.batch_active.get(key) {
                    Some(latest) => *latest == job,
                    None => self.running.get(key).is_some_and(|r| r.job == job.to_string()),
                };
                if job != 0 && again {
                    tracing::debug!(device = %key, job, "the running job again; no new start");
                    return None;
                }
                self.batch_active.insert(key.clone(), job);
                let start = (job != 0).then(|| NewJob {
                    tid: tid.to_owned(),
                    job: job.to_string(),
                    jobname: self.name(key, "job", 0, job).unwrap_or(&job.to_string()).to_owned(),
                    started_at: received_at,
                });
                let device_topic = device_topic.to_owned();
                Some(JobChange::Event { key: key.clone(), device_topic, at: received_at, start })
            }
            "current" => {
                let at = number("tst")?;
                let parts = ["job", "task", "place", "machine"].map(number);
                let [Some(job), Some(task), Some(place), Some(machine)] = parts else {
                    return None;
                };
                let start = (job != 0).then(|| NewJob {
                    tid: tid.to_owned(),
                    job: format!("{job}/{task}/{place}/{machine}"),
                    jobname: self.current_name(key, [job, task, place, machine]),
                    started_at: at,
                });
                let device_topic = device_topic.to_owned();
                Some(JobChange::Event { key: key.clone(), device_topic, at, start })
            }
            _ => None,
        }
    }

    fn name(&self, key: &DeviceKey, kind: &str, job: i64, number: i64) -> Option<&String> {
        self.names.get(key)?.get(&(kind.to_owned(), job, number))
    }

    /// The job's name, then its task's, place's and machine's, each only while the ones before
    /// it are known; the numbers when the job is not.
    fn current_name(&self, key: &DeviceKey, [job, task, place, machine]: [i64; 4]) -> String {
        let Some(name) = self.name(key, "job", 0, job) else {
            return format!("{job} {task} {place} {machine}");
        };
        let mut text = name.clone();
        let rest = [("task", job, task), ("place", 0, place), ("machine", 0, machine)];
        for (kind, parent, number) in rest {
            match self.name(key, kind, parent, number) {
                Some(name) => {
                    text.push(' ');
                    text.push_str(name);
                }
                None => break,
            }
        }
        text
    }
}

/// The `_job` object (the original's keys): `topic`, `tid`, `job` (a number, or
/// `job/task/place/machine`), `jobname`, `jobstart`, and `jobend` and `jobduration` (null while
/// the job runs).
pub(crate) fn job_object(device_topic: &str, job: &StoredJob) -> Value {
    let mut object = Map::new();
    object.insert("topic".into(), device_topic.into());
    object.insert("tid".into(), job.tid.clone().into());
    object.insert("job".into(), job_value(&job.job));
    object.insert("jobname".into(), job.jobname.clone().into());
    object.insert("jobstart".into(), job.started_at.into());
    object.insert("jobend".into(), job.ended_at.into());
    object.insert("jobduration".into(), job.duration.into());
    Value::Object(object)
}

/// A job as the device objects show it: a plain job number as a number.
pub fn job_value(job: &str) -> Value {
    job.parse::<i64>().map_or_else(|_| Value::from(job), Value::from)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn active(book: &mut JobBook, key: &DeviceKey, job: i64, at: i64) -> Option<JobChange> {
        let Value::Object(message) = json!({"_type": "gw-job", "event": "active", "job": job})
        else {
            unreachable!("an object")
        };
        book.apply(key, "owntracks/fleet/truck", "TR", &message, at)
    }

    fn started(change: Option<JobChange>) -> Option<String> {
        match change {
            Some(JobChange::Event { start, .. }) => Some(start.map_or("end".into(), |s| s.job)),
            _ => None,
        }
    }

    #[test]
    fn a_job_and_its_echo_in_one_batch_start_once() {
        let key = DeviceKey::parse("fleet", "truck").unwrap_or_else(|e| panic!("{e}"));
        let mut book = JobBook::default();
        // Nothing recorded in between: the command Pista published and the box's echo.
        assert_eq!(started(active(&mut book, &key, 4, 100)), Some("4".into()));
        assert_eq!(started(active(&mut book, &key, 4, 101)), None);
        // Another job, the end, and the first job again are all events.
        assert_eq!(started(active(&mut book, &key, 5, 102)), Some("5".into()));
        assert_eq!(started(active(&mut book, &key, 0, 103)), Some("end".into()));
        assert_eq!(started(active(&mut book, &key, 4, 104)), Some("4".into()));
    }
}
