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
        .subcommand(with_settings(crate::import::command()))
        .subcommand(load_command())
        .subcommand(
            Command::new("secret")
                .about("Set, remove or list devices' encryption secrets (read from stdin)")
                .subcommand_required(true)
                .subcommand(with_settings(device_args(
                    Command::new("set")
                        .about("Set a device's secret: type it on standard input (one line)"),
                )))
                .subcommand(with_settings(device_args(
                    Command::new("del").about("Remove a device's secret"),
                )))
                .subcommand(with_settings(
                    Command::new("list").about("List devices that have a secret"),
                )),
        )
        .subcommand(
            Command::new("user")
                .about("Add, change, remove or list accounts (passwords read from stdin)")
                .subcommand_required(true)
                .subcommand(with_settings(
                    Command::new("add")
                        .about(
                            "Add USER with the password typed on standard input (one line); \
                             with none, a generated one is printed once",
                        )
                        .arg(positional("user"))
                        .arg(
                            Arg::new("admin")
                                .long("admin")
                                .action(ArgAction::SetTrue)
                                .help("An administrator: sees and manages everything"),
                        ),
                ))
                .subcommand(with_settings(
                    Command::new("passwd")
                        .about("Set USER's password, typed on standard input (one line)")
                        .arg(positional("user")),
                ))
                .subcommand(with_settings(
                    Command::new("del")
                        .about(
                            "Remove USER with its ACL entries, groups, tokens and shares \
                             (not its history)",
                        )
                        .arg(positional("user")),
                ))
                .subcommand(with_settings(Command::new("list").about("List the accounts"))),
        )
        .subcommand(
            Command::new("acl")
                .about("Which topics each user may read or write (MQTT filters with %u and %c)")
                .subcommand_required(true)
                .subcommand(with_settings(
                    Command::new("add")
                        .about("Let USER read (or with --write also write) topics matching FILTER")
                        .arg(positional("user"))
                        .arg(positional("filter"))
                        .arg(
                            Arg::new("write")
                                .long("write")
                                .action(ArgAction::SetTrue)
                                .help("Read and write, not only read"),
                        ),
                ))
                .subcommand(with_settings(
                    Command::new("del")
                        .about("Remove USER's entry for FILTER")
                        .arg(positional("user"))
                        .arg(positional("filter")),
                ))
                .subcommand(with_settings(
                    Command::new("list")
                        .about("List the entries, of every user or of USER")
                        .arg(Arg::new("user").value_name("USER")),
                )),
        )
        .subcommand(
            Command::new("group")
                .about("Groups of users that devices can be shared with")
                .subcommand_required(true)
                .subcommand(with_settings(
                    Command::new("add")
                        .about("Put USER(s) into GROUP (a group exists while it has members)")
                        .arg(positional("group"))
                        .arg(positional("user").num_args(1..)),
                ))
                .subcommand(with_settings(
                    Command::new("del")
                        .about("Take USER(s) out of GROUP, or with none remove the whole group")
                        .arg(positional("group"))
                        .arg(Arg::new("user").value_name("USER").num_args(0..)),
                ))
                .subcommand(with_settings(Command::new("list").about("List groups and members"))),
        )
        .subcommand(
            Command::new("share")
                .about("Show a user's device (or all of them) to another user or a group")
                .subcommand_required(true)
                .subcommand(with_settings(
                    Command::new("add")
                        .about("Share OWNER's DEVICE (or, without DEVICE, all of OWNER's devices)")
                        .arg(positional("owner"))
                        .arg(Arg::new("device").value_name("DEVICE"))
                        .arg(Arg::new("to").long("to").value_name("USER").help("Share with USER"))
                        .arg(
                            Arg::new("group")
                                .long("group")
                                .value_name("GROUP")
                                .conflicts_with("to")
                                .help("Share with every member of GROUP"),
                        )
                        .arg(
                            Arg::new("until")
                                .long("until")
                                .value_name("TIME")
                                .help("End of the share: 2026-12-24, 2026-12-24T18:00 (UTC), or epoch seconds"),
                        ),
                ))
                .subcommand(with_settings(
                    Command::new("del").about("Remove share ID").arg(positional("id")),
                ))
                .subcommand(with_settings(
                    Command::new("list")
                        .about("List shares, of every owner or of OWNER")
                        .arg(Arg::new("owner").value_name("OWNER")),
                )),
        )
        .subcommand(
            Command::new("token")
                .about("API tokens (for scripts and apps; shown once)")
                .subcommand_required(true)
                .subcommand(with_settings(
                    Command::new("add")
                        .about("Make a token for USER")
                        .arg(positional("user"))
                        .arg(Arg::new("label").long("label").value_name("TEXT"))
                        .arg(
                            Arg::new("days")
                                .long("days")
                                .value_name("N")
                                .value_parser(clap::value_parser!(u64).range(1..=3650))
                                .help("Days until it expires (default: never)"),
                        ),
                ))
                .subcommand(with_settings(
                    Command::new("del")
                        .about("Revoke USER's token ID")
                        .arg(positional("user"))
                        .arg(positional("id")),
                ))
                .subcommand(with_settings(
                    Command::new("list").about("List USER's tokens").arg(positional("user")),
                )),
        )
        .subcommand(
            Command::new("ctrld")
                .about("What ctrld tells the OwnTracksCTRL app (for everyone, or one --user)")
                .subcommand_required(true)
                .subcommand(with_settings(
                    Command::new("set")
                        .about("Set values (others keep theirs); unset ones come from the server")
                        .arg(Arg::new("user").long("user").value_name("USER"))
                        .arg(Arg::new("host").long("host").value_name("HOST"))
                        .arg(
                            Arg::new("port")
                                .long("port")
                                .value_name("PORT")
                                .value_parser(clap::value_parser!(u16).range(1..)),
                        )
                        .arg(
                            Arg::new("tls")
                                .long("tls")
                                .value_name("BOOL")
                                .value_parser(clap::value_parser!(bool)),
                        )
                        .arg(
                            Arg::new("auth")
                                .long("auth")
                                .value_name("BOOL")
                                .value_parser(clap::value_parser!(bool)),
                        )
                        .arg(Arg::new("certurl").long("certurl").value_name("URL"))
                        .arg(
                            Arg::new("trackurl")
                                .long("trackurl")
                                .value_name("URL")
                                .help("%u stands for the user"),
                        ),
                ))
                .subcommand(with_settings(
                    Command::new("del")
                        .about("Remove everyone's settings, or one --user's")
                        .arg(Arg::new("user").long("user").value_name("USER")),
                ))
                .subcommand(with_settings(Command::new("list").about("List the settings"))),
        )
        .subcommand(
            Command::new("friend")
                .about("Who sees whom in HTTP-mode answers")
                .subcommand_required(true)
                .subcommand(with_settings(friend_args(
                    Command::new("add").about("Let USER see FRIEND's DEVICE (or all devices)"),
                )))
                .subcommand(with_settings(friend_args(
                    Command::new("del").about("Undo a friend add"),
                )))
                .subcommand(with_settings(
                    Command::new("list").about("List whom USER sees").arg(positional("user")),
                )),
        )
        .subcommand(
            Command::new("card")
                .about("Names and faces shown to friends (per device, or per user)")
                .subcommand_required(true)
                .subcommand(with_settings(
                    Command::new("set")
                        .about("Set the card of USER (all devices) or of one DEVICE")
                        .arg(positional("user"))
                        .arg(Arg::new("device").value_name("DEVICE"))
                        .arg(Arg::new("name").long("name").value_name("NAME"))
                        .arg(
                            Arg::new("face")
                                .long("face")
                                .value_name("FILE")
                                .help("PNG or JPEG, about 192x192"),
                        ),
                ))
                .subcommand(with_settings(
                    Command::new("del")
                        .about("Remove the card of USER or of one DEVICE")
                        .arg(positional("user"))
                        .arg(Arg::new("device").value_name("DEVICE")),
                ))
                .subcommand(with_settings(Command::new("list").about("List cards"))),
        )
        .subcommand(
            with_settings(
                Command::new("quarantine")
                    .about("List messages that could not be used, with the reason")
                    .arg(Arg::new("user").long("user").value_name("USER"))
                    .arg(Arg::new("device").long("device").value_name("DEVICE"))
                    .arg(
                        Arg::new("all")
                            .long("all")
                            .action(ArgAction::SetTrue)
                            .help("Also list messages already released by a replay"),
                    ),
            )
            .subcommand(with_settings(
                Command::new("replay")
                    .about("Feed quarantined messages through ingest again (running server)")
                    .arg(Arg::new("user").long("user").value_name("USER"))
                    .arg(Arg::new("device").long("device").value_name("DEVICE"))
                    .arg(
                        Arg::new("reason")
                            .long("reason")
                            .value_name("REASON")
                            .help("Only this reason code, e.g. no_key"),
                    ),
            )),
        )
        .subcommand(export_command())
        .subcommand(ocat_command())
        .subcommand(delete_command())
        .subcommand(retention_command())
        .subcommand(with_settings(Command::new("compact").about(
            "Put a SQLite file's settled locations in device order now (the server does it in \
             the background)",
        )))
        .subcommand(with_settings(
            Command::new("monitor")
                .about("Ask the running server an o2smonitor command (loglevel, dump, info, imei)")
                .arg(
                    Arg::new("command")
                        .required(true)
                        .help("loglevel LEVEL, dump devices, info TID or imei TID"),
                )
                .arg(Arg::new("argument").help("The command's argument")),
        ))
        .subcommand(with_settings(
            device_args(Command::new("cmd").about(
                "Send a command to a device over MQTT and queue it for HTTP mode (running server)",
            ))
            .arg(
                Arg::new("action").required(true).help(
                    "reportLocation, dump, status, waypoints, setWaypoints, clearWaypoints, ...",
                ),
            )
            .arg(Arg::new("json").help("Extra members as a JSON object")),
        ))
}

