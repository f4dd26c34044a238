//! TLS for talking to ESXi hosts and vCenter: the four ways a user can
//! trust a server, the rustls configuration that carries them into ureq,
//! and the sentences a failed handshake turns into.
//!
//! - **Roots** (the default): the Mozilla roots built into the binary, and
//!   the host name.
//! - **A CA file** (`--ca-cert`): those certificates as the only roots.
//! - **A pinned certificate** (`--thumbprint`, as govc's
//!   `GOVC_TLS_KNOWN_HOSTS`): exactly the certificate with that SHA-1 or
//!   SHA-256 fingerprint, whatever its chain, name, dates or key size.
//!   The handshake signature is still checked, with that certificate's own
//!   key, so a pin proves the server holds the key. webpki's algorithms
//!   refuse RSA keys under 2048 bits, which old ESXi hosts and govmomi's
//!   simulator still have; a pinned connection verifies RSA PKCS#1
//!   signatures down to 1024 bits with ring's legacy algorithms. ring has
//!   no RSA-PSS under 2048 bits, and TLS 1.3 signs with RSA-PSS only, so a
//!   pinned server with a smaller RSA key is reconnected in TLS 1.2, where
//!   it can sign with PKCS#1 (the first handshake stops before any request
//!   is sent; the decision is kept for the rest of the run).
//! - **Nothing** (`--insecure`): no check at all, said loudly by the command.
//!
//! It is plugged into ureq as a connector, modelled on ureq's own
//! `RustlsConnector`, because ureq's TLS settings cannot take a custom
//! certificate verifier.
//!
//! Error text never shows Rust's `Debug` form of an error: `tls_explain`
//! turns each rustls and webpki error into a sentence that says what to do.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};
use sha1::{Digest, Sha1};
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
    /// Exactly this server certificate; chain, name, dates and key size
    /// are not checked, the handshake signature is (with its key).
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

/// What the last handshake showed of the server's certificate, for
/// messages: its thumbprint and its key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seen {
    pub thumbprint: Option<Thumbprint>,
    pub key: Option<Key>,
}

/// A certificate's public key, as far as messages need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Rsa(usize),
    Other,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Rsa(bits) => write!(f, "{bits}-bit RSA key"),
            Key::Other => f.write_str("key"),
        }
    }
}

/// Shared between the verifiers, the connector and [`explain`].
#[derive(Debug, Default)]
pub(crate) struct State {
    seen: Mutex<Seen>,
    /// A pinned server's RSA key is too small for RSA-PSS: connect in
    /// TLS 1.2 with PKCS#1 signatures from now on.
    legacy: AtomicBool,
}

