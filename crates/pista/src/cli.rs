//! The command line, built from the settings table so every setting has its flag and every flag
//! documents its environment variable.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::settings::{RawSettings, SettingsError, TABLE};

const ABOUT: &str =
    "Self-hosted back end for OwnTracks: MQTT and HTTP ingest, storage, Recorder-compatible API";
const SERVE: &str = "Run the server (embedded broker, ingest, HTTP API)";
const CONFIG: &str = "Print the effective configuration, secrets masked";

/// The `pista` command with its subcommands.
pub fn command() -> Command {
    Command::new("pista")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(with_settings(Command::new("serve").about(SERVE)))
        .subcommand(
            with_settings(Command::new("config").about(CONFIG)).arg(
                Arg::new("example")
                    .long("example")
                    .action(ArgAction::SetTrue)
                    .help("Print the documented example config file instead"),
            ),
        )
        .subcommand(replay_command())
}

fn with_settings(command: Command) -> Command {
    let command = command.arg(
        Arg::new("config")
            .long("config")
            .value_name("FILE")
            .env("PISTA_CONFIG")
            .help("TOML config file (see pista config --example)"),
    );
    TABLE.iter().fold(command, |command, setting| {
        command.arg(Arg::new(setting.flag).long(setting.flag).value_name("VALUE").help(format!(
            "{} [env {}]",
            setting.doc,
            setting.env_var()
        )))
    })
}

fn replay_command() -> Command {
    Command::new("replay")
        .about("Publish recorded messages (.rec lines or JSON lines) to a broker or over HTTP mode")
        .arg(
            Arg::new("file")
                .required(true)
                .value_name("FILE")
                .help("A .rec file or a JSON-lines file"),
        )
        .arg(
            Arg::new("to")
                .long("to")
                .value_name("URL")
                .default_value("mqtt://127.0.0.1:1883")
                .help("mqtt://[user:pass@]host:port, or http://host:port/pub for HTTP mode"),
        )
        .arg(
            Arg::new("speed")
                .long("speed")
                .value_name("FACTOR")
                .default_value("1")
                .help("Replay this many times faster than the recorded times"),
        )
        .arg(
            Arg::new("fast")
                .long("fast")
                .action(ArgAction::SetTrue)
                .help("Send as fast as possible, ignoring recorded times"),
        )
        .arg(
            Arg::new("topic")
                .long("topic")
                .value_name("TOPIC")
                .default_value("owntracks/replay/device")
                .help("Topic for lines that do not carry one"),
        )
        .arg(
            Arg::new("user")
                .long("user")
                .value_name("USER")
                .help("User for .rec lines (default: from the rec/USER/DEVICE/ path)"),
        )
        .arg(
            Arg::new("device")
                .long("device")
                .value_name("DEVICE")
                .help("Device for .rec lines (default: from the path)"),
        )
}

/// The layered settings of a `serve` or `config` invocation.
pub fn raw_settings(matches: &ArgMatches) -> Result<RawSettings, SettingsError> {
    let config = matches.get_one::<String>("config").map(PathBuf::from);
    let flags: Vec<(&str, String)> = TABLE
        .iter()
        .filter_map(|s| matches.get_one::<String>(s.flag).map(|v| (s.flag, v.clone())))
        .collect();
    RawSettings::load(config.as_deref(), |var| std::env::var(var).ok(), &flags)
}
