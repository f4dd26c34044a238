//! I/O errors in the middle of a build, end to end through the binary: a
//! source whose reads start failing partway (a failing disk, a flaky NFS
//! share), and an output folder whose writes start failing partway. The
//! faults come from a FUSE file system served by this test process
//! (tests/common/faultfs.rs) that returns EIO from a chosen offset.
//!
//! Each case keeps the promises of tests/faults.rs (exit 1, an error, no
//! output, no temporary, a previous output intact, the source unchanged)
//! and its error names the file, the operation and the offset, as in
//! "reading /mnt/source.iso at offset 3145728: Input/output error".

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::faultfs::{self, Faults};
use common::scene::{run, snapshot, Scene, BIN, PREVIOUS};

const EIO: &str = "Input/output error";

/// The scene's source moved into `backing/`, served at `mnt/` with reads
/// of it failing from `offset`.
fn failing_source(s: &Scene, offset: u64) -> Option<(faultfs::Mounted, PathBuf)> {
    let backing = s.dir.path().join("backing");
    let mnt = s.dir.path().join("mnt");
    fs::create_dir_all(&backing).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let name = s.source.file_name().unwrap();
    fs::copy(&s.source, backing.join(name)).unwrap();
    let faults = Faults {
        read_fails: Some((PathBuf::from(name), offset)),
        writes_fail_after: None,
    };
    let m = faultfs::mount(&backing, &mnt, faults)?;
    Some((m, mnt.join(name)))
}

#[test]
fn source_reads_failing_partway_fail_cleanly() {
    let Some(s) = Scene::new("eio-source") else {
        return;
    };
    let img = esxi_iso::iso::IsoImage::open(&s.source).unwrap();
    let bootx64 = img.record(img.find("EFI/BOOT/BOOTX64.EFI").unwrap()).extent;
    // Where the reads start failing, and what must be said: inside the
    // volume descriptors (opening fails), and inside file data the build
    // copies (after the metadata and both boot.cfg were read).
    let cases = [
        (
            16 * 2048 + 100,
            format!("reading volume descriptor at LBA 16: {EIO}"),
        ),
        (
            u64::from(bootx64) * 2048 + 4096,
            format!("at offset {}: {EIO}", u64::from(bootx64) * 2048 + 4096),
        ),
    ];
    for (offset, want) in cases {
        for previous in [false, true] {
            let Some(s) = Scene::new("eio-source") else {
                return;
            };
            let Some((_mount, fuse_source)) = failing_source(&s, offset) else {
                return;
            };
            if previous {
                s.put_previous();
            }
            // The file behind the mount is the source this build reads: a
            // copy with its own mtime, compared with itself.
            let backing = s.dir.path().join("backing").join("source.iso");
            let backing_before = snapshot(&backing, s.source_data_len);
            let before = snapshot(&s.source, s.source_data_len);
            let out = run(s.build_cmd_from(&fuse_source, previous));
            assert_eq!(out.status.code(), Some(3), "offset {offset}: {out:?}");
            s.check_failed(&out, previous, &before, &want);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("reading {}", fuse_source.display()))
                    && stderr.contains(EIO),
                "offset {offset}: the error names neither the file nor the I/O error:\n{stderr}"
            );
            assert_eq!(snapshot(&backing, s.source_data_len), backing_before);
        }
    }
}

/// The scene's output folder served at `mnt/` from `backing/`, writes
/// failing once `after` bytes were written.
fn failing_output(s: Scene, after: u64) -> Option<(faultfs::Mounted, Scene, PathBuf)> {
    let backing = s.dir.path().join("backing");
    let mnt = s.dir.path().join("mnt");
    fs::create_dir_all(&backing).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let faults = Faults {
        read_fails: None,
        writes_fail_after: Some(after),
    };
    let m = faultfs::mount(&backing, &mnt, faults)?;
    let s = s.with_out_dir(&mnt);
    Some((m, s, backing))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn output_writes_failing_partway_fail_cleanly() {
    for previous in [false, true] {
        let Some(s) = Scene::new("eio-output") else {
            return;
        };
        // 1 MiB of the 4.3 MB output: the copy is well under way.
        let Some((mount, s, backing)) = failing_output(s, 1 << 20) else {
            return;
        };
        if previous {
            // Written before the fault counts: 41 bytes of the budget.
            s.put_previous();
        }
        let before = snapshot(&s.source, s.source_data_len);
        let out = run(s.build_cmd(previous));
        assert_eq!(out.status.code(), Some(6), "{out:?}");
        let want = format!("writing {} at offset ", s.output.display());
        s.check_failed(&out, previous, &before, &want);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(EIO),
            "{out:?}"
        );
        drop(mount);
        // What is really on the disk behind the mount.
        let want: Vec<String> = if previous {
            vec!["new.iso".into()]
        } else {
            vec![]
        };
        assert_eq!(names(&backing), want);
        if previous {
            assert_eq!(fs::read(backing.join("new.iso")).unwrap(), PREVIOUS);
        }
    }
}

#[test]
fn pack_with_a_file_failing_partway_fails_cleanly() {
    if !common::fixture::available() {
        return;
    }
    let dir = common::fixture::work_dir("eio-pack");
    let backing = dir.path().join("tree");
    let mnt = dir.path().join("mnt");
    let out_dir = dir.path().join("out");
    for d in [&mnt, &out_dir] {
        fs::create_dir(d).unwrap();
    }
    let tree = &common::fixture::fixtures().tree;
    let ok = Command::new("cp")
        .arg("-a")
        .arg(tree)
        .arg(&backing)
        .status()
        .unwrap();
    assert!(ok.success());
    let victim = "IMGPAYLD.TGZ";
    let before = fs::read(backing.join(victim)).unwrap();
    let faults = Faults {
        read_fails: Some((PathBuf::from(victim), 100_000)),
        writes_fail_after: None,
    };
    let Some(_mount) = faultfs::mount(&backing, &mnt, faults) else {
        return;
    };
    let output = out_dir.join("packed.iso");
    fs::write(&output, PREVIOUS).unwrap();
    let out = run({
        let mut c = Command::new(BIN);
        c.args(["pack", "-q", "--force", "--rock-ridge"])
            .arg(&mnt)
            .arg("-o")
            .arg(&output);
        c
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let want = format!(
        "reading {} at offset 100000: {EIO}",
        mnt.join(victim).display()
    );
    assert!(stderr.contains(&want), "want {want:?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(names(&out_dir), ["packed.iso"]);
    assert_eq!(fs::read(&output).unwrap(), PREVIOUS);
    assert_eq!(fs::read(backing.join(victim)).unwrap(), before);
}