impl State {
    pub(crate) fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The rustls side of a [`Trust`]: one configuration, or for a pinned
/// certificate two (TLS 1.3 and 1.2, then 1.2 with PKCS#1 only).
pub(crate) fn connector(trust: &Trust, state: &Arc<State>) -> Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = |check: Check, algs: WebPkiSupportedAlgorithms| Verifier {
        check,
        algs,
        state: state.clone(),
    };
    let roots = |store: RootCertStore| -> Result<Check> {
        Ok(Check::Roots(
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .context("setting up TLS verification")?,
        ))
    };
    let modern = match trust {
        Trust::Roots => verifier(
            roots(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })?,
            provider.signature_verification_algorithms,
        ),
        Trust::CaFile(certs) => {
            let mut store = RootCertStore::empty();
            for cert in certs {
                store
                    .add(cert.clone())
                    .context("adding a --ca-cert certificate as trust anchor")?;
            }
            verifier(roots(store)?, provider.signature_verification_algorithms)
        }
        Trust::Pinned(t) => verifier(Check::Pinned(t.clone(), Mode::Modern), PINNED_MODERN),
        Trust::Insecure => verifier(Check::Nothing, PINNED_MODERN),
    };
    let config = |verifier: Verifier, versions: &[&'static rustls::SupportedProtocolVersion]| {
        ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .context("setting up TLS")
            .map(|b| {
                Arc::new(
                    b.dangerous()
                        .with_custom_certificate_verifier(Arc::new(verifier))
                        .with_no_client_auth(),
                )
            })
    };
    let legacy = match trust {
        Trust::Pinned(t) => Some(config(
            verifier(Check::Pinned(t.clone(), Mode::Legacy), PINNED_LEGACY),
            &[&rustls::version::TLS12],
        )?),
        _ => None,
    };
    Ok(TlsConnector {
        modern: config(modern, rustls::DEFAULT_VERSIONS)?,
        legacy,
        state: state.clone(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// TLS 1.3 and 1.2, every scheme.
    Modern,
    /// TLS 1.2, PKCS#1 and elliptic curves only.
    Legacy,
}

enum Check {
    Roots(Arc<WebPkiServerVerifier>),
    Pinned(Thumbprint, Mode),
    Nothing,
}

struct Verifier {
    check: Check,
    algs: WebPkiSupportedAlgorithms,
    state: Arc<State>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier")
    }
}

/// Said when a pinned server's key cannot sign what was negotiated; the
/// connector reconnects in TLS 1.2.
pub(crate) const LEGACY_NEEDED: &str =
    "esxi-iso: pinned RSA key too small for this signature scheme";

impl Verifier {
    /// Before a pinned signature check: a key ring cannot verify this
    /// scheme with moves the connection to TLS 1.2 with PKCS#1.
    fn pinned_key_fits(&self, cert: &CertificateDer<'_>, scheme: SignatureScheme) -> bool {
        let Check::Pinned(_, Mode::Modern) = self.check else {
            return true;
        };
        let Some(Key::Rsa(bits)) = key_of(cert) else {
            return true;
        };
        let needs_2048 = !matches!(
            scheme,
            SignatureScheme::RSA_PKCS1_SHA256 | SignatureScheme::RSA_PKCS1_SHA512
        );
        if bits < 2048 && needs_2048 {
            self.state.legacy.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }
}

impl Verifier {
    // Handshake signatures are checked unless --insecure, so a pinned
    // certificate proves the server holds its key. (--insecure skips them,
    // as curl -k does.)
    fn check_signature(
        &self,
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        verify: impl FnOnce(
            &WebPkiSupportedAlgorithms,
        ) -> Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if let Check::Nothing = self.check {
            return Ok(HandshakeSignatureValid::assertion());
        }
        if !self.pinned_key_fits(cert, dss.scheme) {
            return Err(rustls::Error::General(LEGACY_NEEDED.into()));
        }
        verify(&self.algs)
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
        if let Ok(mut seen) = self.state.seen.lock() {
            *seen = Seen {
                thumbprint: Some(Thumbprint::sha1_of(end_entity)),
                key: key_of(end_entity),
            };
        }
        match &self.check {
            Check::Roots(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            Check::Pinned(t, _) if t.matches(end_entity) => Ok(ServerCertVerified::assertion()),
            Check::Pinned(..) => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            Check::Nothing => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(cert, dss, |algs| {
            verify_tls12_signature(message, cert, dss, algs)
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(cert, dss, |algs| {
            verify_tls13_signature(message, cert, dss, algs)
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// RSA PKCS#1 signatures from 1024-bit keys up, for pinned certificates
/// only (ring's `*_FOR_LEGACY_USE_ONLY` algorithms).
#[derive(Debug)]
struct LegacyRsa {
    signature: AlgorithmIdentifier,
    ring: &'static ring::signature::RsaParameters,
}

impl SignatureVerificationAlgorithm for LegacyRsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(self.ring, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature
    }
}

static LEGACY_PKCS1_SHA256: &dyn SignatureVerificationAlgorithm = &LegacyRsa {
    signature: alg_id::RSA_PKCS1_SHA256,
    ring: &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
};

static LEGACY_PKCS1_SHA512: &dyn SignatureVerificationAlgorithm = &LegacyRsa {
    signature: alg_id::RSA_PKCS1_SHA512,
    ring: &ring::signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
};

/// A pinned server in TLS 1.3 or 1.2: every scheme rustls knows, with
/// PKCS#1 SHA-256 and SHA-512 verified from 1024-bit keys up.
static PINNED_MODERN: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::ECDSA_P384_SHA384,
        webpki::ring::ED25519,
        LEGACY_PKCS1_SHA256,
        LEGACY_PKCS1_SHA512,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[
                webpki::ring::ECDSA_P384_SHA384,
                webpki::ring::ECDSA_P256_SHA384,
            ],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[
                webpki::ring::ECDSA_P256_SHA256,
                webpki::ring::ECDSA_P384_SHA256,
            ],
        ),
        (SignatureScheme::ED25519, &[webpki::ring::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (SignatureScheme::RSA_PKCS1_SHA512, &[LEGACY_PKCS1_SHA512]),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[webpki::ring::RSA_PKCS1_2048_8192_SHA384],
        ),
        (SignatureScheme::RSA_PKCS1_SHA256, &[LEGACY_PKCS1_SHA256]),
    ],
};

/// A pinned server whose RSA key is under 2048 bits, in TLS 1.2: only the
/// schemes such a key can sign and ring can verify are offered.
static PINNED_LEGACY: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::ECDSA_P384_SHA384,
        webpki::ring::ED25519,
        LEGACY_PKCS1_SHA256,
        LEGACY_PKCS1_SHA512,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[webpki::ring::ECDSA_P384_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[webpki::ring::ECDSA_P256_SHA256],
        ),
        (SignatureScheme::ED25519, &[webpki::ring::ED25519]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[LEGACY_PKCS1_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[LEGACY_PKCS1_SHA256]),
    ],
};

/// The key of a certificate, read from its SubjectPublicKeyInfo: RSA with
/// its modulus size, or something else.
fn key_of(cert: &CertificateDer<'_>) -> Option<Key> {
    let cert = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = cert.subject_public_key_info();
    Some(rsa_bits(spki.as_ref()).map_or(Key::Other, Key::Rsa))
}

/// The modulus size of an RSA SubjectPublicKeyInfo (RFC 5280, RFC 8017
/// A.1.1), or None for any other key.
fn rsa_bits(spki: &[u8]) -> Option<usize> {
    // rsaEncryption, 1.2.840.113549.1.1.1
    const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let (spki, _) = der(spki, 0x30)?;
    let (alg, rest) = der(spki, 0x30)?;
    let (oid, _) = der(alg, 0x06)?;
    if oid != RSA_OID {
        return None;
    }
    let (bits, _) = der(rest, 0x03)?;
    let (key, _) = der(bits.get(1..)?, 0x30)?;
    let (modulus, _) = der(key, 0x02)?;
    let first = modulus.iter().position(|b| *b != 0)?;
    let lead = modulus[first];
    Some((modulus.len() - first - 1) * 8 + (8 - lead.leading_zeros() as usize))
}

/// One DER element of the given tag: its contents and what follows.
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (n as usize, rest),
        0x81..=0x84 => {
            let n = (first & 0x7f) as usize;
            let bytes = rest.get(..n)?;
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, &rest[n..])
        }
        _ => return None,
    };
    Some((rest.get(..len)?, &rest[len..]))
}

/// Wraps ureq's TCP transport in rustls with our own [`ClientConfig`].
pub(crate) struct TlsConnector {
    modern: Arc<ClientConfig>,
    legacy: Option<Arc<ClientConfig>>,
    state: Arc<State>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl TlsConnector {
    fn handshake(
        config: &Arc<ClientConfig>,
        name: ServerName<'static>,
        transport: Box<dyn Transport>,
        details: &ConnectionDetails,
    ) -> Result<TlsTransport, ureq::Error> {
        let mut conn = ClientConnection::new(config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport, details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })
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
        let legacy_now = self.state.legacy.load(Ordering::Relaxed);
        let config = match (&self.legacy, legacy_now) {
            (Some(legacy), true) => legacy,
            _ => &self.modern,
        };
        match Self::handshake(config, name.clone(), transport.boxed(), details) {
            Ok(t) => Ok(Some(Either::B(t))),
            Err(first) => match &self.legacy {
                // The pinned key turned out too small for what was
                // negotiated: once more, on a new connection, in TLS 1.2.
                Some(legacy) if !legacy_now && self.state.legacy.load(Ordering::Relaxed) => {
                    let tcp = <TcpConnector as Connector<()>>::connect(
                        &TcpConnector::default(),
                        details,
                        None,
                    )?
                    .ok_or(first)?;
                    Self::handshake(legacy, name, tcp.boxed(), details).map(|t| Some(Either::B(t)))
                }
                _ => Err(first),
            },
        }
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

/// The rustls error inside a ureq error, if any.
pub(crate) fn rustls_error(err: &ureq::Error) -> Option<&rustls::Error> {
    match err {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(e) => e.get_ref().and_then(|inner| inner.downcast_ref()),
        _ => None,
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
    fn rsa_key_sizes_come_from_the_spki() {
        // SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { 0,
        // SEQUENCE { INTEGER n, INTEGER 65537 } } } with n of 1024 bits
        // (a leading zero byte, then 0x80 and 127 more bytes).
        let mut n = vec![0x00, 0x80];
        n.extend([0x11; 127]);
        let mut key = vec![0x02, 0x81, n.len() as u8];
        key.extend(&n);
        key.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut seq = vec![0x30, 0x81, key.len() as u8];
        seq.extend(&key);
        let mut bits = vec![0x03, 0x81, (seq.len() + 1) as u8, 0x00];
        bits.extend(&seq);
        let alg = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let mut body = alg.to_vec();
        body.extend(&bits);
        let mut spki = vec![0x30, 0x81, body.len() as u8];
        spki.extend(&body);
        assert_eq!(rsa_bits(&spki), Some(1024));
        // An EC key (id-ecPublicKey) is not RSA; truncated input is nothing.
        let ec = [
            0x30, 0x13, 0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x03,
            0x06, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04,
        ];
        assert_eq!(rsa_bits(&ec), None);
        assert_eq!(rsa_bits(&spki[..40]), None);
        assert_eq!(rsa_bits(&[]), None);
    }
}
