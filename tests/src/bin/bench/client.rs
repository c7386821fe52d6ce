//! The same echo client over the paths the benchmark compares: raw TCP to
//! the echo server, `/relay` (binary WebSocket frames), `/ws` (the page's
//! JSON session protocol), and with `--peers` the same binary frames through
//! websocat and websockify, the bridges a user would compare `/relay` with.

use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMsg, Data, Lane, PROTOCOL_VERSION, ServerMsg, Step, Target, Transport};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
use e2e::page::Ws;

/// Which way the bytes go to the echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PathKind {
    /// Straight to the echo server: the baseline.
    Tcp,
    /// Through the bridge's websockify-compatible `/relay`.
    Relay,
    /// Through the bridge's `/ws` session, as the page does it.
    Ws,
    /// Through websocat (`ws-l:` in front of the echo server), binary.
    Websocat,
    /// Through websockify (Python), binary.
    Websockify,
}

impl PathKind {
    pub const ALL: [PathKind; 3] = [PathKind::Tcp, PathKind::Relay, PathKind::Ws];

    /// `--peers`: the byte relays side by side.
    pub const PEERS: [PathKind; 4] = [
        PathKind::Tcp,
        PathKind::Relay,
        PathKind::Websocat,
        PathKind::Websockify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Tcp => "tcp",
            PathKind::Relay => "relay",
            PathKind::Ws => "ws",
            PathKind::Websocat => "websocat",
            PathKind::Websockify => "websockify",
        }
    }

    /// A WebSocket-to-TCP byte relay: each message is read from one socket
    /// and written to the other, once each way per round trip.
    pub fn is_byte_relay(self) -> bool {
        matches!(
            self,
            PathKind::Relay | PathKind::Websocat | PathKind::Websockify
        )
    }
}

/// Where the peer bridges listen (`--peers`), each in front of the echo
/// server.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddrs {
    pub websocat: SocketAddr,
    pub websockify: SocketAddr,
}

/// Where the bridge and the echo server are.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    /// The bridge's HTTP port (`/ws`, `/relay`).
    pub http: SocketAddr,
    /// The echo server, which the bridge must allow as a target.
    pub echo: SocketAddr,
    /// The echo server is the bridge's own public lab server: `/ws`
    /// clients then connect to `Target::Public`, as the page does, and see
    /// the server's side of their connection too.
    pub echo_is_public: bool,
    /// With `--peers`: websocat and websockify.
    pub peers: Option<PeerAddrs>,
}

/// One open connection to the echo server, by one of the paths.
pub enum Client {
    Tcp(TcpStream),
    Relay(Box<Ws>),
    Ws(Box<Ws>),
}

/// The id the `/ws` client gives its one connection.
const CONN: u32 = 1;

/// Messages a streaming `/ws` client keeps in flight (below the session's
/// per-connection command queue).
const WS_WINDOW: usize = 32;

impl Client {
    /// Opens a connection by `path` for messages of `size` bytes and waits
    /// until it can carry bytes.
    pub async fn connect(path: PathKind, ep: Endpoints, size: usize) -> Result<Client, Error> {
        match path {
            PathKind::Tcp => {
                let stream = TcpStream::connect(ep.echo).await?;
                stream.set_nodelay(true)?;
                Ok(Client::Tcp(stream))
            }
            PathKind::Relay | PathKind::Websocat | PathKind::Websockify => {
                let url = match (path, ep.peers) {
                    (PathKind::Websocat, Some(peers)) => format!("ws://{}/", peers.websocat),
                    (PathKind::Websockify, Some(peers)) => {
                        format!("ws://{}/", peers.websockify)
                    }
                    (PathKind::Relay, _) => {
                        format!("ws://{}/relay?target={}", ep.http, ep.echo)
                    }
                    _ => return Err(format!("{} needs --peers", path.name()).into()),
                };
                // The same request to all three: websockify's binary mode.
                let mut request = url.into_client_request()?;
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", "binary".parse()?);
                let (ws, _) = connect_ws(request, size).await?;
                Ok(Client::Relay(Box::new(ws)))
            }
            PathKind::Ws => {
                let url = format!("ws://{}/ws", ep.http);
                let (mut ws, _) = connect_ws(url, size).await?;
                send_json(
                    &mut ws,
                    &ClientMsg::Hello {
                        version: PROTOCOL_VERSION,
                    },
                )
                .await?;
                send_json(
                    &mut ws,
                    &ClientMsg::Connect {
                        conn: CONN,
                        target: if ep.echo_is_public {
                            Target::Public
                        } else {
                            Target::Addr {
                                addr: ep.echo.to_string(),
                            }
                        },
                        transport: Transport::Tcp,
                    },
                )
                .await?;
                loop {
                    match next_event(&mut ws).await? {
                        Event::Connected => break,
                        Event::Failed(why) => return Err(why.into()),
                        _ => {}
                    }
                }
                Ok(Client::Ws(Box::new(ws)))
            }
        }
    }

