//! The OwnTracks Recorder's settings, read as aliases of Pista's so that an existing
//! deployment's configuration carries over: its `OTR_*` environment variables, and its
//! configuration file (`/etc/default/ot-recorder`, libconfig's `NAME = "value";` lines) when
//! given with `--recorder-config`. As in the Recorder, a variable beats the file. Aliases stand
//! below all of Pista's own settings: its config file, `PISTA_*` variables and flags beat them.
//!
//! The Recorder's variables Pista has no use for (its LMDB size, Lua script, views, ...) are
//! named in [`Aliases::unused`], for a warning, rather than silently dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The Recorder's variables that have no Pista equivalent, with what to do instead.
const UNUSED: [(&str, &str); 13] = [
    ("OTR_STORAGEDIR", "its store is not Pista's: import it with `pista import recorder DIR`"),
    ("OTR_QOS", "Pista subscribes at QoS 1 and stores every message before it acknowledges"),
    ("OTR_CAPATH", "give the CA file as OTR_CAFILE or mqtt.ca_file"),
    ("OTR_CERTFILE", "client certificates are not supported"),
    ("OTR_KEYFILE", "client certificates are not supported"),
    ("OTR_IDENTITY", "TLS-PSK is not supported"),
    ("OTR_PSK", "TLS-PSK is not supported"),
    ("OTR_HTTPLOGDIR", "requests are logged with --log tower_http=debug"),
    ("OTR_BROWSERAPIKEY", "there is no apikey.js"),
    ("OTR_LUASCRIPT", "there are no Lua hooks; see webhooks"),
    ("OTR_SERVERLABEL", "live frames carry no _label"),
    ("OTR_CLEAN_AGE", "cached addresses are kept"),
    ("OTR_LMDBSIZE", "there is no LMDB"),
];

/// One Pista setting made from the Recorder's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub key: &'static str,
    pub value: String,
    /// The variables it came from, e.g. `OTR_HOST+OTR_PORT`.
    pub from: String,
}

/// What the Recorder's settings say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    pub aliases: Vec<Alias>,
    /// Variables that are set but mean nothing to Pista, each with what to do instead.
    pub unused: Vec<String>,
}

/// Why the Recorder's configuration file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecorderConfigError {
    #[error("cannot read the Recorder's configuration file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "the Recorder's configuration file {path}, line {line}: {detail} (expected NAME = \
         \"text\"; or NAME = 123;)"
    )]
    Syntax { path: PathBuf, line: usize, detail: String },
}

/// Reads the Recorder's libconfig file: `NAME = "text";` and `NAME = 123;` settings, `#` and
/// `//` comments; the `;` may be left out.
pub fn read_config(path: &Path) -> Result<BTreeMap<String, String>, RecorderConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| RecorderConfigError::Read { path: path.to_owned(), source })?;
    let mut values = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let syntax = |detail: &str| RecorderConfigError::Syntax {
            path: path.to_owned(),
            line: index + 1,
            detail: detail.to_owned(),
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let (name, value) = line.split_once('=').ok_or_else(|| syntax("no ="))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(syntax(&format!("{name:?} is not a setting name")));
        }
        let value = value.trim();
        let value = if let Some(quoted) = value.strip_prefix('"') {
            let (text, rest) = unquote(quoted).ok_or_else(|| syntax("a quote is not closed"))?;
            if !matches!(rest.trim(), "" | ";") && !rest.trim().starts_with('#') {
                return Err(syntax(&format!("unexpected {:?} after the value", rest.trim())));
            }
            text
        } else {
            let number = value.trim_end_matches(';').trim();
            if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '-') {
                return Err(syntax(&format!("{number:?} is neither quoted text nor a number")));
            }
            number.to_owned()
        };
        values.insert(name.to_owned(), value);
    }
    Ok(values)
}

