//! Serving the lab directory's files: which path a URL may reach, and what
//! a GET or HEAD gets back (RFC 9110: validators, conditional requests in
//! the order of section 13.2.2, single byte ranges with 206/416).
//!
//! What may be served: a regular file whose path, after symlinks are
//! resolved, is inside the directory and has no component starting with
//! `.` (so the state folder `.esxi-iso/` and editors' or tools' hidden
//! files never leave the machine). `..`, `.`, empty components, NUL and
//! backslashes are refused before the file system is asked. The file is
//! opened with O_NOFOLLOW on its resolved path and checked with fstat, so a
//! symlink swapped in after the check is not followed (a race inside the
//! directory itself needs write access to it, which the owner alone has).
//!
//! Not done: directory listings (the status page is `/`), multipart
//! byteranges (a request for several ranges gets the whole file, which
//! RFC 9110 allows), compression (ISOs don't compress).
//!
//! Validators: a strong ETag of inode, size and mtime in nanoseconds (any
//! rewrite through `build --force` or a rename changes one of them), and
//! Last-Modified. If-Range uses the strong comparison, If-None-Match the
//! weak one, as the RFC says.

use std::fs::{File, Metadata};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method};

/// Why a path is not served (all become 404 to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `..`, `.`, hidden components, NUL, backslash, bad encoding.
    Forbidden,
    NotFound,
    /// Resolves outside the directory, or to a hidden path inside it.
    Outside,
    NotAFile,
}

/// Splits a URL path into the components it names, refusing anything
/// that could step outside or reach a hidden file.
pub fn components(url_path: &str) -> Result<Vec<String>, Refused> {
    let decoded = percent_encoding::percent_decode_str(url_path)
        .decode_utf8()
        .map_err(|_| Refused::Forbidden)?;
    let rest = decoded.strip_prefix('/').ok_or(Refused::Forbidden)?;
    if rest.contains(['\0', '\\']) {
        return Err(Refused::Forbidden);
    }
    let mut out = Vec::new();
    for c in rest.split('/') {
        if c.is_empty() || c.starts_with('.') {
            return Err(Refused::Forbidden);
        }
        out.push(c.to_string());
    }
    Ok(out)
}

/// Opens the file a URL path names, under `root` (canonical).
pub fn open(root: &Path, url_path: &str) -> Result<(File, Metadata, PathBuf), Refused> {
    let parts = components(url_path)?;
    let mut path = root.to_path_buf();
    path.extend(&parts);
    let real = path.canonicalize().map_err(|_| Refused::NotFound)?;
    let inside = real.strip_prefix(root).map_err(|_| Refused::Outside)?;
    if inside
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    {
        return Err(Refused::Outside);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&real)
        .map_err(|_| Refused::NotFound)?;
    let meta = file.metadata().map_err(|_| Refused::NotFound)?;
    if !meta.is_file() {
        return Err(Refused::NotAFile);
    }
    Ok((file, meta, real))
}

/// Content-Type by extension; names are matched without case.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "iso" => "application/x-iso9660-image",
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "cfg" | "sha256" | "md" | "toml" | "csv" | "ks" => "text/plain; charset=utf-8",
        "gz" | "tgz" => "application/gzip",
        "ovf" | "xml" => "application/xml",
        "ova" | "tar" => "application/x-tar",
        "efi" | "img" | "vmdk" => "application/octet-stream",
        _ if name == "SHA256SUMS" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// What the server needs to know about a file to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    pub len: u64,
    pub etag: String,
    /// Whole seconds (HTTP dates have no fraction).
    pub modified: SystemTime,
}

impl Validators {
    pub fn of(meta: &Metadata) -> Validators {
        let nanos = meta.mtime().max(0) as u128 * 1_000_000_000 + meta.mtime_nsec().max(0) as u128;
        Validators {
            len: meta.len(),
            etag: format!("\"{:x}-{:x}-{:x}\"", meta.ino(), meta.len(), nanos),
            modified: UNIX_EPOCH + Duration::from_secs(meta.mtime().max(0) as u64),
        }
    }
}

/// The answer to a GET or HEAD of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the whole file.
    Full,
    /// 206 with bytes start..=end.
    Partial(u64, u64),
    NotModified,
    PreconditionFailed,
    /// 416 (Content-Range: bytes */len).
    Unsatisfiable,
}

