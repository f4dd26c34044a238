//! `esxi-iso serve` judged by curl: what download tools, vCenter and
//! firmware rely on (HEAD, ranges, validators, conditional requests,
//! resumed and parallel downloads compared by SHA-256), what it must
//! refuse (paths out of the directory, hidden files, other methods), how
//! it treats slow and broken clients, TLS with a certificate openssl made,
//! and the event log across restarts (a torn last line included), read
//! back by `esxi-iso status`.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::cli::run_in;
use common::server::{curl, fetch, header, Server};
use common::tools;
use sha2::{Digest, Sha256};

fn can_run() -> bool {
    tools::require(&["curl"])
}

/// `len` random bytes (no repeating block could hide an offset mistake).
fn write_payload(path: &Path, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut v)
        .unwrap();
    fs::write(path, &v).unwrap();
    v
}

/// SHA-256 by coreutils' sha256sum, a reader independent of the server.
fn sha256sum(path: &Path) -> String {
    let out = common::cli::tool("sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_string()
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A lab folder: an ISO, a sibling file, a hidden file, the state folder
/// with a secret, links out of it.
struct LabDir {
    _work: tempfile::TempDir,
    dir: std::path::PathBuf,
}

impl LabDir {
    fn path(&self) -> &Path {
        &self.dir
    }
}

fn lab(name: &str, iso_len: usize) -> (LabDir, Vec<u8>) {
    let work = common::fixture::work_dir(name);
    let dir = work.path().join("lab");
    fs::create_dir(&dir).unwrap();
    let d = dir.as_path();
    let iso = write_payload(&d.join("esx01.iso"), iso_len);
    fs::write(d.join("SHA256SUMS"), format!("{}  esx01.iso\n", sha(&iso))).unwrap();
    fs::write(d.join(".hidden"), "hidden").unwrap();
    let outside = work.path().join("outside.txt");
    fs::write(&outside, "outside").unwrap();
    std::os::unix::fs::symlink(&outside, d.join("out.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", d.join("etc")).unwrap();
    (LabDir { _work: work, dir }, iso)
}

#[test]
fn files_as_curl_sees_them() {
    if !can_run() {
        return;
    }
    let (dir, iso) = lab("serve-files", 3_000_001);
    let s = Server::start(dir.path(), &[]);
    let url = format!("{}/esx01.iso", s.url);

    let (st, h, body) = fetch(&["-I", &url]);
    assert_eq!(st, 200);
    assert!(body.is_empty());
    assert_eq!(header(&h, "content-length"), Some("3000001"));
    assert_eq!(
        header(&h, "content-type"),
        Some("application/x-iso9660-image")
    );
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    let etag = header(&h, "etag").expect("etag").to_string();
    let modified = header(&h, "last-modified")
        .expect("last-modified")
        .to_string();

    let (st, _, body) = fetch(&[&url]);
    assert_eq!((st, sha(&body)), (200, sha(&iso)));

    let ranges: &[(&str, usize, usize)] = &[
        ("100-199", 100, 200),
        ("2999990-", 2_999_990, 3_000_001),
        ("-7", 2_999_994, 3_000_001),
        ("0-0", 0, 1),
        ("2999000-9999999", 2_999_000, 3_000_001),
    ];
    for (r, start, end) in ranges {
        let (st, h, body) = fetch(&["-r", r, &url]);
        assert_eq!(st, 206, "range {r}");
        assert_eq!(body, iso[*start..*end], "range {r}");
        let want = format!("bytes {start}-{}/3000001", end - 1);
        assert_eq!(header(&h, "content-range"), Some(want.as_str()), "{r}");
    }
    let (st, h, body) = fetch(&["-r", "3000001-", &url]);
    assert_eq!(
        (st, header(&h, "content-range")),
        (416, Some("bytes */3000001"))
    );
    assert!(body.is_empty());
    // Several ranges: the whole file, which RFC 9110 allows.
    let (st, _, body) = fetch(&["-r", "0-1,10-11", &url]);
    assert_eq!((st, body.len()), (200, iso.len()));

    // Conditional requests as caches and download tools send them.
    let inm = format!("If-None-Match: {etag}");
    let (st, _, body) = fetch(&["-H", &inm, &url]);
    assert_eq!((st, body.len()), (304, 0));
    let ims = format!("If-Modified-Since: {modified}");
    assert_eq!(fetch(&["-H", &ims, &url]).0, 304);
    assert_eq!(fetch(&["-H", "If-None-Match: \"other\"", &url]).0, 200);
    assert_eq!(fetch(&["-H", "If-Match: \"other\"", &url]).0, 412);
    let ifr = format!("If-Range: {etag}");
    assert_eq!(fetch(&["-H", &ifr, "-r", "5-9", &url]).0, 206);
    let (st, _, body) = fetch(&["-H", "If-Range: \"stale\"", "-r", "5-9", &url]);
    assert_eq!((st, body.len()), (200, iso.len()));

    // curl's own resume (-C -) and time condition (-z) against a file.
    let part = dir.path().join("../serve-files-part.iso");
    fs::write(&part, &iso[..1_234_567]).unwrap();
    let p = part.to_str().unwrap();
    let (code, _, err) = curl(&["-C", "-", "-o", p, &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha(&fs::read(&part).unwrap()), sha(&iso));
    let (code, out, _) = curl(&["-z", p, "-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!((code, String::from_utf8_lossy(&out).as_ref()), (0, "304"));

    // Other files keep their types; a HEAD of the page works too.
    let (st, h, _) = fetch(&[&format!("{}/SHA256SUMS", s.url)]);
    assert_eq!(
        (st, header(&h, "content-type")),
        (200, Some("text/plain; charset=utf-8"))
    );
    let (st, h, _) = fetch(&["-I", &format!("{}/", s.url)]);
    assert_eq!(
        (st, header(&h, "content-type")),
        (200, Some("text/html; charset=utf-8"))
    );
}

#[test]
fn nothing_outside_the_directory_or_hidden_is_served() {
    if !can_run() {
        return;
    }
    let (dir, _) = lab("serve-refuse", 1000);
    fs::create_dir_all(dir.path().join(".esxi-iso")).unwrap();
    fs::write(dir.path().join(".esxi-iso/secret"), "ab".repeat(32)).unwrap();
    let s = Server::start(dir.path(), &[]);
    let refused = [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/.hidden",
        "/.esxi-iso/secret",
        "/.esxi-iso/events.jsonl",
        "/%2eesxi-iso/secret",
        "/out.txt",
        "/etc/passwd",
        "/esx01.iso%00.txt",
        "/esx01.iso/",
        "//etc/passwd",
    ];
    for p in refused {
        let (st, _, body) = fetch(&["--path-as-is", &format!("{}{p}", s.url)]);
        assert_eq!(st, 404, "{p}");
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{p}");
    }
    for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let (st, h, _) = fetch(&["-X", m, &format!("{}/esx01.iso", s.url)]);
        assert_eq!((st, header(&h, "allow")), (405, Some("GET, HEAD")), "{m}");
    }
    assert_eq!(
        fs::read_to_string(dir.path().join(".esxi-iso/secret")).unwrap(),
        "ab".repeat(32),
        "the server never writes the secret"
    );
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".esxi-iso",
            ".hidden",
            "SHA256SUMS",
            "esx01.iso",
            "etc",
            "out.txt"
        ],
        "nothing written outside the state folder"
    );
}

#[test]
fn parallel_downloads_are_byte_exact() {
    if !can_run() || !tools::require(&["sha256sum"]) {
        return;
    }
    let len = 48 << 20;
    let (dir, iso) = lab("serve-parallel", len);
    drop(iso);
    let want = sha256sum(&dir.path().join("esx01.iso"));
    let s = Server::start(dir.path(), &["-q"]);
    let url = format!("{}/esx01.iso", s.url);
    let outs: Vec<_> = (0..6)
        .map(|i| dir.path().join(format!("../parallel-{i}.bin")))
        .collect();
    // Six whole downloads at once, then one split into four ranges fetched
    // at once and joined.
    let children: Vec<_> = outs
        .iter()
        .map(|o| {
            Command::new("curl")
                .args(["-sS", "--fail", "-o"])
                .arg(o)
                .arg(&url)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    for o in &outs {
        assert_eq!(sha256sum(o), want, "{}", o.display());
    }
    let quarter = len / 4;
    let parts: Vec<_> = (0..4)
        .map(|i| {
            let r = format!("{}-{}", i * quarter, (i + 1) * quarter - 1);
            let out = dir.path().join(format!("../part-{i}.bin"));
            let child = Command::new("curl")
                .args(["-sS", "--fail", "-r", &r, "-o"])
                .arg(&out)
                .arg(&url)
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let joined_path = dir.path().join("../joined.bin");
    let mut joined = fs::File::create(&joined_path).unwrap();
    for (mut child, out) in parts {
        assert!(child.wait().unwrap().success());
        std::io::copy(&mut fs::File::open(&out).unwrap(), &mut joined).unwrap();
    }
    drop(joined);
    assert_eq!(sha256sum(&joined_path), want);
}

/// Reads until EOF or error; true when the server closed within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_and_broken_clients_are_cut_off() {
    if !can_run() {
        return;
    }
    let len = 48 << 20;
    let (dir, _) = lab("serve-slow", len);
    let s = Server::start(
        dir.path(),
        &["--timeout", "2", "--max-connections", "3", "-q"],
    );
    let addr = format!("127.0.0.1:{}", s.port);

    // A request head that never ends.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET /esx01.iso HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(
        closed_within(&mut c, Duration::from_secs(60)),
        "half a head"
    );

    // A head trickled one byte at a time, each within the idle time: the
    // header read timeout still ends it long before it is complete.
    let mut c = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "GET /esx01.iso HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(200)
    );
    let mut cut = false;
    for b in head.bytes() {
        if c.write_all(&[b]).is_err() {
            cut = true;
            break;
        }
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1024];
        match c.read(&mut buf) {
            Ok(0) => {
                cut = true;
                break;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    assert!(cut, "a trickled head was served to the end");

    // A client that asks for the ISO and stops reading: the server gives
    // up, so less than the whole file ever arrives.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET /esx01.iso HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_secs(8));
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(got < len, "a stalled client still got all {got} bytes");

    // Idle connections fill the cap; a real client is served once they
    // time out.
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let (st, _, body) = fetch(&["-r", "0-9", &format!("{}/esx01.iso", s.url)]);
    assert_eq!((st, body.len()), (206, 10));
    drop(idle);

    // An oversized request head gets 431, and the server goes on.
    let big = format!("X-Big: {}", "b".repeat(40_000));
    assert_eq!(fetch(&["-H", &big, &format!("{}/", s.url)]).0, 431);
    assert_eq!(fetch(&["-I", &format!("{}/esx01.iso", s.url)]).0, 200);
}

#[test]
fn tls_with_a_certificate_from_openssl() {
    if !can_run() || !tools::require(&["openssl"]) {
        return;
    }
    let (dir, iso) = lab("serve-tls", 100_000);
    let work = dir.path().join("..");
    let cert = work.join("serve-tls-cert.pem");
    let key = work.join("serve-tls-key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=esxi-iso test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Server::start(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let url = format!("{}/esx01.iso", s.url);
    let (st, _, body) = fetch(&["--cacert", cert.to_str().unwrap(), &url]);
    assert_eq!((st, sha(&body)), (200, sha(&iso)));
    let (st, _, body) = fetch(&["--cacert", cert.to_str().unwrap(), "-r", "10-19", &url]);
    assert_eq!((st, body), (206, iso[10..20].to_vec()));
    // Unknown to the client: refused by curl; plain HTTP: no answer.
    assert_ne!(curl(&["-o", "/dev/null", &url]).0, 0);
    let plain = url.replace("https://", "http://");
    assert_ne!(curl(&["-o", "/dev/null", &plain]).0, 0);
    assert_eq!(
        fetch(&["--cacert", cert.to_str().unwrap(), "-I", &url]).0,
        200
    );

    // A key that does not go with the certificate is refused at start.
    let other = work.join("serve-tls-other.pem");
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = run_in(
        dir.path(),
        &[
            "serve",
            ".",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            other.to_str().unwrap(),
        ],
        &[],
    );
    r.fails_with(3, "do not go together");
}

/// A secret and the token of `host` under it (as `build` would make).
fn secret_and_token(dir: &Path, host: &str) -> String {
    let state = dir.join(".esxi-iso");
    let s = esxi_iso::report::Secret::generate().unwrap();
    s.store(&state).unwrap();
    s.token(host)
}

fn report(s: &Server, host: &str, event: &str, token: &str) -> u16 {
    let url = format!(
        "{}/.esxi-iso/report?host={host}&event={event}&token={token}&addr=10.0.0.11",
        s.url
    );
    fetch(&[&url]).0
}

fn status_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["status", dir.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let r = run_in(dir, &args, &[]).ok();
    serde_json::from_str(&r.stdout()).unwrap()
}

#[test]
fn events_survive_a_restart_and_a_torn_line() {
    if !can_run() {
        return;
    }
    let (dir, _) = lab("serve-restart", 5000);
    let d = dir.path();
    let token = secret_and_token(d, "esx01");
    let other = esxi_iso::report::Secret::generate().unwrap().token("esx01");

    let mut s = Server::start(d, &[]);
    assert_eq!(report(&s, "esx01", "installing", &token), 200);
    assert_eq!(
        report(&s, "esx01", "installing", &other),
        403,
        "a token of another secret"
    );
    assert_eq!(
        report(&s, "esx02", "installing", &token),
        403,
        "esx01's token for esx02"
    );
    assert_eq!(report(&s, "esx01", "exploded", &token), 400);
    assert_eq!(report(&s, "esx01", "installing", ""), 403);
    assert_eq!(fetch(&[&format!("{}/esx01.iso", s.url)]).0, 200);
    assert_eq!(s.stop(), Some(0));
    assert_eq!(s.stdout().last().map(String::as_str), Some("stopped"));
    assert!(!s.stderr().contains(&token), "tokens never reach the log");

    // A write torn by a crash.
    let log = d.join(".esxi-iso/events.jsonl");
    let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"{\"time\":1,\"event\":\"boo").unwrap();
    drop(f);
    let v = status_json(d, &[]);
    assert_eq!(v["hosts"][0]["state"], "installing", "{v}");
    assert!(v["hosts"][0]["fetched"].is_u64(), "{v}");

    let s = Server::start(d, &[]);
    assert!(s.stderr().is_empty() || !s.stderr().contains("error"));
    assert_eq!(report(&s, "esx01", "installed", &token), 200);
    assert_eq!(report(&s, "ESX01", "booted", &token), 200);
    drop(s);
    let text = fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
    assert!(text.ends_with('\n'));
    let v = status_json(d, &[]);
    assert_eq!(v["hosts"][0]["state"], "booted", "{v}");
    assert_eq!(v["hosts"][0]["address"], "10.0.0.11", "{v}");
    let t = run_in(d, &["status", d.to_str().unwrap()], &[])
        .ok()
        .stdout();
    assert!(t.starts_with("HOST ") && t.contains("esx01  booted"), "{t}");
}

#[test]
fn status_wait_ends_with_the_hosts_or_names_those_missing() {
    if !can_run() {
        return;
    }
    let (dir, _) = lab("serve-wait", 5000);
    let d = dir.path();
    fs::write(d.join("esx02.iso"), "x").unwrap();
    fs::write(
        d.join("manifest.json"),
        r#"{"source":"x","hosts":[{"hostname":"esx01","file":"esx01.iso"},{"hostname":"esx02","file":"esx02.iso"}]}"#,
    )
    .unwrap();
    let t1 = secret_and_token(d, "esx01");
    let secret = esxi_iso::report::Secret::load(&d.join(".esxi-iso"))
        .unwrap()
        .unwrap();
    let t2 = secret.token("esx02");
    let s = Server::start(d, &["-q"]);
    assert_eq!(report(&s, "esx01", "booted", &t1), 200);

    let r = run_in(d, &["status", ".", "--wait", "--timeout", "1"], &[]);
    r.fails_with(1, "1 of 2 hosts did not reach booted: esx02 (waiting)");
    run_in(d, &["status", ".", "--wait=sideways"], &[]).fails_with(2, "--wait \"sideways\"");

    // A waiter started first sees the events as they come.
    let waiter = Command::new(common::cli::BIN)
        .args(["status", ".", "--wait", "installed", "--timeout", "300"])
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiter = std::thread::spawn(move || waiter.wait_with_output());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(report(&s, "esx02", "installing", &t2), 200);
    assert_eq!(report(&s, "esx02", "installed", &t2), 200);
    let out = waiter.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000;
    let v = status_json(d, &["--since", &since.to_string()]);
    assert_eq!(v["hosts"][0]["state"], "waiting", "{v}");
}
