//! Certificates for Pista's TLS listeners (HTTPS and the embedded broker's MQTTS): either the
//! files given (`tls.cert`, `tls.key`, optionally `tls.ca_file` for phones to trust), or a local
//! certificate authority that Pista makes once and keeps in `<data_dir>/tls/` (`ca.pem`,
//! `ca.key`, the key readable by its owner only), with a server certificate for `tls.names` signed
//! by it at every start (valid a year, as iOS wants for private CAs). The CA's certificate is what
//! ctrld serves at `/ctrld/cacert.pem`, so phones can install and trust it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The CA's name in its certificate.
const CA_NAME: &str = "Pista local CA";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}")]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM {what}")]
    NoPem { what: &'static str, path: PathBuf },
    #[error("the certificate and key do not make a TLS configuration: {reason}")]
    Config { reason: String },
    #[error("cannot make a certificate: {reason}")]
    Make { reason: String },
}

/// What the TLS listeners use.
#[derive(Clone)]
pub struct TlsFiles {
    /// The certificate chain, as a file (the embedded broker reads files).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA certificate phones should trust, when known.
    pub ca_pem: Option<Vec<u8>>,
    /// The rustls configuration of the HTTPS listener.
    pub server: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

/// Loads the given certificate and key.
pub fn given(cert: &Path, key: &Path, ca_file: Option<&Path>) -> Result<TlsFiles, TlsError> {
    let ca_pem = match ca_file {
        Some(path) => Some(read(path, "CA certificate")?),
        None => None,
    };
    let server = server_config(cert, key)?;
    Ok(TlsFiles { cert: cert.to_owned(), key: key.to_owned(), ca_pem, server })
}

/// Makes (or reuses) the local CA in `dir` and a new server certificate for `names`.
pub fn local_ca(dir: &Path, names: &[String]) -> Result<TlsFiles, TlsError> {
    private_dir(dir).map_err(|source| TlsError::Write { path: dir.to_owned(), source })?;
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let make = |e: rcgen::Error| TlsError::Make { reason: e.to_string() };
    let key = if ca_key.exists() && ca_cert.exists() {
        let text = String::from_utf8_lossy(&read(&ca_key, "CA key")?).into_owned();
        KeyPair::from_pem(&text).map_err(make)?
    } else {
        let key = KeyPair::generate().map_err(make)?;
        let cert = ca_params(true)?.self_signed(&key).map_err(make)?;
        write(&ca_key, key.serialize_pem().as_bytes(), true)?;
        write(&ca_cert, cert.pem().as_bytes(), false)?;
        tracing::info!(path = %ca_cert.display(), "local certificate authority made");
        key
    };
    let issuer = Issuer::new(ca_params(false)?, key);
    let leaf_key = KeyPair::generate().map_err(make)?;
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(make)?;
    let first = names.first().map_or("pista", String::as_str);
    leaf.distinguished_name.push(DnType::CommonName, first);
    let now = Utc::now();
    let ymd = |t: chrono::DateTime<Utc>| date_time_ymd(t.year(), t.month() as u8, t.day() as u8);
    leaf.not_before = ymd(now - Duration::days(1));
    leaf.not_after = ymd(now + Duration::days(365));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&leaf_key, &issuer).map_err(make)?;
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    write(&cert_path, cert.pem().as_bytes(), false)?;
    write(&key_path, leaf_key.serialize_pem().as_bytes(), true)?;
    let server = server_config(&cert_path, &key_path)?;
    let ca_pem = read(&ca_cert, "CA certificate")?;
    Ok(TlsFiles { cert: cert_path, key: key_path, ca_pem: Some(ca_pem), server })
}

/// The CA's parameters; the same every time, so a kept key signs as the same issuer.
fn ca_params(fresh: bool) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| TlsError::Make { reason: e.to_string() })?;
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    if fresh {
        let now = Utc::now();
        let ymd =
            |t: chrono::DateTime<Utc>| date_time_ymd(t.year(), t.month() as u8, t.day() as u8);
        params.not_before = ymd(now - Duration::days(1));
        params.not_after = ymd(now + Duration::days(20 * 365));
    }
    Ok(params)
}

fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read(cert, "certificate")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoPem { what: "certificate", path: cert.to_owned() })?;
    if chain.is_empty() {
        return Err(TlsError::NoPem { what: "certificate", path: cert.to_owned() });
    }
    let key_pem = read(key, "key")?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| TlsError::NoPem { what: "private key", path: key.to_owned() })?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsError::Config { reason: e.to_string() })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_owned(), source })
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let error = |source| TlsError::Write { path: path.to_owned(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)
}

/// Creates `dir` (and missing parents) readable by its owner only; an existing one is left as
/// it is.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    write(path, bytes, true)
}
