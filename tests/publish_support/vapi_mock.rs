//! A strict stand-in for a vCenter that speaks only the `/api` forms of
//! the vSphere Automation API (as a vCenter will once `/rest` is removed),
//! for the content library calls of `upload --library`. It answers what
//! the API reference documents and refuses the rest the way a vCenter
//! does, so that a client speaking the wrong forms fails here too:
//!
//! - `POST /api/session` with HTTP basic authentication: 201 and the
//!   session id as a bare JSON string; wrong or missing credentials: 401
//!   `UNAUTHENTICATED`. `DELETE /api/session`: 204.
//! - Every other `/api` call needs a live `vmware-api-session-id` header
//!   (else 401 `UNAUTHENTICATED`, message id
//!   `com.vmware.vapi.endpoint.method.authentication.required`).
//! - Bodies are the bare structures of the reference: a field the
//!   structure does not have (a `/rest` `spec`/`create_spec` wrapper), a
//!   missing required field or a value of the wrong type: 400
//!   `INVALID_ARGUMENT`. Unparseable JSON: 400 too.
//! - A path, method or `action` the reference does not list (`~action`,
//!   `id:` segments, anything under `/rest`): 404 `NOT_FOUND` with message
//!   id `com.vmware.vapi.rest.httpNotFound`.
//! - Statuses: session and item and update session creation 201, file add
//!   201 (as the spec-generated clients expect), find/get 200,
//!   complete/cancel/delete 204; unknown ids 404; wrong session state 400
//!   `NOT_ALLOWED_IN_CURRENT_STATE`; a second update session on an item
//!   500 `RESOURCE_BUSY`; a duplicate item name 400 `ALREADY_EXISTS`.
//! - The upload endpoint `PUT /cls/data/<token>/<file>` needs the session
//!   header; complete refuses (400) a session whose files did not all
//!   arrive, and ends it in `ERROR` when size or SHA-1 do not match.
//!   Completing adds the session's files to the item (replacing those of
//!   the same name) and removes the ones marked with the file `remove`
//!   (`DELETE .../update-session/{id}/file/{name}`, 400 for a file the
//!   item lacks); files nobody touched stay, as on vCenter.
//! - With a session timeout, a login session that sees no call for that
//!   long is gone (401), and so is an update session (404); the PUT to the
//!   upload endpoint does not count as activity for either, so only
//!   `keep-alive` (`?action=keep-alive`, optional `client_progress`) and
//!   session `get` (`GET /api/session`) keep them through a long upload.
//!   `expiration_time` and the `Date` header tell the client the lifetime.
//!
//! References: developer.broadcom.com xapis/vsphere-automation-api/latest
//! (the pages cited in src/publish/vapi.rs) and "Vapi Std Errors Error"
//! for `{"error_type": ..., "messages": [{"args", "default_message",
//! "id"}]}`. Uploaded files are kept in memory so that tests can hash them.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};

#[derive(Default, Clone)]
pub struct ApiOpts {
    /// Flip a byte of every uploaded file as it arrives: the checksum the
    /// client declared no longer matches, and the session ends in ERROR.
    pub corrupt_upload: bool,
    /// Times GET on a completed session answers ACTIVE before DONE.
    pub polls_before_done: u32,
    /// Idle lifetime of login and update sessions (None: forever).
    pub session_timeout: Option<Duration>,
    /// How long reading an upload's body takes at least.
    pub slow_put: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub library_id: String,
    pub name: String,
    pub kind: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug)]
struct PendingFile {
    size: Option<u64>,
    sha1: Option<String>,
    received: Option<Vec<u8>>,
}

#[derive(Debug)]
struct UpdateSession {
    item_id: String,
    state: &'static str,
    error: Option<String>,
    polls_left: u32,
    files: BTreeMap<String, PendingFile>,
    remove: Vec<String>,
    touched: Instant,
    progress: u64,
}

#[derive(Default)]
struct State {
    opts: ApiOpts,
    user: String,
    pass: String,
    sessions: Vec<String>,
    /// Login session -> last call that used it.
    last_used: HashMap<String, Instant>,
    libraries: Vec<(String, String)>,
    items: BTreeMap<String, Item>,
    update_sessions: BTreeMap<String, UpdateSession>,
    /// token -> (update session, file name)
    endpoints: HashMap<String, (String, String)>,
    next: u64,
    log: Vec<String>,
}

