//! Activo job names and job history of [`DerivedStore`]: names replaced per device, kind and
//! number; starting a job ends the running one in the same step; history read back exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use pista_core::{DeviceKey, Location, Replay, Source};
use pista_store::{
    DerivedStore, JobName, NewBody, NewJob, NewMessage, SqlStore, Storage, StoredJob,
};
use serde_json::json;

/// Stores one fix so the device has its row.
async fn device(store: &SqlStore, user: &str, name: &str) -> DeviceKey {
    let key = DeviceKey::parse(user, name).unwrap();
    let object = json!({"_type": "location", "lat": 1.0, "lon": 2.0, "tst": 1_700_000_000});
    let serde_json::Value::Object(object) = object else { unreachable!() };
    let location = Location::from_json(object, || key.device.default_tid()).unwrap();
    let message = NewMessage {
        key: Some(key.clone()),
        topic: format!("owntracks/{user}/{name}"),
        subtopic: None,
        source: Source::Http,
        retained: false,
        replay: Replay::Fresh,
        received_at: 1_700_000_000,
        body: NewBody::Location {
            location: Box::new(location),
            payload: "{}".into(),
            original: None,
        },
    };
    store.write(&[message]).await.unwrap();
    key
}

fn name(key: &DeviceKey, kind: &str, job: i64, number: i64, text: &str) -> JobName {
    JobName { key: key.clone(), kind: kind.into(), job, number, name: text.into() }
}

async fn names_are_kept_per_device_and_replaced_by_kind_and_number(store: &SqlStore) {
    let truck = device(store, "fleet", "truck").await;
    let van = device(store, "fleet", "van").await;
    let first = [
        name(&truck, "job", 0, 3, "Gravel run"),
        name(&truck, "task", 3, 2, "Unload"),
        name(&truck, "place", 0, 3, "North quarry"),
        name(&van, "job", 0, 3, "Bakery round"),
    ];
    store.put_job_names(&first, 100).await.unwrap();
    store.put_job_names(&[name(&truck, "job", 0, 3, "Sand run")], 200).await.unwrap();

    let want = vec![
        name(&truck, "job", 0, 3, "Sand run"),
        name(&truck, "task", 3, 2, "Unload"),
        name(&truck, "place", 0, 3, "North quarry"),
        name(&van, "job", 0, 3, "Bakery round"),
    ];
    assert_eq!(store.job_names().await.unwrap(), want);
}

async fn starting_a_job_ends_the_running_one_and_history_reads_back(store: &SqlStore) {
    let truck = device(store, "fleet", "truck").await;
    let van = device(store, "fleet", "van").await;
    let job = |job: &str, jobname: &str, started_at: i64| NewJob {
        tid: "TR".into(),
        job: job.into(),
        jobname: jobname.into(),
        started_at,
    };
    let stored = |id: i64, key: &DeviceKey, new: &NewJob, end: Option<i64>| StoredJob {
        id,
        key: key.clone(),
        tid: new.tid.clone(),
        job: new.job.clone(),
        jobname: new.jobname.clone(),
        started_at: new.started_at,
        ended_at: end,
        duration: end.map(|end| end - new.started_at),
    };

    let gravel = job("3", "Gravel run", 1_000);
    let started = store.record_job(&truck, 1_000, Some(&gravel)).await.unwrap();
    assert_eq!(started, vec![stored(1, &truck, &gravel, None)]);

    let bakery = job("7/1/2/0", "Bakery round Load Depot", 1_100);
    store.record_job(&van, 1_100, Some(&bakery)).await.unwrap();

    // The next job ends the running one at its own start.
    let sand = job("4", "Sand run", 1_600);
    let switched = store.record_job(&truck, 1_600, Some(&sand)).await.unwrap();
    assert_eq!(
        switched,
        vec![stored(1, &truck, &gravel, Some(1_600)), stored(3, &truck, &sand, None)]
    );

    // Job 0 ends it; ending again finds nothing running.
    let ended = store.record_job(&truck, 2_000, None).await.unwrap();
    assert_eq!(ended, vec![stored(3, &truck, &sand, Some(2_000))]);
    assert_eq!(store.record_job(&truck, 2_100, None).await.unwrap(), vec![]);

    // An end before the start (a late message) never makes a negative duration.
    let early = job("5", "Early", 3_000);
    store.record_job(&truck, 3_000, Some(&early)).await.unwrap();
    let ended = store.record_job(&truck, 2_900, None).await.unwrap();
    assert_eq!(ended[0].duration, Some(0));
    assert_eq!(ended[0].ended_at, Some(2_900));

    let truck_jobs = store.jobs(Some(&truck), false).await.unwrap();
    let ids: Vec<(i64, Option<i64>)> = truck_jobs.iter().map(|j| (j.id, j.duration)).collect();
    assert_eq!(ids, [(1, Some(600)), (3, Some(400)), (4, Some(0))]);
    assert_eq!(store.jobs(None, true).await.unwrap(), vec![stored(2, &van, &bakery, None)]);
    assert_eq!(store.jobs(None, false).await.unwrap().len(), 4);
}

backends!(
    names_are_kept_per_device_and_replaced_by_kind_and_number,
    starting_a_job_ends_the_running_one_and_history_reads_back
);