fn positional(name: &'static str) -> Arg {
    Arg::new(name).required(true).value_name(name.to_ascii_uppercase())
}

fn device_args(command: Command) -> Command {
    command.arg(positional("user")).arg(positional("device"))
}

fn friend_args(command: Command) -> Command {
    command
        .arg(positional("user"))
        .arg(positional("friend"))
        .arg(Arg::new("device").value_name("DEVICE").help("One device of FRIEND (default: all)"))
}

fn with_settings(command: Command) -> Command {
    let command = command.arg(
        Arg::new("config")
            .long("config")
            .value_name("FILE")
            .env("PISTA_CONFIG")
            .help("TOML config file (see pista config --example)"),
    );
    let command = command.arg(
        Arg::new("recorder-config")
            .long("recorder-config")
            .value_name("FILE")
            .env("PISTA_RECORDER_CONFIG")
            .help(
                "The OwnTracks Recorder's configuration file (/etc/default/ot-recorder): its \
                 OTR_* settings are read as Pista's, below OTR_* variables",
            ),
    );
    // A command's own option of the same name (`ctrld set --auth`, the app's setting) goes
    // first: that setting of the server is not the command's business then.
    let own: Vec<String> = command.get_arguments().map(|arg| arg.get_id().to_string()).collect();
    TABLE.iter().filter(|setting| !own.iter().any(|id| id == setting.flag)).fold(
        command,
        |command, setting| {
            command.arg(
                Arg::new(setting.flag).long(setting.flag).value_name("VALUE").help(format!(
                    "{} [env {}]",
                    setting.doc,
                    setting.env_var()
                )),
            )
        },
    )
}