/// The text of a quoted string whose opening quote is gone, and what follows its closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[at + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// The Pista settings the Recorder's variables stand for, looked up with `lookup`.
pub fn aliases(lookup: &dyn Fn(&str) -> Option<String>) -> Aliases {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mut aliases = Vec::new();
    let mut add = |key: &'static str, value: String, from: &str| {
        aliases.push(Alias { key, value, from: from.to_owned() });
    };

    let (host, port) = (get("OTR_HOST"), get("OTR_PORT"));
    let broker = (host.is_some() || port.is_some()) && port.as_deref() != Some("0");
    if broker {
        let scheme = if get("OTR_CAFILE").is_some() { "mqtts" } else { "mqtt" };
        let login = match (get("OTR_USER"), get("OTR_PASS")) {
            (Some(user), Some(pass)) => format!("{}:{}@", encode(&user), encode(&pass)),
            _ => String::new(),
        };
        let host = host.as_deref().unwrap_or("localhost");
        let port = port.as_deref().unwrap_or("1883");
        add("mqtt.url", format!("{scheme}://{login}{host}:{port}"), "OTR_HOST+OTR_PORT");
    }
    if let Some(file) = get("OTR_CAFILE") {
        add("mqtt.ca_file", file, "OTR_CAFILE");
    }
    if let Some(id) = get("OTR_CLIENTID") {
        add("mqtt.client_id", id, "OTR_CLIENTID");
    }
    if let Some(topics) = get("OTR_TOPICS") {
        add(
            "mqtt.base_topics",
            topics.split_whitespace().collect::<Vec<_>>().join(","),
            "OTR_TOPICS",
        );
    }
    let (http_host, http_port) = (get("OTR_HTTPHOST"), get("OTR_HTTPPORT"));
    let http_off = http_port.as_deref() == Some("0");
    if (http_host.is_some() || http_port.is_some()) && !http_off {
        // Unset, the Recorder listened on every address (its bug T19); Pista stays on loopback.
        let host = match http_host.as_deref() {
            None | Some("localhost") => "127.0.0.1".to_owned(),
            Some(host) if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
            Some(host) => host.to_owned(),
        };
        let port = http_port.unwrap_or_else(|| "8083".to_owned());
        add("http.listen", format!("{host}:{port}"), "OTR_HTTPHOST+OTR_HTTPPORT");
    }
    if let Some(key) = get("OTR_GEOKEY") {
        match key.split_once(':') {
            Some(("opencage", key)) => {
                add("geocode.provider", "opencage".to_owned(), "OTR_GEOKEY");
                add("geocode.key", key.to_owned(), "OTR_GEOKEY");
            }
            Some(("revgeod", _)) => {}
            Some(_) | None => {
                add("geocode.provider", "google".to_owned(), "OTR_GEOKEY");
                add("geocode.key", key, "OTR_GEOKEY");
            }
        }
    }
    if let Some(prefix) = get("OTR_HTTPPREFIX") {
        add("http.public_url", prefix, "OTR_HTTPPREFIX");
    }
    if let Some(dir) = get("OTR_VIEWSDIR") {
        add("http.views_dir", dir, "OTR_VIEWSDIR");
    }
    if let Some(precision) = get("OTR_PRECISION") {
        add("geocode.precision", precision, "OTR_PRECISION");
    }

    let mut unused: Vec<String> = UNUSED
        .iter()
        .filter(|(name, _)| get(name).is_some())
        .map(|(name, instead)| format!("{name} is not used: {instead}"))
        .collect();
    if http_off {
        unused.push(
            "OTR_HTTPPORT=0 is not used: Pista always serves HTTP (http.listen, loopback by \
             default)"
                .to_owned(),
        );
    }
    if get("OTR_GEOKEY").is_some_and(|k| k.starts_with("revgeod:")) {
        unused.push("OTR_GEOKEY revgeod:... is not used: there is no revgeod client".to_owned());
    }
    let (user, pass) = (get("OTR_USER").is_some(), get("OTR_PASS").is_some());
    if !broker && (user || pass) {
        unused.push("OTR_USER and OTR_PASS are used only with OTR_HOST or OTR_PORT".to_owned());
    } else if user != pass {
        unused.push("OTR_USER and OTR_PASS are used only together".to_owned());
    }
    Aliases { aliases, unused }
}

