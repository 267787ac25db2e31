//! The TLS matrix with certificates generated here (rcgen), over loopback:
//! trusted CA accepted, untrusted refused, hostname override, mutual TLS
//! with a private CA, and clear errors for missing or malformed files.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tsercom::rpc::{
    ClientTls, RunningServer, Server, ServerTls, connect, handshake, pem_fingerprint,
};
use tsercom::{CallerId, Error};

struct Ca {
    pem_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pem");
    path
}

fn ca(dir: &Path, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    Ca {
        pem_path: write(dir, &format!("{name}.pem"), &cert.pem()),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate for `names` (DNS) and 127.0.0.1, issued by `ca`;
/// returns (cert, key) paths.
fn leaf(
    dir: &Path,
    ca: &Ca,
    file: &str,
    names: &[&str],
    with_ip: bool,
    client: bool,
) -> (PathBuf, PathBuf) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    if with_ip {
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    params.distinguished_name.push(DnType::CommonName, file);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca.issuer).expect("signed");
    (
        write(dir, &format!("{file}.crt"), &cert.pem()),
        write(dir, &format!("{file}.key"), &key.serialize_pem()),
    )
}

async fn serve(tls: ServerTls) -> (RunningServer, String, CallerId) {
    let id = CallerId::random();
    let running = Server::new(id)
        .with_tls(tls)
        .serve(&["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("serve");
    let target = running.local_addrs()[0].to_string();
    (running, target, id)
}

/// Whether a client with `tls` gets through the TLS handshake and the
/// tsercom handshake.
async fn accepted(target: &str, tls: &ClientTls, server: CallerId) -> Result<(), String> {
    let channel = connect(target, tls).await.map_err(|e| e.to_string())?;
    handshake(channel, CallerId::random(), Some(server))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn server_ca_trusted_accepted_untrusted_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca1 = ca(dir.path(), "ca1");
    let other = ca(dir.path(), "other");
    let (cert, key) = leaf(dir.path(), &ca1, "server", &["localhost"], true, false);
    let (running, target, id) = serve(ServerTls::Tls { cert, key }).await;

    let trusted = ClientTls::ServerCa {
        ca: ca1.pem_path.clone(),
        domain: None,
    };
    accepted(&target, &trusted, id)
        .await
        .expect("trusted CA accepted");
    let untrusted = ClientTls::ServerCa {
        ca: other.pem_path.clone(),
        domain: None,
    };
    let err = accepted(&target, &untrusted, id)
        .await
        .expect_err("untrusted CA refused");
    println!("untrusted: {err}");
    // A plaintext client cannot talk to a TLS server either.
    assert!(accepted(&target, &ClientTls::Insecure, id).await.is_err());
    running.stop().await;
}

#[tokio::test]
async fn hostname_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca1 = ca(dir.path(), "ca1");
    // Valid only for a name, not for the address we dial.
    let (cert, key) = leaf(
        dir.path(),
        &ca1,
        "named",
        &["sensor.tsercom.test"],
        false,
        false,
    );
    let (running, target, id) = serve(ServerTls::Tls { cert, key }).await;
    let by_address = ClientTls::ServerCa {
        ca: ca1.pem_path.clone(),
        domain: None,
    };
    assert!(
        accepted(&target, &by_address, id).await.is_err(),
        "the address is not in the certificate"
    );
    let overridden = ClientTls::ServerCa {
        ca: ca1.pem_path.clone(),
        domain: Some("sensor.tsercom.test".into()),
    };
    accepted(&target, &overridden, id)
        .await
        .expect("hostname override accepted");
    running.stop().await;
}

#[tokio::test]
async fn mutual_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca1 = ca(dir.path(), "ca1");
    let other = ca(dir.path(), "other");
    let (cert, key) = leaf(dir.path(), &ca1, "server", &["localhost"], true, false);
    let (client_cert, client_key) = leaf(dir.path(), &ca1, "client", &["producer"], false, true);
    let (rogue_cert, rogue_key) = leaf(dir.path(), &other, "rogue", &["producer"], false, true);
    let (running, target, id) = serve(ServerTls::MutualTls {
        cert,
        key,
        client_ca: ca1.pem_path.clone(),
    })
    .await;

    let good = ClientTls::Mutual {
        ca: ca1.pem_path.clone(),
        cert: client_cert,
        key: client_key,
        domain: None,
    };
    accepted(&target, &good, id)
        .await
        .expect("valid client certificate accepted");

    let without = ClientTls::ServerCa {
        ca: ca1.pem_path.clone(),
        domain: None,
    };
    assert!(
        accepted(&target, &without, id).await.is_err(),
        "no client certificate refused"
    );

    let rogue = ClientTls::Mutual {
        ca: ca1.pem_path.clone(),
        cert: rogue_cert,
        key: rogue_key,
        domain: None,
    };
    assert!(
        accepted(&target, &rogue, id).await.is_err(),
        "client certificate from another CA refused"
    );
    // The server still serves good clients afterwards.
    accepted(&target, &good, id).await.expect("still serving");
    running.stop().await;
}

/// A client certificate for a CallerId: its `urn:uuid:` SAN URI.
fn leaf_for(dir: &Path, ca: &Ca, file: &str, id: CallerId) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.subject_alt_names.push(SanType::URI(
        format!("urn:uuid:{id}").try_into().expect("ia5"),
    ));
    params.distinguished_name.push(DnType::CommonName, file);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca.issuer).expect("signed");
    (
        write(dir, &format!("{file}.crt"), &cert.pem()),
        write(dir, &format!("{file}.key"), &key.serialize_pem()),
    )
}

