//! What each request gets. Routes:
//!
//! - `GET /`: the status page (one HTML file, `page.html`, compiled in);
//! - `GET /.esxi-iso/status.json`: the rows behind it;
//! - `GET /.esxi-iso/report?host=H&event=E&token=T[&addr=A]`: a host's
//!   install report, checked against its token, logged and synced before
//!   the answer;
//! - `GET`/`HEAD /.esxi-iso/ks/TOKEN/HOST.cfg`: a network-install host's
//!   kickstart, only with that host's token; fetching it is an event;
//! - `GET`/`HEAD /MOUNT/...`: a network install's installer, straight out
//!   of its stock ISO, and its hosts' boot.cfg (see `installer`); a
//!   host's first module is an event;
//! - `GET`/`HEAD` of any other path: a file of the directory (see
//!   `files`), with validators, conditional requests and byte ranges.
//!
//! The API lives under `/.esxi-iso/` because no file there is ever served
//! (hidden paths are refused), so it cannot shadow a file of the lab.
//! Request bodies are never read. The access log on stderr shows the path
//! without its query, and a kickstart's token as `<token>`, so tokens stay
//! out of it.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use super::events::{now, EventLog, Record};
use super::files::{self, Answer, Validators};
use super::installer::{Installers, Mount, Target, KICKSTART_DIR, KICKSTART_PATH};
use super::io::Payload;
use super::status::{lab_hosts, Board};
use super::{json_line, AccessLog};
use crate::report::{Event, Secret, REPORT_PATH};
use crate::warning::Warning;

pub type Body = Payload;

const PAGE: &str = include_str!("page.html");
const STATUS_PATH: &str = "/.esxi-iso/status.json";

/// Everything a request may need; shared by all connections.
pub struct App {
    /// The served directory, canonical.
    pub root: PathBuf,
    /// Loaded at start, or at the first report after `build` made it.
    pub secret: std::sync::OnceLock<Secret>,
    pub state_dir: PathBuf,
    pub log: EventLog,
    /// Every record since the log began (small: a few per host).
    pub records: Mutex<Vec<Record>>,
    pub access: AccessLog,
    /// Records being written after a download ended; the server waits for
    /// them before it stops, so a fetch it served is never lost.
    pub pending: Mutex<tokio::task::JoinSet<()>>,
    /// The network installs of the folder (`.esxi-iso/netboot.json`).
    pub installers: Installers,
    /// Hosts that fetched their boot.cfg and have not loaded a module
    /// since: their next module is a `loading` event.
    pub armed: Mutex<HashSet<String>>,
}

impl App {
    /// Writes `rec` in the background (a download's end cannot wait for
    /// the disk); [`App::finish_records`] waits for it.
    pub fn spawn_record(self: &Arc<Self>, rec: Record) {
        let app = Arc::clone(self);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.spawn(async move {
            if let Err(e) = app.record(rec).await {
                super::warn(
                    app.access,
                    &Warning::advice("serve-failed", format!("{e:#}")),
                );
            }
        });
    }

    /// Forgets the records already written.
    pub fn reap(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        while p.try_join_next().is_some() {}
    }

    /// Waits for the records still being written.
    pub async fn finish_records(&self) {
        let mut set = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        while set.join_next().await.is_some() {}
    }