/// Percent-encodes what a URL's user or password part cannot hold as it is.
fn encode(text: &str) -> String {
    const USERINFO: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(text, USERINFO).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Aliases {
        let vars: BTreeMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        aliases(&|name| vars.get(name).cloned())
    }

    fn pairs(aliases: &Aliases) -> Vec<(&str, &str)> {
        aliases.aliases.iter().map(|a| (a.key, a.value.as_str())).collect()
    }

    #[test]
    fn the_recorders_variables_become_pista_settings() {
        let found = from(&[
            ("OTR_HOST", "broker.lan"),
            ("OTR_PORT", "8883"),
            ("OTR_USER", "rec"),
            ("OTR_PASS", "p@ss:word"),
            ("OTR_CAFILE", "/etc/ssl/ca.pem"),
            ("OTR_CLIENTID", "recorder-1"),
            ("OTR_TOPICS", "owntracks/#  other/+/x"),
            ("OTR_HTTPHOST", "0.0.0.0"),
            ("OTR_GEOKEY", "opencage:abc123"),
            ("OTR_PRECISION", "6"),
            ("OTR_HTTPPREFIX", "https://example.org/owntracks"),
            ("OTR_VIEWSDIR", "/var/spool/owntracks/recorder/htdocs/views"),
            ("OTR_LMDBSIZE", "10485760"),
        ]);
        assert_eq!(
            pairs(&found),
            [
                ("mqtt.url", "mqtts://rec:p%40ss%3Aword@broker.lan:8883"),
                ("mqtt.ca_file", "/etc/ssl/ca.pem"),
                ("mqtt.client_id", "recorder-1"),
                ("mqtt.base_topics", "owntracks/#,other/+/x"),
                ("http.listen", "0.0.0.0:8083"),
                ("geocode.provider", "opencage"),
                ("geocode.key", "abc123"),
                ("http.public_url", "https://example.org/owntracks"),
                ("http.views_dir", "/var/spool/owntracks/recorder/htdocs/views"),
                ("geocode.precision", "6"),
            ]
        );
        assert_eq!(found.unused, ["OTR_LMDBSIZE is not used: there is no LMDB"]);
    }

    #[test]
    fn defaults_fill_in_and_port_zero_turns_the_broker_off() {
        let found = from(&[("OTR_PORT", "1884"), ("OTR_HTTPPORT", "9000"), ("OTR_GEOKEY", "AIza")]);
        assert_eq!(
            pairs(&found),
            [
                ("mqtt.url", "mqtt://localhost:1884"),
                ("http.listen", "127.0.0.1:9000"),
                ("geocode.provider", "google"),
                ("geocode.key", "AIza"),
            ]
        );
        let found = from(&[("OTR_PORT", "0"), ("OTR_HTTPHOST", "::1"), ("OTR_USER", "x")]);
        assert_eq!(pairs(&found), [("http.listen", "[::1]:8083")]);
        assert_eq!(found.unused, ["OTR_USER and OTR_PASS are used only with OTR_HOST or OTR_PORT"]);
        assert_eq!(from(&[]), Aliases::default());
    }

    #[test]
    fn the_libconfig_file_is_read_and_its_mistakes_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ot-recorder");
        let text = "# comment\n// another\nOTR_HOST = \"broker \\\"lan\\\"\";\nOTR_PORT = 1883\n\n\
                    OTR_TOPICS=\"owntracks/#\" # trailing\n";
        std::fs::write(&path, text).unwrap();
        let values = read_config(&path).unwrap();
        let values: Vec<(&str, &str)> =
            values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            values,
            [("OTR_HOST", "broker \"lan\""), ("OTR_PORT", "1883"), ("OTR_TOPICS", "owntracks/#")]
        );
        for (text, detail) in [
            ("OTR_HOST \"x\";\n", "no ="),
            ("OTR_HOST = \"x;\n", "a quote is not closed"),
            ("OTR_PORT = eighty;\n", "\"eighty\" is neither quoted text nor a number"),
            ("OTR HOST = 1;\n", "\"OTR HOST\" is not a setting name"),
        ] {
            std::fs::write(&path, format!("# first\n{text}")).unwrap();
            let error = read_config(&path).unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "the Recorder's configuration file {}, line 2: {detail} (expected NAME = \
                     \"text\"; or NAME = 123;)",
                    path.display()
                )
            );
        }
    }
}
