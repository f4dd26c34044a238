//! Test support for the publish tests: govmomi's simulator (vcsim) built
//! from Debian's packages (the `/rest` forms), a strict `/api`-only vCenter
//! stand-in ([`vapi_mock`]), a tiny scriptable HTTP server for the error
//! paths vcsim cannot produce, a static file server for VCSP, and a runner
//! for the `esxi-iso` binary that prints everything when a check fails.
//!
//! vcsim: `tests/vcsim/main.go` is built once per source hash into
//! CARGO_TARGET_TMPDIR in GOPATH mode, offline, against
//! /usr/share/gocode (golang-go + golang-github-vmware-govmomi-dev).
//! Outside CI the vcsim tests skip with a message when those are missing;
//! with CI=true they fail.

#![allow(dead_code)]

pub mod soap_mock;
pub mod vapi_mock;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use esxi_iso::vsphere::http::{Client, Trust};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const USER: &str = "user";
pub const PASS: &str = "pass";
const GOVMOMI: &str = "/usr/share/gocode/src/github.com/vmware/govmomi";
const LAUNCHER_SRC: &str = include_str!("../vcsim/main.go");

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True when vcsim can be built here. Outside CI a missing tool skips the
/// test (with a message); in CI it is a failure.
pub fn vcsim_available(test: &str) -> bool {
    let go = Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let govmomi = Path::new(GOVMOMI).join("simulator").is_dir()
        && Path::new(GOVMOMI).join("vapi/simulator").is_dir();
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if go && govmomi && openssl {
        return true;
    }
    let msg = format!(
        "{test}: needs go, openssl and the govmomi sources (go: {go}, openssl: {openssl}, \
         {GOVMOMI}: {govmomi}); apt-get install golang-go golang-github-vmware-govmomi-dev openssl"
    );
    if in_ci() {
        panic!("{msg}");
    }
    // Straight to fd 2: libtest captures eprintln! of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIP {msg}");
    false
}

/// True when pyvmomi (VMware's Python SDK, from PyPI) can be imported;
/// like [`vcsim_available`], a skip outside CI and a failure in it.
pub fn pyvmomi_available(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pyVmomi, pyVim.connect"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    let msg = format!("{test}: needs pyvmomi: python3 -m pip install pyvmomi (tests/run.sh does)");
    if in_ci() {
        panic!("{msg}");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {msg}");
    false
}

/// Runs `python3 SCRIPT ARGS` with `password` on its stdin (never in
/// argv) and reads its stdout as JSON.
pub fn python_json(script: &str, args: &[&str], password: &str) -> Value {
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// A scratch folder for one test under CARGO_TARGET_TMPDIR.
pub fn work_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(tmp_root())
        .unwrap()
}

/// Builds the launcher once per source hash; parallel tests wait on the lock.
pub fn vcsim_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let hash = hex(&Sha256::digest(LAUNCHER_SRC.as_bytes()))[..16].to_string();
        let dir = tmp_root().join(format!("vcsim-{hash}"));
        let bin = dir.join("vcsim-lite");
        if bin.is_file() {
            return bin;
        }
        let src = dir.join("gopath/src/vcsim-lite");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("main.go"), LAUNCHER_SRC).unwrap();
        // Build to a per-process name, then rename: other test processes
        // either see no binary or a complete one.
        let partial = dir.join(format!("vcsim-lite.{}", std::process::id()));
        let mut cmd = Command::new("go");
        cmd.args(["build", "-o"])
            .arg(&partial)
            .arg(".")
            .current_dir(&src)
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env(
                "GOPATH",
                format!("{}:/usr/share/gocode", dir.join("gopath").display()),
            );
        if std::env::var_os("GOCACHE").is_none() {
            cmd.env("GOCACHE", tmp_root().join("gocache"));
        }
        let out = cmd.output().expect("running go build");
        assert!(
            out.status.success(),
            "go build of tests/vcsim/main.go failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::rename(&partial, &bin).unwrap();
        bin
    })
    .clone()
}

