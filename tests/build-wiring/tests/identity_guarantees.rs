//! Identity is a guarantee, not a label — each measured failure of the
//! identity issue as a test, over real processes where processes matter:
//!
//! - identity files: 8 processes racing on an empty path end with one id;
//!   a held file is refused to a second process, naming the holder's PID
//!   and `TSERCOM_INSTANCE` (which gives each instance its own id); FIFOs,
//!   devices and dangling links are refused at once;
//! - a stream is accepted only for its connection's handshake: no
//!   handshake → `UNAUTHENTICATED`, another id than the handshake's →
//!   `PERMISSION_DENIED`, a live holder's id in a new handshake →
//!   `ALREADY_EXISTS`; the holder's series goes on untouched;
//! - a clone (another process with a copy of the identity file) is refused
//!   on its own `check_error` and never merged into the holder's series; a
//!   restart (the holder SIGKILLed) is accepted at once;
//! - idle connections that never handshake are closed (limit and deadline)
//!   and do not lock out a real peer;
//! - 1 000 connect/disconnect cycles leave no caller behind.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::{LOOPBACK_ANY_PORT, Peer, free_port, spawn_ready};
use tsercom::data::ConnectionState;
use tsercom::rpc::ConnectionLimits;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::tonic::Code;
use tsercom::{AggregatorHandle, CallerId, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);

// ---- identity files ----

/// Runs the identity probe; its one output line.
fn probe(envs: &[(&str, &Path)], extra: &[(&str, &str)]) -> std::process::Child {
    let mut command = Process::new(env!("CARGO_BIN_EXE_identity_probe"));
    command
        .env_remove("PROBE_PATH")
        .env_remove("PROBE_HOLD")
        .env_remove("TSERCOM_INSTANCE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in envs {
        command.env(k, v);
    }
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().expect("spawn the probe")
}

/// The probe's result line, within `within` (the probe is killed and the
/// test fails if it hangs).
fn result_line(child: &mut std::process::Child, within: Duration) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = BufReader::new(stdout).lines().next();
        let _ = tx.send(line);
    });
    match rx.recv_timeout(within) {
        Ok(Some(Ok(line))) => line,
        other => {
            let _ = child.kill();
            panic!("the probe gave no result within {within:?}: {other:?}");
        }
    }
}

#[test]
fn eight_processes_racing_on_an_empty_path_end_with_one_identity() {
    for trial in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/robot.caller_id");
        let mut children: Vec<_> = (0..8)
            .map(|_| probe(&[("PROBE_PATH", &path)], &[]))
            .collect();
        let lines: Vec<String> = children.iter_mut().map(|c| result_line(c, WAIT)).collect();
        for child in &mut children {
            let _ = child.wait();
        }
        let on_disk = std::fs::read_to_string(&path).expect("the file exists");
        let ids: std::collections::BTreeSet<&str> =
            lines.iter().filter_map(|l| l.strip_prefix("ID=")).collect();
        assert_eq!(ids.len(), 1, "trial {trial}: one identity: {lines:?}");
        assert!(
            ids.contains(on_disk.trim()),
            "trial {trial}: the one on disk: {on_disk:?} vs {lines:?}"
        );
        for line in lines.iter().filter(|l| l.starts_with("ERR=")) {
            assert!(
                line.contains("is in use by"),
                "trial {trial}: only the lock refuses: {line}"
            );
        }
    }
}

#[test]
fn a_held_identity_is_refused_to_a_second_process_and_instances_get_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = [("TSERCOM_STATE_DIR", dir.path())];
    let mut holder = probe(&state, &[("PROBE_HOLD", "1")]);
    let held = result_line(&mut holder, WAIT);
    let id = held
        .strip_prefix("ID=")
        .expect("the holder has it")
        .to_owned();

    let mut second = probe(&state, &[]);
    let refused = result_line(&mut second, WAIT);
    let _ = second.wait();
    assert!(refused.starts_with("ERR="), "{refused}");
    for needle in [
        "Robot.caller_id",
        &format!("process {}", holder.id()),
        "TSERCOM_INSTANCE",
    ] {
        assert!(refused.contains(needle), "names {needle:?}: {refused}");
    }

    // Another instance name: its own identity, alongside.
    let mut other = probe(&state, &[("TSERCOM_INSTANCE", "left-arm")]);
    let own = result_line(&mut other, WAIT);
    let _ = other.wait();
    let own = own.strip_prefix("ID=").expect("its own identity");
    assert_ne!(own, id);
    assert!(dir.path().join("Robot@left-arm.caller_id").is_file());

    // Released when the holder ends (however it ends): the id is the same.
    let _ = holder.kill();
    let _ = holder.wait();
    let mut after = probe(&state, &[]);
    assert_eq!(result_line(&mut after, WAIT), format!("ID={id}"));
    let _ = after.wait();
}

