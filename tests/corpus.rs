//! The malformed-ISO corpus: mutated copies of the plain fixture, each with
//! the exact error (structure and LBA) it must produce, through the library
//! (`IsoImage::open` + `Media::detect`, and `verify`) and through the
//! binary (`esxi-iso inspect`: exit 3; `esxi-iso verify`, also `--json`:
//! a verdict with exit 1, or exit 3 and no report when there is no ISO9660
//! volume descriptor at all; one `esxi-iso: error:` line on stderr, never
//! a panic).
//!
//! Offsets are found by parsing the valid fixture with our reader, never
//! hard-coded, so the corpus follows the fixture script.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use esxi_iso::esxi::Media;
use esxi_iso::failure::{self, Failure};
use esxi_iso::iso::format::{DR_DATA_LEN, DR_EXTENT, DR_FLAGS, DR_NAME, DR_NAME_LEN};
use esxi_iso::iso::reader::loader_name;
use esxi_iso::iso::record::Record;
use esxi_iso::iso::IsoImage;
use esxi_iso::verify::{self, Check, Depth};

use common::fixture::{self, work_dir};
use common::tools;

const BIN: &str = env!("CARGO_BIN_EXE_esxi-iso");
const S: usize = 2048;

/// Where things are on the valid fixture.
struct Map {
    len: usize,
    root: u32,
    root_size: u32,
    efi: u32,
    br_lba: u32,
    catalog: u32,
    volume_sectors: u32,
    /// Byte offsets of directory records.
    rec_boot_cfg: usize,
    rec_efi: usize,
    rec_upgrade: usize,
    rec_efi_boot: usize,
    rec_efi_boot_cfg: usize,
    boot_cfg_lba: u32,
    boot_cfg_size: u32,
}

fn dir_extent(img: &IsoImage, path: &str) -> (u32, u32) {
    let d = img
        .primary
        .dirs
        .iter()
        .find(|d| d.path == path)
        .unwrap_or_else(|| panic!("fixture has no directory {path:?}"));
    (d.extent, d.size)
}

/// Byte offset of the record called `name` in the directory at `extent`.
fn record_offset(bytes: &[u8], extent: u32, size: u32, name: &str) -> usize {
    let start = extent as usize * S;
    for sector in (start..start + size as usize).step_by(S) {
        let mut pos = sector;
        while pos < sector + S {
            match Record::parse(&bytes[pos..sector + S]) {
                Ok(Some(r)) => {
                    if loader_name(r.identifier()) == name {
                        return pos;
                    }
                    pos += r.raw.len();
                }
                _ => break,
            }
        }
    }
    panic!("no record {name} in the directory at LBA {extent}")
}

fn map(bytes: &[u8], img: &IsoImage) -> Map {
    let (root, root_size) = dir_extent(img, "");
    let (efi, efi_size) = dir_extent(img, "EFI");
    let (efi_boot, efi_boot_size) = dir_extent(img, "EFI/BOOT");
    let br = img.descriptors.iter().find(|d| d.kind == 0).unwrap();
    let cfg = img.record(img.find("BOOT.CFG").unwrap());
    Map {
        len: bytes.len(),
        root,
        root_size,
        efi,
        br_lba: br.lba,
        catalog: img.boot.as_ref().unwrap().lba,
        volume_sectors: img.pvd().volume_space(),
        rec_boot_cfg: record_offset(bytes, root, root_size, "BOOT.CFG"),
        rec_efi: record_offset(bytes, root, root_size, "EFI"),
        rec_upgrade: record_offset(bytes, root, root_size, "UPGRADE"),
        rec_efi_boot: record_offset(bytes, efi, efi_size, "BOOT"),
        rec_efi_boot_cfg: record_offset(bytes, efi_boot, efi_boot_size, "BOOT.CFG"),
        boot_cfg_lba: cfg.extent,
        boot_cfg_size: cfg.size,
    }
}

fn put_both_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Deterministic garbage (xorshift64).
fn garbage(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// A fragment the error must contain, LBA included.
    want: String,
}