impl State {
    fn expired(&self, since: Instant) -> bool {
        self.opts
            .session_timeout
            .is_some_and(|t| since.elapsed() > t)
    }

    /// Drops the sessions that have been idle too long.
    fn expire(&mut self) {
        let gone: Vec<String> = self
            .sessions
            .iter()
            .filter(|s| self.last_used.get(*s).is_some_and(|t| self.expired(*t)))
            .cloned()
            .collect();
        self.sessions.retain(|s| !gone.contains(s));
        let stale: Vec<String> = self
            .update_sessions
            .iter()
            .filter(|(_, u)| u.state == "ACTIVE" && self.expired(u.touched))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.update_sessions.remove(&id);
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{:04}", self.next)
    }
}

/// The running server on 127.0.0.1 (plain HTTP).
pub struct ApiServer {
    pub url: String,
    state: Arc<Mutex<State>>,
}

type Reply = (u16, Option<Value>);

fn error(status: u16, kind: &str, id: &str, message: &str) -> Reply {
    (
        status,
        Some(json!({
            "error_type": kind,
            "messages": [{"args": [], "default_message": message, "id": id}],
        })),
    )
}

fn not_found() -> Reply {
    error(
        404,
        "NOT_FOUND",
        "com.vmware.vapi.rest.httpNotFound",
        "Not found.",
    )
}

fn unauthenticated() -> Reply {
    error(
        401,
        "UNAUTHENTICATED",
        "com.vmware.vapi.endpoint.method.authentication.required",
        "Authentication required.",
    )
}

fn invalid(message: &str) -> Reply {
    error(
        400,
        "INVALID_ARGUMENT",
        "com.vmware.vapi.rest.badRequest",
        message,
    )
}

fn wrong_state(message: &str) -> Reply {
    error(
        400,
        "NOT_ALLOWED_IN_CURRENT_STATE",
        "com.vmware.content.library.item.updatesession.state",
        message,
    )
}

/// The body as an object whose fields are all in `allowed` and include
/// the `required` ones, which are strings (all that these calls require).
fn structure<'a>(
    body: &'a Option<Value>,
    allowed: &[&str],
    required: &[&str],
) -> Result<&'a Map<String, Value>, Reply> {
    let Some(Value::Object(map)) = body else {
        return Err(invalid("Request body must be a JSON object."));
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(&format!("Unexpected field '{k}' in request body.")));
    }
    for name in required {
        match map.get(*name) {
            Some(v) if v.is_string() => {}
            Some(_) => return Err(invalid(&format!("Field '{name}' has the wrong type."))),
            None => return Err(invalid(&format!("Missing required field '{name}'."))),
        }
    }
    Ok(map)
}

fn str_field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.get(name).and_then(Value::as_str)
}

impl ApiServer {
    /// A server with one user and the given content libraries.
    pub fn start(user: &str, pass: &str, libraries: &[&str], opts: ApiOpts) -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut state = State {
            opts,
            user: user.into(),
            pass: pass.into(),
            ..State::default()
        };
        for name in libraries {
            let id = state.id("lib");
            state.libraries.push((id, name.to_string()));
        }
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        let base = url.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let state = shared.clone();
                let base = base.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &state, &base);
                });
            }
        });
        ApiServer { url, state }
    }

    /// `METHOD target -> status` for every request, in order.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn library_id(&self, name: &str) -> String {
        let st = self.state.lock().unwrap();
        st.libraries
            .iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| id.clone())
            .expect("library")
    }

    /// The item of that name in that library, with its stored files.
    pub fn item(&self, library: &str, name: &str) -> Option<Item> {
        let lib = self.library_id(library);
        let st = self.state.lock().unwrap();
        st.items
            .values()
            .find(|i| i.library_id == lib && i.name == name)
            .cloned()
    }

    pub fn item_count(&self) -> usize {
        self.state.lock().unwrap().items.len()
    }

    /// Sessions still logged in.
    pub fn live_sessions(&self) -> usize {
        self.state.lock().unwrap().sessions.len()
    }

    /// Update sessions not yet deleted, with their states.
    pub fn update_sessions(&self) -> Vec<&'static str> {
        let st = self.state.lock().unwrap();
        st.update_sessions.values().map(|u| u.state).collect()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, base: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let (method, target, headers) = super::read_head(&mut reader)?;
    let slow = state.lock().unwrap().opts.slow_put;
    let body = match slow {
        Some(pause) if target.starts_with("/cls/data/") => slow_body(&mut reader, &headers, pause)?,
        _ => super::read_body(&mut reader, &headers)?,
    };

    let (status, reply) = {
        let mut st = state.lock().unwrap();
        let reply = handle(&mut st, &method, &target, &headers, body, base);
        st.log.push(format!("{method} {target} -> {}", reply.0));
        reply
    };
    let text = reply.map(|v| v.to_string()).unwrap_or_default();
    let mut w = stream;
    let ctype = if text.is_empty() {
        String::new()
    } else {
        "Content-Type: application/json\r\n".to_string()
    };
    write!(
        w,
        "HTTP/1.1 {status} X\r\n{ctype}Date: {}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{text}",
        httpdate::fmt_http_date(SystemTime::now()),
        text.len()
    )?;
    w.flush()
}

