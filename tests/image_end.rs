//! The end of the image: every output keeps at least 150 zero sectors after
//! its last file, inside the volume, as genisoimage and xorriso lay theirs
//! out, because CD readers read ahead near the end of a disc.
//!
//! The real reader is GRUB's BIOS CD driver (i386-pc-eltorito under
//! SeaBIOS, reading through int 13h), which returns garbage for a file in
//! the last sectors of a disc: the fixture's `esxi-grub.iso` prints
//! /KS.CFG with it. The negative control is the same output cut back to the
//! old layout (pad removed, volume size patched), which GRUB misreads.
//! Extents and volume sizes are read with xorriso and isoinfo.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::cli::{run_in, tool};
use common::fixture::{self, fixtures, work_dir};
use common::qemu::{self, BootLog, Firmware};
use common::tools;

const SECTOR: u64 = 2048;
const PAD: u64 = 150;
const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";
const GRUB_MARKER: &str = "ESXI-ISO-GRUB-BIOS-BOOT";
const GRUB_KS: &str = "==== GRUB BIOS /KS.CFG ====";
const GRUB_END: &str = "==== GRUB BIOS END ====";

fn ready() -> bool {
    fixture::available() && tools::require(&["xorriso", "isoinfo"])
}

/// A kickstart of a few sectors whose every line can be recognised.
fn kickstart() -> String {
    let mut ks = format!(
        "vmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted {HASH}\n\
         network --bootproto=dhcp\nreboot\n"
    );
    for i in 0..70 {
        ks.push_str(&format!(
            "# line {i:02} of the kickstart: abcdefghijklmnopqrstuvwxyz 0123456789\n"
        ));
    }
    ks
}

fn build(dir: &Path, src: &Path, out: &str, extra: &[&str]) -> PathBuf {
    fs::write(dir.join("ks.cfg"), kickstart()).unwrap();
    let mut args = vec![
        "build",
        src.to_str().unwrap(),
        "-o",
        out,
        "-q",
        "--kickstart",
        "ks.cfg",
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args, &[]).ok();
    dir.join(out)
}

/// The volume size in sectors, as isoinfo reads it from the PVD.
fn volume_sectors(iso: &Path) -> u64 {
    let d = tool("isoinfo", &["-d", "-i", iso.to_str().unwrap()]);
    d.lines()
        .find_map(|l| l.strip_prefix("Volume size is: "))
        .unwrap_or_else(|| panic!("isoinfo -d shows no volume size:\n{d}"))
        .trim()
        .parse()
        .unwrap()
}

/// The sector after the last file data, as xorriso reports the extents.
fn files_end(iso: &Path) -> u64 {
    let out = tool(
        "xorriso",
        &[
            "-indev",
            iso.to_str().unwrap(),
            "-find",
            "/",
            "-exec",
            "report_lba",
            "--",
        ],
    );
    // File data lba:  0 ,      549 ,       19 ,    38912 , '/ISOLINUX.BIN'
    out.lines()
        .filter_map(|l| l.strip_prefix("File data lba:"))
        .map(|l| {
            let f: Vec<u64> = l
                .split(',')
                .take(3)
                .map(|x| x.trim().parse().unwrap())
                .collect();
            f[1] + f[2]
        })
        .max()
        .unwrap_or_else(|| panic!("xorriso reports no file extents:\n{out}"))
}

/// At least PAD zero sectors after the last file, all inside the volume,
/// and the file exactly as long as the volume.
fn assert_padded(iso: &Path) {
    let sectors = volume_sectors(iso);
    let end = files_end(iso);
    let len = fs::metadata(iso).unwrap().len();
    assert_eq!(
        len,
        sectors * SECTOR,
        "{}: file size vs volume size",
        iso.display()
    );
    assert!(
        sectors >= end + PAD,
        "{}: last file ends at sector {end}, volume has {sectors}: fewer than {PAD} sectors after it",
        iso.display()
    );
    let bytes = fs::read(iso).unwrap();
    assert!(
        bytes[(end * SECTOR) as usize..].iter().all(|&b| b == 0),
        "{}: the trailing pad is not zeros",
        iso.display()
    );
}

/// The old layout: the output cut back to its last file, with the volume
/// space size (PVD offset 80, both-endian) patched to match.
fn strip_pad(iso: &Path, out: &Path) {
    let end = files_end(iso);
    let mut bytes = fs::read(iso).unwrap();
    bytes.truncate((end * SECTOR) as usize);
    let pvd = (16 * SECTOR) as usize;
    bytes[pvd + 80..pvd + 84].copy_from_slice(&(end as u32).to_le_bytes());
    bytes[pvd + 84..pvd + 88].copy_from_slice(&(end as u32).to_be_bytes());
    fs::write(out, bytes).unwrap();
}

fn grub_boot(iso: &Path) -> BootLog {
    let log = qemu::boot(
        iso,
        Firmware::Bios,
        &[GRUB_MARKER, GRUB_END],
        qemu::DEFAULT_TIMEOUT,
    );
    eprintln!("GRUB BIOS boot of {}: {:?}", iso.display(), log.outcome);
    log
}

