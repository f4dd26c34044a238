//! HTTP/1.1 on one connection, as this server needs it: request heads
//! parsed by `httparse` (the parser hyper uses), answered one at a time
//! (pipelined requests wait their turn), keep-alive by default, and file
//! bodies handed to the kernel with sendfile(2) on plain TCP, so the bytes
//! of an ISO go from the page cache to the socket without passing through
//! this process ([`Transport::send_file`]). Over TLS they are read and
//! encrypted in steps of [`io::CHUNK`](super::io::CHUNK).
//!
//! Why not hyper: hyper owns the socket and writes bodies from buffers, so
//! every served byte was copied twice in user space; network installs and
//! ISO downloads are almost all file bodies.
//!
//! Limits: a request head must arrive whole within the timeout and fit
//! [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers (431 past them);
//! anything httparse refuses gets 400, a version other than HTTP/1.0 or
//! 1.1 gets 505, and the connection is closed after each. Request bodies
//! are never read: a request that announces one is answered and the
//! connection closed. HTTP/1.0 clients get one answer per connection.
//! Header names go out in Title-Case (`Content-Length`), which some
//! firmware HTTP clients need (GRUB's matches them case-sensitively).

use std::fs::File;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Buf, BytesMut};
use http::{header, Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::http::App;
use super::io::Payload;

/// Largest request head read (431 past it).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a request head (431 past them).
pub const MAX_HEADERS: usize = 64;

/// A byte stream the server answers on.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// Sends `len` bytes of `file` from `offset`, all of them or an error.
    fn send_file(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<()>> + Send;
}

/// Why a request head could not be had.
#[derive(Debug)]
pub enum HeadError {
    TooLarge,
    Bad(&'static str),
    Version,
    Io(io::Error),
}

/// Parses one request head at the start of `buf`: the request and the
/// head's length, None when more bytes are needed.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request<()>, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => return Err(HeadError::Version),
        Err(_) => return Err(HeadError::Bad("malformed request head")),
    };
    if n > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(HeadError::Version),
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Bad("bad method"))?;
    let uri: http::Uri = req
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| HeadError::Bad("bad request target"))?;
    let mut b = Request::builder().method(method).uri(uri).version(version);
    for h in req.headers.iter() {
        let name = header::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HeadError::Bad("bad header name"))?;
        let value = header::HeaderValue::from_bytes(h.value)
            .map_err(|_| HeadError::Bad("bad header value"))?;
        b = b.header(name, value);
    }
    let request = b.body(()).map_err(|_| HeadError::Bad("bad request"))?;
    Ok(Some((request, n)))
}

