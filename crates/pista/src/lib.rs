//! The `pista` program as a library: settings, the server that wires every part together, the
//! replay tool, the importer, the load generator, the deletion commands and `pista export`. `main.rs` only parses the command line and calls into here, so tests start
//! the real server in-process on port 0.

pub mod admin;
pub mod cli;
pub mod export;
pub mod import;
pub mod load;
pub mod ocat;
pub mod replay;
pub mod retention;
pub mod serve;
pub mod settings;
pub mod tls;

/// Installs the process-wide rustls crypto provider. Several dependencies compile more than one
/// provider in, and rustls then refuses to pick one by itself.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// An error and its causes as one line, `outer: cause: cause`, for the command line. A cause
/// whose text its outer error already ends with (database errors repeat their driver's
/// message) is left out, so no reason is printed twice. SQLite's "attempt to write a readonly
/// database" gets a second line saying what makes a database read-only.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut shown = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        // rusqlite's cause says again what its error said, after a code: `Error code 8: ...`.
        let restated = part.strip_prefix("Error code ").and_then(|rest| rest.split_once(": "));
        if shown == part
            || shown.ends_with(&format!(": {part}"))
            || restated.is_some_and(|(_, text)| shown == text)
        {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
        shown = part;
    }
    if text.contains("attempt to write a readonly database") {
        text.push_str(
            "\n  the database cannot be written: its URL opens it read-only (mode=ro), or this \
             user may not write the file or its directory (SQLite makes its -wal and -shm files \
             there, even to read)",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[derive(Debug, thiserror::Error)]
    #[error("Connection Error: {0}")]
    struct Wrapper(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out while waiting for an open connection")]
    struct Inner;

    #[test]
    fn a_cause_the_outer_error_already_shows_is_printed_once() {
        let error = anyhow::Error::new(Wrapper(Inner)).context("cannot connect to x");
        assert_eq!(
            error_text(&error),
            "cannot connect to x: Connection Error: pool timed out while waiting for an open \
             connection"
        );
        let sqlite = anyhow::anyhow!("Error code 8: attempt to write a readonly database")
            .context("attempt to write a readonly database")
            .context("database add user failed");
        assert_eq!(
            error_text(&sqlite),
            "database add user failed: attempt to write a readonly database\n  the database \
             cannot be written: its URL opens it read-only (mode=ro), or this user may not write \
             the file or its directory (SQLite makes its -wal and -shm files there, even to read)"
        );
        let plain = anyhow::Error::new(Inner).context("outer").context("outermost");
        assert_eq!(
            error_text(&plain),
            "outermost: outer: pool timed out while waiting for an open connection"
        );
    }
}