#[derive(Default)]
pub struct VcsimOpts {
    /// Standalone ESXi model: datacenter ha-datacenter, no /rest.
    pub esx: bool,
    /// PEM certificate and key to serve. Default: a self-signed 2048-bit
    /// certificate for 127.0.0.1, like an ESXi host's own.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Serve Go's built-in test certificate (RSA 1024, which webpki
    /// refuses to verify signatures with) instead.
    pub go_builtin_cert: bool,
    /// Datacenters (vCenter model; default 1) and how many of them sit in
    /// a folder of their own.
    pub datacenters: usize,
    pub folders: usize,
    /// Local datastores (default 1).
    pub datastores: usize,
    /// A datastore to report as not accessible.
    pub inaccessible: Option<String>,
    /// Free space every datastore reports.
    pub free_space: Option<u64>,
    /// The password to log in with (default [`PASS`]).
    pub password: Option<String>,
}

/// A self-signed certificate made once by openssl and kept under
/// CARGO_TARGET_TMPDIR (made in a private folder, then renamed into place).
pub fn self_signed() -> (PathBuf, PathBuf) {
    static CERT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CERT.get_or_init(|| {
        let done = tmp_root().join("selfsigned");
        if done.join("key.pem").is_file() {
            return (done.join("cert.pem"), done.join("key.pem"));
        }
        let dir = tmp_root().join(format!("selfsigned-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if fs::rename(&dir, &done).is_err() {
            let _ = fs::remove_dir_all(&dir); // another process won the race
        }
        (done.join("cert.pem"), done.join("key.pem"))
    })
    .clone()
}

/// A running vcsim on 127.0.0.1, stopped on drop.
pub struct Vcsim {
    child: Child,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    pub datacenter: String,
    pub datastore: String,
    pub datastore_moref: String,
    pub datastore_path: PathBuf,
    pub log: PathBuf,
    /// The password it takes ([`PASS`] unless asked otherwise).
    pub password: String,
}

impl Vcsim {
    pub fn start(opts: VcsimOpts) -> Vcsim {
        let bin = vcsim_binary();
        let logs = tmp_root().join("vcsim-logs");
        fs::create_dir_all(&logs).unwrap();
        let log = tempfile::Builder::new()
            .prefix("vcsim-")
            .suffix(".log")
            .tempfile_in(&logs)
            .unwrap()
            .into_temp_path()
            .keep()
            .unwrap();
        let mut cmd = Command::new(bin);
        let password = opts.password.clone().unwrap_or_else(|| PASS.to_string());
        cmd.args([
            "-l",
            "127.0.0.1:0",
            "-username",
            USER,
            "-password",
            &password,
        ]);
        if opts.esx {
            cmd.arg("-esx");
        }
        if opts.datacenters > 1 {
            cmd.args(["-dc", &opts.datacenters.to_string()]);
        }
        if opts.datastores > 1 {
            cmd.args(["-ds", &opts.datastores.to_string()]);
        }
        if opts.folders > 0 {
            cmd.args(["-folder", &opts.folders.to_string()]);
        }
        if let Some(ds) = &opts.inaccessible {
            cmd.args(["-inaccessible", ds]);
        }
        if let Some(free) = opts.free_space {
            cmd.args(["-free", &free.to_string()]);
        }
        if !opts.go_builtin_cert {
            let (cert, key) = opts.cert.clone().unwrap_or_else(self_signed);
            cmd.arg("-tlscert").arg(cert).arg("-tlskey").arg(key);
        }
        // stdin stays open while we live: the launcher exits when it closes,
        // so a crashed test leaves no simulator behind.
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting vcsim");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line == "VCSIM_READY" => break,
                Ok(line) => lines.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "vcsim did not start: {lines:?}\n{}",
                        fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        let url_line = lines
            .iter()
            .find_map(|l| l.strip_prefix("VCSIM_URL="))
            .expect("VCSIM_URL");
        let host_port = url_line
            .split("://")
            .nth(1)
            .unwrap()
            .rsplit('@')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let port = host_port.rsplit(':').next().unwrap().parse().unwrap();
        let ds = lines
            .iter()
            .find_map(|l| l.strip_prefix("VCSIM_DATASTORE "))
            .expect("VCSIM_DATASTORE");
        let field = |k: &str| {
            ds.split(' ')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_string()
        };
        Vcsim {
            child,
            url: format!("https://{host_port}"),
            port,
            datacenter: if opts.esx { "ha-datacenter" } else { "DC0" }.to_string(),
            datastore: field("name"),
            datastore_moref: field("moref"),
            datastore_path: PathBuf::from(field("path")),
            log,
            password,
        }
    }

    /// SHA-1 thumbprint of the served certificate, computed by openssl.
    pub fn openssl_thumbprint(&self) -> String {
        let script = format!(
            "openssl s_client -connect 127.0.0.1:{} </dev/null 2>/dev/null \
             | openssl x509 -noout -fingerprint -sha1",
            self.port
        );
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let fp = text.trim().split('=').nth(1).expect("openssl fingerprint");
        format!("SHA1:{fp}")
    }

    fn client() -> Client {
        Client::new(Trust::Insecure).unwrap()
    }

    /// GET of a datastore file through /folder, as bytes.
    pub fn folder_get(&self, path: &str) -> Vec<u8> {
        let url = format!(
            "{}/folder/{path}?dcPath={}&dsName={}",
            self.url, self.datacenter, self.datastore
        );
        let mut resp = Self::client().agent.get(&url).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "GET {url}");
        let mut body = Vec::new();
        resp.body_mut().as_reader().read_to_end(&mut body).unwrap();
        body
    }

    /// A logged-in /rest session for setting up and reading back.
    pub fn rest(&self) -> Rest {
        let client = Self::client();
        let mut resp = client
            .agent
            .post(format!("{}/rest/com/vmware/cis/session", self.url))
            .header(
                "Authorization",
                esxi_iso::vsphere::http::basic_auth(USER, PASS),
            )
            .send_empty()
            .unwrap();
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        Rest {
            client,
            base: self.url.clone(),
            session: v["value"].as_str().unwrap().to_string(),
        }
    }

    pub fn create_library(&self, name: &str) -> String {
        self.rest()
            .call(
                "POST",
                "/rest/com/vmware/content/local-library",
                Some(json!({"create_spec": {
                    "name": name,
                    "type": "LOCAL",
                    "storage_backings": [{"type": "DATASTORE", "datastore_id": self.datastore_moref}],
                }})),
            )
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("vcsim log kept: {}", self.log.display());
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

pub struct Rest {
    client: Client,
    base: String,
    session: String,
}

impl Rest {
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("vmware-api-session-id", &self.session)
            .header("Content-Type", "application/json");
        let result = match body {
            Some(b) => self.client.agent.run(req.body(b.to_string()).unwrap()),
            None => self.client.agent.run(req.body(()).unwrap()),
        };
        let mut resp = result.unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        assert!(status < 300, "{method} {path}: HTTP {status}: {text}");
        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)["value"].clone()
    }

    pub fn find_item(&self, library_id: &str, name: &str) -> Option<String> {
        let ids = self.call(
            "POST",
            "/rest/com/vmware/content/library/item?~action=find",
            Some(json!({"spec": {"library_id": library_id, "name": name}})),
        );
        ids.as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    pub fn item(&self, item_id: &str) -> Value {
        self.call(
            "GET",
            &format!("/rest/com/vmware/content/library/item/id:{item_id}"),
            None,
        )
    }

    pub fn item_files(&self, item_id: &str) -> Value {
        self.call(
            "GET",
            &format!("/rest/com/vmware/content/library/item/file?library_item_id={item_id}"),
            None,
        )
    }

    /// Downloads one file of an item through a download session.
    pub fn download(&self, item_id: &str, file: &str) -> Vec<u8> {
        let dl = self.call(
            "POST",
            "/rest/com/vmware/content/library/item/download-session",
            Some(json!({"create_spec": {"library_item_id": item_id}})),
        );
        let dl = dl.as_str().unwrap();
        let prepared = self.call(
            "POST",
            &format!("/rest/com/vmware/content/library/item/downloadsession/file/id:{dl}?~action=prepare"),
            Some(json!({"file_name": file})),
        );
        let uri = prepared["download_endpoint"]["uri"].as_str().unwrap();
        let mut resp = self
            .client
            .agent
            .get(uri)
            .header("vmware-api-session-id", &self.session)
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "GET {uri}");
        let mut body = Vec::new();
        resp.body_mut().as_reader().read_to_end(&mut body).unwrap();
        body
    }
}