#[test]
fn fifos_devices_and_dangling_links_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.caller_id");
    assert!(
        Process::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let zero = dir.path().join("zero.caller_id");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("link");
    let dangling = dir.path().join("dangling.caller_id");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("link");
    for (path, kind) in [
        (&fifo, "FIFO"),
        (&zero, "character device"),
        (&dangling, "link to nothing"),
    ] {
        let started = Instant::now();
        let mut child = probe(&[("PROBE_PATH", path)], &[]);
        // A hang (the FIFO) or a read to the end (/dev/zero) fails here.
        let line = result_line(&mut child, Duration::from_secs(20));
        let _ = child.wait();
        assert!(
            line.starts_with("ERR=") && line.contains(kind),
            "{path:?}: {line}"
        );
        println!("{kind}: refused in {:?}", started.elapsed());
    }
    assert!(
        std::fs::symlink_metadata(&dangling)
            .expect("still there")
            .file_type()
            .is_symlink(),
        "the dangling link is not replaced"
    );
}

// ---- the connection ----

/// An aggregator that listens; robots dial it.
#[tsercom::runtime(aggregator, listen = self.listen, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Trainer {
    listen: Option<SocketAddr>,
    limits: Option<ConnectionLimits>,
}

impl Hooks for Trainer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let config = config.with_identity(Identity::Fixed(CallerId::random()));
        match self.limits {
            Some(limits) => config.with_connection_limits(limits),
            None => config,
        }
    }
}