fn owner_args(command: Command) -> Command {
    command.arg(Arg::new("user").long("user").value_name("USER").required(true)).arg(
        Arg::new("device").long("device").value_name("DEVICE").help("One device (default: all)"),
    )
}

fn export_command() -> Command {
    let arg = |name: &'static str, value: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name(value).help(help)
    };
    with_settings(owner_args(Command::new("export").about(
        "Write a user's or device's history (fix times in a range) as .rec, GPX, GeoJSON, CSV, \
         KML, JSON or TXT",
    )))
    .arg(arg("from", "TIME", "First fix time: YYYY-MM-DD[THH:MM:SS], RFC 3339 or epoch"))
    .arg(arg("to", "TIME", "Last fix time (inclusive), same forms"))
    .arg(arg("format", "FORMAT", "rec, gpx, geojson, csv, kml, json or txt").required(true))
    .arg(arg("tz", "ZONE", "TXT's times in this IANA zone, e.g. Europe/Berlin (default UTC)"))
    .arg(arg("out", "FILE", "Write to FILE (complete or not at all) instead of stdout"))
}

fn ocat_command() -> Command {
    let arg = |name: &'static str, short: char, value: &'static str, help: &'static str| {
        Arg::new(name).long(name).short(short).value_name(value).help(help)
    };
    let flag = |name: &'static str, short: char, help: &'static str| {
        Arg::new(name).long(name).short(short).action(ArgAction::SetTrue).help(help)
    };
    with_settings(Command::new("ocat").about(
        "Read the history as the Recorder's ocat does: --list, --last, or a device's locations \
         in the Recorder's formats",
    ))
    .arg(flag("list", 'l', "Users; with --user, that user's devices"))
    .arg(flag("last", 'L', "The newest location of each device (of --user, of --device)"))
    .arg(arg("user", 'u', "USER", "The user").env("OCAT_USERNAME"))
    .arg(arg("device", 'd', "DEVICE", "The device").env("OCAT_DEVICE"))
    .arg(arg("from", 'F', "TIME", "First fix time (default: six hours ago, or none with --limit)"))
    .arg(arg("to", 'T', "TIME", "Last fix time (inclusive)"))
    .arg(arg("limit", 'N', "N", "Only the newest N points of the range"))
    .arg(
        arg(
            "format",
            'f',
            "FORMAT",
            "json, csv, geojson, geojsonpoi, linestring, gpx, xml, raw or payload",
        )
        .env("OCAT_FORMAT"),
    )
    .arg(Arg::new("fields").long("fields").value_name("A,B").help("Keep these members (ALL: all)"))
    .arg(
        Arg::new("dump")
            .long("dump")
            .value_name("WHAT")
            .help("friends, keys or cards, as ocat's `user-device VALUE` lines (keys masked)"),
    )
    .arg(
        Arg::new("load")
            .long("load")
            .value_name("WHAT")
            .help("friends, keys or cards, from `user-device VALUE` lines on standard input"),
    )
    .group(clap::ArgGroup::new("what").args(["list", "last", "dump", "load"]).multiple(false))
}

