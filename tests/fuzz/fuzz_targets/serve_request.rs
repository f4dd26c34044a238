//! Fuzz target: what a client can send `esxi-iso serve`: the whole input
//! as a request head (its own connection loop, with httparse), then, read
//! as lines, the URL path mapped to a file under the served directory and
//! a network install's mount, the conditional and Range headers, and a
//! report's event name and base URL.
//!
//! The input is lines: a URL path, then the values of Range, If-Range,
//! If-None-Match, If-Match, If-Modified-Since and If-Unmodified-Since, then
//! a report event and a report URL; missing lines are absent headers.
//! Invariants checked, beyond "no panic":
//! - a request head that parses is at most 16 KiB, and its path is one
//!   the URI parser accepted;
//! - a network-install boot folder name that parses is `01-` and six
//!   lowercase hex pairs;
//! - a path that `components` accepts has no empty, hidden (`.`, `..`,
//!   dotfile), NUL, backslash or slash-containing component;
//! - a path that `open` accepts is a regular file inside the served
//!   directory with no hidden component, whatever symlinks lie there (the
//!   directory, made once, has a symlink out of it, one to a hidden
//!   directory inside it, and a hidden file);
//! - a 206 answer's range lies inside the file.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use esxi_iso::report::{parse_base_url, Event};
use esxi_iso::serve::conn::{parse_head, MAX_HEAD};
use esxi_iso::serve::files::{answer, components, open, Answer, Validators};
use esxi_iso::serve::installer::parse_bootif;
use http::{header, HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

static BASE: OnceLock<PathBuf> = OnceLock::new();

/// Removes the served directory when libFuzzer exits (after `-runs`, or at
/// a crash, which it reports through `exit`).
extern "C" fn remove_base() {
    if let Some(base) = BASE.get() {
        let _ = std::fs::remove_dir_all(base);
    }
}

/// The served directory: made once per process under the system's
/// temporary directory, removed at exit.
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = BASE.get_or_init(|| {
            std::env::temp_dir().join(format!("esxi-iso-fuzz-serve-{}", std::process::id()))
        });
        // SAFETY: registers a plain function with no arguments.
        unsafe { libc::atexit(remove_base) };
        let root = base.join("lab");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".esxi-iso")).unwrap();
        std::fs::write(root.join("esx01.iso"), b"iso").unwrap();
        std::fs::write(root.join("sub/notes.txt"), b"notes").unwrap();
        std::fs::write(root.join(".esxi-iso/secret"), b"secret").unwrap();
        std::fs::write(base.join("outside.txt"), b"outside").unwrap();
        let link = |to: &str, at: &str| {
            let _ = std::os::unix::fs::symlink(to, root.join(at));
        };
        link("../outside.txt", "out.txt");
        link("/etc", "etc");
        link(".esxi-iso", "state");
        link("../.esxi-iso/secret", "sub/secret");
        root.canonicalize().unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((req, n))) = parse_head(data) {
        assert!(n <= MAX_HEAD && n <= data.len(), "head of {n} bytes");
        let _ = req.uri().path();
    }
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or("");

    for part in path.split('/') {
        if let Some(b) = parse_bootif(part) {
            assert!(
                b.len() == 20 && b.starts_with("01-") && b == b.to_ascii_lowercase(),
                "{b}"
            );
        }
    }
    if let Ok(parts) = components(path) {
        for p in &parts {
            assert!(
                !p.is_empty() && !p.starts_with('.') && !p.contains(['/', '\0', '\\']),
                "{path:?} gave component {p:?}"
            );
        }
    }
    if let Ok((_, meta, real)) = open(root(), path) {
        assert!(meta.is_file(), "{path:?} opened {real:?}, not a file");
        let inside = real
            .strip_prefix(root())
            .unwrap_or_else(|_| panic!("{path:?} opened {real:?}, outside the directory"));
        assert!(
            !inside
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.')),
            "{path:?} opened the hidden {real:?}"
        );
    }

    let mut headers = HeaderMap::new();
    for name in [
        header::RANGE,
        header::IF_RANGE,
        header::IF_NONE_MATCH,
        header::IF_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ] {
        match lines.next() {
            Some(v) if !v.is_empty() => {
                if let Ok(v) = HeaderValue::from_str(v) {
                    headers.append(name, v);
                }
            }
            _ => {}
        }
    }
    let len = data.len() as u64 * 97;
    let v = Validators {
        len,
        etag: "\"1f-2a-3b\"".into(),
        modified: UNIX_EPOCH + Duration::from_secs(1_795_662_009),
    };
    for method in [Method::GET, Method::HEAD] {
        match answer(&method, &headers, &v) {
            Answer::Partial(start, end) => {
                assert!(method == Method::GET, "a range for HEAD");
                assert!(
                    start <= end && end < len,
                    "206 {start}-{end} of {len} bytes"
                );
            }
            Answer::Full
            | Answer::NotModified
            | Answer::PreconditionFailed
            | Answer::Unsatisfiable => {}
        }
    }

    if let Some(e) = lines.next() {
        if let Some(ev) = Event::parse(e) {
            assert_eq!(Event::parse(ev.name()), Some(ev));
        }
    }
    if let Some(url) = lines.next() {
        let _ = parse_base_url(url);
    }
});
