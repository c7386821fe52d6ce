//! Teaching remotely with the real `socket-lab` binary: `socket-lab cert`
//! writes a pair, the bridge serves HTTPS with it (a real TLS handshake
//! that checks the certificate), prints the address to give students, and
//! stops on Ctrl-C; a certificate that cannot be read is explained.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the bridge may take to print a line, or to stop.
const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh folder for this test's files, removed at the end.
struct Folder(tempfile::TempDir);

impl Folder {
    fn new(name: &str) -> Folder {
        let dir = tempfile::Builder::new()
            .prefix(&format!("socket-lab-{name}-"))
            .tempdir()
            .expect("a temp folder");
        Folder(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

fn socket_lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_socket-lab"))
}

fn cert(folder: &Folder, extra: &[&str]) -> std::process::Output {
    socket_lab()
        .arg("cert")
        .arg("--name")
        .arg("lab.example.edu")
        .arg("--cert")
        .arg(folder.join("cert.pem"))
        .arg("--key")
        .arg(folder.join("key.pem"))
        .args(extra)
        .output()
        .expect("runs")
}

/// The bridge's log lines as they come (it logs to standard output).
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines until one contains `needle`; returns it.
fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + PATIENCE;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "the bridge never said {needle:?}; it said:\n{}",
        seen.join("\n")
    );
}

/// An HTTPS GET of `/` that trusts only `cert_pem`, checking the
/// certificate is for 127.0.0.1; returns the response.
fn https_get(addr: SocketAddr, cert_pem: &Path) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).expect("PEM") {
        roots.add(cert.expect("a certificate")).expect("trusted");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(addr).expect("connects");
    tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut response = Vec::new();
    // The server may close without close_notify once it has answered.
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// `socket-lab cert` writes a certificate for the machine's names and the
/// extra one, a key only its owner can read, and refuses to overwrite
/// either without --force. The bridge serves HTTPS with them, prints the
/// public address and the instructor's link under it, and Ctrl-C stops it.
#[test]
fn cert_makes_a_pair_the_bridge_serves_https_with() {
    let folder = Folder::new("cert");
    let made = cert(&folder, &[]);
    let said = String::from_utf8_lossy(&made.stdout);
    assert!(made.status.success(), "{said}");
    assert!(
        said.contains("localhost, 127.0.0.1, ::1") && said.contains("lab.example.edu"),
        "{said}"
    );
    assert!(said.contains("SHA-256 fingerprint: "), "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(folder.join("key.pem"))
            .expect("the key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is readable by others");
    }
    let first = std::fs::read(folder.join("cert.pem")).expect("the certificate");
    let again = cert(&folder, &[]);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stdout).to_string()
        + &String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("--force"), "{said}");
    assert_eq!(std::fs::read(folder.join("cert.pem")).expect("kept"), first);
    assert!(cert(&folder, &["--force"]).status.success());
    assert_ne!(std::fs::read(folder.join("cert.pem")).expect("new"), first);

    let mut bridge = socket_lab()
        .args(["--http", "127.0.0.1:0", "--lab", "127.0.0.1:0"])
        .arg("--static")
        .arg(folder.join("no-page"))
        .arg("--tls-cert")
        .arg(folder.join("cert.pem"))
        .arg("--tls-key")
        .arg(folder.join("key.pem"))
        .args(["--public-origin", "https://lab.example.edu/co223/"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let lines = lines_of(&mut bridge);
    let mut seen = Vec::new();
    let open = wait_for_line(&lines, "Socket Lab: open ", &mut seen);
    assert!(open.contains("https://lab.example.edu/co223/"), "{open}");
    let listening = wait_for_line(&lines, "point it at https://", &mut seen);
    let addr: SocketAddr = listening
        .split("https://")
        .nth(1)
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {listening:?}"));
    let link = wait_for_line(&lines, "instructor view (every session live)", &mut seen);
    assert!(
        link.contains("https://lab.example.edu/co223/?instructor="),
        "{link}"
    );
    let page = https_get(addr, &folder.join("cert.pem"));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");

    // Ctrl-C.
    let interrupted = Command::new("kill")
        .args(["-INT", &bridge.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = bridge.try_wait().expect("waits") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the bridge did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    wait_for_line(&lines, "bridge stopped", &mut seen);
}

/// A certificate file that cannot be read stops the bridge before it
/// starts, saying which file and why; one TLS flag without the other is
/// refused by name.
#[test]
fn a_missing_certificate_is_explained() {
    let output = socket_lab()
        .args(["--http", "127.0.0.1:0", "--lab", "127.0.0.1:0"])
        .args(["--tls-cert", "/nonexistent/cert.pem"])
        .args(["--tls-key", "/nonexistent/key.pem"])
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("cannot read /nonexistent/cert.pem"), "{said}");

    let output = socket_lab()
        .args(["--tls-cert", "cert.pem"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("--tls-key"), "{said}");
}