fn delete_command() -> Command {
    let time = |name: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name("TIME").help(help)
    };
    with_settings(owner_args(
        Command::new("delete").about(
            "Delete a user's or device's history in a range of fix times, or everything of it",
        ),
    ))
    .arg(time("from", "First fix time deleted: YYYY-MM-DD[THH:MM:SS], RFC 3339 or epoch"))
    .arg(time("to", "Last fix time deleted (inclusive), same forms"))
    .arg(
        Arg::new("all")
            .long("all")
            .action(ArgAction::SetTrue)
            .help("Everything of the user or device: history, regions, cards, secrets, registry"),
    )
}

fn retention_command() -> Command {
    Command::new("retention")
        .about("Per-user and per-device age limits of history, and the deletion log")
        .subcommand_required(true)
        .subcommand(with_settings(
            owner_args(Command::new("set").about("Set how many days USER or one DEVICE keeps"))
                .arg(
                    Arg::new("days")
                        .long("days")
                        .value_name("DAYS")
                        .required(true)
                        .help("Days kept, counted from each fix's time; 0 keeps everything"),
                ),
        ))
        .subcommand(with_settings(owner_args(
            Command::new("del").about("Remove a rule (the user's rule or the default applies)"),
        )))
        .subcommand(with_settings(
            Command::new("list").about("List the default, the rules and each device's days"),
        ))
        .subcommand(with_settings(
            Command::new("log")
                .about("List deletions, newest first")
                .arg(Arg::new("limit").long("limit").value_name("N").default_value("20")),
        ))
}

/// `--to`: where `replay` and `load` send.
fn target_arg() -> Arg {
    Arg::new("to")
        .long("to")
        .value_name("URL")
        .default_value("mqtt://127.0.0.1:1883")
        .help("mqtt://[user:pass@]host:port, or http://host:port/pub for HTTP mode")
}

fn load_command() -> Command {
    let number = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name("N").default_value(default).help(help)
    };
    Command::new("load")
        .about("Send simulated devices' locations as fast as the server acknowledges (benchmarks)")
        .arg(target_arg())
        .arg(number("devices", "50", "Simulated devices"))
        .arg(number("messages", "20000", "Locations to send in all"))
        .arg(number("connections", "10", "MQTT clients, or concurrent HTTP clients"))
        .arg(Arg::new("user").long("user").value_name("USER").default_value("load"))
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
        .arg(target_arg())
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
        // A command's own option of a setting's name is not that setting (see `with_settings`).
        .filter_map(|s| {
            matches.try_get_one::<String>(s.flag).ok().flatten().map(|v| (s.flag, v.clone()))
        })
        .collect();
    // The Recorder's file counts below its environment variables, as in the Recorder.
    let recorder = match matches.get_one::<String>("recorder-config") {
        Some(path) => crate::settings::recorder::read_config(std::path::Path::new(path))?,
        None => Default::default(),
    };
    let env = |var: &str| {
        std::env::var(var)
            .ok()
            .or_else(|| var.starts_with("OTR_").then(|| recorder.get(var).cloned()).flatten())
    };
    RawSettings::load(config.as_deref(), env, &flags)
}

#[cfg(test)]
mod tests {
    use super::{command, raw_settings};

    #[test]
    fn the_command_line_has_no_clashing_options() {
        command().debug_assert();
    }

    #[test]
    fn ctrld_set_auth_is_the_apps_setting_not_the_servers() {
        let matches = command()
            .try_get_matches_from(["pista", "ctrld", "set", "--auth", "false", "--port", "8883"])
            .unwrap();
        let (_, ctrld) = matches.subcommand().unwrap();
        let (_, set) = ctrld.subcommand().unwrap();
        assert_eq!(set.get_one::<bool>("auth"), Some(&false));
        let settings = raw_settings(set).unwrap().validate().unwrap();
        assert!(settings.auth, "the server's auth setting keeps its default");
    }
}