/// Evaluates preconditions and Range (RFC 9110 13.2.2 and 14).
pub fn answer(method: &Method, headers: &HeaderMap, v: &Validators) -> Answer {
    let get = |name: http::header::HeaderName| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let has = |name| headers.contains_key(&name);
    let date = |name| httpdate::parse_http_date(&get(name)).ok();
    let not_after = |limit: SystemTime| v.modified <= limit;

    if has(http::header::IF_MATCH) {
        if !etag_matches(&get(http::header::IF_MATCH), &v.etag, false) {
            return Answer::PreconditionFailed;
        }
    } else if let Some(d) = date(http::header::IF_UNMODIFIED_SINCE) {
        if !not_after(d) {
            return Answer::PreconditionFailed;
        }
    }
    if has(http::header::IF_NONE_MATCH) {
        if etag_matches(&get(http::header::IF_NONE_MATCH), &v.etag, true) {
            return Answer::NotModified;
        }
    } else if let Some(d) = date(http::header::IF_MODIFIED_SINCE) {
        if not_after(d) {
            return Answer::NotModified;
        }
    }
    if method != Method::GET || !has(http::header::RANGE) {
        return Answer::Full;
    }
    if has(http::header::IF_RANGE) {
        let cond = get(http::header::IF_RANGE);
        let fresh = if cond.trim_start().starts_with('"') {
            cond.trim() == v.etag
        } else {
            httpdate::parse_http_date(&cond).is_ok_and(|d| d == v.modified)
        };
        if !fresh {
            return Answer::Full;
        }
    }
    let range = get(http::header::RANGE);
    match http_range_header::parse_range_header(&range).map(|r| r.validate(v.len)) {
        Ok(Ok(ranges)) if ranges.len() == 1 => {
            Answer::Partial(*ranges[0].start(), *ranges[0].end())
        }
        // Several ranges: the whole file (RFC 9110 14.2 lets a server
        // ignore Range).
        Ok(Ok(_)) => Answer::Full,
        Ok(Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable)) => Answer::Unsatisfiable,
        // A syntactically invalid Range is ignored (RFC 9110 14.2); an
        // unsatisfiable one gets 416.
        Ok(Err(_)) => Answer::Full,
        Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable) => Answer::Unsatisfiable,
        Err(_) => Answer::Full,
    }
}