/// Reads a Content-Length body in eight slices spread over `pause`.
fn slow_body(
    reader: &mut BufReader<TcpStream>,
    headers: &HashMap<String, String>,
    pause: Duration,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let slice = len.div_ceil(8).max(1);
    for chunk in body.chunks_mut(slice) {
        thread::sleep(pause / 8);
        reader.read_exact(chunk)?;
    }
    Ok(body)
}

/// `2024-05-01T12:34:56.000Z` for a time.
fn iso_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn handle(
    st: &mut State,
    method: &str,
    target: &str,
    headers: &HashMap<String, String>,
    body: Vec<u8>,
    base: &str,
) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with("/api/") && !path.starts_with("/cls/data/") {
        // No /rest, no /sdk: this vCenter speaks only /api.
        return (404, None);
    }
    if (method, path) == ("POST", "/api/session") && query.is_empty() {
        let want = esxi_iso::vsphere::http::basic_auth(&st.user, &st.pass);
        if headers.get("authorization") != Some(&want) {
            return unauthenticated();
        }
        let id = st.id("sid");
        st.sessions.push(id.clone());
        st.last_used.insert(id.clone(), Instant::now());
        return (201, Some(json!(id)));
    }
    st.expire();
    let session = headers.get("vmware-api-session-id");
    if !session.is_some_and(|s| st.sessions.contains(s)) {
        return unauthenticated();
    }
    if let Some(rest) = path.strip_prefix("/cls/data/") {
        return if method == "PUT" && query.is_empty() {
            receive(st, rest, body)
        } else {
            not_found()
        };
    }
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(_) => return invalid("Unable to parse the request body as JSON."),
        }
    };
    // Any call but the upload's PUT is activity on the login session.
    let sid = session.unwrap().clone();
    st.last_used.insert(sid.clone(), Instant::now());
    let segs: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    match (method, segs.as_slice(), query) {
        ("DELETE", ["session"], "") => {
            st.sessions.retain(|s| *s != sid);
            (204, None)
        }
        ("GET", ["session"], "") => (
            200,
            Some(
                json!({"user": st.user, "created_time": iso_time(SystemTime::now()),
                        "last_accessed_time": iso_time(SystemTime::now())}),
            ),
        ),
        ("GET", ["content", "library"], "") => (
            200,
            Some(json!(st
                .libraries
                .iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>())),
        ),
        ("GET", ["content", "library", id], "") => {
            match st.libraries.iter().find(|(lid, _)| lid == id) {
                Some((lid, name)) => (200, Some(json!({"id": lid, "name": name, "type": "LOCAL"}))),
                None => not_found(),
            }
        }
        ("GET", ["content", "library", "item", "file"], q) => {
            match q
                .strip_prefix("library_item_id=")
                .and_then(|id| st.items.get(id))
            {
                Some(item) => (
                    200,
                    Some(json!(item
                        .files
                        .iter()
                        .map(|(name, bytes)| json!({
                            "name": name, "size": bytes.len(), "cached": true, "version": "1",
                            "checksum_info": {"algorithm": "SHA1", "checksum": sha1_hex(bytes)},
                        }))
                        .collect::<Vec<_>>())),
                ),
                None => not_found(),
            }
        }
        ("DELETE", ["content", "library", "item", "update-session", id, "file", name], "") => {
            remove_file(st, id, name)
        }
        ("POST", ["content", "library"], "action=find") => find_library(st, &body),
        ("POST", ["content", "library", "item"], "action=find") => find_item(st, &body),
        ("POST", ["content", "library", "item"], "") => create_item(st, &body),
        ("GET", ["content", "library", "item", id], "") => match st.items.get(*id) {
            Some(i) => (
                200,
                Some(
                    json!({"id": i.id, "library_id": i.library_id, "name": i.name,
                            "type": i.kind}),
                ),
            ),
            None => not_found(),
        },
        ("DELETE", ["content", "library", "item", id], "") => match st.items.remove(*id) {
            Some(_) => (204, None),
            None => not_found(),
        },
        ("POST", ["content", "library", "item", "update-session"], "") => {
            create_update_session(st, &body)
        }
        ("GET", ["content", "library", "item", "update-session", id], "") => {
            get_update_session(st, id)
        }
        ("POST", ["content", "library", "item", "update-session", id], q) => match q {
            "action=keep-alive" => keep_alive(st, id, &body),
            "action=complete" => complete(st, id),
            "action=cancel" => match st.update_sessions.get_mut(*id) {
                None => not_found(),
                Some(us) if us.state != "ACTIVE" => wrong_state("The session is not active."),
                Some(us) => {
                    us.state = "CANCELED";
                    (204, None)
                }
            },
            _ => not_found(),
        },
        ("DELETE", ["content", "library", "item", "update-session", id], "") => {
            match st.update_sessions.get(*id) {
                None => not_found(),
                Some(us) if us.state == "ACTIVE" => wrong_state("The session is still active."),
                Some(_) => {
                    st.update_sessions.remove(*id);
                    (204, None)
                }
            }
        }
        ("POST", ["content", "library", "item", "update-session", id, "file"], "") => {
            add_file(st, id, &body, base)
        }
        _ => not_found(),
    }
}

