//! Boot tests: the fixture ISOs and the ISOs `esxi-iso build` makes from
//! them, booted under QEMU on BIOS (SeaBIOS + ISOLINUX 6.04) and UEFI (OVMF +
//! GRUB). The fixture's boot loaders print their platform's BOOT.CFG and
//! /KS.CFG to the serial port (tests/fixtures/INDEX.md); the tests judge the
//! serial log. Negative controls show the harness can see a broken boot, and
//! the boot-info-table is checked structurally because ISOLINUX 6.04 boots
//! even with an all-zero table.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture::{self, work_dir};
use common::oracle::*;
use common::qemu::{BootLog, Firmware, Outcome};
use common::tools;

/// Only /EFI/BOOT/BOOT.CFG of the fixture has this line...
const UEFI_CFG_LINE: &str = "# UEFI boot.cfg: EFI/BOOT/BOOT.CFG";
/// ...and only /BOOT.CFG has this one.
const BIOS_CFG_LINE: &str = "prefix=";
const STOCK_KERNELOPT: &str = "kernelopt=runweasel cdromBoot";
const KS_OPT: &str = "ks=cdrom:/KS.CFG";

const KS_MARKER: &str = "# ESXI-ISO-KS-MARKER 5d1f0c7a";
const KICKSTART: &str = "# ESXI-ISO-KS-MARKER 5d1f0c7a
vmaccepteula
install --firstdisk --overwritevmfs
rootpw --iscrypted $6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.
network --bootproto=dhcp
reboot
";

/// Checks tools for a boot (and the fixture script); false means skip.
fn can_boot(fw: Firmware) -> bool {
    fixture::available() && tools::require(fw.tools())
}

/// The BOOT.CFG lines the loader printed that start with `kernelopt=`.
fn kernelopt_lines(log: &BootLog) -> Vec<String> {
    log.lines()
        .into_iter()
        .filter(|l| l.starts_with("kernelopt="))
        .collect()
}

/// Asserts the log shows the platform's own BOOT.CFG and not the other one.
fn assert_platform_cfg(log: &BootLog, fw: Firmware) {
    match fw {
        Firmware::Bios => {
            log.assert_line(BIOS_CFG_LINE);
            log.assert_lacks(UEFI_CFG_LINE);
            log.assert_lacks(UEFI_MARKER);
        }
        Firmware::Uefi => {
            log.assert_line(UEFI_CFG_LINE);
            assert!(
                !log.lines().iter().any(|l| l.trim_end() == BIOS_CFG_LINE),
                "UEFI log shows /BOOT.CFG's {BIOS_CFG_LINE:?} line\n{log}"
            );
            log.assert_lacks(BIOS_MARKER);
        }
    }
    log.assert_line("title=Loading ESXi installer");
    log.assert_line("kernel=/b.b00");
    log.assert_line("build=8.0.3-0.0.24022510");
}

fn boot_source(v: Variant, fw: Firmware) {
    if !can_boot(fw) {
        return;
    }
    let log = boot(&source(v), fw, &[STOCK_KERNELOPT]);
    log.assert_passed();
    assert_platform_cfg(&log, fw);
    assert_eq!(
        kernelopt_lines(&log),
        [STOCK_KERNELOPT],
        "one stock kernelopt line\n{log}"
    );
    // The source has no kickstart: both loaders say so.
    match fw {
        Firmware::Bios => log.assert_contains("cat.c32: /KS.CFG: file not found"),
        Firmware::Uefi => log.assert_contains("file `/KS.CFG' not found"),
    }
}

#[test]
fn boot_source_plain_bios() {
    boot_source(Variant::Plain, Firmware::Bios);
}

#[test]
fn boot_source_plain_uefi() {
    boot_source(Variant::Plain, Firmware::Uefi);
}

#[test]
fn boot_source_rrj_bios() {
    boot_source(Variant::Rrj, Firmware::Bios);
}

#[test]
fn boot_source_rrj_uefi() {
    boot_source(Variant::Rrj, Firmware::Uefi);
}

