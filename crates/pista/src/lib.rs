//! The `pista` program as a library: settings, the server that wires every part together, the
//! replay tool, the importer, the load generator, the deletion commands and `pista export`. `main.rs` only parses the command line and calls into here, so tests start
//! the real server in-process on port 0.

pub mod admin;
pub mod cli;
pub mod export;
pub mod import;
pub mod load;
pub mod replay;
pub mod retention;
pub mod serve;
pub mod settings;

/// Installs the process-wide rustls crypto provider. Several dependencies compile more than one
/// provider in, and rustls then refuses to pick one by itself.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