fn find_library(st: &State, body: &Option<Value>) -> Reply {
    let map = match structure(body, &["name", "type", "storage_backing"], &[]) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if map.is_empty() {
        return invalid("No properties are specified in the spec.");
    }
    let name = str_field(map, "name");
    let ids: Vec<&String> = st
        .libraries
        .iter()
        .filter(|(_, n)| name.is_none_or(|want| n.eq_ignore_ascii_case(want)))
        .map(|(id, _)| id)
        .collect();
    (200, Some(json!(ids)))
}

fn find_item(st: &State, body: &Option<Value>) -> Reply {
    let allowed = ["name", "library_id", "source_id", "type", "cached"];
    let map = match structure(body, &allowed, &[]) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let name = str_field(map, "name");
    let lib = str_field(map, "library_id");
    let ids: Vec<&String> = st
        .items
        .values()
        .filter(|i| name.is_none_or(|n| i.name.eq_ignore_ascii_case(n)))
        .filter(|i| lib.is_none_or(|l| i.library_id == l))
        .map(|i| &i.id)
        .collect();
    (200, Some(json!(ids)))
}

fn create_item(st: &mut State, body: &Option<Value>) -> Reply {
    let allowed = [
        "id",
        "library_id",
        "content_version",
        "creation_time",
        "description",
        "last_modified_time",
        "last_sync_time",
        "metadata_version",
        "name",
        "cached",
        "size",
        "type",
        "version",
        "source_id",
        "security_compliance",
        "certificate_verification_info",
    ];
    let map = match structure(body, &allowed, &["library_id", "name"]) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let lib = str_field(map, "library_id").unwrap().to_string();
    let name = str_field(map, "name").unwrap().to_string();
    if !st.libraries.iter().any(|(id, _)| *id == lib) {
        return error(
            404,
            "NOT_FOUND",
            "com.vmware.content.LibraryNotFound",
            "Library not found.",
        );
    }
    if st
        .items
        .values()
        .any(|i| i.library_id == lib && i.name.eq_ignore_ascii_case(&name))
    {
        return error(
            400,
            "ALREADY_EXISTS",
            "com.vmware.content.DuplicateItemName",
            "An item with this name already exists in the library.",
        );
    }
    let id = st.id("item");
    let kind = str_field(map, "type").unwrap_or("").to_string();
    st.items.insert(
        id.clone(),
        Item {
            id: id.clone(),
            library_id: lib,
            name,
            kind,
            files: BTreeMap::new(),
        },
    );
    (201, Some(json!(id)))
}

