//! Settings: the committed example file is what the code generates, sources layer in the
//! documented order, and every bad value stops start-up with the key, the value, its origin and
//! what is allowed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;

use pista::settings::{Origin, RawSettings, effective_toml, example_toml};

fn load(
    file: Option<&str>,
    env: &[(&str, &str)],
    flags: &[(&str, &str)],
) -> Result<RawSettings, String> {
    let mut config = tempfile::NamedTempFile::new().unwrap();
    if let Some(text) = file {
        config.write_all(text.as_bytes()).unwrap();
    }
    let env: HashMap<String, String> =
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let flags: Vec<(&str, String)> = flags.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let path = file.map(|_| config.path().to_owned());
    RawSettings::load(path.as_deref(), |var| env.get(var).cloned(), &flags)
        .map_err(|e| e.to_string())
}

#[test]
fn the_committed_example_file_is_current() {
    let committed = include_str!("../../../pista.example.toml");
    assert!(
        committed == example_toml(),
        "pista.example.toml is stale: run `cargo run -- config --example > pista.example.toml`"
    );
    // The example, uncommented, is itself a valid config with the default values.
    let uncommented: String = committed
        .lines()
        .filter(|l| !l.starts_with("# ") && *l != "#")
        .map(|l| format!("{}\n", l.strip_prefix('#').unwrap_or(l)))
        .collect();
    let settings = load(Some(&uncommented), &[], &[]).unwrap().validate().unwrap();
    assert_eq!(
        (settings.http.to_string(), settings.broker.map(|a| a.to_string())),
        ("127.0.0.1:8083".into(), Some("127.0.0.1:1883".into()))
    );
    // Its two example fences, a circle and a polygon for one user.
    let fences: Vec<(&str, Option<f64>, usize, Option<String>)> = settings
        .fences
        .iter()
        .map(|f| {
            let corners = f.polygon.as_ref().map_or(0, Vec::len);
            (f.name.as_str(), f.radius, corners, f.user.as_ref().map(ToString::to_string))
        })
        .collect();
    assert_eq!(
        fences,
        [("Depot", Some(150.0), 0, None), ("Yard", None, 3, Some("fleet".to_owned()))]
    );
}

#[test]
fn configured_fences_are_checked_like_api_fences() {
    let fence = |body: &str| {
        let file = format!("[[fence]]\nname = \"Home\"\n{body}\n");
        load(Some(&file), &[], &[]).unwrap().validate().map(|s| s.fences).map_err(|e| e.to_string())
    };
    let home = fence("lat = 52.5\nlon = 13.4\nradius = 100\nwebhook = \"https://hooks.example/a\"")
        .unwrap();
    assert_eq!(
        (home[0].lat, home[0].lon, home[0].radius, home[0].webhook.as_deref()),
        (52.5, 13.4, Some(100.0), Some("https://hooks.example/a"))
    );
    assert_eq!(home[0].source.as_str(), "config");

    let cases = [
        ("lat = 52.5\nlon = 13.4", "fence radius is required (or give a polygon)"),
        ("lat = 91\nlon = 13.4\nradius = 5", "fence latitude 91 is not a number within -90..=90"),
        ("lat = 52.5\nlon = 13.4\nradius = \"far\"", "fence radius \"far\" is not a number"),
        (
            "polygon = [[1, 2], [3, 4]]",
            "fence polygon has 2 distinct points, at least 3 are needed",
        ),
        (
            "lat = 1\nlon = 2\nradius = 5\ncolour = \"red\"",
            "fence field \"colour\" is unknown; fields: name, lat, lon, radius, polygon, user, webhook",
        ),
        (
            "lat = 1\nlon = 2\nradius = 5\nwebhook = \"ftp://x\"",
            "fence webhook \"ftp://x\" is not an http(s) URL",
        ),
    ];
    for (body, reason) in cases {
        let error = fence(body).unwrap_err();
        assert!(error.ends_with(&format!("[[fence]] number 1 (\"Home\"): {reason}")), "{error}");
    }
    let twice = "[[fence]]\nname = \"A\"\nlat = 1\nlon = 2\nradius = 5\n\n\
                 [[fence]]\nname = \"A\"\nlat = 3\nlon = 4\nradius = 5\n";
    let error = load(Some(twice), &[], &[]).unwrap().validate().unwrap_err().to_string();
    assert!(
        error.ends_with("[[fence]] number 2 (\"A\"): another [[fence]] has the same name"),
        "{error}"
    );
    let unnamed = load(Some("[[fence]]\nlat = 1\n"), &[], &[]).unwrap().validate().unwrap_err();
    assert!(
        unnamed
            .to_string()
            .ends_with("[[fence]] number 1: fence name is required (a non-empty string)"),
        "{unnamed}"
    );
    for file in ["fence = [1]\n", "fence = \"Home\"\n"] {
        let error = load(Some(file), &[], &[]).unwrap_err();
        let want = "[[fence]] number 1: write each fence as a [[fence]] table of fields";
        assert!(error.ends_with(want), "{error}");
    }
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let file = "data_dir = \"/srv/pista\"\n[http]\nlisten = \"127.0.0.1:1\"\n[broker]\nlisten = \"127.0.0.1:2\"\n[mqtt]\nbase_topics = [\"owntracks/#\", \"/owntracks/#\"]\n";
    let raw = load(
        Some(file),
        &[("PISTA_HTTP", "127.0.0.1:3"), ("PISTA_BROKER", "off")],
        &[("http", "127.0.0.1:4")],
    )
    .unwrap();
    let settings = raw.validate().unwrap();
    assert_eq!(settings.http.to_string(), "127.0.0.1:4");
    assert_eq!(settings.broker, None);
    assert_eq!(settings.base_topics, ["owntracks/#", "/owntracks/#"]);
    assert_eq!(settings.database, "sqlite:///srv/pista/pista.db");
    assert_eq!(raw.get("http.listen").1, &Origin::Flag("http".into()));
    assert_eq!(raw.get("broker.listen").1, &Origin::Env("PISTA_BROKER".into()));
    assert!(matches!(raw.get("data_dir").1, Origin::File(_)));
}

