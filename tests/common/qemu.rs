//! Boot an ISO under QEMU (TCG) and watch its serial port.
//!
//! The fixture boot loaders (ISOLINUX + cat.c32 for BIOS, GRUB for UEFI)
//! print markers and files to the serial port; a boot passes when every
//! expected string has appeared. It stops early on known failure text and
//! after a timeout, and QEMU is always killed (also on panic, via Drop).

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Text that means the boot went wrong: firmware shells and loader errors.
pub const FAILURE_TEXT: &[&str] = &[
    "UEFI Interactive Shell",
    "EFI Internal Shell",
    "Shell>",
    "Failed to load",
    "No bootable device",
    "Boot failed",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    /// Tools a boot with this firmware needs (for `tools::require`).
    pub fn tools(self) -> &'static [&'static str] {
        match self {
            Firmware::Bios => &[QEMU],
            Firmware::Uefi => &[QEMU, OVMF_CODE, OVMF_VARS],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every expected string appeared.
    Passed,
    /// Known failure text appeared.
    Failed(String),
    /// QEMU exited (reset with -no-reboot, or power off) first.
    Exited,
    TimedOut,
}

pub struct BootLog {
    pub iso: String,
    pub firmware: Firmware,
    pub outcome: Outcome,
    /// Serial output as received.
    pub raw: String,
    /// QEMU's own stderr.
    pub stderr: String,
    pub elapsed: Duration,
    pub missing: Vec<String>,
}

impl BootLog {
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Passed
    }

    /// Serial output without CR and ANSI escape sequences.
    pub fn text(&self) -> String {
        clean(&self.raw)
    }

    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_string).collect()
    }

    /// Panics with the whole log unless the boot passed.
    pub fn assert_passed(&self) {
        assert!(self.passed(), "boot did not pass\n{self}");
    }

    pub fn assert_contains(&self, needle: &str) {
        assert!(
            self.text().contains(needle),
            "serial log lacks {needle:?}\n{self}"
        );
    }

    pub fn assert_lacks(&self, needle: &str) {
        assert!(
            !self.text().contains(needle),
            "serial log has {needle:?}\n{self}"
        );
    }

    /// Panics unless `line` appears as a whole line.
    pub fn assert_line(&self, line: &str) {
        assert!(
            self.lines().iter().any(|l| l.trim_end() == line),
            "serial log lacks the line {line:?}\n{self}"
        );
    }
}

impl fmt::Display for BootLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "=== {:?} boot of {}: {:?} after {:.1?}",
            self.firmware, self.iso, self.outcome, self.elapsed
        )?;
        if !self.missing.is_empty() {
            writeln!(f, "=== never seen: {:?}", self.missing)?;
        }
        writeln!(f, "=== serial log")?;
        writeln!(f, "{}", self.text())?;
        writeln!(f, "=== qemu stderr")?;
        writeln!(f, "{}", self.stderr)?;
        write!(f, "=== end of log")
    }
}

fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\x1b' => {
                // CSI: ESC [ params... final byte in @..~
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Kills and reaps QEMU however the boot ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots `iso` and returns when every `expect` string was seen on the serial
/// port, on failure text, when QEMU exits, or after `timeout`.
pub fn boot(iso: &Path, fw: Firmware, expect: &[&str], timeout: Duration) -> BootLog {
    let vars = tempfile::NamedTempFile::new().expect("creating a temp file for OVMF vars");
    let mut cmd = Command::new(QEMU);
    cmd.args(["-accel", "tcg", "-m", "256", "-serial", "stdio"])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .args(["-net", "none"]);
    if fw == Firmware::Uefi {
        std::fs::copy(OVMF_VARS, vars.path()).expect("copying OVMF vars");
        cmd.args(["-machine", "q35", "-drive"])
            .arg(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
            ))
            .arg("-drive")
            .arg(format!(
                "if=pflash,format=raw,unit=1,file={}",
                vars.path().display()
            ));
    }
    cmd.arg("-cdrom").arg(iso);
    watch(cmd, &iso.display().to_string(), fw, expect, timeout)
}

/// A QEMU command for UEFI HTTP boot of `boot_uri`, as a vSphere VM's
/// `networkBootUri` does it: OVMF with a boot entry for the URI that
/// virt-firmware writes into `vars` (a copy of [`OVMF_VARS`]), serial on
/// stdio, no display. The caller adds the network (`-netdev`, `-device`
/// with `romfile=`, so that OVMF's own HTTP boot runs, not iPXE's).
pub fn http_boot_command(boot_uri: &str, vars: &Path) -> Command {
    let out = Command::new("virt-fw-vars")
        .args(["-i", OVMF_VARS, "-o"])
        .arg(vars)
        .args(["--set-boot-uri", boot_uri])
        .output()
        .expect("running virt-fw-vars");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(QEMU);
    cmd.args([
        "-accel", "tcg", "-machine", "q35", "-m", "512", "-serial", "stdio",
    ])
    .args(["-display", "none", "-monitor", "none", "-no-reboot"])
    .arg("-drive")
    .arg(format!(
        "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
    ))
    .arg("-drive")
    .arg(format!(
        "if=pflash,format=raw,unit=1,file={}",
        vars.display()
    ));
    cmd
}

/// Runs a prepared QEMU command (serial on stdio) and watches its serial
/// port as [`boot`] does; `label` names what boots in the log.
pub fn watch(
    mut cmd: Command,
    label: &str,
    fw: Firmware,
    expect: &[&str],
    timeout: Duration,
) -> BootLog {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut guard = Guard(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("starting {QEMU}: {e}")),
    );
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut stdout = guard.0.stdout.take().expect("qemu stdout");
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut stderr_pipe = guard.0.stderr.take().expect("qemu stderr");
    let stderr_thread = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });

    let mut raw = Vec::new();
    let outcome = loop {
        let left = timeout.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(chunk) => {
                raw.extend_from_slice(&chunk);
                let text = clean(&String::from_utf8_lossy(&raw));
                if expect.iter().all(|e| text.contains(e)) {
                    break Outcome::Passed;
                }
                if let Some(bad) = FAILURE_TEXT.iter().find(|t| text.contains(*t)) {
                    break Outcome::Failed(bad.to_string());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break Outcome::TimedOut,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Outcome::Exited,
        }
    };
    let elapsed = started.elapsed();
    drop(guard);
    let stderr = stderr_thread.join().unwrap_or_default();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let text = clean(&raw);
    BootLog {
        iso: label.to_string(),
        firmware: fw,
        missing: expect
            .iter()
            .filter(|e| !text.contains(*e))
            .map(|e| e.to_string())
            .collect(),
        outcome,
        raw,
        stderr,
        elapsed,
    }
}