impl Case {
    /// No ISO9660 volume descriptor at all: `verify` has nothing to judge
    /// and refuses the input (exit 3) instead of giving a verdict.
    fn not_iso(&self) -> bool {
        self.want.starts_with("not an ISO9660 image")
    }
}

fn cases(orig: &[u8], m: &Map) -> Vec<Case> {
    let mut v = Vec::new();
    let mut add = |name: &'static str, f: &dyn Fn(&mut Vec<u8>), want: String| {
        let mut b = orig.to_vec();
        f(&mut b);
        v.push(Case {
            name,
            bytes: b,
            want,
        });
    };
    let pvd = 16 * S;
    let root_rec = pvd + 156;
    let vol_bytes = m.volume_sectors as usize * S;

    add(
        "empty file",
        &|b| b.clear(),
        "not an ISO9660 image: the file is empty".into(),
    );
    for at in [1000, 16 * S + 100] {
        add(
            "truncated before the PVD ends",
            &move |b| b.truncate(at),
            format!("not an ISO9660 image: the file is {at} bytes, too short to hold a volume descriptor at LBA 16"),
        );
    }
    add(
        "truncated after the PVD",
        &|b| b.truncate(17 * S),
        "volume descriptor set has no terminator before the end of the file (LBA 17)".into(),
    );
    for at in [m.len / 2, m.len - S, (m.root as usize + 1) * S] {
        add(
            "truncated inside the volume",
            &move |b| b.truncate(at),
            format!(
                "volume space size {} sectors ({vol_bytes} bytes) exceeds the file size {at}: the file is truncated (LBA 16)",
                m.volume_sectors
            ),
        );
    }
    add(
        "PVD missing (zeroed)",
        &|b| b[pvd..pvd + S].fill(0),
        "not an ISO9660 image: no ISO9660 volume descriptor (CD001) at LBA 16".into(),
    );
    add(
        "PVD garbage",
        &|b| b[pvd..pvd + S].copy_from_slice(&garbage(S, 7)),
        "not an ISO9660 image: no ISO9660 volume descriptor (CD001) at LBA 16".into(),
    );
    add(
        "PVD turned into a non-Joliet SVD",
        &|b| b[pvd] = 2,
        "malformed ISO: the volume descriptor set has no primary volume descriptor (LBA 16)".into(),
    );
    add(
        "PVD block size 512",
        &|b| b[pvd + 128..pvd + 130].copy_from_slice(&512u16.to_le_bytes()),
        "logical block size 512 (only 2048 is supported) (LBA 16)".into(),
    );
    add(
        "root record length 0",
        &|b| b[root_rec] = 0,
        "root directory record length 0 (must be 34) (LBA 16)".into(),
    );
    add(
        "root record length 255",
        &|b| b[root_rec] = 255,
        "root directory record: directory record length 255 runs past its sector (34 bytes left) (LBA 16)".into(),
    );
    add(
        "root record not a directory",
        &|b| b[root_rec + DR_FLAGS] = 0,
        "root directory record is not flagged as a directory (LBA 16)".into(),
    );
    add(
        "root directory size 0xffffffff",
        &|b| put_both_u32(b, root_rec + DR_DATA_LEN, 0xffff_ffff),
        format!(
            "directory / has size 4294967295 (must be 1 to 16777216 bytes) (LBA {})",
            m.root
        ),
    );
    add(
        "root directory size 0",
        &|b| put_both_u32(b, root_rec + DR_DATA_LEN, 0),
        format!(
            "directory / has size 0 (must be 1 to 16777216 bytes) (LBA {})",
            m.root
        ),
    );
    add(
        "root directory extent past EOF",
        &|b| put_both_u32(b, root_rec + DR_EXTENT, 0x00ff_ffff),
        format!(
            "directory / ({} bytes) runs past the end of the file ({} bytes) (LBA 16777215)",
            m.root_size, m.len
        ),
    );
    add(
        "subdirectory size 0xffffffff",
        &|b| put_both_u32(b, m.rec_efi + DR_DATA_LEN, 0xffff_ffff),
        format!(
            "directory EFI has size 4294967295 (must be 1 to 16777216 bytes) (LBA {})",
            m.efi
        ),
    );
    add(
        "file extent past EOF",
        &|b| put_both_u32(b, m.rec_boot_cfg + DR_EXTENT, m.volume_sectors + 10),
        format!(
            "file /BOOT.CFG ({} bytes) runs past the end of the image ({} bytes) (LBA {})",
            m.boot_cfg_size,
            m.len,
            m.volume_sectors + 10
        ),
    );
    add(
        "file extent at u32::MAX",
        &|b| put_both_u32(b, m.rec_boot_cfg + DR_EXTENT, u32::MAX),
        format!(
            "file /BOOT.CFG ({} bytes) runs past the end of the image ({} bytes) (LBA 4294967295)",
            m.boot_cfg_size, m.len
        ),
    );
    add(
        "cycle between EFI and EFI/BOOT",
        &|b| put_both_u32(b, m.rec_efi_boot + DR_EXTENT, m.efi),
        format!(
            "directory loop: EFI/BOOT points back to a directory already visited (LBA {})",
            m.efi
        ),
    );
    add(
        "directory pointing at the root",
        &|b| put_both_u32(b, m.rec_upgrade + DR_EXTENT, m.root),
        format!(
            "directory loop: UPGRADE points back to a directory already visited (LBA {})",
            m.root
        ),
    );
    add(
        "directory without . and ..",
        &|b| b[m.efi as usize * S] = 0,
        format!(
            "directory EFI does not start with its . and .. records (LBA {})",
            m.efi
        ),
    );
    add(
        "directory record shorter than 34 bytes",
        &|b| b[m.root as usize * S] = 20,
        format!(
            "directory /: directory record length 20 is below the minimum 34 (LBA {})",
            m.root
        ),
    );
    add(
        "root directory sector of 0xff",
        &|b| b[m.root as usize * S..m.root as usize * S + S].fill(0xff),
        format!(
            "directory /: file identifier length 255 does not fit record length 255 (LBA {})",
            m.root
        ),
    );
    add(
        "file identifier longer than its record",
        &|b| b[m.rec_boot_cfg + DR_NAME_LEN] = 200,
        format!(
            "directory /: file identifier length 200 does not fit record length {} (LBA {})",
            orig[m.rec_boot_cfg],
            m.rec_boot_cfg / S
        ),
    );
    add(
        "descriptor set without a terminator",
        &|b| {
            let t = (m.br_lba as usize + 1) * S;
            b[t] = 3;
            b[t + S..t + S + 6].fill(0);
        },
        format!(
            "volume descriptor without the CD001 identifier (LBA {})",
            m.br_lba + 2
        ),
    );
    let cat = m.catalog as usize * S;
    add(
        "boot catalog bad checksum",
        &|b| {
            let w = u16::from_le_bytes([b[cat + 4], b[cat + 5]]).wrapping_add(1);
            b[cat + 4..cat + 6].copy_from_slice(&w.to_le_bytes());
        },
        format!(
            "boot catalog validation entry checksum is wrong (words sum to 0x0001, not 0) (LBA {})",
            m.catalog
        ),
    );
    add(
        "boot catalog bad validation key",
        &|b| b[cat + 31] = 0,
        format!(
            "boot catalog validation key is 55 00 (expected 55 AA) (LBA {})",
            m.catalog
        ),
    );
    add(
        "boot catalog bad header id",
        &|b| b[cat] = 0,
        format!(
            "boot catalog validation entry has header id 0x00 (expected 0x01) (LBA {})",
            m.catalog
        ),
    );
    add(
        "boot catalog pointer past EOF",
        &|b| {
            let br = m.br_lba as usize * S + 0x47;
            b[br..br + 4].copy_from_slice(&99_999u32.to_le_bytes());
        },
        format!(
            "El Torito boot record points at catalog LBA 99999, past the end of the file (LBA {})",
            m.br_lba
        ),
    );
    add(
        "BIOS boot entry past EOF",
        &|b| b[cat + 40..cat + 44].copy_from_slice(&99_999u32.to_le_bytes()),
        format!(
            "BIOS boot entry loads from LBA 99999, past the end of the file (LBA {})",
            m.catalog
        ),
    );
    add(
        "UEFI boot entry past EOF",
        &|b| b[cat + 104..cat + 108].copy_from_slice(&u32::MAX.to_le_bytes()),
        format!(
            "UEFI boot entry loads from LBA 4294967295, past the end of the file (LBA {})",
            m.catalog
        ),
    );
    add(
        "no El Torito boot record (non-ESXi ISO)",
        &|b| b[m.br_lba as usize * S + 7] = b'X',
        "not an ESXi installer ISO: it has no El Torito boot catalog, so it cannot boot an installer"
            .into(),
    );
    add(
        "/BOOT.CFG missing",
        &|b| b[m.rec_boot_cfg + DR_NAME + 3] = b'X',
        "not an ESXi installer ISO: /BOOT.CFG is missing (ESXi installers carry both /BOOT.CFG and /EFI/BOOT/BOOT.CFG)".into(),
    );
    add(
        "/EFI/BOOT/BOOT.CFG missing",
        &|b| b[m.rec_efi_boot_cfg + DR_NAME + 3] = b'X',
        "not an ESXi installer ISO: /EFI/BOOT/BOOT.CFG is missing".into(),
    );
    add(
        "/BOOT.CFG is a directory",
        &|b| {
            // A valid empty directory in the padding at the volume's end,
            // and BOOT.CFG's record turned into a directory record for it.
            let lba = m.volume_sectors - 1;
            let d = lba as usize * S;
            b[d..d + S].fill(0);
            for (i, (id, ext)) in [(0u8, lba), (1u8, m.root)].into_iter().enumerate() {
                let r = d + i * 34;
                b[r] = 34;
                put_both_u32(b, r + DR_EXTENT, ext);
                put_both_u32(b, r + DR_DATA_LEN, 2048);
                b[r + DR_FLAGS] = 2;
                b[r + DR_NAME_LEN] = 1;
                b[r + DR_NAME] = id;
            }
            let r = m.rec_boot_cfg;
            put_both_u32(b, r + DR_EXTENT, lba);
            put_both_u32(b, r + DR_DATA_LEN, 2048);
            b[r + DR_FLAGS] = 2;
            b[r + DR_NAME_LEN] = 8; // "BOOT.CFG" without ";1"
        },
        "not an ESXi installer ISO: /BOOT.CFG is a directory, not a file".into(),
    );
    let cfg = m.boot_cfg_lba as usize * S;
    let cfg_len = m.boot_cfg_size as usize;
    add(
        "/BOOT.CFG without kernel=",
        &|b| {
            let text = &mut b[cfg..cfg + cfg_len];
            let at = text
                .windows(7)
                .position(|w| w == b"kernel=")
                .expect("fixture BOOT.CFG has kernel=");
            text[at + 5] = b'X';
        },
        "not an ESXi installer ISO: /BOOT.CFG has no kernel= line".into(),
    );
    add(
        "/BOOT.CFG not UTF-8",
        &|b| b[cfg] = 0xff,
        "not an ESXi installer ISO: /BOOT.CFG is not UTF-8 text".into(),
    );
    let big = (1u32 << 20) + 1;
    assert!(
        cfg + big as usize <= m.len,
        "fixture too small for the oversized BOOT.CFG case"
    );
    add(
        "/BOOT.CFG larger than 1 MiB",
        &|b| put_both_u32(b, m.rec_boot_cfg + DR_DATA_LEN, big),
        format!(
            "reading /BOOT.CFG: malformed ISO: file of {big} bytes is larger than the 1048576-byte limit for this file (LBA {})",
            m.boot_cfg_lba
        ),
    );
    v
}