/// Runs `esxi-iso build` on a fixture with KICKSTART; returns the output ISO.
fn build(v: Variant, dir: &Path) -> PathBuf {
    let ks = dir.join("ks.cfg");
    fs::write(&ks, KICKSTART).expect("writing ks.cfg");
    let out = dir.join("out.iso");
    let src = source(v);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_esxi-iso"));
    cmd.arg("build")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .arg("--kickstart")
        .arg(&ks)
        .arg("--quiet");
    let res = cmd.output().expect("running esxi-iso");
    assert!(
        res.status.success() && out.is_file(),
        "{cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}\n--- work dir\n{:?}",
        res.status,
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr),
        fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    out
}

fn boot_built(v: Variant, fw: Firmware) {
    if !can_boot(fw) {
        return;
    }
    let dir = work_dir(&format!("boot-built-{v:?}-{fw:?}"));
    let iso = build(v, dir.path());
    let log = boot(&iso, fw, &[KS_OPT, KS_MARKER]);
    log.assert_passed();
    assert_platform_cfg(&log, fw);
    let opts = kernelopt_lines(&log);
    assert_eq!(opts.len(), 1, "exactly one kernelopt line\n{log}");
    let words: Vec<&str> = opts[0]["kernelopt=".len()..].split_whitespace().collect();
    for want in ["runweasel", "cdromBoot", KS_OPT] {
        assert!(
            words.contains(&want),
            "kernelopt lacks {want:?}: {:?}\n{log}",
            opts[0]
        );
    }
    for line in KICKSTART.lines() {
        log.assert_line(line);
    }
}

#[test]
fn boot_built_plain_bios() {
    boot_built(Variant::Plain, Firmware::Bios);
}

#[test]
fn boot_built_plain_uefi() {
    boot_built(Variant::Plain, Firmware::Uefi);
}

#[test]
fn boot_built_rrj_bios() {
    boot_built(Variant::Rrj, Firmware::Bios);
}

#[test]
fn boot_built_rrj_uefi() {
    boot_built(Variant::Rrj, Firmware::Uefi);
}

