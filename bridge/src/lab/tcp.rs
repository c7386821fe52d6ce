//! [`LabServer`]: the lab's TCP server (Tasks 1, 2 and 3), every step traced.
//!
//! Run it, then in another terminal connect with the lab's own client:
//!
//! ```text
//! cargo run -p bridge -- --mode echo          # listens on 127.0.0.1:1234
//! python3 tests/fixtures/task3_client.py      # or: nc 127.0.0.1 1234
//! ```
//!
//! What a student should notice, in order: `socket()` makes an endpoint,
//! `bind()` gives it an address, `listen(5)` turns it into a listening
//! socket with a queue of 5, and each `accept()` returns a *new* socket for
//! one client while the listening socket keeps listening.

use super::{LabConfig, LabControl};
use crate::error::{Error, error_kind};
use crate::trace::Tracer;
use protocol::{Family, Mode, Step, Transport, connection_established};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A listening lab server. Made by [`LabServer::bind`], driven by
/// [`LabServer::run`].
#[derive(Debug)]
pub struct LabServer {
    listener: TcpListener,
    local: SocketAddr,
    config: Arc<LabConfig>,
    tracer: Tracer,
    control: LabControl,
    /// The accept loop watches this to pause and resume `accept()`.
    paused: watch::Receiver<bool>,
}

impl LabServer {
    /// `socket()`, `bind(addr)`, `listen(backlog)`: each step is traced, and
    /// a failure (address in use, say) is traced as an error too.
    pub fn bind(addr: SocketAddr, config: LabConfig, tracer: Tracer) -> Result<LabServer, Error> {
        let fail = |source: io::Error| {
            tracer.emit(
                None,
                Step::Error {
                    kind: error_kind(&source),
                    message: source.to_string(),
                },
            );
            Error::Listen { addr, source }
        };
        let (socket, family) = if addr.is_ipv4() {
            (TcpSocket::new_v4(), Family::Ipv4)
        } else {
            (TcpSocket::new_v6(), Family::Ipv6)
        };
        let socket = socket.map_err(fail)?;
        tracer.emit(
            None,
            Step::Socket {
                family,
                transport: Transport::Tcp,
            },
        );
        // SO_REUSEADDR lets the server restart while old connections sit in
        // TIME_WAIT; a second *listener* on the same port still fails with
        // "address in use", which is the lesson worth keeping.
        socket.set_reuseaddr(true).map_err(fail)?;
        socket.bind(addr).map_err(fail)?;
        let local = socket.local_addr().map_err(fail)?;
        tracer.emit(
            None,
            Step::Bind {
                addr: local.to_string(),
            },
        );
        let listener = socket.listen(config.backlog).map_err(fail)?;
        tracer.emit(
            None,
            Step::Listen {
                backlog: config.backlog,
            },
        );
        let (control, paused) = LabControl::new();
        Ok(LabServer {
            listener,
            local,
            config: Arc::new(config),
            tracer,
            control,
            paused,
        })
    }

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Pause/resume switch for `accept()`.
    pub fn control(&self) -> LabControl {
        self.control.clone()
    }