#[test]
fn an_external_broker_turns_the_embedded_one_off_unless_it_is_asked_for() {
    let alone = load(None, &[], &[("mqtt", "mqtt://127.0.0.1:1883")]).unwrap().validate().unwrap();
    assert_eq!(
        (alone.mqtt.map(|u| u.masked()), alone.broker),
        (Some("mqtt://127.0.0.1:1883".to_owned()), None)
    );
    let both = load(None, &[], &[("mqtt", "mqtt://127.0.0.1:1883"), ("broker", "127.0.0.1:1884")])
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(both.broker.map(|a| a.to_string()), Some("127.0.0.1:1884".to_owned()));
}

#[test]
fn the_public_url_is_optional_and_loses_its_trailing_slash() {
    let flags = [("public-url", "https://example.org/pista/")];
    let settings = load(None, &[], &flags).unwrap().validate().unwrap();
    assert_eq!(settings.public_url.as_deref(), Some("https://example.org/pista"));
    let settings = load(None, &[], &[]).unwrap().validate().unwrap();
    assert_eq!(settings.public_url, None);
}

#[test]
fn bad_values_name_the_key_the_value_the_origin_and_what_is_allowed() {
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Pairs, Pairs, &str)] = &[
        (
            &[],
            &[("http", "localhost")],
            "invalid http.listen = \"localhost\" (from flag --http): an IP address and port such as 127.0.0.1:8083 or [::1]:8083",
        ),
        (
            &[("PISTA_BROKER", "1883")],
            &[],
            "invalid broker.listen = \"1883\" (from environment PISTA_BROKER): off, or an IP address and port such as 127.0.0.1:1883",
        ),
        (
            &[],
            &[("mqtt", "http://u:pw@x")],
            "invalid mqtt.url = \"http://u:***@x\" (from flag --mqtt): scheme \"http\" is not allowed; expected mqtt://[user[:password]@]host[:port] or mqtts://...",
        ),
        (
            &[],
            &[("mqtt", "mqtts://u:pw@broker")],
            "invalid mqtt.url = \"mqtts://u:***@broker\" (from flag --mqtt): an mqtts:// broker needs mqtt.ca_file (--mqtt-ca-file)",
        ),
        (
            &[],
            &[("mqtt-base-topics", "owntracks/#/x")],
            "invalid mqtt.base_topics = \"owntracks/#/x\" (from flag --mqtt-base-topics): one or more MQTT topic filters such as owntracks/# (+ for one level, # last)",
        ),
        (
            &[],
            &[("http-max-body", "0")],
            "invalid http.max_body = \"0\" (from flag --http-max-body): a whole number from 1 to 1073741824",
        ),
        (
            &[],
            &[("database", "postgres://u:pw@db")],
            "invalid database.url = \"postgres://u:***@db\" (from flag --database): sqlite://PATH, postgres://[user[:password]@]host[:port]/database or mysql://[user[:password]@]host[:port]/database",
        ),
        (
            &[],
            &[("mqtt-keepalive", "70000")],
            "invalid mqtt.keepalive = \"70000\" (from flag --mqtt-keepalive): a whole number from 1 to 65535",
        ),
        (
            &[],
            &[("broker-max-packet", "4294967297")],
            "invalid broker.max_packet = \"4294967297\" (from flag --broker-max-packet): a whole number from 1 to 268435455",
        ),
        (
            &[],
            &[("log", "verbose")],
            "invalid log = \"verbose\" (from flag --log): levels (error, warn, info, debug, trace, off) or target=level directives, e.g. info or warn,pista_ingest=debug",
        ),
        (
            &[],
            &[("http", "127.0.0.1:1883")],
            "invalid broker.listen = \"127.0.0.1:1883\" (from default): an address other than http.listen",
        ),
        (
            &[],
            &[("mqtt", "mqtt://u:env/secret@host")],
            "invalid mqtt.url = \"mqtt://u:***@host\" (from flag --mqtt): invalid port number (percent-encode / : @ % in the user and password); expected mqtt://[user[:password]@]host[:port] or mqtts://...",
        ),
        (
            &[],
            &[("mqtt", "mqtt://host:0")],
            "invalid mqtt.url = \"mqtt://host:0\" (from flag --mqtt): port 0 is not a port; expected mqtt://[user[:password]@]host[:port] or mqtts://...",
        ),
        (
            &[],
            &[("database", "sqlite:")],
            "invalid database.url = \"sqlite:\" (from flag --database): sqlite://PATH with a file path",
        ),
        (
            &[],
            &[("log", "pista=loud")],
            "invalid log = \"pista=loud\" (from flag --log): levels (error, warn, info, debug, trace, off) or target=level directives, e.g. info or warn,pista_ingest=debug",
        ),
        (
            &[],
            &[("alarm-command", "/nonexistent/page-me,--now")],
            "invalid alarm.command = \"/nonexistent/page-me,--now\" (from flag --alarm-command): a program that exists and may be run (\"/nonexistent/page-me\" is not one)",
        ),
        (
            &[],
            &[("job-topic", "_owntracks/_map/jobs")],
            "invalid outputs.map_topic = \"_owntracks/_map\" (from default): a topic apart from outputs.job_topic (_owntracks/_map/jobs), not the same or inside it",
        ),
        (
            &[],
            &[("retention-interval", "0")],
            "invalid retention.interval = \"0\" (from flag --retention-interval): a whole number from 1 to 604800",
        ),
        (
            &[("PISTA_RETENTION_DAYS", "-5")],
            &[],
            "invalid retention.days = \"-5\" (from environment PISTA_RETENTION_DAYS): a whole number from 0 to 36500",
        ),
        (
            &[],
            &[("geocode-language", "de")],
            "invalid geocode.language = \"de\" (from flag --geocode-language): unset with the offline geocoder (its names are in the local language) or off",
        ),
        (
            &[("PISTA_PUBLIC_URL", "pista.example.org")],
            &[],
            "invalid http.public_url = \"pista.example.org\" (from environment PISTA_PUBLIC_URL): an http:// or https:// URL such as https://pista.example.org/pista (a host, optional port and path; no query, fragment or login)",
        ),
        (
            &[],
            &[("public-url", "https://x.org/?q=1")],
            "invalid http.public_url = \"https://x.org/?q=1\" (from flag --public-url): an http:// or https:// URL such as https://pista.example.org/pista (a host, optional port and path; no query, fragment or login)",
        ),
    ];
    for (env, flags, want) in cases {
        let error = load(None, env, flags).unwrap().validate().unwrap_err();
        assert_eq!(error.to_string(), *want);
    }
}

