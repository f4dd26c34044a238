//! Small HTTP servers for the error paths vcsim cannot produce: a
//! scriptable fake, a static file server (VCSP), a proxy that holds a
//! transfer mid-way.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use esxi_iso::vsphere::http::{Client, Trust};

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// What the fake server does with a request.
pub enum Reply {
    Status(u16),
    /// A status with a JSON body.
    Json(u16, String),
    /// Read a little of the body, then reset the connection.
    Reset,
    /// Answer right after the headers and close, leaving the body unread.
    Early(u16),
}

/// A plain-HTTP server on 127.0.0.1 that answers by a rule and records
/// requests; one connection per request (`Connection: close`).
pub struct FakeServer {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    pub fn start(rule: impl Fn(&str, &str) -> Reply + Send + 'static) -> FakeServer {
        Self::start_with_url(move |m, t, _| rule(m, t))
    }

    /// Like `start`; the rule also gets the server's own base URL.
    pub fn start_with_url(rule: impl Fn(&str, &str, &str) -> Reply + Send + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let base = url.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let _ = serve_one(stream, &|m: &str, t: &str| rule(m, t, &base), &log);
            }
        });
        FakeServer { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Request line and headers (names lowercased).
pub fn read_head(
    reader: &mut BufReader<TcpStream>,
) -> std::io::Result<(String, String, HashMap<String, String>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok((method, target, headers))
}

/// The request body, framed by Content-Length or chunked (ureq sends a
/// POST without a body as an empty chunked one). Reading it all matters:
/// closing a socket with unread bytes makes the kernel send a reset.
pub fn read_body(
    reader: &mut BufReader<TcpStream>,
    headers: &HashMap<String, String>,
) -> std::io::Result<Vec<u8>> {
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if !chunked {
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn serve_one(
    stream: TcpStream,
    rule: &impl Fn(&str, &str) -> Reply,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let (method, target, headers) = read_head(&mut reader)?;
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut seen = Seen {
        method: method.clone(),
        target: target.clone(),
        headers,
        body: Vec::new(),
    };
    match rule(&method, &target) {
        Reply::Reset => {
            let mut some = vec![0u8; len.min(64 * 1024)];
            let _ = reader.read_exact(&mut some);
            log.lock().unwrap().push(seen);
            // SO_LINGER 0: close() sends RST instead of FIN.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            use std::os::fd::AsRawFd;
            unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    &linger as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
            drop(reader);
            drop(stream);
        }
        Reply::Early(code) => {
            log.lock().unwrap().push(seen);
            let mut w = stream;
            write!(
                w,
                "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            w.flush()?;
            drop(reader);
        }
        reply @ (Reply::Status(_) | Reply::Json(..)) => {
            seen.body = read_body(&mut reader, &seen.headers)?;
            log.lock().unwrap().push(seen);
            let (code, text) = match reply {
                Reply::Json(code, json) => (code, json),
                Reply::Status(code) => (code, format!("status {code}")),
                Reply::Reset | Reply::Early(_) => unreachable!(),
            };
            let mut w = stream;
            let body = if method == "HEAD" { "" } else { text.as_str() };
            write!(
                w,
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                if method == "HEAD" { 0 } else { text.len() }
            )?;
            w.flush()?;
            let _ = w.shutdown(Shutdown::Write);
        }
    }
    Ok(())
}

/// Serves files under `root` over plain HTTP on 127.0.0.1 (GET only,
/// percent-decoded paths, no directory listings).
pub struct StaticServer {
    pub url: String,
}

impl StaticServer {
    pub fn start(root: &Path) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let root = root.to_path_buf();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let _ = serve_static(stream, &root);
            }
        });
        StaticServer { url }
    }
}

fn serve_static(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let (_method, target, _headers) = read_head(&mut reader)?;
    let path = percent_decode(target.split('?').next().unwrap_or(""));
    let mut w = stream;
    let file = if path.split('/').any(|s| s == "..") {
        None
    } else {
        fs::read(root.join(path.trim_start_matches('/'))).ok()
    };
    match file {
        Some(bytes) => {
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            )?;
            w.write_all(&bytes)?;
        }
        None => write!(
            w,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    w.flush()
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// GET over plain HTTP, as bytes (for the static server).
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    let client = Client::new(Trust::Roots).unwrap();
    let mut resp = client.agent.get(url).call().unwrap();
    let mut body = Vec::new();
    resp.body_mut().as_reader().read_to_end(&mut body).unwrap();
    (resp.status().as_u16(), body)
}

/// A TCP proxy on 127.0.0.1 in front of `port` that forwards bytes as
/// they are (TLS passes through), and holds a connection still once it
/// has carried `hold_after` bytes from the client: the test then knows an
/// upload is under way, mid-body, and releases it when it wants to.
pub struct HoldingProxy {
    pub port: u16,
    held: mpsc::Receiver<()>,
    release: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl HoldingProxy {
    pub fn start(port: u16, hold_after: u64) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap().port();
        let (tx, held) = mpsc::channel();
        let release = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let gate = release.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // Server to client: as is.
                thread::spawn(move || {
                    let _ = std::io::copy(&mut &s2, &mut &c2);
                    let _ = c2.shutdown(Shutdown::Write);
                });
                // Client to server: counted, held after `hold_after`.
                let (tx, gate) = (tx.clone(), gate.clone());
                thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    let mut total = 0u64;
                    let mut told = false;
                    loop {
                        let n = match (&client).read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if (&server).write_all(&buf[..n]).is_err() {
                            break;
                        }
                        total += n as u64;
                        if total >= hold_after && !told {
                            told = true;
                            let _ = tx.send(());
                            let (lock, cv) = &*gate;
                            let mut released = lock.lock().unwrap();
                            while !*released {
                                released = cv.wait(released).unwrap();
                            }
                        }
                    }
                    let _ = server.shutdown(Shutdown::Write);
                });
            }
        });
        HoldingProxy {
            port: local,
            held,
            release,
        }
    }

    /// Waits until a connection is held (at most two minutes).
    pub fn wait_held(&self) {
        self.held
            .recv_timeout(Duration::from_secs(120))
            .expect("no connection carried enough bytes to be held");
    }

    /// Lets every held connection go on.
    pub fn release(&self) {
        let (lock, cv) = &*self.release;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}
