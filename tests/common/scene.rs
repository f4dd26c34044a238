//! The scene of a fault test (tests/faults.rs, tests/eio.rs): a private
//! copy of the plain fixture as the source, a kickstart, an output folder,
//! and the promises every failed build keeps: exit non-zero with an
//! `esxi-iso: error:` naming the problem, no output, no temporary and no
//! `.sha256` left, a previous output intact, the source unchanged.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::fixture::{self, work_dir};

pub const BIN: &str = env!("CARGO_BIN_EXE_esxi-iso");
pub const LIMIT: Duration = Duration::from_secs(120);

pub const KICKSTART: &str = "vmaccepteula
install --firstdisk --overwritevmfs
rootpw --iscrypted $6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.
network --bootproto=dhcp
reboot
";
pub const PREVIOUS: &[u8] = b"the previous output, which must survive\n";

/// What a file looked like: its length, the SHA-256 of its data region and
/// whether anything but holes follows that region (so a sparse multi-GB
/// source is compared without hashing gigabytes of zeros).
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    len: u64,
    sha256: Vec<u8>,
    pub data_after: bool,
    mtime: i64,
}

pub fn snapshot(path: &Path, data_len: u64) -> Snapshot {
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

pub struct Scene {
    pub dir: tempfile::TempDir,
    pub source: PathBuf,
    pub source_data_len: u64,
    pub ks: PathBuf,
    pub out_dir: PathBuf,
    pub output: PathBuf,
}

impl Scene {
    /// A private copy of the plain fixture, a kickstart and an output path
    /// in `out_dir` (default: the scene's own directory).
    pub fn new(name: &str) -> Option<Scene> {
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
            dir,
        })
    }

    pub fn with_out_dir(mut self, dir: &Path) -> Scene {
        self.out_dir = dir.to_path_buf();
        self.output = dir.join("new.iso");
        self
    }

    pub fn build_cmd(&self, force: bool) -> Command {
        self.build_cmd_from(&self.source, force)
    }

    /// `build` from `source` (e.g. the scene's source seen through a
    /// mount) to the scene's output.
    pub fn build_cmd_from(&self, source: &Path, force: bool) -> Command {
        let mut c = Command::new(BIN);
        c.args(["build", "-q", "-k"])
            .arg(&self.ks)
            .arg("-o")
            .arg(&self.output)
            .arg(source);
        if force {
            c.arg("--force");
        }
        c
    }

    /// Makes the source a sparse gigabyte longer than its data, so that a
    /// build of it takes a while; the returned handle can cut it back.
    pub fn lengthen_source(&self) -> fs::File {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&self.source)
            .unwrap();
        f.set_len(self.source_data_len + (1 << 30)).unwrap();
        f
    }

    /// Starts `cmd` (output captured) and returns once its temporary output
    /// exists in the out dir: the write has begun.
    pub fn spawn_writing(&self, mut cmd: Command) -> Child {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while self.leftovers().is_empty() {
            assert!(start.elapsed() < LIMIT, "no temporary file appeared");
            std::thread::sleep(Duration::from_millis(1));
        }
        child
    }

    pub fn leftovers(&self) -> Vec<String> {
        fs::read_dir(&self.out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") || n.starts_with('.'))
            .collect()
    }

    /// Runs `cmd`, then checks the common promises. `previous`: whether a
    /// previous output was put in place first (and must be intact).
    pub fn check_failed(&self, out: &Output, previous: bool, before: &Snapshot, want: &str) {
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

    pub fn put_previous(&self) {
        fs::write(&self.output, PREVIOUS).unwrap();
    }
}

pub fn wait(mut child: Child) -> Output {
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

pub fn run(mut cmd: Command) -> Output {
    wait(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}
