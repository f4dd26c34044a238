//! HTTP client and TLS trust for talking to ESXi hosts and vCenter.
//!
//! One rustls configuration covers the four ways a user can trust a server:
//! the built-in Mozilla roots (the default), a `--ca-cert` file, a pinned
//! `--thumbprint` of the server's own certificate (what ESXi's self-signed
//! certificates need, as govc's `GOVC_TLS_KNOWN_HOSTS` does), or `--insecure`.
//! It is plugged into ureq as a connector because ureq's own TLS settings
//! cannot take a custom certificate verifier.
//!
//! Errors from here are rendered to strings on purpose: an `io::Error` of
//! kind `BrokenPipe` left in an anyhow chain would make `main` exit 0.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use sha1::{Digest, Sha1};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, TcpConnector,
    Transport, TransportAdapter,
};

/// A pinned certificate fingerprint: SHA-1 (what vSphere shows) or SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbprint {
    bytes: Vec<u8>,
}

impl Thumbprint {
    /// Parses `SHA1:AA:BB:..`, `SHA256:..`, or bare hex with or without colons.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (want, hex) = match s.split_once(':') {
            Some((alg, rest)) if alg.eq_ignore_ascii_case("sha1") => (Some(20), rest),
            Some((alg, rest)) if alg.eq_ignore_ascii_case("sha256") => (Some(32), rest),
            _ => (None, s),
        };
        let digits: String = hex.chars().filter(|c| *c != ':' && *c != ' ').collect();
        if digits.len() % 2 != 0 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("expected SHA1:XX:XX:... (40 hex digits) or SHA256:... (64)".into());
        }
        let bytes: Vec<u8> = (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("checked hex"))
            .collect();
        match (want, bytes.len()) {
            (Some(n), len) if n != len => {
                Err(format!("expected {} hex digits, got {}", n * 2, len * 2))
            }
            (_, 20 | 32) => Ok(Thumbprint { bytes }),
            (_, len) => Err(format!(
                "expected 40 (SHA-1) or 64 (SHA-256) hex digits, got {}",
                len * 2
            )),
        }
    }

    /// The SHA-1 thumbprint of a DER certificate, as vSphere displays it.
    pub fn sha1_of(der: &[u8]) -> Self {
        Thumbprint {
            bytes: Sha1::digest(der).to_vec(),
        }
    }

    fn matches(&self, der: &[u8]) -> bool {
        if self.bytes.len() == 20 {
            Sha1::digest(der).as_slice() == self.bytes.as_slice()
        } else {
            sha2::Sha256::digest(der).as_slice() == self.bytes.as_slice()
        }
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.bytes.len() == 20 {
            "SHA1:"
        } else {
            "SHA256:"
        })?;
        for (i, b) in self.bytes.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Built-in Mozilla roots and the host name.
    Roots,
    /// Certificates from a PEM file as the only roots, and the host name.
    CaFile(Vec<CertificateDer<'static>>),
    /// Exactly this server certificate; chain and name are not checked.
    Pinned(Thumbprint),
    /// Nothing is checked (`--insecure`).
    Insecure,
}

impl Trust {
    pub fn load_ca_file(path: &Path) -> Result<Trust> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("reading CA certificates from {}", path.display()))?;
        if certs.is_empty() {
            bail!(
                "no PEM certificate in {}: --ca-cert wants the CA that signed the \
                 server's certificate, in PEM form",
                path.display()
            );
        }
        Ok(Trust::CaFile(certs))
    }
}

/// A server address: scheme and authority, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `https://host[:port]` (or `http://` when asked for explicitly).
    pub base: String,
    /// `host[:port]`, for messages.
    pub host: String,
}

impl Server {
    /// Accepts `HOST`, `HOST:PORT`, `https://HOST[:PORT][/sdk]` or `http://...`.
    /// Credentials in the URL are refused without echoing them.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (scheme, rest) = match s.split_once("://") {
            Some((sch, rest)) if sch.eq_ignore_ascii_case("https") => ("https", rest),
            Some((sch, rest)) if sch.eq_ignore_ascii_case("http") => ("http", rest),
            Some(_) => return Err("the URL scheme must be https:// or http://".into()),
            None => ("https", s),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(
                "the server URL must not contain credentials: pass --username \
                        and set ESXI_ISO_PASSWORD instead"
                    .into(),
            );
        }
        if authority.is_empty() || authority.contains(['?', '#', ' ']) {
            return Err("expected a host name, e.g. https://esxi01.lab".into());
        }
        let path = path.trim_end_matches('/');
        if !(path.is_empty() || path.eq_ignore_ascii_case("/sdk")) {
            return Err("give the server without a path, e.g. https://vcenter.lab".into());
        }
        Ok(Server {
            base: format!("{scheme}://{authority}"),
            host: authority.to_string(),
        })
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }
}