/// What the library says about an image: the first error, `{:#}`-style.
fn library_error(path: &Path) -> Option<String> {
    let img = match IsoImage::open(path) {
        Ok(img) => img,
        Err(e) => return Some(e.to_string()),
    };
    Media::detect(&img).err().map(|e| format!("{e:#}"))
}

fn write_cases(dir: &Path, cases: &[Case]) -> Vec<PathBuf> {
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = dir.join(format!("case{i:02}.iso"));
            std::fs::write(&p, &c.bytes).unwrap();
            p
        })
        .collect()
}

fn setup(name: &str) -> Option<(tempfile::TempDir, Vec<Case>, Vec<PathBuf>)> {
    if !fixture::available() {
        return None;
    }
    let f = fixture::fixtures();
    let orig = std::fs::read(&f.plain).unwrap();
    let img = IsoImage::open(&f.plain).unwrap();
    Media::detect(&img).expect("the unmodified fixture is an ESXi ISO");
    let m = map(&orig, &img);
    let cases = cases(&orig, &m);
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    let dir = work_dir(name);
    let paths = write_cases(dir.path(), &cases);
    Some((dir, cases, paths))
}

#[test]
fn library_reports_each_structure_and_lba() {
    let Some((_dir, cases, paths)) = setup("corpus-lib") else {
        return;
    };
    let mut failures = Vec::new();
    for (c, p) in cases.iter().zip(&paths) {
        match library_error(p) {
            Some(err) if err.contains(&c.want) => {}
            got => failures.push(format!(
                "{}:\n    want: {}\n    got:  {got:?}",
                c.name, c.want
            )),
        }
        // Not an ISO at all: an error; an ISO, however damaged: a verdict.
        match verify::verify_path(p, Depth::Full { source: None }) {
            Err(e) if c.not_iso() => {
                let tag = failure::of(&e);
                let e = format!("{e:#}");
                if !e.contains(&c.want) || tag != Some(Failure::Input) {
                    failures.push(format!("{}: verify error {e:?} tagged {tag:?}", c.name));
                }
            }
            Err(e) => failures.push(format!("{}: verify refused to judge: {e:#}", c.name)),
            Ok(_) if c.not_iso() => failures.push(format!("{}: verify judged a non-ISO", c.name)),
            Ok(report) if report.passed() => failures.push(format!("{}: verify passed", c.name)),
            Ok(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} malformed images checked", cases.len());
}

fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn binary_reports_errors_without_panicking() {
    let Some((_dir, cases, paths)) = setup("corpus-bin") else {
        return;
    };
    let mut failures = Vec::new();
    for (c, p) in cases.iter().zip(&paths) {
        for args in [&["inspect"][..], &["verify"], &["verify", "--json"]] {
            let sub = args.join(" ");
            let mut argv: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
            argv.push(p.as_os_str());
            let out = run(&argv);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            // A damaged image is an input error for inspect; verify reads
            // what it can and gives its verdict, unless there is no ISO at
            // all: then it is an input error too, with nothing on stdout.
            let verdict = args[0] == "verify" && !c.not_iso();
            let want_code = if verdict { 1 } else { 3 };
            let ok = out.status.code() == Some(want_code)
                && stderr.starts_with("esxi-iso: error:")
                && stderr.lines().count() == 1
                && !stderr.contains("panicked")
                && (verdict || stderr.contains(&c.want));
            if !ok {
                failures.push(format!(
                    "{sub} {} ({}): {:?}\n    want: {}\n    stderr: {stderr}\n    stdout: {stdout}",
                    c.name,
                    p.display(),
                    out.status,
                    c.want
                ));
            }
            let judged = if args.contains(&"--json") {
                serde_json::from_str::<serde_json::Value>(&stdout)
                    .is_ok_and(|j| j["ok"] == false && j["checks"].as_array().is_some())
            } else {
                stdout.contains("FAIL")
            };
            if verdict && !judged {
                failures.push(format!("{sub} {}: no verdict:\n{stdout}", c.name));
            }
            if !verdict && args[0] == "verify" && !stdout.is_empty() {
                failures.push(format!("{sub} {}: printed {stdout:?}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn genisoimage_data_disc_is_not_esxi() {
    if !tools::require(&["genisoimage"]) {
        return;
    }
    let dir = work_dir("corpus-data");
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("README.TXT"), b"hello\n").unwrap();
    let iso = dir.path().join("data.iso");
    let st = Command::new("genisoimage")
        .args(["-quiet", "-o"])
        .arg(&iso)
        .arg(&tree)
        .status()
        .unwrap();
    assert!(st.success());
    let err = library_error(&iso).expect("a data disc is not ESXi");
    assert!(
        err.contains("not an ESXi installer ISO: it has no El Torito boot catalog"),
        "{err}"
    );
    let out = run(&["inspect".as_ref(), iso.as_os_str()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("esxi-iso: error: checking"));
}

const KICKSTART: &str = "vmaccepteula
install --firstdisk --overwritevmfs
rootpw --iscrypted $6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.
network --bootproto=dhcp
reboot
";

/// A built output passes `esxi-iso verify --source` and xorriso's El
/// Torito report; a corrupted catalog fails ours, and xorriso no longer
/// reports the boot images either.
#[test]
fn verify_agrees_with_xorriso() {
    if !fixture::available() || !tools::require(&["xorriso"]) {
        return;
    }
    let f = fixture::fixtures();
    let dir = work_dir("corpus-xorriso");
    let ks = dir.path().join("ks.cfg");
    std::fs::write(&ks, KICKSTART).unwrap();
    for (name, src) in [("plain", &f.plain), ("rrj", &f.rrj)] {
        let out = dir.path().join(format!("{name}.iso"));
        let b = Command::new(BIN)
            .args(["build", "-q", "-k"])
            .arg(&ks)
            .arg("-o")
            .arg(&out)
            .arg(src)
            .output()
            .unwrap();
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        let v = run(&[
            "verify".as_ref(),
            out.as_os_str(),
            "--source".as_ref(),
            src.as_os_str(),
        ]);
        let text = String::from_utf8_lossy(&v.stdout);
        assert!(v.status.success(), "{text}");
        assert_eq!(text.lines().count(), Check::ALL.len(), "{text}");
        assert!(text.lines().all(|l| l.starts_with("ok ")), "{text}");
        let j = run(&["verify".as_ref(), out.as_os_str(), "--json".as_ref()]);
        let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
        assert_eq!(j["ok"], true, "{j}");
        assert_eq!(j["checks"].as_array().unwrap().len(), 11, "{j}");
        assert_eq!(j["checks"][0]["check"], "descriptors", "{j}");
        let x = xorriso_report(&out);
        assert!(
            x.contains("El Torito boot img :   1  BIOS  y   none"),
            "{x}"
        );
        assert!(
            x.contains("El Torito boot img :   2  UEFI  y   none"),
            "{x}"
        );
        assert!(x.contains("boot-info-table"), "{x}");

        // Break the catalog's validation key.
        let mut bytes = std::fs::read(&out).unwrap();
        let img = IsoImage::open(&out).unwrap();
        let cat = img.boot.as_ref().unwrap().lba as usize * S;
        bytes[cat + 30] = 0;
        let bad = dir.path().join(format!("{name}-badcat.iso"));
        std::fs::write(&bad, &bytes).unwrap();
        let v = run(&["verify".as_ref(), bad.as_os_str()]);
        assert_eq!(v.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&v.stdout).contains("validation key"));
        let x = xorriso_report(&bad);
        assert!(!x.contains("El Torito boot img :   1  BIOS"), "{x}");
    }
}

fn xorriso_report(iso: &Path) -> String {
    let out = Command::new("xorriso")
        .arg("-indev")
        .arg(iso)
        .args(["-report_el_torito", "plain"])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
