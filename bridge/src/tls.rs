//! HTTPS for the bridge: [`Tls`], the certificate and key it serves with
//! (`--tls-cert`, `--tls-key`), and [`SelfSigned`], the pair
//! `socket-lab cert` makes for a classroom without a certificate.
//!
//! Why a lab needs HTTPS at all: a page from another machine over plain
//! HTTP is not a *secure context*, and browsers then turn off what a
//! student's Python program needs (`SharedArrayBuffer`, cross-origin
//! isolation). Over `https://` the page talks to `wss://` by itself.
//!
//! TLS is rustls with the *ring* crypto provider, chosen here in code
//! rather than by a process-wide default, so nothing else in the process
//! can change what the bridge accepts.

use crate::error::Error;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// The certificate chain and key the bridge serves HTTPS with.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
}

impl Tls {
    /// Reads a PEM certificate chain (the server's certificate first) and
    /// its PEM private key (PKCS#8, PKCS#1 or SEC1), as `--tls-cert` and
    /// `--tls-key` name them.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, Error> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|err| Error::Tls(format!("cannot read {}: {err}", path.display())))
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        Tls::from_pem(&cert_pem, &key_pem).map_err(|err| match err {
            Error::Tls(why) => Error::Tls(format!(
                "{why} (certificate {}, key {})",
                cert.display(),
                key.display()
            )),
            other => other,
        })
    }

    /// The same from PEM text in memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Tls, Error> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| Error::Tls(format!("the certificate file is not PEM: {err}")))?;
        if chain.is_empty() {
            return Err(Error::Tls(
                "the certificate file has no certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| {
            Error::Tls(format!("the key file has no PEM private key in it: {err}"))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::Tls(err.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|err| {
                Error::Tls(format!("the certificate and key do not go together: {err}"))
            })?;
        // HTTP/1.1 only: a browser's WebSocket (/ws, /watch, /relay) is an
        // HTTP/1.1 upgrade, and the page is a handful of files.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration, for the server.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }
}

/// A self-signed certificate and its key, both PEM: what `socket-lab cert`
/// writes.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate in DER, as browsers fingerprint it.
    pub cert_der: Vec<u8>,
    /// The public key (SubjectPublicKeyInfo) in DER: what Chromium's
    /// `--ignore-certificate-errors-spki-list` pins, after SHA-256.
    pub spki_der: Vec<u8>,
    /// The names and addresses it is valid for.
    pub names: Vec<String>,
}

/// How long a self-signed certificate is valid: a year, within what
/// browsers accept for a certificate a person trusts by hand.
pub const SELF_SIGNED_DAYS: i64 = 365;

impl SelfSigned {
    /// A new key (ECDSA P-256) and a certificate for `names`, each a DNS
    /// name or an IP address, valid from yesterday for
    /// [`SELF_SIGNED_DAYS`].
    pub fn generate(names: &[String]) -> Result<SelfSigned, Error> {
        let names = dedup(names);
        if names.is_empty() {
            return Err(Error::Tls("a certificate needs at least one name".into()));
        }
        let mut params = rcgen::CertificateParams::new(names.clone())
            .map_err(|err| Error::Tls(format!("cannot use these names in a certificate: {err}")))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("Socket Lab on {}", names[0]),
        );
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Socket Lab (self-signed)");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
        let key = rcgen::KeyPair::generate()
            .map_err(|err| Error::Tls(format!("cannot make a key: {err}")))?;
        let cert = params
            .self_signed(&key)
            .map_err(|err| Error::Tls(format!("cannot sign the certificate: {err}")))?;
        Ok(SelfSigned {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            spki_der: rcgen::PublicKeyData::subject_public_key_info(&key),
            names,
        })
    }

    /// The certificate's SHA-256 fingerprint as browsers show it
    /// (`AB:12:...`): students compare it with what their browser says.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.cert_der);
        let mut out = String::new();
        for (i, byte) in digest.as_ref().iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            let _ = write!(out, "{byte:02X}");
        }
        out
    }

    /// SHA-256 of the public key, base64: the pin Chromium takes with
    /// `--ignore-certificate-errors-spki-list` (trust this key only).
    pub fn spki_sha256_base64(&self) -> String {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.spki_der);
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    }

    /// This pair, ready to serve.
    pub fn tls(&self) -> Result<Tls, Error> {
        Tls::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
    }
}

/// The names a certificate for this machine should carry: `localhost`,
/// `127.0.0.1`, `::1`, the machine's host name, and `extra` (from `--name`).
pub fn machine_names(extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = host_name() {
        names.push(host);
    }
    names.extend(extra.iter().map(|name| name.trim().to_string()));
    dedup(&names)
}

/// The machine's host name, if it has one worth naming.
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim().to_ascii_lowercase();
    (!name.is_empty() && name != "localhost" && name.parse::<IpAddr>().is_err()).then_some(name)
}

/// `names` without blanks and repeats, IP addresses written the standard
/// way, in their first order.
fn dedup(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        let name = match name.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => name.to_ascii_lowercase(),
        };
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generated pair loads as the bridge's TLS configuration, and names
    /// its certificate for this machine.
    #[test]
    fn a_self_signed_pair_serves() {
        let names = machine_names(&["lab.example.edu".into(), "LAB.example.edu".into()]);
        assert_eq!(&names[..3], ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(names.iter().filter(|n| *n == "lab.example.edu").count(), 1);
        let pair = SelfSigned::generate(&names).expect("generate");
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pair.key_pem.contains("PRIVATE KEY-----"));
        assert_eq!(pair.fingerprint().len(), 32 * 3 - 1);
        assert_eq!(pair.spki_sha256_base64().len(), 44);
        let tls = pair.tls().expect("loads");
        assert_eq!(tls.server_config().alpn_protocols, [b"http/1.1".to_vec()]);
    }

    /// Wrong files get a sentence, not a panic.
    #[test]
    fn bad_pem_is_explained() {
        let pair = SelfSigned::generate(&["localhost".into()]).expect("generate");
        let other = SelfSigned::generate(&["localhost".into()]).expect("generate");
        let err = Tls::from_pem(b"not a certificate", pair.key_pem.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
        let err = Tls::from_pem(pair.cert_pem.as_bytes(), b"nothing").unwrap_err();
        assert!(err.to_string().contains("private key"), "{err}");
        let err = Tls::from_pem(pair.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("do not go together"), "{err}");
    }
}