fn create_update_session(st: &mut State, body: &Option<Value>) -> Reply {
    let allowed = [
        "id",
        "library_item_id",
        "library_item_content_version",
        "error_message",
        "client_progress",
        "state",
        "expiration_time",
        "preview_info",
        "warning_behavior",
    ];
    let map = match structure(body, &allowed, &["library_item_id"]) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let item = str_field(map, "library_item_id").unwrap().to_string();
    if !st.items.contains_key(&item) {
        return not_found();
    }
    if st
        .update_sessions
        .values()
        .any(|u| u.item_id == item && u.state == "ACTIVE")
    {
        return error(
            500,
            "RESOURCE_BUSY",
            "com.vmware.content.library.item.ItemBusy",
            "Another update session is active on this item.",
        );
    }
    let id = st.id("us");
    st.update_sessions.insert(
        id.clone(),
        UpdateSession {
            item_id: item,
            state: "ACTIVE",
            error: None,
            polls_left: 0,
            files: BTreeMap::new(),
            remove: Vec::new(),
            touched: Instant::now(),
            progress: 0,
        },
    );
    (201, Some(json!(id)))
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn keep_alive(st: &mut State, id: &str, body: &Option<Value>) -> Reply {
    let progress = match body {
        None => None,
        Some(_) => match structure(body, &["client_progress"], &[]) {
            Ok(map) => match map.get("client_progress") {
                None => None,
                Some(v) => match v.as_u64() {
                    Some(p) if p <= 100 => Some(p),
                    _ => return invalid("Field 'client_progress' has the wrong type."),
                },
            },
            Err(r) => return r,
        },
    };
    match st.update_sessions.get_mut(id) {
        None => not_found(),
        Some(us) if us.state != "ACTIVE" => wrong_state("The session is not active."),
        Some(us) => {
            if let Some(p) = progress {
                if p <= us.progress && p != 0 {
                    return invalid("The progress must go up.");
                }
                us.progress = p;
            }
            us.touched = Instant::now();
            (204, None)
        }
    }
}

fn remove_file(st: &mut State, id: &str, name: &str) -> Reply {
    let name = super::percent_decode(name);
    let Some(us) = st.update_sessions.get(id) else {
        return not_found();
    };
    if us.state != "ACTIVE" {
        return wrong_state("The session is not active.");
    }
    let has = st
        .items
        .get(&us.item_id)
        .is_some_and(|i| i.files.contains_key(&name));
    if !has {
        return invalid("The file does not exist in the library item.");
    }
    let us = st.update_sessions.get_mut(id).unwrap();
    us.remove.push(name);
    us.touched = Instant::now();
    (204, None)
}

fn get_update_session(st: &mut State, id: &str) -> Reply {
    let Some(us) = st.update_sessions.get_mut(id) else {
        return not_found();
    };
    let mut state = us.state;
    if state == "DONE" && us.polls_left > 0 {
        us.polls_left -= 1;
        state = "ACTIVE";
    }
    us.touched = Instant::now();
    let expires = SystemTime::now() + st.opts.session_timeout.unwrap_or(Duration::from_secs(300));
    let us = st.update_sessions.get_mut(id).unwrap();
    let mut v = json!({"id": id, "library_item_id": us.item_id, "state": state,
                       "client_progress": us.progress, "expiration_time": iso_time(expires)});
    if let Some(e) = &us.error {
        v["error_message"] = json!({"id": "com.vmware.content.updatesession.error",
                                    "default_message": e, "args": []});
    }
    (200, Some(v))
}

fn add_file(st: &mut State, id: &str, body: &Option<Value>, base: &str) -> Reply {
    let allowed = [
        "name",
        "source_type",
        "source_endpoint",
        "size",
        "checksum_info",
    ];
    let map = match structure(body, &allowed, &["name", "source_type"]) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let name = str_field(map, "name").unwrap().to_string();
    let source = str_field(map, "source_type").unwrap();
    if !matches!(source, "NONE" | "PUSH" | "PULL") {
        return invalid("Field 'source_type' has an unknown value.");
    }
    if source != "PUSH" {
        return invalid("This server stands in for PUSH uploads only.");
    }
    let size = match map.get("size") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => return invalid("Field 'size' has the wrong type."),
        },
    };
    let sha1 = match map.get("checksum_info") {
        None => None,
        Some(c) => {
            let ok = c.as_object().is_some_and(|o| {
                o.keys().all(|k| k == "algorithm" || k == "checksum")
                    && o.get("checksum").is_some_and(Value::is_string)
                    && o.get("algorithm")
                        .and_then(Value::as_str)
                        .is_none_or(|a| matches!(a, "SHA1" | "MD5" | "SHA256" | "SHA512"))
            });
            if !ok {
                return invalid("Field 'checksum_info' is not a checksum_info.");
            }
            if c.get("algorithm").and_then(Value::as_str) != Some("SHA1") {
                return invalid("This server checks SHA1 checksums only.");
            }
            c["checksum"].as_str().map(str::to_string)
        }
    };
    match st.update_sessions.get(id) {
        None => return not_found(),
        Some(us) if us.state != "ACTIVE" => return wrong_state("The session is not active."),
        Some(_) => {}
    }
    let token = st.id("tok");
    st.endpoints
        .insert(token.clone(), (id.to_string(), name.clone()));
    let us = st.update_sessions.get_mut(id).unwrap();
    us.files.insert(
        name.clone(),
        PendingFile {
            size,
            sha1: sha1.clone(),
            received: None,
        },
    );
    (
        201,
        Some(json!({
            "name": name,
            "source_type": "PUSH",
            "size": size,
            "checksum_info": sha1.map(|c| json!({"algorithm": "SHA1", "checksum": c})),
            "upload_endpoint": {"uri": format!("{base}/cls/data/{token}/{name}")},
            "bytes_transferred": 0,
            "status": "WAITING_FOR_TRANSFER",
            "keep_in_storage": true,
        })),
    )
}

