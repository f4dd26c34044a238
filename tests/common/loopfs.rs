//! A private file system on a loop device, made and mounted by a test:
//! XFS and Btrfs, the reflink file systems people keep labs on, next to the
//! ext4 the rest of the suite runs on. Mounting needs root and loop
//! devices; where either is missing the test is skipped with a message
//! (also under CI, where the machine may not allow it), while missing
//! mkfs tools follow `tools::require` (a failure under CI).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::fixture::work_dir;
use super::tools;

/// A mounted loop file system; unmounted (and its image removed) on drop,
/// also when an assertion fails.
pub struct LoopFs {
    pub kind: &'static str,
    pub dir: PathBuf,
    mounted: bool,
    // Dropped last: holds the image file and the mount point.
    _work: tempfile::TempDir,
}

impl LoopFs {
    /// A fresh `kind` file system ("xfs" or "btrfs") of `size_mib` MiB,
    /// mounted; None (after saying why) when this machine cannot mount one.
    pub fn new(kind: &'static str, size_mib: u64) -> Option<LoopFs> {
        let mkfs = format!("mkfs.{kind}");
        if !tools::require(&[&mkfs, "mount", "umount"]) {
            return None;
        }
        let work = work_dir(&format!("loop-{kind}"));
        let image = work.path().join("fs.img");
        let dir = work.path().join("mnt");
        fs::create_dir(&dir).unwrap();
        fs::File::create(&image)
            .unwrap()
            .set_len(size_mib << 20)
            .unwrap();
        let made = Command::new(&mkfs)
            .args(["-q", "-f"])
            .arg(&image)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{mkfs} failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mount = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        if !mount.status.success() {
            eprintln!(
                "skipping: cannot mount a loop {kind} file system here (needs root and loop \
                 devices): {}",
                String::from_utf8_lossy(&mount.stderr).trim()
            );
            return None;
        }
        Some(LoopFs {
            kind,
            dir,
            mounted: true,
            _work: work,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Bytes in use on the file system, after flushing it (`df`).
    pub fn used_bytes(&self) -> u64 {
        let st = Command::new("sync")
            .arg("-f")
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(st.success());
        if self.kind == "btrfs" {
            // Btrfs updates its space accounting at transaction commit.
            let _ = Command::new("btrfs")
                .args(["filesystem", "sync"])
                .arg(&self.dir)
                .status();
        }
        used(&self.dir)
    }
}

fn used(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=used", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("df said {:?}", String::from_utf8_lossy(&out.stdout)))
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            // -d frees the loop device as well.
            let _ = Command::new("umount").arg("-d").arg(&self.dir).status();
        }
    }
}