/// The lines GRUB printed for /KS.CFG.
fn printed_kickstart(log: &BootLog) -> Vec<String> {
    let text = log.text();
    let start = text.find(GRUB_KS).map(|i| i + GRUB_KS.len());
    let end = text.find(GRUB_END);
    match (start, end) {
        (Some(s), Some(e)) if s <= e => text[s..e]
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
        _ => panic!("no /KS.CFG section in the serial log\n{log}"),
    }
}

fn can_boot() -> bool {
    ready() && tools::require(Firmware::Bios.tools())
}

#[test]
fn boot_grub_bios_reads_the_kickstart_before_the_pad() {
    if !can_boot() {
        return;
    }
    let work = work_dir("end-grub");
    let out = build(work.path(), &fixtures().grub, "out.iso", &[]);
    assert_padded(&out);
    let log = grub_boot(&out);
    log.assert_passed();
    let want: Vec<String> = kickstart().lines().map(str::to_string).collect();
    assert_eq!(printed_kickstart(&log), want, "GRUB misread /KS.CFG\n{log}");
}

#[test]
fn boot_grub_bios_negative_control_misreads_a_kickstart_at_the_end() {
    if !can_boot() {
        return;
    }
    let work = work_dir("end-grub-neg");
    let out = build(work.path(), &fixtures().grub, "out.iso", &[]);
    let old = work.path().join("old-layout.iso");
    strip_pad(&out, &old);
    // GRUB reads ahead in blocks of 16 CD sectors: when the disc ends on
    // such a boundary the read-ahead fits and nothing goes wrong.
    let sectors = volume_sectors(&old);
    assert_ne!(
        sectors % 16,
        0,
        "the control needs a disc that doesn't end on a 16-sector boundary"
    );
    let log = grub_boot(&old);
    log.assert_passed();
    let want: Vec<String> = kickstart().lines().map(str::to_string).collect();
    assert_ne!(
        printed_kickstart(&log),
        want,
        "GRUB read a kickstart in the last sector correctly: the control proves nothing\n{log}"
    );
}

#[test]
fn build_outputs_keep_the_pad() {
    if !ready() {
        return;
    }
    let work = work_dir("end-build");
    let w = work.path();
    fs::create_dir_all(w.join("ov/ramdisk/etc")).unwrap();
    fs::create_dir_all(w.join("ov/iso/LAB")).unwrap();
    fs::write(w.join("ov/ramdisk/etc/site.conf"), "site=lab\n").unwrap();
    fs::write(w.join("ov/iso/LAB/NOTES.TXT"), "notes\n").unwrap();
    let f = fixtures();
    for (src, out, extra) in [
        (&f.plain, "plain.iso", &[][..]),
        (&f.rrj, "rrj.iso", &[][..]),
        (&f.plain, "overlay.iso", &["--overlay", "ov"][..]),
        (&f.rrj, "ramdisk.iso", &["--ks-in-ramdisk"][..]),
    ] {
        assert_padded(&build(w, src, out, extra));
    }
}

#[test]
fn a_source_without_a_pad_gets_one() {
    if !ready() {
        return;
    }
    let work = work_dir("end-nopad-src");
    let w = work.path();
    let src = w.join("nopad.iso");
    strip_pad(&fixtures().plain, &src);
    assert!(volume_sectors(&src) < files_end(&fixtures().plain) + PAD);
    assert_padded(&build(w, &src, "out.iso", &[]));
}

#[test]
fn pack_outputs_keep_the_pad() {
    if !ready() {
        return;
    }
    let work = work_dir("end-pack");
    let w = work.path();
    let plain = fixtures().plain.to_str().unwrap();
    run_in(w, &["extract", plain, "tree"], &[]).ok();
    for (out, extra) in [
        ("plain.iso", &[][..]),
        ("rrj.iso", &["--rock-ridge", "--joliet"][..]),
    ] {
        let mut args = vec!["pack", "tree", "-o", out];
        args.extend_from_slice(extra);
        run_in(w, &args, &[]).ok();
        assert_padded(&w.join(out));
    }
}

#[test]
fn verify_reports_a_missing_pad() {
    if !ready() {
        return;
    }
    let work = work_dir("end-verify");
    let w = work.path();
    let out = build(w, &fixtures().plain, "out.iso", &[]);
    let old = w.join("old-layout.iso");
    strip_pad(&out, &old);
    let pad_finding = |iso: &Path| {
        let run = run_in(w, &["verify", iso.to_str().unwrap(), "--json"], &[]).ok();
        let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "pad")
            .cloned()
            .unwrap_or_else(|| panic!("no pad finding:\n{report:#}"))
    };
    let good = pad_finding(&out);
    assert_eq!(good["level"], "ok", "{good}");
    let bad = pad_finding(&old);
    assert_eq!(bad["level"], "warn", "{bad}");
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("only 0 unused sectors"),
        "{bad}"
    );
}

/// `verify --json` into a pipe nobody reads: a closed stdout is not an
/// error (the JSON writer hides the io::Error inside its own error type).
#[test]
fn json_into_a_closed_pipe_is_quiet() {
    if !ready() {
        return;
    }
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(common::cli::BIN)
        .args(["verify", fixtures().plain.to_str().unwrap(), "--json"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{:?}: {stderr}",
        out.status
    );
}
