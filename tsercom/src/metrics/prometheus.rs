//! The Prometheus text exposition over HTTP (feature `prometheus`):
//! `metrics-exporter-prometheus`'s recorder, rendered by a small HTTP/1.1
//! responder on a thread of its own.
//!
//! ```text
//!  GET /metrics (any path) ──▶ listener thread ──▶ PrometheusHandle::render()
//!                              one request per connection, 5 s timeouts
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::{Error, Result};

/// The recorder tsercom installed in this process, once.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// Serializes installation (the check and the install together).
static INSTALL: Mutex<()> = Mutex::new(());
/// The endpoint `TSERCOM_METRICS_ADDR` started, once per process.
static FROM_ENV: OnceLock<Option<SocketAddr>> = OnceLock::new();

/// How long one scrape may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request head read (a scrape's is a few hundred bytes).
const MAX_REQUEST: usize = 16 * 1024;

fn handle() -> Result<PrometheusHandle> {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Error::Invalid {
            what: "metrics recorder",
            reason: format!(
                "{e} (another `metrics` recorder is installed in this process: serve its metrics through it)"
            ),
        })?;
    super::describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Installs tsercom's Prometheus recorder in this process (once; later
/// calls add listeners to the same one) and serves its text exposition
/// over HTTP at `addr` (`"127.0.0.1:0"`: a free port) from a thread of its
/// own, until the process exits. Returns the bound address.
///
/// Call it before [`RuntimeManager::start_in_process`](crate::RuntimeManager::start_in_process):
/// handles registered before a recorder exists stay no-ops. Out of
/// process, `main` runs again in the child up to `start_out_of_process`:
/// a fixed address would be bound twice there; set
/// [`ADDR_ENV`](super::ADDR_ENV) / [`CHILD_ADDR_ENV`](super::CHILD_ADDR_ENV)
/// instead (see [the module](super)).
///
/// ```no_run
/// let addr = tsercom::metrics::serve_prometheus("127.0.0.1:9464")?;
/// println!("metrics on http://{addr}/metrics");
/// # Ok::<(), tsercom::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] when `addr` does not resolve or cannot be bound;
/// [`Error::Invalid`] when another `metrics` recorder is installed.
pub fn serve_prometheus(addr: impl ToSocketAddrs) -> Result<SocketAddr> {
    let io = |source| Error::Io {
        path: "metrics endpoint".into(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(io)?;
    let bound = listener.local_addr().map_err(io)?;
    let handle = handle()?;
    std::thread::Builder::new()
        .name("tsercom-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(e) = answer(stream, &handle) {
                            tracing::debug!(error = %e, "metrics scrape failed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics endpoint: accept failed");
                        // E.g. out of file descriptors: do not spin.
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })
        .map_err(io)?;
    tracing::info!(%bound, "serving Prometheus metrics");
    Ok(bound)
}

/// The current text exposition of tsercom's recorder (`None` before
/// [`serve_prometheus`] installed it).
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

/// Serves at `TSERCOM_METRICS_ADDR` when it is set (once per process; a
/// failure to bind is logged and returned).
pub(crate) fn serve_from_env() -> Result<Option<SocketAddr>> {
    let Some(addr) = std::env::var_os(super::ADDR_ENV) else {
        return Ok(None);
    };
    if let Some(done) = FROM_ENV.get() {
        return Ok(*done);
    }
    let text = addr.to_string_lossy().into_owned();
    let served = serve_prometheus(text.as_str()).map_err(|e| {
        tracing::error!(addr = %text, error = %e, "cannot serve metrics at {}", super::ADDR_ENV);
        e
    })?;
    Ok(*FROM_ENV.get_or_init(|| Some(served)))
}

/// Reads one request head and answers it with the exposition.
fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut stream, "431 Request Header Fields Too Large", "");
        }
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    if !line.starts_with(b"GET ") {
        return respond(&mut stream, "405 Method Not Allowed", "only GET\n");
    }
    handle.run_upkeep();
    respond(&mut stream, "200 OK", &handle.render())
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}
