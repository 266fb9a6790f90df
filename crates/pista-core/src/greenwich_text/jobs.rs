//! Activo job tracking. An Activo box (a small terminal on a Greenwich's serial port) lists the
//! jobs a driver can pick and reports the one picked; the device relays its messages under
//! `<device topic>/proxy/jobs/...`. Names arrive first (`jobs/<n>`, `jobs/job/<n>`, a job's
//! tasks as `jobs/job/<n>/<task>`, `jobs/place/<n>`, `jobs/machine/<n>`), then events: the
//! active job (`jobs/active`, `0` for none) or the current job, task, place and machine at a
//! time given in the topic (`jobs/currentjob/<epoch>`). Each becomes one `gw-job` object with an
//! `event` of `name`, `active` or `current`.

use serde_json::{Map, Value};

use super::{Cx, GreenwichTextError, decimal, object};

/// Longest name kept, in characters; longer ones are refused, not cut.
const NAME_CHARS: usize = 200;

/// The levels after `proxy/jobs/`.
pub(super) enum JobTopic<'a> {
    Active,
    Current { tst: &'a str },
    Name { of: &'static str, id: &'a str, task: Option<&'a str> },
}

impl<'a> JobTopic<'a> {
    pub(super) fn parse(levels: &[&'a str]) -> Option<Self> {
        let topic = match levels {
            ["active"] => Self::Active,
            ["currentjob", tst] => Self::Current { tst },
            ["job", id] => Self::Name { of: "job", id, task: None },
            ["job", id, task] => Self::Name { of: "task", id, task: Some(task) },
            ["place", id] => Self::Name { of: "place", id, task: None },
            ["machine", id] => Self::Name { of: "machine", id, task: None },
            // The first firmware's job names: `jobs/<n>`.
            [id] if id.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() => {
                Self::Name { of: "job", id, task: None }
            }
            _ => return None,
        };
        Some(topic)
    }
}

impl Cx<'_> {
    pub(super) fn job(
        &self,
        topic: JobTopic<'_>,
        text: &str,
    ) -> Result<Map<String, Value>, GreenwichTextError> {
        match topic {
            JobTopic::Active => {
                let job = self.job_number(text, "a job number (0 for none)")?;
                Ok(object([("event", "active".into()), ("job", job.into())]))
            }
            JobTopic::Current { tst } => {
                let tst = self.job_number(tst, "a time in seconds since 1970")?;
                let expected = "four numbers: job task place machine";
                let fields: Vec<&str> = text.split_ascii_whitespace().collect();
                let [job, task, place, machine] = fields.as_slice() else {
                    return Err(self.bad(text, expected));
                };
                let mut value = object([("event", "current".into()), ("tst", tst.into())]);
                for (key, field) in
                    [("job", job), ("task", task), ("place", place), ("machine", machine)]
                {
                    value.insert(key.into(), self.job_number(field, expected)?.into());
                }
                Ok(value)
            }
            JobTopic::Name { of, id, task } => {
                let id = self.job_number(id, "a job, place or machine number")?;
                if text.chars().count() > NAME_CHARS || text.chars().any(char::is_control) {
                    return Err(self.bad(text, "a name of at most 200 characters on one line"));
                }
                let mut value = object([("event", "name".into()), ("of", of.into())]);
                match task {
                    Some(task) => {
                        let task = self.job_number(task, "a task number")?;
                        value.insert("job".into(), id.into());
                        value.insert("id".into(), task.into());
                    }
                    None => {
                        value.insert("id".into(), id.into());
                    }
                }
                value.insert("name".into(), text.into());
                Ok(value)
            }
        }
    }

    fn job_number(&self, text: &str, expected: &'static str) -> Result<i64, GreenwichTextError> {
        decimal(text).and_then(|n| i64::try_from(n).ok()).ok_or_else(|| self.bad(text, expected))
    }
}
