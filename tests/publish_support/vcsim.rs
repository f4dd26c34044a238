//! govmomi's simulator (vcsim) built from Debian's packages, pyvmomi for
//! reading back what a run made, and the `/rest` client the tests use.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::Duration;

use esxi_iso::vsphere::http::{Client, Trust};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::run::walk;
use super::{hex, in_ci, self_signed, tmp_root, PASS, USER};

const GOVMOMI: &str = "/usr/share/gocode/src/github.com/vmware/govmomi";
const LAUNCHER_SRC: &str = include_str!("../vcsim/main.go");

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
