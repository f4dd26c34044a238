//! The ESXi-shaped fixture ISOs made by `tests/fixtures/mkfixture.sh`
//! (described in `tests/fixtures/INDEX.md`).
//!
//! The script runs at most once per script version: its output is cached in
//! `$CARGO_TARGET_TMPDIR/fixtures-<sha256 of the script>` and shared by every
//! test binary and run. An flock on a lock file next to it serialises test
//! binaries that start at the same time; a `.complete` stamp, written last,
//! tells a finished directory from one a killed run left behind.

use std::fs::{self, File};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::tools;

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mkfixture.sh");

/// Tools the fixture script needs.
pub const TOOLS: &[&str] = &[
    "genisoimage",
    "openssl",
    "mkfs.fat",
    "mmd",
    "mcopy",
    "grub-mkstandalone",
    "/usr/lib/grub/x86_64-efi/iso9660.mod",
    "/usr/lib/grub/x86_64-efi/http.mod",
    "/usr/lib/grub/i386-pc/iso9660.mod",
    "/usr/lib/ISOLINUX/isolinux.bin",
    "/usr/lib/syslinux/modules/bios/cat.c32",
];

pub struct Fixtures {
    pub dir: PathBuf,
    /// Plain ISO9660, as VMware ships it.
    pub plain: PathBuf,
    /// Rock Ridge + Joliet (`-relaxed-filenames -J -R`).
    pub rrj: PathBuf,
    /// Plain, with GRUB (i386-pc-eltorito) as the BIOS boot image.
    pub grub: PathBuf,
    /// The source tree (ISOLINUX.BIN unpatched, no BOOT.CAT).
    pub tree: PathBuf,
    /// Plain, modules in /ESXI, `prefix=/esxi` with relative names.
    pub prefix: PathBuf,
    /// Plain, ESXi 6.5-shaped vendor ISO (tboot, 183 modules, two
    /// kernelopt lines, no final newline).
    pub v65: PathBuf,
    /// Plain, ESX 9.1-shaped.
    pub v91: PathBuf,
    /// Plain, with a GRUB network client standing in for mboot.efi as
    /// /EFI/BOOT/BOOTX64.EFI (network install tests).
    pub net: PathBuf,
}

/// The El Torito options of VMware's own mastering command (mkisofs,
/// genisoimage, `xorriso -as mkisofs`): BIOS ISOLINUX.BIN without
/// emulation, load size 4, with a boot-info-table; UEFI EFIBOOT.IMG.
pub const ESXI_BOOT_ARGS: &[&str] = &[
    "-b",
    "ISOLINUX.BIN",
    "-c",
    "BOOT.CAT",
    "-no-emul-boot",
    "-boot-load-size",
    "4",
    "-boot-info-table",
    "-eltorito-alt-boot",
    "-e",
    "EFIBOOT.IMG",
    "-no-emul-boot",
];

/// True when the fixture script's tools are installed (see `tools::require`).
pub fn available() -> bool {
    tools::require(TOOLS)
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = generate(Path::new(env!("CARGO_TARGET_TMPDIR")));
        Fixtures {
            plain: dir.join("esxi-plain.iso"),
            rrj: dir.join("esxi-rrj.iso"),
            grub: dir.join("esxi-grub.iso"),
            tree: dir.join("tree"),
            prefix: dir.join("esxi-prefix.iso"),
            v65: dir.join("esxi-65.iso"),
            v91: dir.join("esxi-91.iso"),
            net: dir.join("esxi-net.iso"),
            dir,
        }
    })
}

fn script_hash() -> String {
    let script = fs::read(SCRIPT).unwrap_or_else(|e| panic!("reading {SCRIPT}: {e}"));
    Sha256::digest(&script)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn generate(tmp: &Path) -> PathBuf {
    fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("creating {}: {e}", tmp.display()));
    let name = format!("fixtures-{}", script_hash());
    let dir = tmp.join(&name);
    let stamp = dir.join(".complete");
    let lock_path = tmp.join(format!("{name}.lock"));
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", lock_path.display()));
    // Released when `lock` is dropped at the end of this function.
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        panic!(
            "locking {}: {}",
            lock_path.display(),
            std::io::Error::last_os_error()
        );
    }
    if stamp.exists() {
        return dir;
    }
    let started = std::time::Instant::now();
    let out = Command::new("bash")
        .arg(SCRIPT)
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running {SCRIPT}: {e}"));
    if !out.status.success() {
        panic!(
            "{SCRIPT} {} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fs::write(&stamp, b"").unwrap_or_else(|e| panic!("writing {}: {e}", stamp.display()));
    eprintln!(
        "fixtures: generated {} in {:.1?}",
        dir.display(),
        started.elapsed()
    );
    drop(lock);
    dir
}

/// A fresh temporary directory for one test, under the target dir so it is
/// on the same filesystem as the fixtures.
pub fn work_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap_or_else(|e| panic!("creating a temp dir for {name}: {e}"))
}