#[test]
fn config_files_with_unknown_keys_or_bad_toml_are_refused() {
    let unknown = load(Some("[mqtt]\nhost = \"x\"\n"), &[], &[]).unwrap_err();
    assert!(unknown.ends_with("unknown key \"mqtt.host\"; known keys: data_dir, log, http.listen, http.max_body, http.cors_origins, http.static_dir, http.static_path, http.views_dir, http.public_url, http.tls_listen, ui.tiles, ui.tiles_attribution, auth.enabled, auth.admin_password, broker.listen, broker.tls_listen, broker.ws_listen, broker.wss_listen, broker.max_packet, tls.cert, tls.key, tls.ca_file, tls.local_ca, tls.names, mqtt.url, mqtt.ca_file, mqtt.client_id, mqtt.base_topics, mqtt.keepalive, ingest.time_floor, ingest.t_ignore, ingest.skip_retained, ingest.tid_map, ingest.rawdata, ingest.rawdata_days, retention.days, retention.interval, retention.chunk, outputs.mqtt, outputs.map_topic, outputs.look_topic, outputs.alert_topic, outputs.job_topic, outputs.alert_keys, outputs.monitor_topic, outputs.plmn, outputs.webhooks, outputs.webhook_attempts, outputs.webhook_timeout, alarm.command, alarm.webhooks, alarm.timeout, fences.margin, fences.dwell, geocode.provider, geocode.url, geocode.key, geocode.language, geocode.rate, geocode.precision, geocode.timeout, redis.url, redis.prefix, database.url, database.compact, [[fence]]"), "{unknown}");
    let bad = load(Some("[http\n"), &[], &[]).unwrap_err();
    assert!(bad.contains("is not valid TOML"), "{bad}");
    let typed = load(Some("[http]\nlisten = { a = 1 }\n"), &[], &[]).unwrap_err();
    assert!(
        typed.ends_with("http.listen must be text, a number, true/false or a list of text"),
        "{typed}"
    );
    let missing =
        RawSettings::load(Some(std::path::Path::new("/nonexistent/pista.toml")), |_| None, &[])
            .unwrap_err();
    assert_eq!(missing.to_string(), "cannot read config file /nonexistent/pista.toml");
    let cause = std::error::Error::source(&missing).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("No such file or directory (os error 2)"));
}