/// A CA and a 127.0.0.1 leaf certificate made by openssl in `dir`:
/// returns (ca.pem, cert.pem, key.pem).
pub fn make_ca_and_leaf(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=esxi-iso-test-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout key.pem -out leaf.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
  -extfile leaf.ext -out cert.pem 2>/dev/null
"#;
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// Deterministic pseudo-random bytes (xorshift), standing in for an ISO.
pub fn make_iso(path: &Path, size: usize, seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(size + 8);
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
    fs::write(path, data).unwrap();
}

pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> String {
    sha256(&fs::read(path).unwrap())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Output of one `esxi-iso` run.
pub struct Run {
    pub cmdline: String,
    pub out: Output,
    pub work: PathBuf,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn report(&self) -> String {
        let mut listing = String::new();
        for entry in walk(&self.work) {
            let size = fs::metadata(&entry).map(|m| m.len()).unwrap_or(0);
            listing.push_str(&format!("  {} ({size} bytes)\n", entry.display()));
        }
        format!(
            "command: {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}\nwork dir:\n{listing}",
            self.cmdline,
            self.out.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    pub fn success(&self) -> &Self {
        assert!(
            self.out.status.success(),
            "expected success\n{}",
            self.report()
        );
        self
    }

    /// Asserts exit `code`: 2 usage, 3 input, 4 exists, 5 network (see
    /// `esxi_iso::failure`).
    pub fn failure(&self, code: i32) -> &Self {
        assert_eq!(
            self.out.status.code(),
            Some(code),
            "expected exit {code}\n{}",
            self.report()
        );
        self
    }

    pub fn stderr_has(&self, parts: &[&str]) -> &Self {
        let err = self.stderr();
        for part in parts {
            assert!(
                err.contains(part),
                "stderr lacks {part:?}\n{}",
                self.report()
            );
        }
        self
    }

    pub fn stderr_lacks(&self, part: &str) -> &Self {
        assert!(
            !self.stderr().contains(part),
            "stderr has {part:?}\n{}",
            self.report()
        );
        self
    }

    /// Neither stdout nor stderr shows `secret`.
    pub fn never_shows(&self, secret: &str) -> &Self {
        assert!(
            !self.stdout().contains(secret) && !self.stderr().contains(secret),
            "output shows the secret\n{}",
            self.report()
        );
        self
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs `esxi-iso` in `work` with only the given ESXI_ISO_* variables, in a
/// new session (no controlling terminal: a password prompt fails instead of
/// waiting).
pub fn esxi_iso(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(work, args, env);
    let out = cmd.output().expect("running esxi-iso");
    Run {
        cmdline: format!("esxi-iso {}", args.join(" ")),
        out,
        work: work.to_path_buf(),
    }
}

pub fn creds() -> Vec<(&'static str, &'static str)> {
    vec![("ESXI_ISO_USERNAME", USER), ("ESXI_ISO_PASSWORD", PASS)]
}

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

/// Starts `esxi-iso` like [`esxi_iso`], without waiting for it.
pub fn spawn_esxi_iso(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    command(work, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running esxi-iso")
}

/// `esxi-iso ARGS` in `work` with only the given ESXI_ISO_* variables, in
/// a new session.
fn command(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_esxi-iso"));
    cmd.args(args)
        .current_dir(work)
        .env_remove("ESXI_ISO_USERNAME")
        .env_remove("ESXI_ISO_PASSWORD")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd
}

impl Vcsim {
    /// GET of a datastore file through /folder in a given datacenter.
    pub fn folder_get_in(&self, datacenter: &str, datastore: &str, path: &str) -> (u16, Vec<u8>) {
        let url = format!(
            "{}/folder/{path}?dcPath={}&dsName={datastore}",
            self.url,
            percent_encoding::utf8_percent_encode(datacenter, percent_encoding::NON_ALPHANUMERIC)
        );
        let mut resp = Self::client().agent.get(&url).call().unwrap();
        let mut body = Vec::new();
        resp.body_mut().as_reader().read_to_end(&mut body).unwrap();
        (resp.status().as_u16(), body)
    }

    /// Files on the simulated datastore's disk whose names contain `part`.
    pub fn files_named(&self, part: &str) -> Vec<String> {
        walk(&self.datastore_path)
            .into_iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| n.contains(part))
            .collect()
    }
}
