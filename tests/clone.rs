//! How the output's bytes get there: cloned on reflink file systems (XFS
//! and Btrfs on loop devices made here), copied by the kernel on ext4, and
//! through user space across file systems; the same bytes whichever way
//! ran. Shared blocks are judged by `filefrag -v` (FIEMAP) and `df`, the
//! checksums by coreutils' `sha256sum`. Also: a source that shrinks in the
//! middle of a build (a mapped read past the new end raises SIGBUS) ends in
//! a clean error.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{run_in, tool};
use common::fixture::{self, fixtures, work_dir};
use common::loopfs::LoopFs;
use common::scene::{snapshot, wait, Scene, LIMIT};
use common::tools;
use serde_json::Value;

const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";
const ENV: [(&str, &str); 2] = [
    ("ESXI_ISO_ROOT_PASSWORD", HASH),
    ("SOURCE_DATE_EPOCH", "1700000000"),
];

fn ready() -> bool {
    fixture::available() && tools::require(&["sha256sum", "filefrag"])
}

/// Builds `src` into `out` with the fixed inputs; returns the `--json`
/// summary.
fn build(src: &Path, out: &Path) -> Value {
    let dir = out.parent().unwrap();
    let run = run_in(
        dir,
        &[
            "build",
            src.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--json",
            "--set",
            "hostname=esx01",
        ],
        &ENV,
    )
    .ok();
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
}

