//! Pista's integration tests, as one test binary: each module drives real servers (this crate's
//! binary, Mosquitto, PostgreSQL, MariaDB, Redis) the way a user or a device would. One binary
//! instead of one per file keeps the build small and the link steps few; `cargo test -p pista
//! --test e2e MODULE::` runs one module.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod access_live;
mod admin;
mod backends;
mod backlog;
mod bug_cases;
mod cli;
mod common;
mod compaction;
mod config;
mod ctrld;
mod durability;
mod export;
mod http_edges;
mod import;
mod ingest;
mod job_control;
mod kill_drill;
mod load;
mod ocat;
mod odometer;
mod outputs;
mod pg_outage;
mod protocol;
mod recorder_api;
mod recorder_frontend;
mod replay;
mod retention;
mod stats;
mod tls;
mod tls_listeners;
mod tours;
mod track;
mod two_workers;
mod vectors;
mod web_ui;