fn start_trainer(
    limits: Option<ConnectionLimits>,
) -> (
    RuntimeManager,
    AggregatorHandle<Reading, Command>,
    SocketAddr,
) {
    let mut manager = RuntimeManager::new();
    let handle: AggregatorHandle<Reading, Command> = manager
        .register(Trainer {
            listen: Some(LOOPBACK_ANY_PORT),
            limits,
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let addr = handle.listening()[0];
    (manager, handle, addr)
}

fn spawn_robot(state: &Path, start: u32, trainer: SocketAddr) -> Peer {
    let mut command = Process::new(env!("CARGO_BIN_EXE_e2e_robot"));
    command
        .env("TSERCOM_STATE_DIR", state)
        .env("E2E_START", start.to_string())
        .env("E2E_TRAINER", trainer.to_string())
        .env_remove("E2E_DISCOVER")
        .env_remove("E2E_CLOCK_OFFSET_MS")
        .env_remove("TSERCOM_INSTANCE")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped());
    spawn_ready(&mut command)
}

/// Takes `caller`'s samples until `n` arrived (anyone else's are returned
/// too, to be checked by the caller).
fn take_from(
    handle: &AggregatorHandle<Reading, Command>,
    caller: CallerId,
    n: usize,
) -> (Vec<f64>, Vec<(CallerId, f64)>) {
    let deadline = Instant::now() + WAIT;
    let (mut mine, mut others) = (Vec::new(), Vec::new());
    while mine.len() < n {
        assert!(Instant::now() < deadline, "{n} samples of {caller} in time");
        handle.data().wait_new(Duration::from_millis(200));
        for (from, samples) in handle.data().take_new() {
            for s in samples {
                if from == caller {
                    mine.push(s.data.celsius);
                } else {
                    others.push((from, s.data.celsius));
                }
            }
        }
    }
    (mine, others)
}

/// Strictly one series: consecutive values, no gap, no repeat.
fn assert_consecutive(values: &[f64], what: &str) {
    for w in values.windows(2) {
        assert_eq!(w[1], w[0] + 1.0, "{what}: one unbroken series: {values:?}");
    }
}

async fn channel_to(addr: SocketAddr) -> tsercom::tonic::transport::Channel {
    tsercom::tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// An upload stream from `channel` claiming `claimed` in the metadata; the
/// status it is refused with.
async fn upload_claiming(
    channel: tsercom::tonic::transport::Channel,
    claimed: CallerId,
) -> tsercom::tonic::Status {
    use tsercom_test_build_wiring::trainer_client::TrainerClient;
    let mut request = tsercom::tonic::Request::new(tokio_stream::iter(vec![Reading {
        celsius: -999.0,
        ..Reading::default()
    }]));
    request.metadata_mut().insert(
        tsercom::service::CALLER_ID_METADATA,
        claimed.to_string().parse().expect("ascii"),
    );
    match TrainerClient::new(channel).upload(request).await {
        Err(status) => status,
        Ok(response) => {
            let mut replies = response.into_inner();
            loop {
                match replies.message().await {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("a spoofed stream ended with OK"),
                    Err(status) => break status,
                }
            }
        }
    }
}

#[test]
fn a_stream_is_accepted_only_for_its_connections_handshake() {
    let (mut manager, trainer, addr) = start_trainer(None);
    let state = tempfile::tempdir().expect("tempdir");
    let victim = spawn_robot(state.path(), 0, addr);
    let (before, _) = take_from(&trainer, victim.id, 5);

    let client = tokio::runtime::Runtime::new().expect("tokio");
    client.block_on(async {
        // No handshake at all, the victim's id in the metadata.
        let status = upload_claiming(channel_to(addr).await, victim.id).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

        // A handshake as itself, then the victim's id in the metadata.
        let channel = channel_to(addr).await;
        tsercom::rpc::handshake(channel.clone(), CallerId::random(), None)
            .await
            .expect("its own handshake");
        let status = upload_claiming(channel, victim.id).await;
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

        // A handshake claiming the victim's id (another process): refused
        // while the victim is alive.
        let refused = tsercom::rpc::handshake(channel_to(addr).await, victim.id, None)
            .await
            .expect_err("a live holder's id");
        assert_eq!(refused.rpc_code(), Some(Code::AlreadyExists), "{refused}");
    });

    // The victim never noticed: its series goes on, unbroken, alone.
    let (after, others) = take_from(&trainer, victim.id, 20);
    assert!(others.is_empty(), "nothing under another id: {others:?}");
    let mut all = before;
    all.extend(after);
    assert_consecutive(&all, "the victim's series");
    let callers = trainer.callers();
    assert_eq!(callers.len(), 1, "{callers:?}");
    assert_eq!(callers[0].state, ConnectionState::Connected);
    manager.check_error().expect("no runtime error");
    drop(victim);
    manager.shutdown().expect("shutdown");
}

#[test]
fn a_clone_is_refused_on_both_sides_and_a_restart_is_welcome() {
    let (mut manager, trainer, addr) = start_trainer(None);
    let state = tempfile::tempdir().expect("tempdir");
    let mut holder = spawn_robot(state.path(), 0, addr);
    let (mut series, _) = take_from(&trainer, holder.id, 5);

    // A robot cloned from the same disk image: a copy of the identity file.
    let cloned = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        state.path().join("Robot.caller_id"),
        cloned.path().join("Robot.caller_id"),
    )
    .expect("clone the identity");
    let mut clone = spawn_robot(cloned.path(), 100_000, addr);
    assert_eq!(clone.id, holder.id, "the same identity");
    // Refused: the clone's own check_error reports it, and it exits by
    // itself. Its stdin is kept open here (`wait` would close it, which
    // also ends it), and the exit is waited for on a thread, bounded.
    let _stdin = clone.child.stdin.take();
    let mut child = std::mem::replace(
        &mut clone.child,
        Process::new("true").spawn().expect("placeholder"),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait().expect("wait");
        let _ = tx.send(status);
        child
    });
    let status = rx
        .recv_timeout(WAIT)
        .expect("the clone exits on the refusal");
    clone.child = waiter.join().expect("waiter");
    let mut stderr = String::new();
    clone
        .child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(!status.success(), "the clone fails: {stderr}");
    assert!(
        stderr.contains("already connected") && stderr.contains("another live process"),
        "the clone learns why: {stderr}"
    );
    // And its log says so at WARN (`tsercom::logging::init()`, no RUST_LOG).
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("WARN") && l.contains("refused this runtime")),
        "a WARN line: {stderr}"
    );
    // Never merged: the holder's series goes on alone and unbroken.
    let (more, others) = take_from(&trainer, holder.id, 20);
    series.extend(more);
    assert!(others.is_empty(), "{others:?}");
    assert_consecutive(&series, "the holder's series");
    assert!(
        series.iter().all(|v| *v < 100_000.0),
        "no sample of the clone: {series:?}"
    );
    // The aggregator's view of the holder says a clone was refused.
    let callers = trainer.callers();
    let info = callers
        .iter()
        .find(|c| c.id == holder.id)
        .expect("the holder is listed");
    assert!(
        info.duplicates_refused >= 1,
        "the refused clone shows in the holder's info: {info:?}"
    );

    // A restart (the holder killed, started again on its own file): welcome.
    let id = holder.id;
    let _ = holder.child.kill();
    let _ = holder.child.wait();
    let restarted = spawn_robot(state.path(), 1_000_000, addr);
    let ready = Instant::now();
    assert_eq!(restarted.id, id);
    let deadline = ready + WAIT;
    let resumed = loop {
        assert!(Instant::now() < deadline, "the restart's data arrived");
        trainer.data().wait_new(Duration::from_millis(100));
        let fresh = trainer
            .data()
            .take_new_for(id)
            .iter()
            .any(|s| s.data.celsius >= 1_000_000.0);
        if fresh {
            break ready.elapsed();
        }
    };
    println!("restart resumed {resumed:?} after the new process was ready");
    let callers = trainer.callers();
    assert_eq!(callers.len(), 1, "{callers:?}");
    assert_eq!(callers[0].state, ConnectionState::Connected);
    manager.check_error().expect("no runtime error");
    drop(restarted);
    manager.shutdown().expect("shutdown");
}

