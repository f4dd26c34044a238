//! Running the `esxi-iso` binary in tests, with everything needed to
//! understand a failure printed: the command, its output and the files in
//! the work directory.

use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_esxi-iso");

/// A finished run of the binary.
pub struct Run {
    pub cmd: String,
    pub out: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.cmd,
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts success; returns self for chaining.
    pub fn ok(self) -> Run {
        assert!(
            self.out.status.success(),
            "expected success\n{}",
            self.describe()
        );
        self
    }

    /// Asserts exit `code` (see `esxi_iso::failure`: 1 verdict, 2 usage,
    /// 3 input, 4 output exists, 5 network, 6 other) with a one-line
    /// `esxi-iso: error:` message that contains `want`, and no panic.
    pub fn fails_with(self, code: i32, want: &str) -> Run {
        let err = self.stderr();
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit {code}\n{}",
            self.describe()
        );
        assert!(
            err.starts_with("esxi-iso: error: "),
            "bad error prefix\n{}",
            self.describe()
        );
        assert!(
            err.contains(want),
            "expected {want:?} in stderr\n{}",
            self.describe()
        );
        assert!(!err.contains("panicked"), "panic\n{}", self.describe());
        self
    }
}

/// Runs `esxi-iso ARGS` in `cwd` with `env` added (and the password
/// variable cleared unless given).
pub fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run(command(cwd, args, env), args)
}

/// Like [`run_in`], with the child's umask set to `umask`.
pub fn run_in_umask(cwd: &Path, args: &[&str], env: &[(&str, &str)], umask: u32) -> Run {
    use std::os::unix::process::CommandExt;
    let mut c = command(cwd, args, env);
    // SAFETY: umask(2) is async-signal-safe and cannot fail.
    unsafe {
        c.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
    run(c, args)
}

fn command(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(cwd)
        .env_remove("ESXI_ISO_ROOT_PASSWORD")
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn run(mut c: Command, args: &[&str]) -> Run {
    let out = c.output().expect("running esxi-iso");
    Run {
        cmd: format!("esxi-iso {}", args.join(" ")),
        out,
    }
}

/// Names in `dir`, sorted (to show what a failed run left behind).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs an external tool, asserting success; returns stdout.
pub fn tool(cmd: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&tool_bytes(cmd, args)).into_owned()
}

/// A file of an ISO as xorriso reads it (an independent reader).
pub fn iso_file(iso: &Path, path: &str) -> Vec<u8> {
    let out = tempfile::NamedTempFile::new().unwrap();
    tool_bytes(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            iso.to_str().unwrap(),
            "-extract",
            path,
            out.path().to_str().unwrap(),
        ],
    );
    std::fs::read(out.path()).unwrap()
}

/// Like [`tool`] but returns raw stdout bytes.
pub fn tool_bytes(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {} failed: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
