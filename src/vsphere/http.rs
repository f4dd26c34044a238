//! The HTTP client every vSphere call goes through: one ureq agent with
//! the trust setting of [`super::tls`], the server address, and transport
//! errors as sentences (refused, reset, unresolved, timed out, TLS).
//!
//! Errors from here are rendered to strings on purpose: an `io::Error` of
//! kind `BrokenPipe` left in an anyhow chain would make `main` exit 0.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{Connector, TcpConnector};

use super::tls::{self, State};
pub use super::tls::{Thumbprint, Trust};

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

/// An HTTP agent bound to one trust setting, remembering what the last
/// handshake showed so that a failure can name the certificate.
pub struct Client {
    pub agent: ureq::Agent,
    state: Arc<State>,
    trust: Trust,
}

impl Client {
    pub fn new(trust: Trust) -> Result<Client> {
        let state = Arc::new(State::default());
        let tls = tls::connector(&trust, &state)?;
        let connector = ().chain(TcpConnector::default()).chain(tls);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(600)))
            .user_agent(concat!("esxi-iso/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: ureq::Agent::with_parts(config, connector, DefaultResolver::default()),
            state,
            trust,
        })
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// A transport-level failure (no HTTP status) as a sentence: TLS
    /// trust, refused connections, resets, names that do not resolve.
    pub fn explain(&self, err: &ureq::Error, server: &Server) -> String {
        if let Some(e) = tls::rustls_error(err) {
            return super::tls_explain::explain(e, &server.host, &self.trust, &self.state.seen());
        }
        let host = &server.host;
        if let ureq::Error::Io(e) = err {
            use std::io::ErrorKind::*;
            return match e.kind() {
                ConnectionRefused => format!(
                    "cannot connect to {host}: connection refused; check --server and \
                     that the host is up"
                ),
                ConnectionReset | ConnectionAborted | BrokenPipe => {
                    format!("{host} closed the connection ({e})")
                }
                UnexpectedEof => format!("{host} closed the connection before it answered"),
                TimedOut | WouldBlock => format!("{host} did not answer in time"),
                _ => format!("talking to {host}: {e}"),
            };
        }
        match err {
            ureq::Error::HostNotFound => format!("cannot resolve {host}: check --server"),
            ureq::Error::ConnectionFailed => {
                format!("cannot connect to {host}: check --server and that the host is up")
            }
            ureq::Error::Timeout(_) => format!("{host} did not answer in time"),
            other => format!("talking to {host}: {other}"),
        }
    }
}

/// The peer closed or reset the connection (while we were sending).
pub fn is_connection_closed(err: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(err, ureq::Error::Io(e)
        if matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof))
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