    pub async fn handle(self: Arc<Self>, req: &Request<()>, peer: SocketAddr) -> Response<Body> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let resp = match (method.clone(), path.as_str()) {
            (Method::GET | Method::HEAD, "/") => page(&method),
            (Method::GET, STATUS_PATH) => self.status_json().await,
            (Method::GET, REPORT_PATH) => self.report(req.uri().query().unwrap_or(""), peer).await,
            (Method::GET | Method::HEAD, p) if p.starts_with(KICKSTART_PATH) => {
                self.kickstart(&method, p, peer).await
            }
            (Method::GET | Method::HEAD, _) => match self.netboot(req, &path, peer).await {
                Some(r) => r,
                None => self.file(req, &path, peer).await,
            },
            _ => {
                let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                r
            }
        };
        let status = resp.status().as_u16();
        let path = log_path(&path);
        match self.access {
            AccessLog::Off => {}
            AccessLog::Text => {
                // One write(2): stderr is unbuffered, and eprintln! would
                // make one per piece of the line, beside a single sendfile.
                let line = format!("{} {method} {path} {status}\n", peer.ip());
                let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
            }
            AccessLog::Json => json_line(&serde_json::json!({
                "event": "request",
                "time": now(),
                "peer": peer.ip().to_string(),
                "method": method.as_str(),
                "path": path,
                "status": status,
            })),
        }
        resp
    }

    async fn status_json(self: &Arc<Self>) -> Response<Body> {
        let app = Arc::clone(self);
        let board = tokio::task::spawn_blocking(move || {
            let hosts = lab_hosts(&app.root).unwrap_or_default();
            let records = app.records.lock().unwrap_or_else(|p| p.into_inner());
            Board::fold(&hosts, &records, 0)
        })
        .await
        .unwrap_or_default();
        #[derive(serde::Serialize)]
        struct Status<'a> {
            now: u64,
            hosts: &'a [super::status::Row],
        }
        let body = serde_json::to_vec(&Status {
            now: now(),
            hosts: &board.hosts,
        })
        .unwrap_or_default();
        let mut r = Response::new(full(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    async fn report(self: &Arc<Self>, query: &str, peer: SocketAddr) -> Response<Body> {
        let q = Query::parse(query);
        let (Some(host), Some(event), Some(token)) =
            (q.get("host"), q.get("event"), q.get("token"))
        else {
            return text(StatusCode::BAD_REQUEST, "need host, event and token\n");
        };
        let Some(secret) = self.secret() else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "reports are off: this directory has no report secret\n",
            );
        };
        if !crate::kickstart::vars::valid_hostname(host) || !secret.verify(host, token) {
            return text(StatusCode::FORBIDDEN, "wrong token for this host\n");
        }
        let Some(event) = Event::parse(event) else {
            return text(
                StatusCode::BAD_REQUEST,
                "event must be installing, installed or booted\n",
            );
        };
        let addr = q
            .get("addr")
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|a| a.to_string());
        let rec = Record {
            time: now(),
            event: event.name().to_string(),
            host: Some(host.to_string()),
            file: None,
            peer: peer.ip().to_canonical().to_string(),
            addr,
        };
        match self.record(rec).await {
            Ok(()) => text(StatusCode::OK, "recorded\n"),
            Err(e) => {
                super::warn(
                    self.access,
                    &Warning::advice("serve-failed", format!("{e:#}")),
                );
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not record the event\n",
                )
            }
        }
    }

    fn secret(&self) -> Option<&Secret> {
        if let Some(s) = self.secret.get() {
            return Some(s);
        }
        match Secret::load(&self.state_dir) {
            Ok(Some(s)) => Some(self.secret.get_or_init(|| s)),
            Ok(None) => None,
            Err(e) => {
                super::warn(
                    self.access,
                    &Warning::advice("serve-failed", format!("{e:#}")),
                );
                None
            }
        }
    }

    /// Appends (synced) and keeps the record; runs on the blocking pool.
    async fn record(self: &Arc<Self>, rec: Record) -> anyhow::Result<()> {
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            app.log.append(&rec)?;
            app.records
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(rec);
            Ok(())
        })
        .await?
    }

    async fn file(
        self: &Arc<Self>,
        req: &Request<()>,
        path: &str,
        peer: SocketAddr,
    ) -> Response<Body> {
        let root = self.root.clone();
        let p = path.to_string();
        let opened = tokio::task::spawn_blocking(move || files::open(&root, &p)).await;
        let Ok(Ok((file, meta, real))) = opened else {
            return not_found();
        };
        let v = Validators::of(&meta);
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (b, start, end) = match ranged(req, &v, &name) {
            Ok(r) => r,
            Err(resp) => return *resp,
        };
        if req.method() == Method::HEAD {
            return b.body(empty()).unwrap_or_default();
        }
        // A download that reaches the ISO's last byte counts as a fetch.
        let on_complete = (end == v.len && super::status::is_iso(&name)).then(|| {
            let rel = real
                .strip_prefix(&self.root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or(name.clone());
            let rec = Record {
                time: 0,
                event: "fetched".into(),
                host: None,
                file: Some(rel),
                peer: peer.ip().to_canonical().to_string(),
                addr: None,
            };
            self.record_later(rec)
        });
        b.body(Payload::File {
            file,
            start,
            end,
            on_complete,
        })
        .unwrap_or_default()
    }

    /// An [`io::OnComplete`](super::io::OnComplete) that records `rec`
    /// (stamped when it runs) without holding up the response.
    fn record_later(self: &Arc<Self>, mut rec: Record) -> super::io::OnComplete {
        let app = Arc::clone(self);
        Box::new(move || {
            rec.time = now();
            app.spawn_record(rec);
        })
    }

    /// A path under a network install's mount; None when it is not one.
    async fn netboot(
        self: &Arc<Self>,
        req: &Request<()>,
        path: &str,
        peer: SocketAddr,
    ) -> Option<Response<Body>> {
        let parts = files::components(path).ok()?;
        let (snap, fresh) = self.installers.snapshot();
        if fresh {
            for p in &snap.problems {
                super::warn(self.access, &Warning::advice("netboot-source", p.clone()));
            }
        }
        let mount = Arc::clone(snap.mount(parts.first()?)?);
        Some(match mount.target(&parts[1..]) {
            Target::NotFound => not_found(),
            Target::LabFile { rel, host } => {
                let r = self.file(req, &format!("/{rel}"), peer).await;
                if let (Some(h), true) = (
                    host,
                    req.method() == Method::GET && r.status() == StatusCode::OK,
                ) {
                    self.lock_armed().insert(h.to_ascii_lowercase());
                }
                r
            }
            Target::Iso { path, host } => self.iso_file(req, &mount, &path, host, peer),
        })
    }

    fn lock_armed(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A file of a stock ISO, by offset into the ISO file.
    fn iso_file(
        self: &Arc<Self>,
        req: &Request<()>,
        mount: &Mount,
        path: &str,
        host: Option<String>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let Some((offset, _, v)) = mount.extent(path) else {
            return not_found();
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        let (b, start, end) = match ranged(req, &v, name) {
            Ok(r) => r,
            Err(resp) => return *resp,
        };
        if req.method() == Method::HEAD {
            return b.body(empty()).unwrap_or_default();
        }
        let Ok(file) = mount.file() else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the ISO\n");
        };
        if let Some(h) = host.filter(|h| self.lock_armed().remove(&h.to_ascii_lowercase())) {
            let rec = Record {
                time: 0,
                event: "loading".into(),
                host: Some(h),
                file: None,
                peer: peer.ip().to_canonical().to_string(),
                addr: None,
            };
            (self.record_later(rec))();
        }
        b.body(Payload::File {
            file,
            start: offset + start,
            end: offset + end,
            on_complete: None,
        })
        .unwrap_or_default()
    }

    /// `/.esxi-iso/ks/TOKEN/HOST.cfg`: the kickstart, with its host's token
    /// only. A GET is recorded (synced) before the answer.
    async fn kickstart(
        self: &Arc<Self>,
        method: &Method,
        path: &str,
        peer: SocketAddr,
    ) -> Response<Body> {
        let rest = &path[KICKSTART_PATH.len()..];
        let parsed = rest.split_once('/').and_then(|(token, file)| {
            let host = file.strip_suffix(".cfg")?;
            (crate::kickstart::vars::valid_hostname(host) && !token.is_empty())
                .then_some((token, host))
        });
        let Some((token, host)) = parsed else {
            return text(
                StatusCode::FORBIDDEN,
                "a kickstart is served only at /.esxi-iso/ks/TOKEN/HOST.cfg, with its host's token\n",
            );
        };
        let Some(secret) = self.secret() else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "kickstarts are off: this directory has no secret\n",
            );
        };
        if !secret.verify(host, token) {
            return text(StatusCode::FORBIDDEN, "wrong token for this host\n");
        }
        let file = self
            .state_dir
            .join(KICKSTART_DIR)
            .join(format!("{}.cfg", host.to_ascii_lowercase()));
        let read = tokio::task::spawn_blocking(move || {
            crate::input::read_text_capped(&file, 1 << 20, "kickstart")
        })
        .await;
        let Ok(Ok(body)) = read else {
            return not_found();
        };
        let len = body.len();
        if method == Method::GET {
            let rec = Record {
                time: now(),
                event: "kickstart-fetched".into(),
                host: Some(host.to_string()),
                file: None,
                peer: peer.ip().to_canonical().to_string(),
                addr: None,
            };
            if let Err(e) = self.record(rec).await {
                super::warn(
                    self.access,
                    &Warning::advice("serve-failed", format!("{e:#}")),
                );
            }
        }
        let b = if method == Method::HEAD {
            empty()
        } else {
            full(body.into_bytes())
        };
        let mut r = Response::new(b);
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// The builder of a file's answer with its validators and range, or the
/// whole answer when there is no body to send (304, 412, 416).
fn ranged(
    req: &Request<()>,
    v: &Validators,
    name: &str,
) -> Result<(http::response::Builder, u64, u64), Box<Response<Body>>> {
    let answer = files::answer(req.method(), req.headers(), v);
    let mut b = Response::builder()
        .header(header::ETAG, &v.etag)
        .header(header::LAST_MODIFIED, httpdate::fmt_http_date(v.modified))
        .header(header::ACCEPT_RANGES, "bytes");
    let (status, start, end) = match answer {
        Answer::NotModified => {
            return Err(Box::new(
                b.status(StatusCode::NOT_MODIFIED)
                    .body(empty())
                    .unwrap_or_default(),
            ));
        }
        Answer::PreconditionFailed => {
            return Err(Box::new(
                b.status(StatusCode::PRECONDITION_FAILED)
                    .body(empty())
                    .unwrap_or_default(),
            ));
        }
        Answer::Unsatisfiable => {
            return Err(Box::new(
                b.status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{}", v.len))
                    .body(empty())
                    .unwrap_or_default(),
            ));
        }
        Answer::Full => (StatusCode::OK, 0, v.len),
        Answer::Partial(s, e) => {
            b = b.header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{}", v.len));
            (StatusCode::PARTIAL_CONTENT, s, e + 1)
        }
    };
    b = b
        .status(status)
        .header(header::CONTENT_TYPE, files::content_type(name))
        .header(header::CONTENT_LENGTH, end - start);
    Ok((b, start, end))
}

/// The path as the access log shows it: a kickstart's token hidden.
pub fn log_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path
        .strip_prefix(KICKSTART_PATH)
        .and_then(|rest| rest.split_once('/'))
    {
        Some((_, file)) => format!("{KICKSTART_PATH}<token>/{file}").into(),
        None => path.into(),
    }
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "not found\n")
}

fn page(method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD {
        empty()
    } else {
        full(PAGE.as_bytes().to_vec())
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(PAGE.len()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn full(bytes: Vec<u8>) -> Body {
    Payload::Bytes(bytes.into())
}

fn empty() -> Body {
    Payload::Empty
}

fn text(status: StatusCode, msg: &'static str) -> Response<Body> {
    let mut r = Response::new(full(msg.as_bytes().to_vec()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `k=v&k=v`, percent-decoded; the first value of a key wins.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Query {
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Query(
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (dec(k), dec(v)))
                .collect(),
        )
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query() {
        let q = Query::parse("host=esx01&event=booted&token=ab&addr=10.0.0.1&host=x&bare");
        assert_eq!(q.get("host"), Some("esx01"));
        assert_eq!(q.get("addr"), Some("10.0.0.1"));
        assert_eq!(q.get("bare"), None);
        assert_eq!(Query::parse("a=%41+b").get("a"), Some("A b"));
    }
}