/// Reads until `buf` starts with a whole head; None when the client
/// closed the connection between requests.
async fn read_head<T: Transport>(
    io: &mut T,
    buf: &mut BytesMut,
) -> Result<Option<Request<()>>, HeadError> {
    loop {
        if !buf.is_empty() {
            if let Some((req, n)) = parse_head(buf)? {
                buf.advance(n);
                return Ok(Some(req));
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match io.read_buf(buf).await {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

/// Whether the connection may take another request after this one.
fn keep_alive(req: &Request<()>) -> bool {
    let tokens = |name| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    req.version() == Version::HTTP_11
        && !has_body
        && !tokens(header::CONNECTION).iter().any(|t| t == "close")
}

/// Serves requests on one connection until it closes, times out, breaks
/// a rule, or the server stops.
pub async fn serve<T: Transport>(
    mut io: T,
    peer: SocketAddr,
    app: Arc<App>,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let head = tokio::select! {
            r = tokio::time::timeout(timeout, read_head(&mut io, &mut buf)) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let req = match head {
            Ok(Ok(Some(req))) => req,
            Ok(Ok(None)) | Err(_) | Ok(Err(HeadError::Io(_))) => return,
            Ok(Err(e)) => {
                let (status, msg) = match e {
                    HeadError::TooLarge => (
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "request head too large\n",
                    ),
                    HeadError::Version => (
                        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                        "HTTP/1.1 or 1.0 only\n",
                    ),
                    HeadError::Bad(why) => (StatusCode::BAD_REQUEST, why),
                    HeadError::Io(_) => return,
                };
                let mut r = Response::new(Payload::Bytes(msg.as_bytes().to_vec().into()));
                *r.status_mut() = status;
                let _ = write_reply(&mut io, r, false, false).await;
                return;
            }
        };
        let keep = keep_alive(&req);
        let head_only = req.method() == Method::HEAD;
        let reply = Arc::clone(&app).handle(&req, peer).await;
        if write_reply(&mut io, reply, keep, head_only).await.is_err() || !keep || *stop.borrow() {
            let _ = io.shutdown().await;
            return;
        }
    }
}

/// `content-length` as `Content-Length`, `etag` as `Etag`.
fn title_case(name: &str, out: &mut Vec<u8>) {
    let mut up = true;
    for b in name.bytes() {
        out.push(if up { b.to_ascii_uppercase() } else { b });
        up = b == b'-';
    }
}

/// Writes the head and the body of `r`.
async fn write_reply<T: Transport>(
    io: &mut T,
    r: Response<Payload>,
    keep: bool,
    head_only: bool,
) -> io::Result<()> {
    let (parts, body) = r.into_parts();
    let status = parts.status;
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\nDate: ");
    head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        title_case(name.as_str(), &mut head);
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let no_body = status == StatusCode::NOT_MODIFIED
        || status == StatusCode::NO_CONTENT
        || status.is_informational();
    if !no_body && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        head.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    if !keep {
        head.extend_from_slice(b"Connection: close\r\n");
    }
    head.extend_from_slice(b"\r\n");
    if head_only || no_body {
        io.write_all(&head).await?;
        return io.flush().await;
    }
    match body {
        Payload::Empty => io.write_all(&head).await?,
        Payload::Bytes(b) => {
            head.extend_from_slice(&b);
            io.write_all(&head).await?;
        }
        Payload::File {
            file,
            start,
            end,
            on_complete,
        } => {
            io.write_all(&head).await?;
            io.flush().await?;
            io.send_file(&file, start, end - start).await?;
            if let Some(f) = on_complete {
                f();
            }
        }
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_table() {
        let ok = |raw: &str| parse_head(raw.as_bytes()).unwrap().unwrap();
        let (r, n) = ok("GET /esx01.iso HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\nGET /x");
        assert_eq!(
            (r.method(), r.uri().path(), n),
            (&Method::GET, "/esx01.iso", 54)
        );
        assert_eq!(r.headers()["range"], "bytes=0-1");
        assert!(keep_alive(&r));
        let (r, _) = ok("GET http://h:1/a/b?token=x HTTP/1.0\r\n\r\n");
        assert_eq!((r.uri().path(), r.uri().query()), ("/a/b", Some("token=x")));
        assert!(!keep_alive(&r), "HTTP/1.0");
        for (raw, keep) in [
            (
                "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n",
                false,
            ),
            ("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", false),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
            ),
            ("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true),
        ] {
            assert_eq!(keep_alive(&ok(raw).0), keep, "{raw:?}");
        }
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n")
            .unwrap()
            .is_none());
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        for (raw, want) in [
            (format!("GET / HTTP/1.1\r\n{many}\r\n"), "TooLarge"),
            (big, "TooLarge"),
            ("GET / HTTP/2.0\r\n\r\n".into(), "Version"),
            ("GET /a b HTTP/1.1\r\n\r\n".into(), "Version"),
            ("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n".into(), "Bad"),
            ("G\0T / HTTP/1.1\r\n\r\n".into(), "Bad"),
            ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n".into(), "Bad"),
        ] {
            let e = parse_head(raw.as_bytes()).unwrap_err();
            assert!(format!("{e:?}").starts_with(want), "{raw:?}: {e:?}");
        }
    }

    #[test]
    fn header_names_are_title_case() {
        for (name, want) in [
            ("content-length", "Content-Length"),
            ("etag", "Etag"),
            ("x-a-b", "X-A-B"),
        ] {
            let mut out = Vec::new();
            title_case(name, &mut out);
            assert_eq!(out, want.as_bytes());
        }
    }
}
