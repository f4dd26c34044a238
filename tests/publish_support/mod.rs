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
//!
//! The parts: [`vcsim`] (the simulator, pyvmomi, the `/rest` client),
//! [`run`] (the binary under test), [`http`] (fake, static and holding
//! servers); here, what they share: scratch folders, certificates, ISO
//! stand-ins and hashes.

#![allow(dead_code)]

pub mod http;
pub mod run;
pub mod soap_mock;
pub mod vapi_mock;
pub mod vcsim;

// Each test binary uses its own part of these.
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use run::*;
#[allow(unused_imports)]
pub use vcsim::*;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub const USER: &str = "user";
pub const PASS: &str = "pass";

pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
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
