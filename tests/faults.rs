//! Faults during `esxi-iso build`, end to end through the binary: the
//! output file system fills up (RLIMIT_FSIZE, and a small tmpfs), SIGINT or
//! SIGTERM arrives during the write, the source can't be read, and the
//! output is the source itself. In every case: exit non-zero, no output and
//! no temporary left, a previous output intact, the source unchanged.
//! (I/O errors from a failing disk, through FUSE: tests/eio.rs.)

mod common;

use std::fs;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::scene::{run, snapshot, wait, Scene, BIN};
use common::tools;

#[test]
fn file_size_limit_fails_cleanly() {
    for previous in [false, true] {
        let Some(s) = Scene::new("faults-fsize") else {
            return;
        };
        if previous {
            s.put_previous();
        }
        let before = snapshot(&s.source, s.source_data_len);
        let mut cmd = s.build_cmd(previous);
        // SAFETY: only async-signal-safe setrlimit between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 1 << 20,
                    rlim_max: 1 << 20,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(6), "{out:?}");
        s.check_failed(&out, previous, &before, "File too large");
    }
}

/// Unmounts on drop, also when an assertion fails.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_file_system_fails_cleanly() {
    let Some(s) = Scene::new("faults-enospc") else {
        return;
    };
    let mnt = s.out_dir.join("small");
    fs::create_dir(&mnt).unwrap();
    // 3 MiB: less than the 4.3 MB output, more than the previous output.
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !ok {
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    }
    let s = s.with_out_dir(&mnt);
    // Declared after `s`, so dropped first: unmount, then remove the dir.
    let _guard = Mount(mnt.clone());
    for previous in [false, true] {
        if previous {
            s.put_previous();
        }
        let before = snapshot(&s.source, s.source_data_len);
        let out = run(s.build_cmd(previous));
        assert_eq!(out.status.code(), Some(6), "{out:?}");
        s.check_failed(&out, previous, &before, "No space left on device");
    }
}

#[test]
fn signal_during_write_leaves_nothing() {
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        for previous in [false, true] {
            let Some(s) = Scene::new("faults-signal") else {
                return;
            };
            // The builder copies bytes past the volume's end too, so the
            // lengthened source keeps it writing while the signal arrives.
            s.lengthen_source();
            if previous {
                s.put_previous();
            }
            let before = snapshot(&s.source, s.source_data_len);
            assert!(!before.data_after);
            let child = s.spawn_writing(s.build_cmd(previous));
            // SAFETY: signalling our own child.
            assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
            let out = wait(child);
            assert_eq!(out.status.code(), Some(130), "{name}: {out:?}");
            s.check_failed(&out, previous, &before, "interrupted by a signal");
        }
    }
}

/// What the source is, how to make it, the error it must give.
type SourceCase<'a> = (&'static str, Box<dyn Fn() + 'a>, String);