#[test]
fn idle_connections_are_closed_and_do_not_lock_out_a_real_peer() {
    let limits = ConnectionLimits::default()
        .with_max_connections(16)
        .with_handshake_deadline(Some(Duration::from_secs(2)));
    let (mut manager, trainer, addr) = start_trainer(Some(limits));
    // 64 connections that never say anything.
    let idle: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    // A real robot still gets in, and its data flows.
    let state = tempfile::tempdir().expect("tempdir");
    let robot = spawn_robot(state.path(), 0, addr);
    let (values, _) = take_from(&trainer, robot.id, 10);
    assert_consecutive(&values, "the robot's series");
    // Every idle connection is closed by the server: past the limit at
    // once, the rest at the handshake deadline.
    for (i, mut conn) in idle.into_iter().enumerate() {
        conn.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut buf = [0u8; 256];
        let closed = loop {
            match conn.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue, // the server's HTTP/2 preface
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(e) => panic!("idle connection {i}: not closed within {WAIT:?}: {e}"),
            }
        };
        assert!(closed);
    }
    let (more, _) = take_from(&trainer, robot.id, 5);
    assert!(more[0] > values[values.len() - 1], "still flowing");
    manager.check_error().expect("no runtime error");
    drop(robot);
    manager.shutdown().expect("shutdown");
}

