//! From a [`PeerSource`] to a running [`Discovery`], and the `discover`
//! spec syntax.

use tokio::sync::mpsc;

use super::{
    Discovery, DiscoveryEvent, DnsSdBrowser, DnsSdConfig, Interfaces, PeerSource, StaticPeers,
    browse, normalize_service_type,
};
use crate::error::{Error, Result};
use crate::future::BoxFuture;

/// Opens `source`: an mDNS browser on `interfaces`, a DNS-SD browser, the
/// static peers, or all of several at once; `None` for
/// [`PeerSource::None`] (and for [`PeerSource::Several`] of nothing).
///
/// # Errors
/// [`Error::Invalid`] for a malformed service type, DNS name or static
/// target; [`Error::Discovery`] when a daemon, socket or resolver cannot
/// start.
pub fn open(source: &PeerSource, interfaces: &Interfaces) -> Result<Option<Box<dyn Discovery>>> {
    Ok(match source {
        PeerSource::None => None,
        PeerSource::Mdns { service_type } => Some(browse(service_type, interfaces)?),
        PeerSource::Static(peers) => Some(Box::new(StaticPeers::try_new(peers.iter().cloned())?)),
        PeerSource::Dns(config) => Some(Box::new(DnsSdBrowser::new(config.clone())?)),
        PeerSource::Several(sources) => {
            let mut opened = Vec::with_capacity(sources.len());
            for source in sources {
                if let Some(discovery) = open(source, interfaces)? {
                    opened.push(discovery);
                }
            }
            match opened.len() {
                0 => None,
                1 => opened.pop(),
                _ => Some(Box::new(Merged::new(opened))),
            }
        }
    })
}

/// Parses a `discover` spec: `_sensors._tcp` (optionally with `.local.`,
/// or written `mdns:_sensors._tcp`) browses mDNS; `dns:<service type>.<domain>`
/// (e.g. `dns:_sensors._tcp.fleet.example`) queries unicast DNS-SD with
/// the system's resolver every [`DEFAULT_DNS_INTERVAL`](super::DEFAULT_DNS_INTERVAL).
///
/// # Errors
/// [`Error::Invalid`] quoting the spec and the accepted forms.
pub fn parse_discover(spec: &str) -> Result<PeerSource> {
    let trimmed = spec.trim();
    if let Some(name) = trimmed.strip_prefix("dns:") {
        let config = DnsSdConfig::new(name.trim());
        config.validate().map_err(|e| Error::Invalid {
            what: "discover",
            reason: format!(
                "{spec:?}: {e} (expected \"dns:_name._tcp.<domain>\", e.g. \"dns:_sensors._tcp.fleet.example\")"
            ),
        })?;
        return Ok(PeerSource::Dns(config));
    }
    let service_type = trimmed.strip_prefix("mdns:").unwrap_or(trimmed);
    normalize_service_type(service_type).map_err(|e| Error::Invalid {
        what: "discover",
        reason: format!(
            "{spec:?}: {e} (expected \"_name._tcp\" for mDNS or \"dns:_name._tcp.<domain>\" for unicast DNS-SD)"
        ),
    })?;
    Ok(PeerSource::Mdns {
        service_type: service_type.to_owned(),
    })
}

/// Several discovery sources as one: each runs in its own task (started
/// on the first [`next_event`](Discovery::next_event), inside the caller's
/// tokio runtime) and their events are interleaved as they come. Ends when
/// every source has ended.
pub struct Merged {
    sources: Vec<Box<dyn Discovery>>,
    events: Option<mpsc::Receiver<DiscoveryEvent>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Merged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merged")
            .field("sources", &(self.sources.len() + self.tasks.len()))
            .finish_non_exhaustive()
    }
}

impl Merged {
    /// Merges `sources`.
    pub fn new(sources: Vec<Box<dyn Discovery>>) -> Self {
        Merged {
            sources,
            events: None,
            tasks: Vec::new(),
        }
    }
}

impl Discovery for Merged {
    fn next_event(&mut self) -> BoxFuture<'_, Option<DiscoveryEvent>> {
        Box::pin(async move {
            if self.events.is_none() {
                let (tx, rx) = mpsc::channel(64);
                for mut source in self.sources.drain(..) {
                    let tx = tx.clone();
                    self.tasks.push(tokio::spawn(async move {
                        while let Some(event) = source.next_event().await {
                            if tx.send(event).await.is_err() {
                                break;
                            }
                        }
                    }));
                }
                self.events = Some(rx);
            }
            self.events.as_mut()?.recv().await
        })
    }
}

impl Drop for Merged {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::StaticPeer;

    #[test]
    fn discover_specs_parse_or_fail_clearly() {
        for mdns in [
            "_sensors._tcp",
            "_sensors._tcp.local.",
            "mdns:_sensors._tcp",
        ] {
            assert!(
                matches!(parse_discover(mdns), Ok(PeerSource::Mdns { .. })),
                "{mdns}"
            );
        }
        let Ok(PeerSource::Dns(config)) = parse_discover("dns:_sensors._tcp.fleet.example") else {
            panic!("a DNS-SD spec");
        };
        assert_eq!(config.name, "_sensors._tcp.fleet.example");
        assert_eq!(config.interval, crate::discovery::DEFAULT_DNS_INTERVAL);
        for (bad, why) in [
            ("sensors", "_name._tcp"),
            ("dns:_sensors._tcp", "domain"),
            ("dns:sensors.fleet.example", "start with '_'"),
            ("dns:_sensors._tcp.bad domain", "only letters"),
            ("dns:", "dns:_name._tcp"),
        ] {
            let err = parse_discover(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn several_sources_merge() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        let source = PeerSource::Several(vec![
            PeerSource::None,
            PeerSource::Static(vec![StaticPeer::parse("localhost:1").expect("valid")]),
            PeerSource::Static(vec![StaticPeer::parse("127.0.0.1:2").expect("valid")]),
        ]);
        let mut discovery = open(&source, &Interfaces::LoopbackOnly)
            .expect("opens")
            .expect("a source");
        let mut ports: Vec<u16> = rt.block_on(async {
            let mut ports = Vec::new();
            for _ in 0..2 {
                match discovery.next_event().await {
                    Some(DiscoveryEvent::Added(info)) => ports.push(info.port),
                    other => panic!("expected Added, got {other:?}"),
                }
            }
            ports
        });
        ports.sort_unstable();
        assert_eq!(ports, vec![1, 2]);
        assert!(
            open(&PeerSource::None, &Interfaces::All)
                .expect("ok")
                .is_none()
        );
        let bad = PeerSource::Static(vec![StaticPeer {
            target: "nope".into(),
            caller_id: None,
        }]);
        assert!(open(&bad, &Interfaces::All).is_err());
    }
}