fn receive(st: &mut State, rest: &str, mut body: Vec<u8>) -> Reply {
    let token = rest.split('/').next().unwrap_or("");
    let Some((us_id, name)) = st.endpoints.get(token).cloned() else {
        return (404, None);
    };
    let corrupt = st.opts.corrupt_upload;
    let Some(us) = st.update_sessions.get_mut(&us_id) else {
        return (404, None);
    };
    if us.state != "ACTIVE" {
        return (400, None);
    }
    if corrupt {
        if let Some(b) = body.first_mut() {
            *b ^= 0xff;
        }
    }
    us.files.get_mut(&name).unwrap().received = Some(body);
    (200, None)
}

fn complete(st: &mut State, id: &str) -> Reply {
    let polls = st.opts.polls_before_done;
    let Some(us) = st.update_sessions.get_mut(id) else {
        return not_found();
    };
    if us.state != "ACTIVE" {
        return wrong_state("The session is not active.");
    }
    if us.files.values().any(|f| f.received.is_none()) {
        return wrong_state("Some files have not been received.");
    }
    for (name, f) in &us.files {
        let got = f.received.as_ref().unwrap();
        if f.size.is_some_and(|s| s != got.len() as u64) {
            us.state = "ERROR";
            us.error = Some(format!("Size mismatch for file {name}."));
        } else if f.sha1.as_ref().is_some_and(|want| {
            *want
                != Sha1::digest(got)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
        }) {
            us.state = "ERROR";
            us.error = Some(format!("Checksum mismatch for file {name}."));
        }
    }
    if us.state == "ERROR" {
        return (204, None);
    }
    us.state = "DONE";
    us.polls_left = polls;
    let files: Vec<(String, Vec<u8>)> = us
        .files
        .iter_mut()
        .map(|(n, f)| (n.clone(), f.received.take().unwrap()))
        .collect();
    let remove = us.remove.clone();
    let item = st.items.get_mut(&us.item_id).unwrap();
    item.files.extend(files);
    for name in remove {
        item.files.remove(&name);
    }
    (204, None)
}