    /// Sends `payload` and waits until all of it has come back.
    pub async fn round_trip(&mut self, payload: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Client::Tcp(stream) => {
                stream.write_all(payload).await?;
                buf.resize(payload.len(), 0);
                stream.read_exact(buf).await?;
                Ok(())
            }
            Client::Relay(ws) => {
                ws.send(Message::binary(payload.to_vec())).await?;
                let mut got = 0;
                while got < payload.len() {
                    match ws.next().await {
                        Some(Ok(Message::Binary(b))) => got += b.len(),
                        Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}").into()),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(e.into()),
                        None => return Err("relay closed".into()),
                    }
                }
                Ok(())
            }
            Client::Ws(ws) => {
                send_json(ws, &send_command(payload)?).await?;
                let mut got = 0;
                while got < payload.len() {
                    match next_event(ws).await? {
                        Event::Received(n) => got += n,
                        Event::Failed(why) => return Err(why.into()),
                        _ => {}
                    }
                }
                Ok(())
            }
        }
    }

    /// Sends `messages` copies of `payload` while reading the echo
    /// concurrently (in this task: no hand-over between threads); returns
    /// when every byte has come back.
    pub async fn stream(&mut self, messages: usize, payload: &[u8]) -> Result<(), Error> {
        let total = messages * payload.len();
        match self {
            Client::Tcp(stream) => {
                let (mut rd, wr) = stream.split();
                // Buffered, as the WebSocket clients' writes are: a streaming
                // client batches small messages into few system calls.
                let mut wr = tokio::io::BufWriter::with_capacity(64 * 1024, wr);
                let writer = async {
                    for _ in 0..messages {
                        wr.write_all(payload).await?;
                    }
                    wr.flush().await?;
                    Ok::<_, Error>(())
                };
                let reader = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut got = 0;
                    while got < total {
                        let n = rd.read(&mut buf).await?;
                        if n == 0 {
                            return Err("echo server closed early".into());
                        }
                        got += n;
                    }
                    Ok::<_, Error>(())
                };
                tokio::try_join!(writer, reader)?;
                Ok(())
            }
            Client::Relay(ws) => {
                let (mut tx, mut rx) = (&mut **ws).split();
                let frame = bytes::Bytes::copy_from_slice(payload);
                let writer = async {
                    for _ in 0..messages {
                        tx.feed(Message::Binary(frame.clone())).await?;
                    }
                    tx.flush().await?;
                    Ok::<_, Error>(())
                };
                let reader = async {
                    let mut got = 0;
                    while got < total {
                        match rx.next().await {
                            Some(Ok(Message::Binary(b))) => got += b.len(),
                            Some(Ok(Message::Close(c))) => {
                                return Err(format!("closed: {c:?}").into());
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => return Err(e.into()),
                            None => return Err("relay closed".into()),
                        }
                    }
                    Ok::<_, Error>(())
                };
                tokio::try_join!(writer, reader)?;
                Ok(())
            }
            Client::Ws(ws) => {
                let (mut tx, mut rx) = (&mut **ws).split();
                let text = serde_json::to_string(&send_command(payload)?)?;
                // The session queues a bounded number of commands per
                // connection and refuses more (it does not stall the whole
                // session for one busy socket), so keep a window in flight,
                // as a page that streams would.
                let window = tokio::sync::Semaphore::new(WS_WINDOW);
                let writer = async {
                    for _ in 0..messages {
                        window.acquire().await?.forget();
                        tx.send(Message::text(text.clone())).await?;
                    }
                    Ok::<_, Error>(())
                };
                let reader = async {
                    let mut got = 0;
                    while got < total {
                        let msg = rx.next().await.ok_or("session closed")??;
                        match classify(msg)? {
                            Event::Received(n) => {
                                let before = got / payload.len();
                                got += n;
                                window.add_permits(got / payload.len() - before);
                            }
                            Event::Failed(why) => return Err(why.into()),
                            _ => {}
                        }
                    }
                    Ok::<_, Error>(())
                };
                tokio::try_join!(writer, reader)?;
                Ok(())
            }
        }
    }
}

/// Opens a WebSocket tuned as the raw TCP client is: no Nagle delay, and a
/// read buffer sized to the workload's messages. (tungstenite zeroes its
/// whole read buffer, 128 KiB by default, before every read: left as it
/// is, the client would spend more CPU on that than on the messages, and
/// on this 2-core machine that CPU is taken from the bridge.)
async fn connect_ws(
    request: impl IntoClientRequest + Unpin,
    size: usize,
) -> Result<
    (
        Ws,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    Error,
> {
    let config = WebSocketConfig::default().read_buffer_size(ws_read_buffer(size));
    Ok(tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?)
}

/// A read buffer for messages of `size` bytes: room for one frame with its
/// header (and a trace event's JSON around it), at least 4 KiB.
pub fn ws_read_buffer(size: usize) -> usize {
    (size * 4 + 512).clamp(4096, 128 * 1024)
}

/// The command that sends `payload` (ASCII, so as text, as the page does).
fn send_command(payload: &[u8]) -> Result<ClientMsg, Error> {
    Ok(ClientMsg::Send {
        conn: CONN,
        data: Data::Text(String::from_utf8(payload.to_vec())?),
    })
}

async fn send_json(ws: &mut Ws, msg: &ClientMsg) -> Result<(), Error> {
    ws.send(Message::text(serde_json::to_string(msg)?)).await?;
    Ok(())
}

/// What the benchmark cares about in the session's event stream.
enum Event {
    Connected,
    Received(usize),
    Failed(String),
    Other,
}

async fn next_event(ws: &mut Ws) -> Result<Event, Error> {
    let msg = ws.next().await.ok_or("session closed")??;
    classify(msg)
}

fn classify(msg: Message) -> Result<Event, Error> {
    let text = match msg {
        Message::Text(text) => text,
        Message::Close(frame) => return Err(format!("session closed: {frame:?}").into()),
        _ => return Ok(Event::Other),
    };
    Ok(match serde_json::from_str::<ServerMsg>(&text)? {
        ServerMsg::Trace(ev) if ev.lane == Lane::Client => match ev.step {
            Step::Connected { .. } => Event::Connected,
            Step::Recv { data } => Event::Received(data.len()),
            step @ Step::Error { .. } => Event::Failed(step.label()),
            _ => Event::Other,
        },
        ServerMsg::Refused { message, .. } => Event::Failed(message),
        _ => Event::Other,
    })
}