    /// The tracer its events go through (subscribe to watch it).
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Accepts clients until `shutdown` is cancelled, serving each in its
    /// own task; then closes the listening socket and waits for the clients'
    /// tasks (which see `shutdown` too) to finish.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let clients = TaskTracker::new();
        // A permit per client being served, taken *before* accept(): when
        // all are taken the server stops accepting and new clients wait in
        // the backlog, as they would for a busy Python server.
        let permits = Arc::new(Semaphore::new(self.config.limits.max_connections));
        let mut accepted: u64 = 0;
        let mut was_paused = false;
        loop {
            let paused = *self.paused.borrow_and_update();
            if paused != was_paused {
                was_paused = paused;
                let step = if paused {
                    Step::AcceptPaused
                } else {
                    Step::AcceptResumed
                };
                self.tracer.emit(None, step);
            }
            if paused {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    // `self.control` keeps the sender alive, so this only
                    // returns when the switch is flipped.
                    _ = self.paused.changed() => continue,
                }
            }
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break, // never closed; stop rather than spin
                },
            };
            let result = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.paused.changed() => continue,
                result = self.listener.accept() => result,
            };
            match result {
                Ok((stream, peer)) => {
                    accepted += 1;
                    let conn = accepted;
                    let local = stream.local_addr().unwrap_or(self.local);
                    self.tracer.emit(
                        Some(conn),
                        Step::Accept {
                            peer: peer.to_string(),
                            local: local.to_string(),
                        },
                    );
                    // Small lab messages should leave at once, not wait
                    // for Nagle's algorithm to batch them.
                    let _ = stream.set_nodelay(true);
                    let client = Client {
                        conn,
                        peer,
                        config: self.config.clone(),
                        tracer: self.tracer.clone(),
                    };
                    let shutdown = shutdown.clone();
                    clients.spawn(async move {
                        client.serve(stream, shutdown).await;
                        drop(permit);
                    });
                }
                Err(err) => {
                    // Out of file descriptors, or a client that reset while
                    // queued: report it, back off, and keep listening.
                    self.tracer.emit(
                        None,
                        Step::Error {
                            kind: error_kind(&err),
                            message: format!("accept() failed: {err}"),
                        },
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
        drop(self.listener);
        self.tracer.emit(None, Step::Close);
        clients.close();
        clients.wait().await;
    }
}

/// One accepted client: the socket `accept()` returned, and what to do.
struct Client {
    /// The server's number for this connection (1, 2, ...).
    conn: u64,
    peer: SocketAddr,
    config: Arc<LabConfig>,
    tracer: Tracer,
}

/// Why serving a client stopped early.
enum ServeError {
    Io(io::Error),
    /// The client sent nothing (or read nothing) for this long.
    Idle(Duration),
}

impl From<io::Error> for ServeError {
    fn from(err: io::Error) -> Self {
        ServeError::Io(err)
    }
}

impl Client {
    /// Serves one client in the configured mode, then closes its socket.
    async fn serve<S>(self, mut stream: S, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = Some(self.conn);
        // The lab's server prints this line for every client.
        self.tracer.emit(
            conn,
            Step::Print {
                text: connection_established(&self.peer.to_string()),
            },
        );
        let served = tokio::select! {
            _ = shutdown.cancelled() => Ok(()),
            served = self.play(&mut stream) => served,
        };
        if let Err(err) = served {
            let (kind, message) = match err {
                ServeError::Io(err) => (error_kind(&err), err.to_string()),
                ServeError::Idle(after) => (
                    protocol::ErrorKind::Idle,
                    format!("no data for {} s", after.as_secs()),
                ),
            };
            self.tracer.emit(conn, Step::Error { kind, message });
        }
        // close(): dropping the socket sends FIN (or RST if unread bytes
        // are still waiting, which is what a real server does too).
        drop(stream);
        self.tracer.emit(conn, Step::Close);
    }

    async fn play<S>(&self, stream: &mut S) -> Result<(), ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match self.config.mode {
            Mode::Connect => Ok(()),
            Mode::Greet => {
                let greeting = &self.config.greeting;
                self.write(stream, greeting).await?;
                self.tracer.emit_data(Some(self.conn), || Step::Send {
                    data: greeting.clone().into(),
                });
                Ok(())
            }
            Mode::Echo => self.echo(stream).await,
        }
    }

    /// Task 3: `data = recv(); if not data: break; sendall(data)`.
    async fn echo<S>(&self, stream: &mut S) -> Result<(), ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = Some(self.conn);
        let idle = self.config.limits.idle_timeout;
        let mut buf = vec![0u8; self.config.limits.max_read.max(1)];
        loop {
            let n = tokio::time::timeout(idle, stream.read(&mut buf))
                .await
                .map_err(|_| ServeError::Idle(idle))??;
            if n == 0 {
                // recv() returned 0 bytes: the client closed its side.
                self.tracer.emit(conn, Step::RecvEof);
                return Ok(());
            }
            // One event per read, with exactly the bytes of that read: two
            // sends by the client may arrive here as one recv.
            let chunk = &buf[..n];
            self.tracer
                .emit_data(conn, || Step::Recv { data: chunk.into() });
            self.write(stream, chunk).await?;
            self.tracer
                .emit_data(conn, || Step::Send { data: chunk.into() });
        }
    }

    /// `sendall()`, bounded by the idle timeout so a client that never
    /// reads cannot hold the server.
    async fn write<S>(&self, stream: &mut S, bytes: &[u8]) -> Result<(), ServeError>
    where
        S: AsyncWrite + Unpin,
    {
        let idle = self.config.limits.idle_timeout;
        tokio::time::timeout(idle, stream.write_all(bytes))
            .await
            .map_err(|_| ServeError::Idle(idle))??;
        Ok(())
    }
}
