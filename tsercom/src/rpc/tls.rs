//! TLS for servers and channels (rustls through tonic).
//!
//! | side | mode | what it checks |
//! | --- | --- | --- |
//! | server | [`ServerTls::Insecure`] | nothing (plaintext HTTP/2) |
//! | server | [`ServerTls::Tls`] | serves its certificate |
//! | server | [`ServerTls::MutualTls`] | also requires a client certificate from `client_ca` |
//! | client | [`ClientTls::Insecure`] | nothing (plaintext HTTP/2) |
//! | client | [`ClientTls::ServerCa`] | server certificate chains to `ca` (a private CA works), hostname = `domain` or the address |
//! | client | [`ClientTls::Pinned`] | the server certificate's SHA-256 is the pin |
//! | client | [`ClientTls::Mutual`] | as `ServerCa`, and presents `cert`/`key` |
//!
//! Files are read and checked when the server starts or the channel is
//! built: a missing or malformed one is an [`Error::Tls`] naming it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::Keepalive;
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
    /// TLS accepting exactly one server certificate: the one whose SHA-256
    /// fingerprint (64 hex digits, `:` separators allowed) is `sha256`. A
    /// rotated certificate is refused until the pin is updated.
    Pinned {
        /// The pin; see [`pem_fingerprint`].
        sha256: String,
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
            // Pinned connections use their own connector (`connect_pinned`).
            ClientTls::Insecure | ClientTls::Pinned { .. } => None,
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
    connect_at(target, None, tls, Keepalive::default()).await
}

/// Connects to `addr`, one of the addresses `target` (`host:port`)
/// resolved to, with `tls`: the TLS server name and the HTTP authority
/// stay `target`'s host; only the TCP connection goes to `addr`. The TCP
/// connect gives up after [`ADDR_CONNECT_TIMEOUT`], so the next address
/// can be tried.
///
/// # Errors
/// As [`connect`].
pub async fn connect_addr(
    target: &str,
    addr: SocketAddr,
    tls: &ClientTls,
) -> Result<tonic::transport::Channel> {
    connect_at(target, Some(addr), tls, Keepalive::default()).await
}

/// [`connect_addr`] with these keepalive settings.
///
/// # Errors
/// As [`connect`].
pub async fn connect_addr_with(
    target: &str,
    addr: SocketAddr,
    tls: &ClientTls,
    keepalive: Keepalive,
) -> Result<tonic::transport::Channel> {
    connect_at(target, Some(addr), tls, keepalive).await
}

/// How long [`connect_addr`] waits for one address to accept.
pub const ADDR_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

async fn connect_at(
    target: &str,
    addr: Option<SocketAddr>,
    tls: &ClientTls,
    keepalive: Keepalive,
) -> Result<tonic::transport::Channel> {
    if let ClientTls::Pinned { sha256 } = tls {
        return connect_pinned_at(target, sha256, addr, keepalive).await;
    }
    let config = tls.load()?;
    let scheme = if config.is_some() { "https" } else { "http" };
    let connect_error = |reason: String| Error::Connect {
        target: target.to_owned(),
        reason,
    };
    let mut endpoint = keepalive.apply(
        tonic::transport::Endpoint::from_shared(format!("{scheme}://{target}"))
            .map_err(|e| connect_error(e.to_string()))?
            .tcp_nodelay(true),
    );
    if let Some(config) = config {
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| connect_error(e.to_string()))?;
    }
    let connected = match addr {
        None => endpoint.connect().await,
        Some(addr) => {
            endpoint
                .connect_timeout(ADDR_CONNECT_TIMEOUT)
                .connect_with_connector(tower::service_fn(move |_: http::Uri| async move {
                    let tcp = tokio::net::TcpStream::connect(addr).await?;
                    tcp.set_nodelay(true)?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tcp))
                }))
                .await
        }
    };
    connected.map_err(|e| connect_error(error_chain(&e)))
}

/// An error and its sources, each once: the transport error's sources carry
/// the TLS reason (an unknown issuer, a refused certificate, ...).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = s.source();
    }
    reason
}

// ---- pinned server certificate ----

/// SHA-256 of a DER certificate, as lower-case hex (the pin format).
pub fn certificate_fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SHA-256 pin of the first certificate in a PEM file.
///
/// # Errors
/// [`Error::Tls`] naming the file when it is missing or malformed.
pub fn pem_fingerprint(path: &Path) -> Result<String> {
    let bytes = read_certs(path, "certificate")?;
    let first = CertificateDer::pem_slice_iter(&bytes)
        .next()
        .and_then(|c| c.ok())
        .ok_or_else(|| Error::Tls {
            what: "certificate",
            path: path.to_path_buf(),
            reason: "no PEM certificate in it".into(),
        })?;
    Ok(certificate_fingerprint(first.as_ref()))
}

/// Accepts exactly the server certificate whose SHA-256 is the pin (no CA,
/// no hostname: the pin is the identity); handshake signatures are still
/// verified, so the server must hold the pinned certificate's key.
#[derive(Debug)]
struct PinVerifier {
    pin: String,
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if certificate_fingerprint(end_entity.as_ref()) == self.pin {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server certificate does not match the pinned SHA-256".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connects to `target` (`host:port`) over TLS, accepting only the server
/// certificate whose SHA-256 fingerprint (lower-case hex) is `pin`.
///
/// # Errors
/// [`Error::Invalid`] for a malformed pin; [`Error::Connect`] when the
/// connection fails or the certificate does not match.
pub async fn connect_pinned(target: &str, pin: &str) -> Result<tonic::transport::Channel> {
    connect_pinned_at(target, pin, None, Keepalive::default()).await
}

/// [`connect_pinned`], the TCP connection going to `addr` when given.
async fn connect_pinned_at(
    target: &str,
    pin: &str,
    addr: Option<SocketAddr>,
    keepalive: Keepalive,
) -> Result<tonic::transport::Channel> {
    let pin = pin.to_ascii_lowercase().replace(':', "");
    if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid {
            what: "certificate pin",
            reason: "expected 64 hex digits (SHA-256)".into(),
        });
    }
    let connect_error = |reason: String| Error::Connect {
        target: target.to_owned(),
        reason,
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| connect_error(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(PinVerifier { pin, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let connector = tower::service_fn(move |uri: http::Uri| {
        let tls = tls.clone();
        async move {
            let host = uri
                .host()
                .unwrap_or("localhost")
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = match addr {
                Some(addr) => tokio::net::TcpStream::connect(addr).await?,
                None => tokio::net::TcpStream::connect((host.as_str(), port)).await?,
            };
            tcp.set_nodelay(true)?;
            // The name is not checked (the pin is the identity), but SNI
            // needs one.
            let name = rustls_pki_types::ServerName::try_from(host)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let stream = tls.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    keepalive
        .apply(
            tonic::transport::Endpoint::from_shared(format!("http://{target}"))
                .map_err(|e| connect_error(e.to_string()))?,
        )
        .connect_timeout(ADDR_CONNECT_TIMEOUT)
        .connect_with_connector(connector)
        .await
        .map_err(|e| connect_error(error_chain(&e)))
}
