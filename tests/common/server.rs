//! `esxi-iso serve` as a child process for tests: started on a free
//! loopback port (`--listen 127.0.0.1:0`, the port read from its first
//! line), stopped with SIGINT (as Ctrl-C would) when dropped, and killed
//! if it does not stop.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cli::{run_in, Run, BIN};

pub struct Server {
    child: Option<Child>,
    /// The threads reading its stdout and stderr: joined once it exits,
    /// so that everything it printed is there when `stop` returns.
    readers: Vec<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:PORT` (or https).
    pub url: String,
    pub port: u16,
    /// Every line it printed on stdout so far.
    pub out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `esxi-iso serve DIR --listen 127.0.0.1:0 EXTRA...`.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Self::start_on("127.0.0.1:0", dir, extra)
    }

    pub fn start_on(listen: &str, dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg(dir)
            .args(["--listen", listen])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting esxi-iso serve");
        let err = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let e2 = Arc::clone(&err);
        let err_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e2.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = match lines.next() {
            Some(Ok(l)) => l,
            _ => {
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "esxi-iso serve printed nothing ({status:?})\n{}",
                    err.lock().unwrap()
                );
            }
        };
        // "serving DIR on http://127.0.0.1:PORT/ (status page at /)", or
        // with --json {"event": "listening", "url": "http://...", ...}.
        let url = if first.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(&first)
                .unwrap_or_else(|e| panic!("start-up line {first:?} is not JSON: {e}"));
            v["url"].as_str().unwrap_or_default().to_string()
        } else {
            first
                .split_whitespace()
                .find(|w| w.starts_with("http://") || w.starts_with("https://"))
                .unwrap_or_else(|| panic!("no URL in {first:?}"))
                .to_string()
        };
        let url = url.trim_end_matches('/').to_string();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        let out = Arc::new(Mutex::new(vec![first]));
        let o2 = Arc::clone(&out);
        let out_reader = std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                o2.lock().unwrap().push(l);
            }
        });
        Server {
            child: Some(child),
            readers: vec![out_reader, err_reader],
            url,
            port,
            out,
            err,
        }
    }

    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    /// SIGINT, then waits (up to 30 s, then SIGKILL); returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let start = Instant::now();
        let code = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status.code();
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Its pipes are closed now: the readers finish what is left.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        code
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs curl with `args`; returns (exit code, stdout bytes, stderr).
pub fn curl(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "120"])
        .args(args)
        .output()
        .expect("running curl");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `curl -i`: (status, header lines with lowercase names, body).
pub fn fetch(args: &[&str]) -> (u16, Vec<String>, Vec<u8>) {
    let mut a = vec!["-i"];
    a.extend_from_slice(args);
    let (code, out, err) = curl(&a);
    assert_eq!(code, 0, "curl {args:?} failed: {err}");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let body = out.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Names lowercased (HTTP names ignore case); values as sent.
    let headers = lines
        .map(|l| match l.split_once(':') {
            Some((n, v)) => format!("{}:{v}", n.to_ascii_lowercase()),
            None => l.to_string(),
        })
        .map(|l| l.trim().to_string())
        .collect();
    (status, headers, body)
}

/// The value of header `name` (lowercase) in `fetch`'s header lines.
pub fn header<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find_map(|h| h.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// `esxi-iso build FIXTURE --inventory lab.toml --out-dir lab --report-to
/// URL -q` in `work`, with `inventory` written to `work/lab.toml`; asserts
/// success and returns the run.
pub fn build_lab(work: &Path, source: &Path, inventory: &str, report_to: &str) -> Run {
    std::fs::write(work.join("lab.toml"), inventory).unwrap();
    let src = source.to_str().unwrap();
    let args = [
        "build",
        src,
        "--inventory",
        "lab.toml",
        "--out-dir",
        "lab",
        "--report-to",
        report_to,
        "--allow-local-report",
        "-q",
    ];
    run_in(work, &args, &[]).ok()
}