/// Without --kickstart the build renders its default template, which
/// contains `vmaccepteula`.
#[test]
fn boot_built_default_template_bios() {
    if !can_boot(Firmware::Bios) {
        return;
    }
    let dir = work_dir("boot-built-default");
    let out = dir.path().join("out.iso");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_esxi-iso"));
    cmd.arg("build")
        .arg(source(Variant::Plain))
        .arg("-o")
        .arg(&out)
        .args(["--set", "root_password=VMware1!lab", "--quiet"]);
    let res = cmd.output().expect("running esxi-iso");
    assert!(
        res.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        res.status,
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    let log = boot(&out, Firmware::Bios, &[KS_OPT, "vmaccepteula"]);
    log.assert_passed();
    assert_platform_cfg(&log, Firmware::Bios);
    log.assert_line("vmaccepteula");
    log.assert_lacks("cat.c32: /KS.CFG: file not found");
}

// --- El Torito (El Torito 1.0, sections 2.0-2.4) -------------------------

const HEADER_FINAL: u8 = 0x91;
const HEADER_MORE: u8 = 0x90;
const PLATFORM_EFI: u8 = 0xEF;

fn write_at(iso: &Path, offset: u64, data: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .open(iso)
        .unwrap_or_else(|e| panic!("opening {}: {e}", iso.display()));
    f.seek(SeekFrom::Start(offset)).expect("seeking");
    f.write_all(data).expect("writing");
}

/// Zeroes the section header and entries of the 0xEF (UEFI) section.
/// Returns how many sections it removed.
fn remove_uefi_entry(iso: &Path) -> usize {
    let lba = catalog_lba(iso);
    let mut cat = read_at(iso, lba * SECTOR, SECTOR as usize);
    let mut removed = 0;
    let mut at = 2 * CATALOG_ENTRY;
    while at + CATALOG_ENTRY <= cat.len() && matches!(cat[at], HEADER_MORE | HEADER_FINAL) {
        let header = cat[at];
        let platform = cat[at + 1];
        let count = usize::from(u16::from_le_bytes([cat[at + 2], cat[at + 3]]));
        let end = at + CATALOG_ENTRY * (1 + count);
        if platform == PLATFORM_EFI {
            cat[at..end].fill(0);
            removed += 1;
        }
        if header == HEADER_FINAL {
            break;
        }
        at = end;
    }
    write_at(iso, lba * SECTOR, &cat);
    removed
}

// --- Negative controls -------------------------------------------------

/// Built output (or, while `esxi-iso build` isn't available, nothing: the
/// build assertion fails) copied so it can be patched.
fn built_copy(v: Variant, dir: &Path) -> PathBuf {
    build(v, dir)
}

#[test]
fn boot_negative_uefi_without_efi_entry_fails() {
    if !can_boot(Firmware::Uefi) {
        return;
    }
    let dir = work_dir("boot-neg-uefi");
    let iso = built_copy(Variant::Plain, dir.path());
    assert_eq!(remove_uefi_entry(&iso), 1, "one 0xEF section to remove");
    let log = boot(&iso, Firmware::Uefi, &[KS_MARKER]);
    assert!(
        !log.passed(),
        "UEFI boot passed without an EFI El Torito entry\n{log}"
    );
    log.assert_lacks(UEFI_MARKER);
    assert!(
        matches!(log.outcome, Outcome::Failed(_)),
        "expected OVMF to reach its shell\n{log}"
    );
}

#[test]
fn boot_negative_bios_bad_boot_info_checksum_fails() {
    if !can_boot(Firmware::Bios) {
        return;
    }
    let dir = work_dir("boot-neg-bios");
    let iso = built_copy(Variant::Plain, dir.path());
    let at = bios_boot_image_lba(&iso) * SECTOR + 20;
    let sum = le32(&read_at(&iso, at, 4), 0);
    write_at(&iso, at, &(sum ^ 0x5a5a_5a5a).to_le_bytes());
    let log = boot(&iso, Firmware::Bios, &[KS_MARKER]);
    assert!(
        !log.passed(),
        "BIOS boot passed with a corrupt boot-info-table\n{log}"
    );
    log.assert_lacks(BIOS_MARKER);
}

// --- boot-info-table -----------------------------------------------------

#[test]
fn boot_info_table_source() {
    if !(fixture::available() && tools::require(&["xorriso"])) {
        return;
    }
    check_boot_info_table(&source(Variant::Plain));
    check_boot_info_table(&source(Variant::Rrj));
}

#[test]
fn boot_info_table_built() {
    if !(fixture::available() && tools::require(&["xorriso"])) {
        return;
    }
    for v in [Variant::Plain, Variant::Rrj] {
        let dir = work_dir(&format!("boot-info-{v:?}"));
        check_boot_info_table(&build(v, dir.path()));
    }
}

#[test]
fn boot_info_table_check_catches_a_bad_checksum() {
    if !(fixture::available() && tools::require(&["xorriso"])) {
        return;
    }
    let dir = work_dir("boot-info-bad");
    let iso = dir.path().join("bad.iso");
    fs::copy(source(Variant::Plain), &iso).expect("copying the fixture");
    let at = bios_boot_image_lba(&iso) * SECTOR + 20;
    write_at(&iso, at, &[0, 0, 0, 0]);
    let err = boot_info_table(&iso).expect_err("a zeroed checksum went unnoticed");
    assert!(err.contains("checksum"), "{err}");
}

/// The fixture is shaped like ESXi 8.0: every boot.cfg module exists under
/// its uppercase name, and the root directory spans several sectors.
#[test]
fn boot_fixture_is_esxi_shaped() {
    if !fixture::available() {
        return;
    }
    let f = fixture::fixtures();
    for cfg in ["BOOT.CFG", "EFI/BOOT/BOOT.CFG"] {
        let text = fs::read_to_string(f.tree.join(cfg)).expect("reading boot.cfg");
        let modules = text
            .lines()
            .find_map(|l| l.strip_prefix("modules="))
            .expect("modules= line");
        let names: Vec<&str> = modules.split(" --- ").collect();
        assert!(names.len() >= 50, "{cfg}: only {} modules", names.len());
        assert_eq!(names.first(), Some(&"/jumpstrt.gz"));
        assert_eq!(names.last(), Some(&"/imgpayld.tgz"));
        for n in names {
            let upper = n.trim_start_matches('/').to_ascii_uppercase();
            assert!(f.tree.join(&upper).is_file(), "{cfg}: {n} not in the tree");
        }
        assert_eq!(text.matches("kernelopt=").count(), 1);
    }
    let root = fs::read_dir(&f.tree).expect("listing the tree").count();
    assert!(root >= 80, "only {root} root entries");
}