fn sha256sum(path: &Path) -> String {
    tool("sha256sum", &[path.to_str().unwrap()])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Bytes of `path` in extents FIEMAP flags as shared.
fn shared_bytes(path: &Path) -> u64 {
    let out = tool("filefrag", &["-v", path.to_str().unwrap()]);
    let block: u64 = out
        .lines()
        .find_map(|l| l.split("blocks of ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no block size in filefrag's output:\n{out}"));
    out.lines()
        .filter(|l| l.trim_end().ends_with("shared"))
        .map(|l| {
            let length: u64 = l.split(':').nth(3).unwrap().trim().parse().unwrap();
            length * block
        })
        .sum()
}

fn copy_into(src: &Path, dir: &Path) -> PathBuf {
    let to = dir.join(src.file_name().unwrap());
    fs::copy(src, &to).unwrap();
    to
}

#[test]
fn outputs_share_the_source_blocks_on_reflink_file_systems() {
    if !ready() {
        return;
    }
    for kind in ["xfs", "btrfs"] {
        let Some(lfs) = LoopFs::new(kind, 512) else {
            return;
        };
        let src = copy_into(&fixtures().plain, &lfs.dir);
        let before = lfs.used_bytes();
        let out = lfs.path("out.iso");
        let summary = build(&src, &out);
        let added = lfs.used_bytes() - before;
        let size = fs::metadata(&out).unwrap().len();
        let data = &summary["data"];
        assert_eq!(data["method"], "cloned", "{kind}: {summary:#}");
        let cloned = data["cloned_bytes"].as_u64().unwrap();
        assert!(cloned > size * 9 / 10, "{kind}: {summary:#}");
        assert!(
            data["written_bytes"].as_u64().unwrap() < 256 << 10,
            "{kind}: {summary:#}"
        );
        // FIEMAP: the cloned extents are shared with the source.
        let shared = shared_bytes(&out);
        assert!(
            shared >= cloned,
            "{kind}: {shared} bytes shared, {cloned} cloned"
        );
        // The disk pays for the new sectors, not for a second image.
        assert!(
            added < 1 << 20,
            "{kind}: the output added {added} bytes of disk for a {size}-byte image"
        );
        assert_eq!(
            sha256sum(&out),
            summary["sha256"].as_str().unwrap(),
            "{kind}"
        );
    }
}

/// One set of inputs, built by every path this machine offers: a kernel
/// copy on ext4, clones on XFS and Btrfs, and across file systems (where
/// the kernel refuses, through user space). The bytes must not differ.
#[test]
fn outputs_are_identical_whichever_way_the_data_went() {
    if !ready() {
        return;
    }
    let work = work_dir("clone-paths");
    let plain = &fixtures().plain;
    let ext4 = build(plain, &work.path().join("ext4.iso"));
    assert_eq!(ext4["data"]["cloned_bytes"], 0, "{ext4:#}");
    let want = ext4["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha256sum(&work.path().join("ext4.iso")), want);
    let mut paths = vec![(String::from("ext4"), ext4["data"]["method"].clone())];
    let mut mounts = Vec::new();
    for kind in ["xfs", "btrfs"] {
        if let Some(lfs) = LoopFs::new(kind, 512) {
            mounts.push(lfs);
        }
    }
    for lfs in &mounts {
        let src = copy_into(plain, &lfs.dir);
        for (label, from) in [
            ("same file system", src.clone()),
            ("from ext4", plain.clone()),
        ] {
            let out = lfs.path(&format!("{}.iso", label.replace(' ', "-")));
            let s = build(&from, &out);
            assert_eq!(s["sha256"], want.as_str(), "{} {label}: {s:#}", lfs.kind);
            assert_eq!(sha256sum(&out), want, "{} {label}", lfs.kind);
            paths.push((format!("{} {label}", lfs.kind), s["data"]["method"].clone()));
        }
    }
    eprintln!("copy paths: {paths:?}");
    for (label, method) in &paths {
        if label.ends_with("same file system") {
            assert_eq!(method, "cloned", "{label}");
        } else {
            assert_ne!(method, "cloned", "{label}");
        }
    }
}

/// A lab on a reflink file system: every host's ISO cloned, the whole lab
/// a few sectors per host of disk, and SHA256SUMS right.
#[test]
fn a_lab_on_a_reflink_file_system_costs_a_few_sectors_per_host() {
    if !ready() {
        return;
    }
    let Some(lfs) = LoopFs::new("xfs", 512) else {
        return;
    };
    let src = copy_into(&fixtures().plain, &lfs.dir);
    let mut lab = format!("[defaults]\ntemplate = 'minimal'\nroot_password = '{HASH}'\n");
    for i in 1..=4 {
        lab.push_str(&format!("\n[[host]]\nhostname = 'esx{i:02}'\n"));
    }
    fs::write(lfs.path("lab.toml"), lab).unwrap();
    let before = lfs.used_bytes();
    let run = run_in(
        &lfs.dir,
        &[
            "build",
            src.to_str().unwrap(),
            "--inventory",
            "lab.toml",
            "--out-dir",
            "lab",
            "--json",
        ],
        &[],
    )
    .ok();
    let added = lfs.used_bytes() - before;
    let manifest: Value = serde_json::from_str(&run.stdout()).unwrap();
    let hosts = manifest["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 4);
    for h in hosts {
        assert_eq!(h["data"]["method"], "cloned", "{h:#}");
    }
    assert!(added < 4 << 20, "a 4-host lab added {added} bytes of disk");
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(lfs.path("lab"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

/// The source loses its end while the build reads it (someone truncates
/// it): a clean error naming the source, exit 1, nothing left behind.
#[test]
fn a_source_that_shrinks_mid_build_fails_cleanly() {
    let Some(s) = Scene::new("clone-shrink") else {
        return;
    };
    let f = s.lengthen_source();
    let child = s.spawn_writing(s.build_cmd(false));
    f.set_len(s.source_data_len).unwrap();
    let out = wait(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprintln!("skipping: the build finished before the source shrank");
        return;
    }
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(s.source.to_str().unwrap())
            && (stderr.contains("shrank") || stderr.contains("ended early")),
        "{stderr}"
    );
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    assert!(!s.output.exists());
    let _ = snapshot(&s.source, s.source_data_len);
}

/// The same on a reflink file system, where the clone is done at once and
/// the truncation reaches the hash instead: its mapped read past the new
/// end raises SIGBUS, which must become this error, not a crash.
#[test]
fn a_source_that_shrinks_while_hashed_fails_cleanly() {
    if !ready() {
        return;
    }
    let Some(lfs) = LoopFs::new("xfs", 2048) else {
        return;
    };
    let src = copy_into(&fixtures().plain, &lfs.dir);
    let data_len = fs::metadata(&src).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&src).unwrap();
    f.set_len(data_len + (1 << 30)).unwrap();
    let mut cmd = Command::new(common::cli::BIN);
    cmd.args(["build", src.to_str().unwrap(), "-o", "out.iso", "-q"])
        .current_dir(&lfs.dir)
        .env("ESXI_ISO_ROOT_PASSWORD", HASH)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let leftovers = || {
        fs::read_dir(&lfs.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("out.iso"))
            .collect::<Vec<_>>()
    };
    let start = Instant::now();
    while leftovers().is_empty() {
        assert!(start.elapsed() < LIMIT, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The clones take a few milliseconds; hashing the sparse gigabyte
    // takes most of a second.
    std::thread::sleep(Duration::from_millis(50));
    f.set_len(data_len).unwrap();
    let out = wait(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    if out.status.success() {
        eprintln!("skipping: the build finished before the source shrank");
        return;
    }
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stderr.contains(&format!("reading {}", src.display())) && stderr.contains("shrank"),
        "{stderr}"
    );
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}
