//! Runs of the `esxi-iso` binary under test, which print everything (the
//! command, its output, the work folder) when a check fails.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::{PASS, USER};

/// Output of one `esxi-iso` run.
pub struct Run {
    pub cmdline: String,
    pub out: Output,
    pub work: PathBuf,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn report(&self) -> String {
        let mut listing = String::new();
        for entry in walk(&self.work) {
            let size = fs::metadata(&entry).map(|m| m.len()).unwrap_or(0);
            listing.push_str(&format!("  {} ({size} bytes)\n", entry.display()));
        }
        format!(
            "command: {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}\nwork dir:\n{listing}",
            self.cmdline,
            self.out.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    pub fn success(&self) -> &Self {
        assert!(
            self.out.status.success(),
            "expected success\n{}",
            self.report()
        );
        self
    }

    /// Asserts exit `code`: 2 usage, 3 input, 4 exists, 5 network (see
    /// `esxi_iso::failure`).
    pub fn failure(&self, code: i32) -> &Self {
        assert_eq!(
            self.out.status.code(),
            Some(code),
            "expected exit {code}\n{}",
            self.report()
        );
        self
    }

    pub fn stderr_has(&self, parts: &[&str]) -> &Self {
        let err = self.stderr();
        for part in parts {
            assert!(
                err.contains(part),
                "stderr lacks {part:?}\n{}",
                self.report()
            );
        }
        self
    }

    pub fn stderr_lacks(&self, part: &str) -> &Self {
        assert!(
            !self.stderr().contains(part),
            "stderr has {part:?}\n{}",
            self.report()
        );
        self
    }

    /// Neither stdout nor stderr shows `secret`.
    pub fn never_shows(&self, secret: &str) -> &Self {
        assert!(
            !self.stdout().contains(secret) && !self.stderr().contains(secret),
            "output shows the secret\n{}",
            self.report()
        );
        self
    }
}

pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs `esxi-iso` in `work` with only the given ESXI_ISO_* variables, in a
/// new session (no controlling terminal: a password prompt fails instead of
/// waiting).
pub fn esxi_iso(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(work, args, env);
    let out = cmd.output().expect("running esxi-iso");
    Run {
        cmdline: format!("esxi-iso {}", args.join(" ")),
        out,
        work: work.to_path_buf(),
    }
}

pub fn creds() -> Vec<(&'static str, &'static str)> {
    vec![("ESXI_ISO_USERNAME", USER), ("ESXI_ISO_PASSWORD", PASS)]
}

/// Starts `esxi-iso` like [`esxi_iso`], without waiting for it.
pub fn spawn_esxi_iso(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    command(work, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running esxi-iso")
}

/// `esxi-iso ARGS` in `work` with only the given ESXI_ISO_* variables, in
/// a new session.
fn command(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_esxi-iso"));
    cmd.args(args)
        .current_dir(work)
        .env_remove("ESXI_ISO_USERNAME")
        .env_remove("ESXI_ISO_PASSWORD")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd
}
