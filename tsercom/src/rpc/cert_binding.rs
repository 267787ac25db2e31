//! Binding a peer's CallerId to its client certificate (mutual TLS): with
//! a binding configured, a peer with a valid certificate still cannot
//! claim another peer's id in its handshake.

use std::collections::BTreeMap;

use tonic::Status;

use crate::caller_id::CallerId;

/// Which CallerId a client certificate may claim, checked at each
/// handshake on a mutual-TLS server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertBinding {
    /// Any (the certificate only says the peer belongs to the fleet).
    #[default]
    None,
    /// The id in the leaf certificate's `urn:uuid:<CallerId>` SAN URI
    /// (RFC 4122 §3); a certificate without one is refused.
    UrnUuid,
    /// The id mapped to the leaf certificate's SHA-256 fingerprint (64
    /// lower-case hex digits, as [`certificate_fingerprint`](super::certificate_fingerprint)
    /// gives); a certificate not in the map is refused.
    Fingerprints(BTreeMap<String, CallerId>),
}

impl CertBinding {
    /// Checks that the leaf certificate `leaf` (DER; `None` when the
    /// connection has no client certificate) may claim `claimed`.
    ///
    /// # Errors
    /// `PERMISSION_DENIED` naming what the certificate binds (or that it
    /// binds nothing), `UNAUTHENTICATED` without a certificate.
    pub fn check(&self, leaf: Option<&[u8]>, claimed: CallerId) -> Result<(), Status> {
        if *self == CertBinding::None {
            return Ok(());
        }
        let Some(leaf) = leaf else {
            return Err(Status::unauthenticated(
                "handshake: this server binds CallerIds to client certificates, and the connection has none",
            ));
        };
        let bound = match self {
            CertBinding::None => return Ok(()),
            CertBinding::UrnUuid => urn_uuids(leaf)?,
            CertBinding::Fingerprints(map) => map
                .get(&super::certificate_fingerprint(leaf))
                .copied()
                .into_iter()
                .collect(),
        };
        if bound.contains(&claimed) {
            return Ok(());
        }
        Err(Status::permission_denied(match bound.as_slice() {
            [] => format!(
                "handshake: the client certificate binds no CallerId ({}), so it cannot claim {claimed}",
                match self {
                    CertBinding::UrnUuid => "no urn:uuid: SAN URI",
                    _ => "its fingerprint is not mapped",
                }
            ),
            ids => format!(
                "handshake: the client certificate is bound to {}, not {claimed}",
                ids.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }))
    }
}

/// Every `urn:uuid:` SAN URI of a DER certificate, as CallerIds.
fn urn_uuids(der: &[u8]) -> Result<Vec<CallerId>, Status> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| {
        Status::unauthenticated(format!("handshake: unreadable client certificate: {e}"))
    })?;
    let mut ids = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(text) = uri
                    .strip_prefix("urn:uuid:")
                    .or_else(|| uri.strip_prefix("URN:UUID:"))
                && let Ok(id) = CallerId::parse(text)
            {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}
