//! `esxi-iso verify` through the binary: an input that is not an ISO at
//! all is an error (exit 3, no report), not a verdict.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::cli::{run_in, Run};
use common::fixture::{self, fixtures, work_dir};
use common::tools;

fn ready() -> bool {
    fixture::available() && tools::require(&["genisoimage"])
}

fn verify(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["verify"];
    a.extend_from_slice(args);
    run_in(dir, &a, &[])
}

/// Inputs that are not ISO images: one error line, exit 3, nothing on
/// stdout, with or without --json (as `kickstart lint --json` does for a
/// file it cannot read).
#[test]
fn unreadable_inputs_are_errors_not_verdicts() {
    let work = work_dir("verify-input");
    let w = work.path();
    fs::write(w.join("empty.iso"), b"").unwrap();
    fs::write(w.join("text.iso"), b"not an image\n").unwrap();
    fs::write(w.join("zeros.iso"), vec![0u8; 40 * 2048]).unwrap();
    fs::create_dir(w.join("folder.iso")).unwrap();
    let fifo = w.join("fifo.iso");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let cases = [
        (
            "missing.iso",
            "reading missing.iso: opening the image: No such file or directory",
        ),
        (
            "empty.iso",
            "reading empty.iso: not an ISO9660 image: the file is empty",
        ),
        (
            "text.iso",
            "too short to hold a volume descriptor at LBA 16",
        ),
        (
            "zeros.iso",
            "no ISO9660 volume descriptor (CD001) at LBA 16",
        ),
        (
            "folder.iso",
            "reading folder.iso: not an ISO9660 image: it is a directory",
        ),
        ("fifo.iso", "it is not a regular file or a block device"),
    ];
    for (name, want) in cases {
        for json in [false, true] {
            let mut args = vec![name];
            if json {
                args.push("--json");
            }
            let r = verify(w, &args).fails_with(3, want);
            assert_eq!(r.stdout(), "", "{}", r.describe());
            assert_eq!(r.stderr().lines().count(), 1, "{}", r.describe());
        }
    }
    let r = run_in(w, &["kickstart", "lint", "missing.cfg", "--json"], &[])
        .fails_with(3, "missing.cfg");
    assert_eq!(r.stdout(), "");
    if !ready() {
        return;
    }
    // A --source that is not an ESXi installer is refused, not ignored.
    let plain = fixtures().plain.to_str().unwrap();
    verify(w, &[plain, "--source", "missing.iso"]).fails_with(3, "--source: reading missing.iso");
    let data = w.join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("README.TXT"), b"hello\n").unwrap();
    let o = Command::new("genisoimage")
        .args(["-quiet", "-o", "data.iso"])
        .arg(&data)
        .current_dir(w)
        .output()
        .unwrap();
    assert!(o.status.success());
    let r = verify(w, &[plain, "--source", "data.iso", "--json"])
        .fails_with(3, "--source: checking data.iso: not an ESXi installer ISO");
    assert_eq!(r.stdout(), "");
}
