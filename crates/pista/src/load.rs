//! `pista load`: a load generator for benchmarks and drills. It simulates `--devices` devices
//! reporting realistic OwnTracks locations (a position drifting along a route, speed, course,
//! accuracy, battery, a new time per fix) and sends `--messages` of them as fast as the server
//! acknowledges: over MQTT, from `--connections` clients publishing QoS 1 with up to 100
//! messages in flight each; or over HTTP mode, from `--connections` concurrent clients posting
//! one point at a time. It reports how many were acknowledged, the rate, and for HTTP the
//! latency percentiles. Devices are spread over the connections, so each device's points
//! arrive in order.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pista_ingest::BrokerUrl;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::json;

/// What to send, and how.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub devices: usize,
    pub messages: usize,
    pub connections: usize,
    /// The user all simulated devices belong to.
    pub user: String,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    pub acknowledged: u64,
    pub refused: u64,
    pub elapsed: Duration,
    /// HTTP answer times, when over HTTP (50th, 99th percentile).
    pub latency: Option<(Duration, Duration)>,
}

impl LoadReport {
    pub fn rate(&self) -> f64 {
        self.acknowledged as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("--to {0:?} is not mqtt://host:port or http(s)://host:port/pub")]
    Target(String),
    #[error("--{flag} {value:?} is not a whole number from 1 to {max}")]
    Number { flag: &'static str, value: String, max: usize },
    #[error("mqtt broker {broker}: {detail}")]
    Mqtt { broker: String, detail: String },
}

/// The `n`th fix of device `device`: a point on a loop around a centre of its own.
pub fn fix(device: usize, n: usize) -> serde_json::Value {
    let angle = (n as f64) * 0.01 + device as f64;
    let (lat0, lon0) = (48.0 + (device % 100) as f64 * 0.05, 11.0 + (device / 100) as f64 * 0.05);
    json!({
        "_type": "location",
        "tid": format!("{:02}", device % 100),
        "tst": 1_700_000_000 + n as i64,
        "lat": ((lat0 + 0.01 * angle.sin()) * 1e6).round() / 1e6,
        "lon": ((lon0 + 0.01 * angle.cos()) * 1e6).round() / 1e6,
        "acc": 5 + (n % 20),
        "vel": 30 + (n % 50),
        "cog": (n * 7) % 360,
        "batt": 100 - (n / 100) % 100,
        "t": "u",
        "conn": "m",
    })
}

/// Runs `plan` against `target`.
pub async fn run(plan: &LoadPlan, target: &str) -> Result<LoadReport, LoadError> {
    if let Ok(url) = BrokerUrl::parse(target) {
        return mqtt(plan, &url).await;
    }
    match url::Url::parse(target) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(http(plan, url).await),
        _ => Err(LoadError::Target(target.to_owned())),
    }
}

/// The devices one connection sends for, and their messages in order.
fn share(plan: &LoadPlan, connection: usize) -> Vec<(String, Vec<u8>)> {
    let per_device = plan.messages.div_ceil(plan.devices);
    let mine: Vec<usize> =
        (0..plan.devices).filter(|d| d % plan.connections == connection).collect();
    let mut out = Vec::new();
    for n in 0..per_device {
        for &device in &mine {
            if n * plan.devices + device < plan.messages {
                let topic = format!("owntracks/{}/d{device}", plan.user);
                out.push((topic, fix(device, n).to_string().into_bytes()));
            }
        }
    }
    out
}

async fn mqtt(plan: &LoadPlan, url: &BrokerUrl) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    let acknowledged = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for connection in 0..plan.connections {
        let messages = share(plan, connection);
        let (url, acknowledged) = (url.clone(), acknowledged.clone());
        let id = format!("pista-load-{}-{connection}", std::process::id());
        tasks.push(tokio::spawn(async move {
            let mut options = url.client_options(&id, None);
            options.set_keep_alive(Duration::from_secs(30)).set_inflight(100);
            let (client, mut events) = AsyncClient::new(options, 1000);
            let total = messages.len();
            let publisher = tokio::spawn(async move {
                for (topic, payload) in messages {
                    if client.publish(topic, QoS::AtLeastOnce, false, payload).await.is_err() {
                        break;
                    }
                }
                client
            });
            let mut done = 0;
            while done < total {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        done += 1;
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(error) => return Err(error.to_string()),
                }
            }
            let client = publisher.await.map_err(|e| e.to_string())?;
            let _ = client.disconnect().await;
            Ok(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| e.to_string())
            .and_then(|result| result)
            .map_err(|detail| LoadError::Mqtt { broker: url.masked(), detail })?;
    }
    let acknowledged = acknowledged.load(Ordering::Relaxed);
    Ok(LoadReport { acknowledged, refused: 0, elapsed: started.elapsed(), latency: None })
}

async fn http(plan: &LoadPlan, url: url::Url) -> LoadReport {
    let started = Instant::now();
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for connection in 0..plan.connections {
        let messages = share(plan, connection);
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(messages.len());
            let mut refused = 0u64;
            for (topic, payload) in messages {
                let device = topic.rsplit('/').next().unwrap_or_default().to_owned();
                let user = topic.split('/').nth(1).unwrap_or_default().to_owned();
                let sent = Instant::now();
                let answer = client
                    .post(url.clone())
                    .header("X-Limit-U", user)
                    .header("X-Limit-D", device)
                    .body(payload)
                    .send()
                    .await;
                match answer {
                    Ok(answer) if answer.status().is_success() => times.push(sent.elapsed()),
                    _ => refused += 1,
                }
            }
            (times, refused)
        }));
    }
    let mut times = Vec::new();
    let mut refused = 0;
    for task in tasks {
        if let Ok((mine, no)) = task.await {
            times.extend(mine);
            refused += no;
        }
    }
    times.sort();
    let at = |q: f64| {
        times.get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1))).copied()
    };
    let latency = at(0.5).zip(at(0.99));
    LoadReport { acknowledged: times.len() as u64, refused, elapsed: started.elapsed(), latency }
}

/// `pista load ...` from the command line; prints the report.
pub async fn run_cli(args: &clap::ArgMatches) -> anyhow::Result<()> {
    let get = |name: &str| args.get_one::<String>(name).cloned().unwrap_or_default();
    let number = |flag: &'static str, max: usize| {
        let value = get(flag);
        value.parse::<usize>().ok().filter(|n| (1..=max).contains(n)).ok_or(LoadError::Number {
            flag,
            value,
            max,
        })
    };
    let plan = LoadPlan {
        devices: number("devices", 1_000_000)?,
        messages: number("messages", 100_000_000)?,
        connections: number("connections", 10_000)?,
        user: get("user"),
    };
    pista_core::UserName::parse(&plan.user).map_err(|e| anyhow::anyhow!("--user: {e}"))?;
    let target = get("to");
    let report = run(&plan, &target).await?;
    let rate = report.rate();
    print!(
        "acknowledged {} of {} in {:.2} s ({rate:.0}/s) from {} devices over {} connections",
        report.acknowledged,
        plan.messages,
        report.elapsed.as_secs_f64(),
        plan.devices,
        plan.connections
    );
    if let Some((p50, p99)) = report.latency {
        print!("; answer time p50 {:.1} ms, p99 {:.1} ms", ms(p50), ms(p99));
    }
    if report.refused > 0 {
        print!("; refused {}", report.refused);
    }
    println!();
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
