//! Faults during `esxi-iso build`, end to end through the binary: the
//! output file system fills up (RLIMIT_FSIZE, and a small tmpfs), SIGINT or
//! SIGTERM arrives during the write, the source can't be read, and the
//! output is the source itself. In every case: exit non-zero, no output and
//! no temporary left, a previous output intact, the source unchanged.

mod common;

use std::fs;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use common::fixture::{self, work_dir};
use common::tools;

const BIN: &str = env!("CARGO_BIN_EXE_esxi-iso");
const LIMIT: Duration = Duration::from_secs(120);

const KICKSTART: &str = "vmaccepteula
install --firstdisk --overwritevmfs
rootpw --iscrypted $6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.
network --bootproto=dhcp
reboot
";
const PREVIOUS: &[u8] = b"the previous output, which must survive\n";

/// What a file looked like: its length, the SHA-256 of its data region and
/// whether anything but holes follows that region (so a sparse multi-GB
/// source is compared without hashing gigabytes of zeros).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    len: u64,
    sha256: Vec<u8>,
    data_after: bool,
    mtime: i64,
}

fn snapshot(path: &Path, data_len: u64) -> Snapshot {
    use std::os::unix::fs::MetadataExt;
    let f = fs::File::open(path).unwrap();
    let meta = f.metadata().unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0;
    let end = data_len.min(meta.len());
    while pos < end {
        let n = (end - pos).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], pos).unwrap();
        h.update(&buf[..n]);
        pos += n as u64;
    }
    let data_after = end < meta.len() && {
        use std::os::fd::AsRawFd;
        // SAFETY: lseek on an fd we own.
        let r = unsafe { libc::lseek(f.as_raw_fd(), end as libc::off_t, libc::SEEK_DATA) };
        r >= 0
    };
    Snapshot {
        len: meta.len(),
        sha256: h.finalize().to_vec(),
        data_after,
        mtime: meta.mtime(),
    }
}

struct Scene {
    _dir: tempfile::TempDir,
    source: PathBuf,
    source_data_len: u64,
    ks: PathBuf,
    out_dir: PathBuf,
    output: PathBuf,
}

impl Scene {
    /// A private copy of the plain fixture, a kickstart and an output path
    /// in `out_dir` (default: the scene's own directory).
    fn new(name: &str) -> Option<Scene> {
        if !fixture::available() {
            return None;
        }
        let dir = work_dir(name);
        let source = dir.path().join("source.iso");
        fs::copy(&fixture::fixtures().plain, &source).unwrap();
        let ks = dir.path().join("ks.cfg");
        fs::write(&ks, KICKSTART).unwrap();
        let out_dir = dir.path().join("out");
        fs::create_dir(&out_dir).unwrap();
        Some(Scene {
            source_data_len: fs::metadata(&source).unwrap().len(),
            output: out_dir.join("new.iso"),
            source,
            ks,
            out_dir,
            _dir: dir,
        })
    }

    fn with_out_dir(mut self, dir: &Path) -> Scene {
        self.out_dir = dir.to_path_buf();
        self.output = dir.join("new.iso");
        self
    }

    fn build_cmd(&self, force: bool) -> Command {
        let mut c = Command::new(BIN);
        c.args(["build", "-q", "-k"])
            .arg(&self.ks)
            .arg("-o")
            .arg(&self.output)
            .arg(&self.source);
        if force {
            c.arg("--force");
        }
        c
    }

    fn leftovers(&self) -> Vec<String> {
        fs::read_dir(&self.out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") || n.starts_with('.'))
            .collect()
    }

    /// Runs `cmd`, then checks the common promises. `previous`: whether a
    /// previous output was put in place first (and must be intact).
    fn check_failed(&self, out: &Output, previous: bool, before: &Snapshot, want: &str) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ctx = format!(
            "status {:?}\nstderr: {stderr}\nout dir: {:?}",
            out.status,
            fs::read_dir(&self.out_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>()
        );
        assert!(!out.status.success(), "{ctx}");
        assert!(stderr.starts_with("esxi-iso: error:"), "{ctx}");
        assert!(!stderr.contains("panicked"), "{ctx}");
        assert!(stderr.contains(want), "want {want:?}\n{ctx}");
        assert_eq!(self.leftovers(), Vec::<String>::new(), "{ctx}");
        if previous {
            assert_eq!(fs::read(&self.output).unwrap(), PREVIOUS, "{ctx}");
        } else {
            assert!(!self.output.exists(), "{ctx}");
        }
        let mut sum = self.output.as_os_str().to_owned();
        sum.push(".sha256");
        assert!(!Path::new(&sum).exists(), "{ctx}");
        if self.source.is_file() {
            assert_eq!(
                &snapshot(&self.source, self.source_data_len),
                before,
                "source changed\n{ctx}"
            );
        }
    }

    fn put_previous(&self) {
        fs::write(&self.output, PREVIOUS).unwrap();
    }
}

fn wait(mut child: Child) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("esxi-iso did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn run(mut cmd: Command) -> Output {
    wait(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

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
        assert_eq!(out.status.code(), Some(1), "{out:?}");
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
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        s.check_failed(&out, previous, &before, "No space left on device");
    }
}

/// A source large enough that the write takes a while: the fixture plus a
/// sparse gigabyte (the builder copies bytes past the volume's end too).
fn big_source(s: &Scene) {
    let f = fs::OpenOptions::new().write(true).open(&s.source).unwrap();
    f.set_len(s.source_data_len + (1 << 30)).unwrap();
}

#[test]
fn signal_during_write_leaves_nothing() {
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        for previous in [false, true] {
            let Some(s) = Scene::new("faults-signal") else {
                return;
            };
            big_source(&s);
            if previous {
                s.put_previous();
            }
            let before = snapshot(&s.source, s.source_data_len);
            assert!(!before.data_after);
            let child = s
                .build_cmd(previous)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Wait for the temporary: the write has begun.
            let start = Instant::now();
            while s.leftovers().is_empty() {
                assert!(
                    start.elapsed() < LIMIT,
                    "{name}: no temporary file appeared"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
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
        assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
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
    assert_eq!(out.status.code(), Some(1), "{out:?}");
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
                Some(1),
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
