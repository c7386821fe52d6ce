//! The remote set-up's real parts, for its tests: [`TlsClient`], an HTTPS
//! and `wss:` client that trusts exactly one certificate (a test's own
//! self-signed one), and [`Nginx`], Debian's nginx started as an ordinary
//! process on a free loopback port, with its own configuration, pid file,
//! logs and temporary folders in a folder of its own.

use crate::browser::TempDir;
use crate::page::WAIT;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::{WebSocketStream, client_async};

/// A WebSocket over TLS, as [`TlsClient::websocket`] opens it.
pub type Wss = WebSocketStream<TlsStream<TcpStream>>;

/// A TLS client that trusts one certificate and nothing else.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
}

impl TlsClient {
    /// Trusts `cert_der` (a self-signed certificate) only.
    pub fn trusting(cert_der: &[u8]) -> TlsClient {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(cert_der.to_vec()))
            .expect("the test's certificate is a usable trust anchor");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
        }
    }

    /// A TLS connection to `addr`, checking the certificate is for its IP.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::IpAddress(addr.ip().into());
        self.connector.connect(name, tcp).await
    }

    /// `GET path` over HTTPS with `Host: host`: the whole response as text.
    pub async fn get(&self, addr: SocketAddr, host: &str, path: &str) -> String {
        let mut tls = self.connect(addr).await.expect("TLS handshake");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.expect("writes");
        let mut response = Vec::new();
        // A server may end TLS without close_notify once it has answered.
        let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut response))
            .await
            .expect("an answer in time");
        String::from_utf8_lossy(&response).into_owned()
    }

    /// A `wss:` WebSocket for `request` (a `wss://IP:PORT/...` URL, or a
    /// request with extra headers such as `Origin`).
    pub async fn websocket(
        &self,
        request: impl IntoClientRequest + Unpin,
    ) -> Result<(Wss, Response), tokio_tungstenite::tungstenite::Error> {
        let request = request.into_client_request()?;
        let addr: SocketAddr = request
            .uri()
            .authority()
            .map(|authority| authority.as_str())
            .and_then(|authority| authority.parse().ok())
            .expect("a wss://IP:PORT/ address");
        let tls = self.connect(addr).await?;
        tokio::time::timeout(WAIT, client_async(request, tls))
            .await
            .expect("the WebSocket handshake in time")
    }
}

/// The HTTP status and body of a WebSocket the server turned away before
/// the upgrade; fails the test if it was let in.
pub fn refusal(
    result: Result<(Wss, Response), tokio_tungstenite::tungstenite::Error>,
) -> (u16, String) {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            (response.status().as_u16(), body)
        }
        Ok(_) => panic!("the WebSocket was let in"),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// Debian's nginx, running as a child process until dropped.
pub struct Nginx {
    child: Child,
    /// The loopback port it serves HTTPS on.
    pub port: u16,
    dir: TempDir,
}

/// Why [`Nginx::start`] failed.
#[derive(Debug)]
pub enum NginxError {
    /// The port was taken between choosing it and nginx binding it: choose
    /// another and try again.
    PortTaken,
    /// Anything else, with nginx's own words.
    Failed(String),
}

impl Nginx {
    /// Starts nginx with `site` (server blocks, upstreams, maps: what a
    /// file in `sites-enabled/` holds) inside its `http` block, after
    /// `http_extra` (more `http`-level directives). `files` are written
    /// beside the configuration first (relative paths, e.g. the snippets
    /// the site includes, or certificates). `port` is the one the site
    /// listens on; it must be free.
    pub fn start(
        port: u16,
        site: &str,
        http_extra: &str,
        files: &[(&str, &[u8])],
    ) -> Result<Nginx, NginxError> {
        let binary = nginx_binary().ok_or_else(|| {
            NginxError::Failed(
                "nginx is not installed: run `make test` (it installs Debian's nginx), or \
                 `apt-get install nginx`"
                    .into(),
            )
        })?;
        let dir = TempDir::new("socket-lab-nginx");
        let root = dir.path().to_path_buf();
        for (name, contents) in files {
            let path = root.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("a folder for nginx's files");
            }
            std::fs::write(&path, contents).expect("write a file for nginx");
        }
        std::fs::create_dir_all(root.join("temp")).expect("temp folder");
        std::fs::write(root.join("site.conf"), site).expect("write the site");
        let at = |name: &str| root.join(name).display().to_string();
        // In the foreground, one process, everything under `root`: no
        // privileges needed beyond the port, nothing left behind.
        let main = format!(
            "daemon off;\n\
             master_process off;\n\
             worker_processes 1;\n\
             pid {pid};\n\
             error_log {log} warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             access_log {access};\n\
             client_body_temp_path {temp}/body;\n\
             proxy_temp_path {temp}/proxy;\n\
             fastcgi_temp_path {temp}/fastcgi;\n\
             uwsgi_temp_path {temp}/uwsgi;\n\
             scgi_temp_path {temp}/scgi;\n\
             {http_extra}\n\
             include site.conf;\n\
             }}\n",
            pid = at("nginx.pid"),
            log = at("error.log"),
            access = at("access.log"),
            temp = at("temp"),
        );
        std::fs::write(root.join("nginx.conf"), main).expect("write nginx.conf");
        let mut child = Command::new(binary)
            .arg("-p")
            .arg(format!("{}/", root.display()))
            .arg("-c")
            .arg(root.join("nginx.conf"))
            .arg("-e")
            .arg(root.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| NginxError::Failed(format!("cannot start nginx: {err}")))?;
        // nginx writes its pid file only once it has bound its ports; a
        // port someone else holds makes it exit instead.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(root.join("error.log")).unwrap_or_default();
                return Err(if log.contains("Address already in use") {
                    NginxError::PortTaken
                } else {
                    NginxError::Failed(format!("nginx exited ({status}):\n{log}"))
                });
            }
            if root.join("nginx.pid").is_file()
                && std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
            {
                return Ok(Nginx { child, port, dir });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let log = std::fs::read_to_string(root.join("error.log")).unwrap_or_default();
                return Err(NginxError::Failed(format!(
                    "nginx did not start listening on {port} in 20 s:\n{log}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// nginx's error log so far (for a failing test's message).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Where nginx's files are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx on PATH, or where Debian puts it (`/usr/sbin`, not on every
/// user's PATH).
fn nginx_binary() -> Option<PathBuf> {
    which::which("nginx").ok().or_else(|| {
        let debian = PathBuf::from("/usr/sbin/nginx");
        debian.is_file().then_some(debian)
    })
}

/// A loopback port that was free a moment ago (for nginx, which takes a
/// number, not a listener: retry on [`NginxError::PortTaken`]).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}