#[test]
fn unreadable_sources_fail_cleanly() {
    let Some(s) = Scene::new("faults-source") else {
        return;
    };
    let good = s.source.with_extension("good");
    fs::rename(&s.source, &good).unwrap();
    let good_before = snapshot(&good, s.source_data_len);
    // The last file on the fixture (EFI/BOOT/BOOTX64.EFI): truncating into
    // it leaves its data past the end of the file.
    let (last_lba, last_size) = {
        let img = esxi_iso::iso::IsoImage::open(&good).unwrap();
        let r = img
            .record(img.find("EFI/BOOT/BOOTX64.EFI").unwrap())
            .clone();
        (r.extent, r.size)
    };
    let cut = (last_lba + 1) * 2048;
    let cases: Vec<SourceCase> = vec![
        (
            // A directory is taken as an extracted tree (esxi-iso build DIR);
            // an empty one is not an ESXi tree.
            "a directory",
            Box::new(|| fs::create_dir(&s.source).unwrap()),
            "has no /BOOT.CFG: ESXi installer trees carry both /BOOT.CFG and /EFI/BOOT/BOOT.CFG".into(),
        ),
        (
            "a FIFO",
            Box::new(|| {
                let c = std::ffi::CString::new(s.source.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: mkfifo on a NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            }),
            "it is not a regular file or a block device".into(),
        ),
        (
            "missing",
            Box::new(|| {}),
            "opening the image: No such file or directory".into(),
        ),
        (
            "truncated inside the volume",
            Box::new(|| {
                fs::copy(&good, &s.source).unwrap();
                let f = fs::OpenOptions::new().write(true).open(&s.source).unwrap();
                f.set_len(u64::from(cut)).unwrap();
            }),
            format!("exceeds the file size {cut}: the file is truncated (LBA 16)"),
        ),
        (
            "truncated, volume size edited to match",
            Box::new(|| {
                fs::copy(&good, &s.source).unwrap();
                let f = fs::OpenOptions::new().write(true).open(&s.source).unwrap();
                f.set_len(u64::from(cut)).unwrap();
                let sectors = cut / 2048;
                let mut both = sectors.to_le_bytes().to_vec();
                both.extend(sectors.to_be_bytes());
                f.write_all_at(&both, 16 * 2048 + 80).unwrap();
            }),
            format!(
                "file /EFI/BOOT/BOOTX64.EFI ({last_size} bytes) runs past the end of the image ({cut} bytes) (LBA {last_lba})"
            ),
        ),
    ];
    for (what, make, want) in cases {
        let _ = fs::remove_dir(&s.source);
        let _ = fs::remove_file(&s.source);
        make();
        let before = s
            .source
            .is_file()
            .then(|| snapshot(&s.source, s.source_data_len));
        let out = run(s.build_cmd(false));
        assert_eq!(out.status.code(), Some(3), "{what}: {out:?}");
        s.check_failed(&out, false, before.as_ref().unwrap_or(&good_before), &want);
        assert_eq!(snapshot(&good, s.source_data_len), good_before);
    }
    // Permission denied, for a user other than root.
    if !tools::require(&["setpriv"]) {
        return;
    }
    let _ = fs::remove_file(&s.source);
    fs::copy(&good, &s.source).unwrap();
    fs::set_permissions(&s.source, fs::Permissions::from_mode(0o600)).unwrap();
    // The user must reach the kickstart, so the failure is the source's.
    let scene_dir = s.source.parent().unwrap();
    fs::set_permissions(scene_dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&s.ks, fs::Permissions::from_mode(0o644)).unwrap();
    let before = snapshot(&s.source, s.source_data_len);
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
    cmd.args(s.build_cmd(false).get_args());
    let out = run(cmd);
    if String::from_utf8_lossy(&out.stderr).contains("setpriv:") {
        eprintln!(
            "skipping the permission case: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    s.check_failed(&out, false, &before, "opening the image: Permission denied");
}

#[test]
fn output_that_is_the_source_is_refused() {
    let Some(s) = Scene::new("faults-same") else {
        return;
    };
    let before = snapshot(&s.source, s.source_data_len);
    let sym = s.out_dir.join("sym.iso");
    let hard = s.out_dir.join("hard.iso");
    std::os::unix::fs::symlink(&s.source, &sym).unwrap();
    fs::hard_link(&s.source, &hard).unwrap();
    for out_path in [s.source.clone(), sym, hard] {
        for force in [false, true] {
            let mut cmd = Command::new(BIN);
            cmd.args(["build", "-q", "-k"])
                .arg(&s.ks)
                .arg("-o")
                .arg(&out_path)
                .arg(&s.source);
            if force {
                cmd.arg("--force");
            }
            let out = run(cmd);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{}: {stderr}",
                out_path.display()
            );
            assert!(
                stderr.starts_with("esxi-iso: error: output ")
                    && stderr.contains("is the source ISO itself (same file)"),
                "{stderr}"
            );
            assert_eq!(snapshot(&s.source, s.source_data_len), before);
            assert_eq!(s.leftovers(), Vec::<String>::new());
        }
    }
}