/// An HTTP agent bound to one trust setting, remembering the certificate it
/// saw last so that a failed verification can print its thumbprint.
pub struct Client {
    pub agent: ureq::Agent,
    seen: Arc<Mutex<Option<Thumbprint>>>,
    trust: Trust,
}

impl Client {
    pub fn new(trust: Trust) -> Result<Client> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let seen = Arc::new(Mutex::new(None));
        let check = match &trust {
            Trust::Roots => Check::Roots(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    }),
                    provider.clone(),
                )
                .build()
                .context("setting up TLS verification")?,
            ),
            Trust::CaFile(certs) => {
                let mut store = RootCertStore::empty();
                for cert in certs {
                    store
                        .add(cert.clone())
                        .context("adding a --ca-cert certificate as trust anchor")?;
                }
                Check::Roots(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                        .build()
                        .context("setting up TLS verification")?,
                )
            }
            Trust::Pinned(t) => Check::Pinned(t.clone()),
            Trust::Insecure => Check::Nothing,
        };
        let verifier = Verifier {
            check,
            provider: provider.clone(),
            seen: seen.clone(),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("setting up TLS")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let connector = ().chain(TcpConnector::default()).chain(TlsConnector {
            config: Arc::new(config),
        });
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(600)))
            .user_agent(concat!("esxi-iso/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: ureq::Agent::with_parts(config, connector, DefaultResolver::default()),
            seen,
            trust,
        })
    }

    /// Explains a transport-level failure (no HTTP status): TLS trust,
    /// refused connections, resets. `doing` names the step, e.g. "uploading
    /// lab.iso to https://esxi01".
    pub fn explain(&self, err: &ureq::Error, server: &Server) -> String {
        let seen = self.seen.lock().ok().and_then(|s| s.clone());
        explain_error(err, server, &self.trust, seen.as_ref())
    }
}

fn explain_error(
    err: &ureq::Error,
    server: &Server,
    trust: &Trust,
    seen: Option<&Thumbprint>,
) -> String {
    if let Some(tls) = rustls_error(err) {
        let seen_hint = |what: &str| match seen {
            Some(t) => format!(
                "; the server's certificate has SHA-1 thumbprint {t}: if that is \
                 your host's, pass --thumbprint {t}{what}"
            ),
            None => String::new(),
        };
        return match (trust, tls) {
            (Trust::Pinned(want), other) if seen == Some(want) => format!(
                "TLS handshake with {} failed although its certificate matches \
                 --thumbprint: {other}{}",
                server.host,
                weak_key_hint(other)
            ),
            (Trust::Pinned(want), _) => format!(
                "TLS certificate of {} does not match --thumbprint {want}{}",
                server.host,
                match seen {
                    Some(t) => format!(
                        " (the server presented {t}); check the thumbprint in the \
                         vSphere Client or the host's console (DCUI), or whether \
                         something is intercepting the connection"
                    ),
                    None => String::new(),
                }
            ),
            (_, rustls::Error::InvalidCertificate(why)) => format!(
                "TLS certificate of {} is not trusted ({why:?}){}; or give the CA \
                 that signed it with --ca-cert FILE; --insecure skips the check",
                server.host,
                seen_hint("")
            ),
            (_, other) => format!(
                "TLS handshake with {} failed: {other}{}",
                server.host,
                weak_key_hint(other)
            ),
        };
    }
    if let ureq::Error::Io(e) = err {
        use std::io::ErrorKind::*;
        return match e.kind() {
            ConnectionRefused => format!(
                "cannot connect to {}: connection refused; check --server and that \
                 the host is up",
                server.host
            ),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => format!(
                "{} closed the connection ({e}); ESXi does this when the file is in \
                 use, e.g. attached to a VM's CD drive: detach it or upload under \
                 another name",
                server.host
            ),
            _ => format!("talking to {}: {e}", server.host),
        };
    }
    match err {
        ureq::Error::HostNotFound => format!("cannot resolve {}: check --server", server.host),
        ureq::Error::ConnectionFailed => format!("cannot connect to {}", server.host),
        ureq::Error::Timeout(t) => format!("{} timed out ({t})", server.host),
        other => format!("talking to {}: {other}", server.host),
    }
}

