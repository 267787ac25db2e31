//! `tsercom probe`: what a tsercom peer is — connect (plaintext or TLS),
//! `tsercom.Peer/Handshake` (its CallerId and protocol version), health
//! and the services it serves (reflection), its clock offset and round
//! trip over a few exchanges.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tsercom::CallerId;
use tsercom::proto::peer_client::PeerClient;
use tsercom::rpc::{ClientTls, PROTOCOL_VERSION};
use tsercom::time::{Clock, OffsetEstimator, SystemClock};
use tsercom::tonic::transport::Channel;

use crate::{CliResult, ctx};

/// Probe a tsercom peer: connect (plaintext, or TLS with `--ca`, `--pin`
/// or `--ca --cert --key`), shake hands as a random CallerId (nothing is
/// streamed, the peer keeps no state), and print its CallerId, protocol
/// version, health, served services (server reflection) and clock offset
/// and round trip. Fails (status 1) when the peer cannot be reached or
/// refuses the handshake.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The peer, `host:port` (DNS names allowed).
    #[arg(value_name = "HOST:PORT")]
    target: String,
    /// TLS: the CA the peer's certificate must chain to (PEM).
    #[arg(long, value_name = "CA.pem", conflicts_with = "pin")]
    ca: Option<PathBuf>,
    /// TLS: accept exactly the certificate with this SHA-256 fingerprint
    /// (64 hex digits, `:` allowed).
    #[arg(long, value_name = "SHA256")]
    pin: Option<String>,
    /// Mutual TLS: this client certificate (PEM; with `--key` and `--ca`).
    #[arg(long, value_name = "CERT.pem", requires_all = ["key", "ca"])]
    cert: Option<PathBuf>,
    /// Mutual TLS: the client certificate's private key (PEM).
    #[arg(long, value_name = "KEY.pem", requires = "cert")]
    key: Option<PathBuf>,
    /// TLS: the name to check in the certificate instead of the host.
    #[arg(long, value_name = "NAME")]
    domain: Option<String>,
    /// Clock exchanges (the estimate is the one with the smallest round
    /// trip).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    exchanges: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
}

impl Args {
    fn tls(&self) -> ClientTls {
        match (&self.pin, &self.ca, &self.cert, &self.key) {
            (Some(pin), _, _, _) => ClientTls::Pinned {
                sha256: pin.clone(),
            },
            (None, Some(ca), Some(cert), Some(key)) => ClientTls::Mutual {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                domain: self.domain.clone(),
            },
            (None, Some(ca), _, _) => ClientTls::ServerCa {
                ca: ca.clone(),
                domain: self.domain.clone(),
            },
            _ => ClientTls::Insecure,
        }
    }
}

fn millis(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn signed_millis(nanos: i128) -> String {
    #[allow(clippy::cast_precision_loss)] // display only
    let ms = nanos as f64 / 1e6;
    format!("{ms:+.3} ms")
}

pub(crate) fn run(args: &Args) -> CliResult {
    let runtime = crate::runtime()?;
    let limit = Duration::from_secs(args.timeout.max(1));
    runtime.block_on(async {
        tokio::time::timeout(limit, probe(args))
            .await
            .map_err(|_| format!("probing {}: no answer within {limit:?}", args.target))?
    })
}

async fn probe(args: &Args) -> CliResult {
    let target = &args.target;
    let tls = args.tls();
    let security = match &tls {
        ClientTls::Insecure => "plaintext",
        ClientTls::Pinned { .. } => "TLS, pinned certificate",
        ClientTls::Mutual { .. } => "mutual TLS",
        _ => "TLS",
    };
    let started = Instant::now();
    let channel = tsercom::rpc::connect(target, &tls)
        .await
        .map_err(ctx(format!("connecting to {target}")))?;
    println!("target:       {target}");
    println!(
        "connected:    in {} ({security})",
        millis(started.elapsed())
    );

    // The handshake, read raw: a peer of another protocol version is
    // shown, not only refused.
    let me = CallerId::random();
    let reply = PeerClient::new(channel.clone())
        .handshake(tsercom::proto::HandshakeRequest {
            caller_id: Some(me.to_proto()),
            protocol_version: PROTOCOL_VERSION,
            incarnation: tsercom::rpc::incarnation(),
        })
        .await
        .map_err(ctx(format!("handshake with {target}")))?
        .into_inner();
    let id = reply
        .caller_id
        .as_ref()
        .map(|id| CallerId::try_from(id).map_err(|e| e.to_string()))
        .transpose()?;
    match id {
        Some(id) => println!("caller id:    {id}"),
        None => println!("caller id:    (none in the handshake's answer)"),
    }
    let compatible = if reply.protocol_version == PROTOCOL_VERSION {
        "compatible"
    } else {
        "INCOMPATIBLE"
    };
    println!(
        "protocol:     {} (this tool speaks {PROTOCOL_VERSION}: {compatible})",
        reply.protocol_version
    );

    let services = services(&channel).await;
    let overall = health(&channel, "").await;
    println!("health:       {overall}");
    match services {
        Ok(names) => {
            for name in names {
                let status = health(&channel, &name).await;
                println!("service:      {name} ({status})");
            }
        }
        Err(e) => println!("services:     unknown (reflection: {e})"),
    }

    // Clock: the exchange with the smallest round trip (NTP-style).
    let local: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut estimator = OffsetEstimator::new(args.exchanges as usize);
    let mut estimate = None;
    let mut failures = 0;
    for _ in 0..args.exchanges {
        match tsercom::rpc::sync_once(channel.clone(), &*local).await {
            Ok(exchange) => estimate = Some(estimator.add(exchange)),
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    eprintln!("tsercom: clock exchange with {target} failed: {e}");
                }
            }
        }
    }
    match estimate {
        Some(e) => {
            println!(
                "clock offset: {} (the peer's clock minus this host's; ± {})",
                signed_millis(e.offset_nanos),
                signed_millis(e.delay_nanos / 2).trim_start_matches('+')
            );
            println!(
                "round trip:   {} (best of {} exchanges)",
                signed_millis(e.delay_nanos).trim_start_matches('+'),
                e.samples
            );
        }
        None => println!("clock offset: unknown (every exchange failed)"),
    }
    Ok(())
}

/// The services the peer serves, by server reflection (v1).
async fn services(channel: &Channel) -> CliResult<Vec<String>> {
    let mut replies = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .map_err(|s| s.message().to_owned())?
        .into_inner();
    match replies.message().await {
        Ok(Some(reply)) => match reply.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
                names.sort();
                Ok(names)
            }
            other => Err(format!("unexpected answer {other:?}")),
        },
        Ok(None) => Err("no answer".into()),
        Err(s) => Err(s.message().to_owned()),
    }
}

/// A service's health (`""`: the server's), as text.
async fn health(channel: &Channel, service: &str) -> String {
    let reply = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await;
    match reply {
        Ok(reply) => match ServingStatus::try_from(reply.into_inner().status) {
            Ok(status) => status.as_str_name().to_owned(),
            Err(_) => "an unknown status".into(),
        },
        Err(status) => format!("unknown ({})", status.code()),
    }
}