#[test]
fn the_effective_config_masks_secrets_and_says_where_values_come_from() {
    let raw = load(
        None,
        &[("PISTA_DATABASE", "sqlite:///tmp/x.db"), ("PISTA_GEOCODE_KEY", "GEOKEYSECRET")],
        &[("mqtt", "mqtt://jane:s3cret@broker.example:1883")],
    )
    .unwrap();
    let text = effective_toml(&raw);
    assert!(!text.contains("s3cret") && !text.contains("GEOKEYSECRET"), "{text}");
    for line in [
        "url = \"mqtt://jane:***@broker.example:1883\"  # flag --mqtt",
        "listen = \"off\"  # default: off because mqtt.url is set",
        "url = \"sqlite:///tmp/x.db\"  # environment PISTA_DATABASE",
        "base_topics = [\"owntracks/#\", \"/owntracks/#\"]  # default",
        "key = \"***\"  # environment PISTA_GEOCODE_KEY",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn passwords_stay_hidden_however_the_url_is_mistyped() {
    for (typed, shown) in [
        ("mqtt:u:secret1@host", "***@host"),
        ("mqtt:/u:secret2@host", "***@host"),
        ("u:secret3@host:1883", "***@host:1883"),
    ] {
        let error = load(None, &[("PISTA_MQTT", typed)], &[]).unwrap().validate().unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!(
                "invalid mqtt.url = \"{shown}\" (from environment PISTA_MQTT)"
            )),
            "{text}"
        );
        assert!(!text.contains("secret") && !text.contains("ss@"), "{text}");
    }
}

#[test]
fn ingest_switches_validate_and_print_as_toml() {
    let raw = load(
        Some("[ingest]\nskip_retained = true\nt_ignore = [\"p\"]\n"),
        &[("PISTA_RAWDATA", "yes"), ("PISTA_TID_MAP", "owntracks/jane/phone=JP, /a/b/c=AB")],
        &[("time-floor", "2010-01-01")],
    )
    .unwrap();
    let settings = raw.validate().unwrap();
    assert_eq!(
        (settings.skip_retained, settings.rawdata, settings.t_ignore.clone(), settings.time_floor),
        (true, true, vec!["p".to_owned()], 1_262_304_000)
    );
    assert_eq!(
        settings.tid_map,
        [
            ("owntracks/jane/phone".to_owned(), "JP".to_owned()),
            ("a/b/c".to_owned(), "AB".to_owned())
        ]
    );
    let text = effective_toml(&raw);
    assert!(text.lines().any(|l| l == "rawdata = true  # environment PISTA_RAWDATA"), "{text}");
    assert!(toml::from_str::<toml::Table>(&text).is_ok(), "{text}");
    for (flag, value, allowed) in [
        ("t-ignore", "pp", "single-letter triggers such as p or p,t"),
        ("tid-map", "owntracks/jane/phone", "entries topic=TID such as owntracks/jane/phone=JP"),
        ("time-floor", "1969-12-31", "a date after 1970 such as 2008-01-01"),
        ("rawdata", "maybe", "true or false"),
    ] {
        let error = load(None, &[], &[(flag, value)]).unwrap().validate().unwrap_err();
        assert!(error.to_string().ends_with(allowed), "{error}");
    }
}

