//! TLS for servers and channels (rustls through tonic).
//!
//! | side | mode | what it checks |
//! | --- | --- | --- |
//! | server | [`ServerTls::Insecure`] | nothing (plaintext HTTP/2) |
//! | server | [`ServerTls::Tls`] | serves its certificate |
//! | server | [`ServerTls::MutualTls`] | also requires a client certificate from `client_ca` |
//! | client | [`ClientTls::Insecure`] | nothing (plaintext HTTP/2) |
//! | client | [`ClientTls::ServerCa`] | server certificate chains to `ca` (a private CA works), hostname = `domain` or the address |
//! | client | [`ClientTls::Mutual`] | as `ServerCa`, and presents `cert`/`key` |
//!
//! Files are read and checked when the server starts or the channel is
//! built: a missing or malformed one is an [`Error::Tls`] naming it.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::error::{Error, Result};

/// How a server secures its connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerTls {
    /// Plaintext.
    #[default]
    Insecure,
    /// TLS with this certificate chain and key (PEM files).
    Tls {
        /// Certificate chain, PEM.
        cert: PathBuf,
        /// Private key, PEM.
        key: PathBuf,
    },
    /// TLS, and clients must present a certificate issued by `client_ca`.
    MutualTls {
        /// Certificate chain, PEM.
        cert: PathBuf,
        /// Private key, PEM.
        key: PathBuf,
        /// The CA that issues client certificates, PEM.
        client_ca: PathBuf,
    },
}

/// How a client checks the server (and identifies itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientTls {
    /// Plaintext.
    #[default]
    Insecure,
    /// TLS; the server's certificate must chain to `ca`.
    ServerCa {
        /// The CA, PEM (a private CA works).
        ca: PathBuf,
        /// The name to check instead of the address (hostname override).
        domain: Option<String>,
    },
    /// Mutual TLS: as `ServerCa`, presenting `cert`/`key`.
    Mutual {
        /// The server's CA, PEM.
        ca: PathBuf,
        /// Client certificate chain, PEM.
        cert: PathBuf,
        /// Client private key, PEM.
        key: PathBuf,
        /// The name to check instead of the address.
        domain: Option<String>,
    },
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Tls {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads a PEM certificate (chain) file, checking it parses.
pub(crate) fn read_certs(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    let bytes = read(path, what)?;
    let bad = |reason: String| Error::Tls {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        cert.map_err(|e| bad(format!("not a valid PEM certificate ({e})")))?;
        count += 1;
    }
    if count == 0 {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(bytes)
}

/// Reads a PEM private key file, checking it parses.
pub(crate) fn read_key(path: &Path) -> Result<Vec<u8>> {
    let bytes = read(path, "private key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| Error::Tls {
        what: "private key",
        path: path.to_path_buf(),
        reason: format!("not a valid PEM private key ({e})"),
    })?;
    Ok(bytes)
}

impl ServerTls {
    /// The tonic configuration, or `None` for plaintext.
    pub(crate) fn load(&self) -> Result<Option<ServerTlsConfig>> {
        Ok(match self {
            ServerTls::Insecure => None,
            ServerTls::Tls { cert, key } => Some(ServerTlsConfig::new().identity(
                Identity::from_pem(read_certs(cert, "certificate")?, read_key(key)?),
            )),
            ServerTls::MutualTls {
                cert,
                key,
                client_ca,
            } => Some(
                ServerTlsConfig::new()
                    .identity(Identity::from_pem(
                        read_certs(cert, "certificate")?,
                        read_key(key)?,
                    ))
                    .client_ca_root(Certificate::from_pem(read_certs(client_ca, "client CA")?)),
            ),
        })
    }
}

impl ClientTls {
    /// The tonic configuration, or `None` for plaintext.
    pub(crate) fn load(&self) -> Result<Option<ClientTlsConfig>> {
        let base = |ca: &Path, domain: &Option<String>| -> Result<ClientTlsConfig> {
            let config =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_certs(ca, "CA")?));
            Ok(match domain {
                Some(d) => config.domain_name(d.clone()),
                None => config,
            })
        };
        Ok(match self {
            ClientTls::Insecure => None,
            ClientTls::ServerCa { ca, domain } => Some(base(ca, domain)?),
            ClientTls::Mutual {
                ca,
                cert,
                key,
                domain,
            } => Some(base(ca, domain)?.identity(Identity::from_pem(
                read_certs(cert, "client certificate")?,
                read_key(key)?,
            ))),
        })
    }
}

/// Connects to `target` (`host:port`) with `tls`.
///
/// # Errors
/// [`Error::Tls`] for bad files; [`Error::Connect`] when the connection or
/// the TLS handshake fails (an untrusted certificate, a refused client
/// certificate, ...).
pub async fn connect(target: &str, tls: &ClientTls) -> Result<tonic::transport::Channel> {
    let config = tls.load()?;
    let scheme = if config.is_some() { "https" } else { "http" };
    let connect_error = |reason: String| Error::Connect {
        target: target.to_owned(),
        reason,
    };
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{target}"))
        .map_err(|e| connect_error(e.to_string()))?
        .tcp_nodelay(true);
    if let Some(config) = config {
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| connect_error(e.to_string()))?;
    }
    endpoint.connect().await.map_err(|e| {
        // The transport error's sources carry the TLS reason.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let text = s.to_string();
            if !reason.contains(&text) {
                reason.push_str(": ");
                reason.push_str(&text);
            }
            source = s.source();
        }
        connect_error(reason)
    })
}