#[test]
fn a_thousand_connect_disconnect_cycles_leave_no_caller_behind() {
    use tsercom_test_build_wiring::trainer_client::TrainerClient;
    let (mut manager, trainer, addr) = start_trainer(None);
    let client = tokio::runtime::Runtime::new().expect("tokio");
    client.block_on(async {
        let cycles: Vec<_> = (0..8)
            .map(|worker| {
                tokio::spawn(async move {
                    for i in 0..125 {
                        let channel = channel_to(addr).await;
                        let id = CallerId::random();
                        tsercom::rpc::handshake(channel.clone(), id, None)
                            .await
                            .expect("handshake");
                        let one = tokio_stream::iter(vec![Reading {
                            celsius: f64::from(worker * 1000 + i),
                            ..Reading::default()
                        }]);
                        let mut replies = TrainerClient::new(channel)
                            .upload(one)
                            .await
                            .expect("stream")
                            .into_inner();
                        // The request stream ended: the server ends its side.
                        while let Ok(Some(_)) = replies.message().await {}
                    }
                })
            })
            .collect();
        for cycle in cycles {
            cycle.await.expect("cycles");
        }
    });
    // Everything they sent arrived; once read, nobody is left.
    let deadline = Instant::now() + WAIT;
    let mut received = 0;
    loop {
        received += trainer
            .data()
            .take_new()
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>();
        let callers = trainer.callers();
        if received == 1000 && callers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{received} of 1000 samples; callers left: {}",
            callers.len()
        );
        trainer.data().wait_new(Duration::from_millis(50));
    }
    manager.check_error().expect("no runtime error");
    manager.shutdown().expect("shutdown");
}

// ---- dialed peers that cannot be reached ----

/// An aggregator dialing static peers.
#[tsercom::runtime(aggregator, peers = self.peers, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Dashboard {
    peers: Vec<String>,
}

impl Hooks for Dashboard {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// A producer hosting `Sensor.Stream`.
#[tsercom::runtime(producer, listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Thermometer {
    listen: Option<SocketAddr>,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

#[test]
fn a_mistyped_or_absent_static_peer_is_shown_unreachable_then_connected() {
    use tsercom::data::PeerState;
    let absent = format!("127.0.0.1:{}", free_port());
    let mistyped = "no-such-host.invalid:50160".to_owned();
    let mut manager = RuntimeManager::new();
    let dashboard = manager
        .register(Dashboard {
            peers: vec![absent.clone(), mistyped.clone()],
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let unreachable = |p: &tsercom::data::PeerInfo| matches!(&p.state, PeerState::Unreachable { last_error, .. } if last_error.contains(&p.target));
    let peers = dashboard
        .wait_peers(WAIT, |peers| {
            peers.len() == 2 && peers.iter().all(unreachable)
        })
        .unwrap_or_else(|| panic!("both shown unreachable: {:?}", dashboard.peers()));
    let targets: Vec<&str> = peers.iter().map(|p| p.target.as_str()).collect();
    assert!(
        targets.contains(&absent.as_str()) && targets.contains(&mistyped.as_str()),
        "{targets:?}"
    );
    assert!(
        dashboard.callers().is_empty(),
        "no caller without a handshake"
    );

    // The absent one comes up: shown connected, with the address.
    let mut producer_manager = RuntimeManager::new();
    let thermometer = producer_manager
        .register(Thermometer {
            listen: Some(absent.parse().expect("addr")),
        })
        .expect("register");
    producer_manager.start_in_process().expect("start");
    let peers = dashboard
        .wait_peers(WAIT, |peers| {
            peers.iter().any(|p| {
                p.target == absent
                    && matches!(&p.state, PeerState::Connected { addr, .. } if *addr == absent)
            })
        })
        .unwrap_or_else(|| panic!("connected: {:?}", dashboard.peers()));
    assert!(
        peers.iter().any(|p| p.target == mistyped && unreachable(p)),
        "{peers:?}"
    );
    thermometer
        .wait_callers(WAIT, |c| !c.is_empty())
        .expect("the producer sees the dashboard");
    producer_manager.shutdown().expect("shutdown");
    manager
        .check_error()
        .expect("an unreachable peer is a state, not an error");
    manager.shutdown().expect("shutdown");
}

#[test]
fn an_identity_survives_a_restart_and_a_corrupt_file_is_reported_not_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/producer.caller_id");
    let run = || {
        let mut child = probe(&[("PROBE_PATH", &path)], &[]);
        let line = result_line(&mut child, WAIT);
        let _ = child.wait();
        line
    };
    let first = run();
    assert!(first.starts_with("ID="), "{first}");
    assert_eq!(run(), first, "the id survives a restart");
    std::fs::write(&path, "12345").expect("corrupt it");
    let refused = run();
    assert!(
        refused.starts_with("ERR=")
            && refused.contains("corrupt")
            && refused.contains("producer.caller_id"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "12345",
        "never replaced"
    );
}
