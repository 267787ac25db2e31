//! `tsercom browse`: a live list of the instances of a service type, over
//! mDNS (interfaces selectable) or unicast DNS-SD.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tsercom::discovery::{DiscoveryEvent, Interfaces, PeerSource, ServiceInfo};

use crate::{CliResult, ctx};

/// Browse the instances of a service type as they come and go: one line
/// per change (added, updated, removed) with the instance's name,
/// CallerId, addresses, port and TXT. `_sensors._tcp` browses mDNS (on
/// `--interfaces`); `dns:_sensors._tcp.fleet.example` queries unicast
/// DNS-SD (the system's resolver, or `--dns-server`). Runs until Ctrl-C,
/// `--count` instances or `--duration`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service type: `_name._tcp` (mDNS) or `dns:_name._tcp.<domain>`.
    #[arg(value_name = "SERVICE-TYPE")]
    service_type: String,
    /// mDNS interfaces: `all`, `loopback`, `ipv4`, `ipv6` or names such
    /// as `eth0,eth1`.
    #[arg(long, default_value = "all", value_name = "WHICH")]
    interfaces: String,
    /// Unicast DNS-SD: query this DNS server (`ip:port`) instead of the
    /// system's resolvers.
    #[arg(long, value_name = "IP:PORT")]
    dns_server: Vec<SocketAddr>,
    /// Unicast DNS-SD: seconds between queries.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    dns_interval: f64,
    /// Stop once this many instances were added.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
}

/// One line for an instance.
fn describe(verb: &str, info: &ServiceInfo) -> String {
    let caller = info
        .caller_id
        .map_or_else(|| "-".to_owned(), |id| id.to_string());
    let mut addresses: Vec<String> = info.addresses.iter().map(ToString::to_string).collect();
    if addresses.is_empty() {
        addresses.push(info.host.clone().unwrap_or_else(|| "-".to_owned()));
    }
    let txt: Vec<String> = info.txt.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{verb:<8} {}  name={}  caller_id={caller}  addresses={}  port={}  txt: {}",
        info.instance,
        info.name,
        addresses.join(","),
        info.port,
        txt.join(" ")
    )
}

pub(crate) fn run(args: &Args) -> CliResult {
    let mut source =
        tsercom::discovery::parse_discover(&args.service_type).map_err(|e| e.to_string())?;
    if let PeerSource::Dns(config) = &mut source {
        let interval = Duration::try_from_secs_f64(args.dns_interval)
            .map_err(ctx(format!("--dns-interval {}", args.dns_interval)))?;
        let mut c = config.clone().with_interval(interval);
        if !args.dns_server.is_empty() {
            c = c.with_nameservers(args.dns_server.clone());
        }
        *config = c;
    }
    let interfaces = Interfaces::parse(&args.interfaces).map_err(|e| e.to_string())?;
    let deadline = args
        .duration
        .map(|d| Duration::try_from_secs_f64(d).map_err(ctx(format!("--duration {d}"))))
        .transpose()?
        .map(|d| Instant::now() + d);
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let Some(mut discovery) =
            tsercom::discovery::open(&source, &interfaces).map_err(|e| e.to_string())?
        else {
            return Err(format!("{}: nothing to browse", args.service_type));
        };
        eprintln!("tsercom: browsing {} (Ctrl-C ends)", args.service_type);
        let mut added = 0;
        loop {
            let wait_end = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                event = discovery.next_event() => event,
                _ = wait_end => break,
                _ = tokio::signal::ctrl_c() => break,
            };
            let line = match event {
                Some(DiscoveryEvent::Added(info)) => {
                    added += 1;
                    describe("added", &info)
                }
                Some(DiscoveryEvent::Updated(info)) => describe("updated", &info),
                Some(DiscoveryEvent::Removed { instance }) => {
                    format!("{:<8} {instance}", "removed")
                }
                Some(_) => continue,
                None => return Err("the discovery source ended".to_owned()),
            };
            println!("{line}");
            if args.count.is_some_and(|n| added >= n) {
                break;
            }
        }
        Ok(())
    })
}
