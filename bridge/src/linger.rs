//! [`LingeringListener`]: connections that close without losing their last
//! words.
//!
//! When a program closes a TCP socket that still has unread input, the
//! kernel does not send the usual FIN: it answers with a reset (RST), and
//! the peer's kernel then throws away whatever it had received and not yet
//! handed to the program. A page that was still sending (the rest of an
//! oversize message, commands after a wrong hello) would lose the bridge's
//! close frame and its reason that way.
//!
//! So every connection the bridge accepts closes the way RFC 6455 (7.1.1)
//! and HTTP servers' "lingering close" ask: after the last byte is written
//! (the close frame, an error page), shut down the sending side (FIN: "no
//! more from me"), then keep reading and discarding until the peer closes
//! too (EOF), for at most [`LINGER_TIME`] and [`LINGER_BYTES`]. Only then is
//! the socket closed. A peer that keeps sending past those bounds gets the
//! reset after all: the bound is what a misbehaving peer can cost.

use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

/// The longest a closed connection waits for its peer to close too.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// The most bytes read and discarded from a closed connection. Reading is
/// cheap (64 MiB is some milliseconds of CPU on loopback); the time bound
/// is what matters.
pub const LINGER_BYTES: usize = 64 << 20;

/// A TCP listener whose connections linger when dropped (see the module).
#[derive(Debug)]
pub struct LingeringListener {
    listener: TcpListener,
    /// Where lingering closes run, so shutdown waits for them too.
    tasks: TaskTracker,
}

impl LingeringListener {
    pub fn new(listener: TcpListener, tasks: TaskTracker) -> LingeringListener {
        LingeringListener { listener, tasks }
    }
}

impl Listener for LingeringListener {
    type Io = Lingering;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Lingering, SocketAddr) {
        let (tcp, addr) = Listener::accept(&mut self.listener).await;
        let io = Lingering {
            tcp: Some(tcp),
            tasks: self.tasks.clone(),
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An accepted connection; on drop, it closes in the background as the
/// module describes.
#[derive(Debug)]
pub struct Lingering {
    /// Always `Some` until dropped.
    tcp: Option<TcpStream>,
    tasks: TaskTracker,
}

impl Lingering {
    /// The TCP stream (for socket options).
    pub fn tcp(&mut self) -> Option<&mut TcpStream> {
        self.tcp.as_mut()
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        match self.tcp.as_mut() {
            Some(tcp) => Ok(Pin::new(tcp)),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(tcp) = self.tcp.take() else { return };
        // Outside a runtime (the process is ending) the socket just closes.
        if tokio::runtime::Handle::try_current().is_ok() {
            self.tasks.spawn(linger(tcp));
        }
    }
}

/// Sends FIN, then reads until EOF or a bound, then closes.
pub async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let discard = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut read = 0;
        while read < LINGER_BYTES {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, discard).await;
}

impl AsyncRead for Lingering {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(tcp) => tcp.poll_read(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(tcp) => tcp.poll_write(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(tcp) => tcp.poll_write_vectored(cx, bufs),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(tcp) => tcp.poll_flush(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(tcp) => tcp.poll_shutdown(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}