#[tokio::test]
async fn a_certificate_bound_caller_id_cannot_be_claimed_by_another_valid_certificate() {
    use tsercom::rpc::CertBinding;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca1 = ca(dir.path(), "ca1");
    let (cert, key) = leaf(dir.path(), &ca1, "server", &["localhost"], true, false);
    let (alice, bob) = (CallerId::random(), CallerId::random());
    let (alice_cert, alice_key) = leaf_for(dir.path(), &ca1, "alice", alice);
    let (plain_cert, plain_key) = leaf(dir.path(), &ca1, "plain", &["producer"], false, true);
    let server_id = CallerId::random();
    let running = Server::new(server_id)
        .with_tls(ServerTls::MutualTls {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: ca1.pem_path.clone(),
        })
        .with_cert_binding(CertBinding::UrnUuid)
        .serve(&["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("serve");
    let target = running.local_addrs()[0].to_string();
    let as_client = |cert: &PathBuf, key: &PathBuf| ClientTls::Mutual {
        ca: ca1.pem_path.clone(),
        cert: cert.clone(),
        key: key.clone(),
        domain: None,
    };
    let claim = |tls: ClientTls, id: CallerId| {
        let target = target.clone();
        async move {
            let channel = connect(&target, &tls).await.expect("TLS connects");
            handshake(channel, id, Some(server_id)).await
        }
    };
    // Alice's certificate: Alice, yes; Bob, no.
    claim(as_client(&alice_cert, &alice_key), alice)
        .await
        .expect("its own id");
    let refused = claim(as_client(&alice_cert, &alice_key), bob)
        .await
        .expect_err("another's id");
    assert_eq!(
        refused.rpc_code(),
        Some(tsercom::tonic::Code::PermissionDenied),
        "{refused}"
    );
    assert!(
        refused.to_string().contains(&alice.to_string()),
        "{refused}"
    );
    // A valid certificate binding no id claims none.
    let refused = claim(as_client(&plain_cert, &plain_key), bob)
        .await
        .expect_err("binds nothing");
    assert!(refused.to_string().contains("urn:uuid"), "{refused}");
    running.stop().await;

    // The same by fingerprint map.
    let fingerprint = pem_fingerprint(&plain_cert).expect("fingerprint");
    let running = Server::new(server_id)
        .with_tls(ServerTls::MutualTls {
            cert,
            key,
            client_ca: ca1.pem_path.clone(),
        })
        .with_cert_binding(CertBinding::Fingerprints([(fingerprint, bob)].into()))
        .serve(&["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("serve");
    let target = running.local_addrs()[0].to_string();
    let claim = |tls: ClientTls, id: CallerId| {
        let target = target.clone();
        async move {
            let channel = connect(&target, &tls).await.expect("TLS connects");
            handshake(channel, id, Some(server_id)).await
        }
    };
    claim(as_client(&plain_cert, &plain_key), bob)
        .await
        .expect("mapped");
    assert!(
        claim(as_client(&plain_cert, &plain_key), alice)
            .await
            .is_err()
    );
    running.stop().await;
}

#[tokio::test]
async fn missing_and_malformed_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca1 = ca(dir.path(), "ca1");
    let (cert, key) = leaf(dir.path(), &ca1, "server", &["localhost"], true, false);
    let missing = dir.path().join("nope.pem");
    let garbage = write(
        dir.path(),
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let empty = write(dir.path(), "empty.pem", "just text\n");

    let err = Server::new(CallerId::random())
        .with_tls(ServerTls::Tls {
            cert: missing.clone(),
            key: key.clone(),
        })
        .serve(&["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect_err("missing cert");
    assert!(
        matches!(err, Error::Tls { .. }) && err.to_string().contains("nope.pem"),
        "{err}"
    );

    let err = Server::new(CallerId::random())
        .with_tls(ServerTls::Tls {
            cert: cert.clone(),
            key: empty.clone(),
        })
        .serve(&["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect_err("bad key");
    assert!(
        err.to_string().contains("empty.pem") && err.to_string().contains("private key"),
        "{err}"
    );

    for bad in [&garbage, &empty] {
        let err = connect(
            "127.0.0.1:1",
            &ClientTls::ServerCa {
                ca: bad.clone(),
                domain: None,
            },
        )
        .await
        .expect_err("bad CA");
        assert!(matches!(err, Error::Tls { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(bad.file_name().and_then(|n| n.to_str()).unwrap_or("?")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn pinned_certificate_accepted_wrong_or_rotated_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca1 = ca(dir.path(), "ca1");
    let (cert, key) = leaf(dir.path(), &ca1, "server", &["localhost"], true, false);
    let pin = pem_fingerprint(&cert).expect("fingerprint");
    let (running, target, id) = serve(ServerTls::Tls { cert, key }).await;

    let pinned = ClientTls::Pinned {
        sha256: pin.clone(),
    };
    accepted(&target, &pinned, id)
        .await
        .expect("correct pin accepted");
    // Colon-separated upper case is the same pin.
    let colons: Vec<String> = pin
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    accepted(
        &target,
        &ClientTls::Pinned {
            sha256: colons.join(":"),
        },
        id,
    )
    .await
    .expect("same pin, other spelling");
    let wrong = ClientTls::Pinned {
        sha256: "0".repeat(64),
    };
    let err = accepted(&target, &wrong, id)
        .await
        .expect_err("wrong pin refused");
    assert!(err.contains("pinned"), "{err}");
    assert!(
        accepted(
            &target,
            &ClientTls::Pinned {
                sha256: "abc".into()
            },
            id
        )
        .await
        .is_err()
    );
    running.stop().await;

    // The server rotates its certificate (same CA, same names): the old pin
    // refuses it, although a CA-based client would accept it.
    let (new_cert, new_key) = leaf(
        dir.path(),
        &ca1,
        "server-rotated",
        &["localhost"],
        true,
        false,
    );
    let (running, target, id) = serve(ServerTls::Tls {
        cert: new_cert,
        key: new_key,
    })
    .await;
    assert!(
        accepted(&target, &pinned, id).await.is_err(),
        "rotated certificate refused under the old pin"
    );
    let by_ca = ClientTls::ServerCa {
        ca: ca1.pem_path.clone(),
        domain: None,
    };
    accepted(&target, &by_ca, id)
        .await
        .expect("the CA still vouches for it");
    running.stop().await;
}