#[test]
fn the_recorders_settings_carry_over_below_pistas_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ot-recorder");
    std::fs::write(
        &file,
        "# /etc/default/ot-recorder\nOTR_HOST = \"broker.lan\";\nOTR_PORT = 1883;\n\
         OTR_TOPICS = \"owntracks/# fleet/#\";\nOTR_HTTPPORT = 8090;\nOTR_LUASCRIPT = \"x.lua\";\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pista"))
        .args(["config", "--recorder-config"])
        .arg(&file)
        .env_clear()
        .env("OTR_PORT", "8883")
        .env("OTR_CAFILE", "/etc/ssl/ca.pem")
        .env("OTR_USER", "rec")
        .env("OTR_PASS", "s3cret")
        .env("PISTA_MQTT_CLIENT_ID", "pista-1")
        .env("OTR_CLIENTID", "recorder-1")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| ["Recorder", "PISTA_", "# OTR_", "because"].iter().any(|p| l.contains(p)))
        .collect();
    assert_eq!(
        lines,
        [
            "listen = \"127.0.0.1:8090\"  # the Recorder's OTR_HTTPHOST+OTR_HTTPPORT",
            "listen = \"off\"  # default: off because mqtt.url is set",
            "url = \"mqtts://rec:***@broker.lan:8883\"  # the Recorder's OTR_HOST+OTR_PORT",
            "ca_file = \"/etc/ssl/ca.pem\"  # the Recorder's OTR_CAFILE",
            "client_id = \"pista-1\"  # environment PISTA_MQTT_CLIENT_ID",
            "base_topics = [\"owntracks/#\", \"fleet/#\"]  # the Recorder's OTR_TOPICS",
            "# OTR_LUASCRIPT is not used: there are no Lua hooks; see webhooks",
        ]
    );
}

#[test]
fn pistas_config_file_beats_the_recorders_settings_and_listeners_do_not_clash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pista.toml");
    std::fs::write(&file, "[http]\nlisten = \"127.0.0.1:6666\"\n").unwrap();
    let env = |var: &str| match var {
        "OTR_HTTPPORT" => Some("9999".to_owned()),
        "OTR_HOST" => Some("broker.lan".to_owned()),
        _ => None,
    };
    let raw = pista::settings::RawSettings::load(Some(&file), env, &[]).unwrap();
    let settings = raw.validate().unwrap();
    assert_eq!(settings.http.to_string(), "127.0.0.1:6666");
    assert_eq!(raw.get("mqtt.url").0, "mqtt://broker.lan:1883");
    // The Recorder's HTTP off is not Pista's: it says so and keeps its own listener.
    let env = |var: &str| (var == "OTR_HTTPPORT").then(|| "0".to_owned());
    let raw = pista::settings::RawSettings::load(None, env, &[]).unwrap();
    assert_eq!(raw.get("http.listen").0, "127.0.0.1:8083");
    assert_eq!(
        raw.recorder_unused(),
        ["OTR_HTTPPORT=0 is not used: Pista always serves HTTP (http.listen, loopback by default)"]
    );
    // Two listeners on one address are refused by name before anything binds.
    let flags = [
        ("broker-ws", "127.0.0.1:8080".to_owned()),
        ("broker-wss", "127.0.0.1:8080".to_owned()),
        ("tls-local-ca", "true".to_owned()),
    ];
    let raw = pista::settings::RawSettings::load(None, |_| None, &flags).unwrap();
    assert_eq!(
        raw.validate().unwrap_err().to_string(),
        "invalid broker.wss_listen = \"127.0.0.1:8080\" (from flag --broker-wss): an address \
         other than broker.ws_listen's"
    );
}
