//! The fixtures' boot oracles and independent structural checks, shared
//! by the boot, build and extract/pack tests.
//!
//! The fixture's ISOLINUX and GRUB print their platform's BOOT.CFG and
//! /KS.CFG to the serial port between a start marker and an end marker
//! (tests/fixtures/INDEX.md). The boot-info-table is checked against
//! xorriso's view of ISOLINUX.BIN, because ISOLINUX 6.04 boots even with an
//! all-zero table.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixture;
use super::qemu::{self, BootLog, Firmware};

pub const SECTOR: u64 = 2048;
pub const BIOS_MARKER: &str = "ESXI-ISO-BIOS-BOOT";
pub const UEFI_MARKER: &str = "ESXI-ISO-UEFI-BOOT";
/// ISOLINUX's prompt once cat.c32 has returned.
pub const BIOS_END: &str = "boot:";
pub const UEFI_END: &str = "==== UEFI END ====";

// El Torito 1.0, sections 2.0-2.4.
/// Boot Record Volume Descriptor: sector 17; catalog LBA at offset 0x47.
pub const BRVD_SECTOR: u64 = 17;
pub const BRVD_CATALOG_LBA: usize = 0x47;
pub const CATALOG_ENTRY: usize = 32;

/// Which fixture ISO.
#[derive(Clone, Copy, Debug)]
pub enum Variant {
    Plain,
    Rrj,
}

pub fn source(v: Variant) -> PathBuf {
    let f = fixture::fixtures();
    match v {
        Variant::Plain => f.plain.clone(),
        Variant::Rrj => f.rrj.clone(),
    }
}

pub fn end_marker(fw: Firmware) -> &'static str {
    match fw {
        Firmware::Bios => BIOS_END,
        Firmware::Uefi => UEFI_END,
    }
}

pub fn marker(fw: Firmware) -> &'static str {
    match fw {
        Firmware::Bios => BIOS_MARKER,
        Firmware::Uefi => UEFI_MARKER,
    }
}

/// Boots and waits for the platform's marker and end of output.
pub fn boot(iso: &Path, fw: Firmware, extra: &[&str]) -> BootLog {
    let mut expect = vec![marker(fw)];
    expect.extend_from_slice(extra);
    expect.push(end_marker(fw));
    let log = qemu::boot(iso, fw, &expect, qemu::DEFAULT_TIMEOUT);
    eprintln!(
        "{:?} boot of {} took {:.1?}: {:?}",
        fw,
        iso.display(),
        log.elapsed,
        log.outcome
    );
    log
}

pub fn read_at(iso: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = fs::File::open(iso).unwrap_or_else(|e| panic!("opening {}: {e}", iso.display()));
    f.seek(SeekFrom::Start(offset)).expect("seeking");
    let mut buf = vec![0; len];
    f.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {len} bytes at {offset} of {}: {e}", iso.display()));
    buf
}

pub fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn catalog_lba(iso: &Path) -> u64 {
    let brvd = read_at(iso, BRVD_SECTOR * SECTOR, SECTOR as usize);
    assert_eq!(&brvd[0..6], b"\0CD001", "no boot record at sector 17");
    assert!(
        brvd[7..].starts_with(b"EL TORITO SPECIFICATION"),
        "sector 17 is not an El Torito boot record"
    );
    u64::from(le32(&brvd, BRVD_CATALOG_LBA))
}

/// LBA of the default (BIOS) entry's boot image, from the catalog.
pub fn bios_boot_image_lba(iso: &Path) -> u64 {
    let cat = read_at(iso, catalog_lba(iso) * SECTOR, SECTOR as usize);
    let entry = &cat[CATALOG_ENTRY..2 * CATALOG_ENTRY];
    assert_eq!(entry[0], 0x88, "default entry is not bootable");
    u64::from(le32(entry, 8))
}

/// (LBA, size) of a file, as xorriso reports it.
pub fn xorriso_lba(iso: &Path, path: &str) -> (u64, u64) {
    let out = Command::new("xorriso")
        .arg("-indev")
        .arg(iso)
        .args(["-find", path, "-exec", "report_lba", "--"])
        .output()
        .expect("running xorriso");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "xorriso failed on {}:\n{stdout}\n{}",
        iso.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // File data lba:  0 ,      549 ,       19 ,    38912 , '/ISOLINUX.BIN'
    let line = stdout
        .lines()
        .find(|l| l.starts_with("File data lba:"))
        .unwrap_or_else(|| panic!("xorriso reports no extent for {path}:\n{stdout}"));
    let fields: Vec<&str> = line["File data lba:".len()..]
        .split(',')
        .map(str::trim)
        .collect();
    (fields[1].parse().unwrap(), fields[3].parse().unwrap())
}

/// Checks ISOLINUX.BIN's boot-info-table against an independent reader.
pub fn boot_info_table(iso: &Path) -> Result<(), String> {
    let (lba, len) = xorriso_lba(iso, "/ISOLINUX.BIN");
    let eltorito = bios_boot_image_lba(iso);
    if lba != eltorito {
        return Err(format!(
            "El Torito BIOS entry points at LBA {eltorito}, ISOLINUX.BIN is at {lba}"
        ));
    }
    let file = read_at(iso, lba * SECTOR, len as usize);
    if file.len() <= 64 || file.len() % 4 != 0 {
        return Err(format!("ISOLINUX.BIN is {} bytes", file.len()));
    }
    let sum = file[64..]
        .chunks_exact(4)
        .fold(0u32, |s, w| s.wrapping_add(le32(w, 0)));
    let found = (
        le32(&file, 8),
        le32(&file, 12),
        le32(&file, 16),
        le32(&file, 20),
    );
    let want = (16, lba as u32, len as u32, sum);
    if found != want {
        return Err(format!(
            "boot-info-table of ISOLINUX.BIN in {}: (pvd LBA, file LBA, length, checksum) \
             is {found:?}, want {want:?}",
            iso.display()
        ));
    }
    Ok(())
}

pub fn check_boot_info_table(iso: &Path) {
    if let Err(e) = boot_info_table(iso) {
        panic!("{e}");
    }
}
