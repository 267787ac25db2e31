//! Accepted connections that the server can end: tonic serves each
//! connection in its own task, so stopping the accept loop leaves open
//! streams alive. Each socket is wrapped so that, once the kill switch is
//! thrown (after the grace period), its pending reads and writes fail and
//! the connection closes; the peer sees the disconnect.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::connections::{ConnState, Connections};

type Killed = Pin<Box<dyn Future<Output = String> + Send + Sync>>;

/// A TCP connection that ends when the server's kill switch is thrown, when
/// its own is (a duplicate replaced, room made under the connection
/// limit), or when it has not handshaken within the deadline. It records
/// its reads (the duplicate check's liveness evidence) and leaves the
/// server's connection table when dropped.
pub(crate) struct Killable {
    inner: TcpStream,
    killed: Killed,
    dead: Option<String>,
    state: Arc<ConnState>,
    connections: Arc<Connections>,
}

impl Killable {
    pub(crate) fn new(
        inner: TcpStream,
        mut switch: watch::Receiver<bool>,
        state: Arc<ConnState>,
        connections: Arc<Connections>,
    ) -> Self {
        let mut own = state.kill.subscribe();
        let deadline = connections.limits().handshake_deadline;
        let watched = Arc::clone(&state);
        let table = Arc::clone(&connections);
        let killed = Box::pin(async move {
            let no_handshake = async {
                match deadline {
                    Some(deadline) => {
                        tokio::time::sleep(deadline).await;
                        if watched.handshaken() {
                            std::future::pending::<()>().await;
                        }
                        table.handshake_timed_out();
                        tracing::info!(remote = %watched.key.1, ?deadline, "closing a connection that did not handshake in time");
                        deadline
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Ends when thrown, or when the server (the sender) is gone.
                _ = switch.wait_for(|thrown| *thrown) => "the server stopped".to_owned(),
                reason = own.wait_for(Option::is_some) => reason
                    .ok()
                    .and_then(|r| *r)
                    .unwrap_or("closed by the server")
                    .to_owned(),
                deadline = no_handshake => format!("no tsercom handshake within {deadline:?}"),
            }
        });
        Killable {
            inner,
            killed,
            dead: None,
            state,
            connections,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.dead.is_none()
            && let Poll::Ready(reason) = self.killed.as_mut().poll(cx)
        {
            self.dead = Some(reason);
        }
        match &self.dead {
            Some(reason) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                reason.clone(),
            )),
            None => Ok(()),
        }
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.connections.remove(&self.state);
    }
}

impl AsyncRead for Killable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_now();
        }
        polled
    }
}

impl AsyncWrite for Killable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for Killable {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// The server's accepted connections: each admitted to the connection
/// table (or closed at once when the limit says so) and wrapped in a
/// [`Killable`]. Accept errors are counted and logged, never passed on; when
/// the process is out of file descriptors (or memory), accepting pauses
/// for 100 ms instead of spinning.
pub(crate) struct Accept<S> {
    pub(crate) inner: S,
    pub(crate) connections: Arc<Connections>,
    pub(crate) switch: watch::Receiver<bool>,
    pub(crate) pause: Option<Pin<Box<tokio::time::Sleep>>>,
    pub(crate) last_warning: Option<std::time::Instant>,
}

impl<S> tokio_stream::Stream for Accept<S>
where
    S: tokio_stream::Stream<Item = io::Result<TcpStream>> + Unpin,
{
    type Item = io::Result<Killable>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(pause) = &mut this.pause {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Ok(tcp))) => {
                    let (Ok(local), Ok(remote)) = (tcp.local_addr(), tcp.peer_addr()) else {
                        continue; // already gone
                    };
                    if let Some(state) = this.connections.admit((local, remote)) {
                        return Poll::Ready(Some(Ok(Killable::new(
                            tcp,
                            this.switch.clone(),
                            state,
                            Arc::clone(&this.connections),
                        ))));
                    }
                    // Refused: dropping it closes it.
                }
                Poll::Ready(Some(Err(e))) => {
                    this.connections.accept_error();
                    let exhausted = matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    );
                    if this
                        .last_warning
                        .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1))
                    {
                        this.last_warning = Some(std::time::Instant::now());
                        tracing::warn!(error = %e, "accepting a connection failed");
                    }
                    if exhausted {
                        this.pause = Some(Box::pin(tokio::time::sleep(
                            std::time::Duration::from_millis(100),
                        )));
                    }
                }
            }
        }
    }
}