/// `*` or a list of entity tags; weak comparison ignores `W/`.
fn etag_matches(list: &str, etag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|t| {
        if t == "*" {
            return true;
        }
        match (t.strip_prefix("W/"), weak) {
            (Some(bare), true) => bare == etag,
            (Some(_), false) => false,
            (None, _) => t == etag,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_table() {
        let ok: &[(&str, &[&str])] = &[
            ("/esx01.iso", &["esx01.iso"]),
            ("/lab/item.json", &["lab", "item.json"]),
            ("/my%20lab.iso", &["my lab.iso"]),
            ("/a..b.iso", &["a..b.iso"]),
        ];
        for (p, want) in ok {
            let got = components(p).unwrap();
            assert_eq!(got, want.to_vec(), "{p}");
        }
        for p in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a/../../x",
            "/.esxi-iso/secret",
            "/%2Eesxi-iso/secret",
            "/a/.hidden",
            "/./x",
            "//x",
            "/a/",
            "/a%00b",
            "/a%5c..%5cb",
            "/%ff",
            "relative",
        ] {
            assert_eq!(components(p), Err(Refused::Forbidden), "{p}");
        }
    }

    #[test]
    fn content_types() {
        for (name, want) in [
            ("esx01.iso", "application/x-iso9660-image"),
            ("ESX01.ISO", "application/x-iso9660-image"),
            ("lib.json", "application/json"),
            ("SHA256SUMS", "text/plain; charset=utf-8"),
            ("esx01.iso.sha256", "text/plain; charset=utf-8"),
            ("overlay.tgz", "application/gzip"),
            ("blob", "application/octet-stream"),
        ] {
            assert_eq!(content_type(name), want, "{name}");
        }
    }

    fn v() -> Validators {
        Validators {
            len: 1000,
            etag: "\"1-3e8-5\"".into(),
            modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn answer_table() {
        const THEN: &str = "Tue, 14 Nov 2023 22:13:20 GMT"; // == modified
        const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
        const AFTER: &str = "Wed, 15 Nov 2023 22:13:20 GMT";
        type Headers = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Headers, Answer)] = &[
            ("GET", &[], Answer::Full),
            ("GET", &[("range", "bytes=0-99")], Answer::Partial(0, 99)),
            ("GET", &[("range", "bytes=900-")], Answer::Partial(900, 999)),
            ("GET", &[("range", "bytes=-10")], Answer::Partial(990, 999)),
            (
                "GET",
                &[("range", "bytes=990-5000")],
                Answer::Partial(990, 999),
            ),
            ("GET", &[("range", "bytes=1000-")], Answer::Unsatisfiable),
            ("GET", &[("range", "bytes=0-1,5-6")], Answer::Full),
            ("GET", &[("range", "chars=0-1")], Answer::Full),
            ("GET", &[("range", "bytes=5-1")], Answer::Full),
            ("HEAD", &[("range", "bytes=0-1")], Answer::Full),
            (
                "GET",
                &[("if-none-match", "\"1-3e8-5\"")],
                Answer::NotModified,
            ),
            (
                "GET",
                &[("if-none-match", "W/\"1-3e8-5\"")],
                Answer::NotModified,
            ),
            ("GET", &[("if-none-match", "\"x\", *")], Answer::NotModified),
            ("GET", &[("if-none-match", "\"x\"")], Answer::Full),
            (
                "HEAD",
                &[("if-none-match", "\"1-3e8-5\"")],
                Answer::NotModified,
            ),
            ("GET", &[("if-modified-since", THEN)], Answer::NotModified),
            ("GET", &[("if-modified-since", BEFORE)], Answer::Full),
            // If-None-Match wins over If-Modified-Since.
            (
                "GET",
                &[("if-none-match", "\"x\""), ("if-modified-since", AFTER)],
                Answer::Full,
            ),
            ("GET", &[("if-match", "\"x\"")], Answer::PreconditionFailed),
            (
                "GET",
                &[("if-match", "W/\"1-3e8-5\"")],
                Answer::PreconditionFailed,
            ),
            (
                "GET",
                &[("if-match", "\"1-3e8-5\""), ("range", "bytes=0-0")],
                Answer::Partial(0, 0),
            ),
            (
                "GET",
                &[("if-unmodified-since", BEFORE)],
                Answer::PreconditionFailed,
            ),
            ("GET", &[("if-unmodified-since", THEN)], Answer::Full),
            (
                "GET",
                &[("if-range", "\"1-3e8-5\""), ("range", "bytes=1-2")],
                Answer::Partial(1, 2),
            ),
            (
                "GET",
                &[("if-range", "\"old\""), ("range", "bytes=1-2")],
                Answer::Full,
            ),
            (
                "GET",
                &[("if-range", "W/\"1-3e8-5\""), ("range", "bytes=1-2")],
                Answer::Full,
            ),
            (
                "GET",
                &[("if-range", THEN), ("range", "bytes=1-2")],
                Answer::Partial(1, 2),
            ),
            (
                "GET",
                &[("if-range", BEFORE), ("range", "bytes=1-2")],
                Answer::Full,
            ),
        ];
        for (method, hdrs, want) in cases {
            let mut h = HeaderMap::new();
            for (k, val) in *hdrs {
                h.append(
                    http::header::HeaderName::from_static(k),
                    val.parse().unwrap(),
                );
            }
            let m: Method = method.parse().unwrap();
            assert_eq!(answer(&m, &h, &v()), *want, "{method} {hdrs:?}");
        }
    }

    #[test]
    fn open_refuses_symlinks_out_and_hidden_targets() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("esx01.iso"), "iso").unwrap();
        std::fs::create_dir(root.join(".esxi-iso")).unwrap();
        std::fs::write(root.join(".esxi-iso/secret"), "s").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        symlink(outside.path().join("secret"), root.join("out")).unwrap();
        symlink(root.join(".esxi-iso/secret"), root.join("in-hidden")).unwrap();
        symlink(root.join("esx01.iso"), root.join("alias.iso")).unwrap();
        symlink(outside.path(), root.join("outdir")).unwrap();
        assert!(open(&root, "/esx01.iso").is_ok());
        assert!(open(&root, "/alias.iso").is_ok(), "a link inside is fine");
        assert_eq!(open(&root, "/out").unwrap_err(), Refused::Outside);
        assert_eq!(open(&root, "/outdir/secret").unwrap_err(), Refused::Outside);
        assert_eq!(open(&root, "/in-hidden").unwrap_err(), Refused::Outside);
        assert_eq!(open(&root, "/sub").unwrap_err(), Refused::NotAFile);
        assert_eq!(open(&root, "/nope.iso").unwrap_err(), Refused::NotFound);
        assert_eq!(
            open(&root, "/.esxi-iso/secret").unwrap_err(),
            Refused::Forbidden
        );
    }
}