/// The peer closed or reset the connection (while we were sending).
pub fn is_connection_closed(err: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(err, ureq::Error::Io(e)
        if matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof))
}

fn weak_key_hint(err: &rustls::Error) -> &'static str {
    match err {
        rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature) => {
            " (RSA keys shorter than 2048 bits are refused: renew the host's \
             certificate, or use --insecure)"
        }
        _ => "",
    }
}

fn rustls_error(err: &ureq::Error) -> Option<&rustls::Error> {
    match err {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(e) => e.get_ref().and_then(|inner| inner.downcast_ref()),
        _ => None,
    }
}

enum Check {
    Roots(Arc<WebPkiServerVerifier>),
    Pinned(Thumbprint),
    Nothing,
}

struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Option<Thumbprint>>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier")
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(Thumbprint::sha1_of(end_entity));
        }
        match &self.check {
            Check::Roots(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            Check::Pinned(t) if t.matches(end_entity) => Ok(ServerCertVerified::assertion()),
            Check::Pinned(_) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            Check::Nothing => Ok(ServerCertVerified::assertion()),
        }
    }

    // Handshake signatures are checked unless --insecure, so a pinned
    // certificate proves the server holds its key. (--insecure skips them,
    // as curl -k does, so that even 1024-bit lab keys work.)
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if let Check::Nothing = self.check {
            return Ok(HandshakeSignatureValid::assertion());
        }
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if let Check::Nothing = self.check {
            return Ok(HandshakeSignatureValid::assertion());
        }
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Wraps ureq's TCP transport in rustls with our own [`ClientConfig`]
/// (modelled on ureq's `RustlsConnector`).
struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::Tls("invalid server name for TLS"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// RFC 3986 unreserved characters: every other byte is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL path segment or query value (RFC 3986
/// unreserved characters stay as they are).
pub fn quote(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// `Authorization: Basic ...` value.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// The start of a response body, for error messages (servers put the
/// reason there; it is never a credential we sent).
pub fn body_snippet(resp: &mut ureq::http::Response<ureq::Body>) -> String {
    let mut buf = Vec::new();
    let _ = resp.body_mut().as_reader().take(400).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse() {
        let sha1 = "SHA1:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33";
        let cases: &[(&str, Option<&str>)] = &[
            (sha1, Some(sha1)),
            ("sha1:00112233445566778899aabbccddeeff00112233", Some(sha1)),
            (
                "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33",
                Some(sha1),
            ),
            ("SHA1:0011", None),
            ("SHA1:zz112233445566778899aabbccddeeff00112233", None),
            ("SHA256:00112233445566778899aabbccddeeff00112233", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = Thumbprint::parse(input).ok().map(|t| t.to_string());
            assert_eq!(got.as_deref(), *want, "{input}");
        }
        let long = "ab".repeat(32);
        assert!(Thumbprint::parse(&format!("SHA256:{long}"))
            .unwrap()
            .to_string()
            .starts_with("SHA256:AB:AB"));
    }

    #[test]
    fn servers_parse() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("esxi01.lab", Ok("https://esxi01.lab")),
            ("https://esxi01.lab/", Ok("https://esxi01.lab")),
            ("https://127.0.0.1:8989/sdk", Ok("https://127.0.0.1:8989")),
            ("HTTP://10.0.0.1", Ok("http://10.0.0.1")),
            ("https://[::1]:443", Ok("https://[::1]:443")),
            ("ftp://x", Err("scheme")),
            ("https://root:secret@esxi01", Err("credentials")),
            ("https://esxi01/folder/x", Err("without a path")),
            ("https://", Err("host name")),
        ];
        for (input, want) in cases {
            match (Server::parse(input), want) {
                (Ok(s), Ok(base)) => assert_eq!(&s.base, base, "{input}"),
                (Err(e), Err(part)) => {
                    assert!(e.contains(part), "{input}: {e}");
                    assert!(!e.contains("secret"), "{input}: {e}");
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn quote_keeps_unreserved_only() {
        let cases = [
            ("lab1.iso", "lab1.iso"),
            ("my iso+v2.iso", "my%20iso%2Bv2.iso"),
            ("a/b", "a%2Fb"),
            ("ü", "%C3%BC"),
            ("ha-datacenter", "ha-datacenter"),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want);
        }
    }

    #[test]
    fn base64_matches_rfc4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(STANDARD.encode(input.as_bytes()), want);
        }
        assert_eq!(basic_auth("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
