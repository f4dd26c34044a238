//! Fuzz target: a mutated source ISO through the whole `build` pipeline
//! (ESXi detection, both boot.cfg edits, an overlay file on the ISO and
//! one in the ramdisk module, the kickstart, the patch planner, the
//! streaming writer, the output's own re-check and the atomic rename) into
//! a file on tmpfs, then the output re-read by the library: a build either
//! fails with an error or leaves an output that opens, carries the
//! kickstart, and whose SHA-256 is the one reported. Nothing else may be
//! left in the output folder either way.
//!
//! The source lives in a memfd, extended with zeros to the volume size its
//! PVD claims (up to 8 MiB, which keeps a run a few milliseconds), so a
//! seed is a small ISO cut after its last non-zero sector.
#![no_main]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use esxi_iso::build::{self, HostBuild, Options};
use esxi_iso::esxi::{bootcfg, Media};
use esxi_iso::iso::IsoImage;
use esxi_iso::overlay::{File as OverlayFile, OverlaySet};
use esxi_iso::verify::{self, Depth};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const MAX_VOLUME: u64 = 8 << 20;
const KICKSTART: &str = "vmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted $6$salt$hash\nnetwork --bootproto=dhcp\nreboot\n";

/// The output folder on tmpfs: made for each input and removed after it,
/// so a run leaves nothing behind.
fn out_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let d = DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("esxi-iso-fuzz-build-{}", std::process::id()))
    });
    std::fs::create_dir_all(d).unwrap();
    d
}

fn overlay(variant: u8) -> OverlaySet {
    let file = |path: &str, data: &[u8]| OverlayFile {
        path: path.into(),
        data: data.to_vec(),
        executable: false,
        origin: format!("fuzz/{path}"),
    };
    let mut set = OverlaySet::default();
    if variant & 2 != 0 {
        set.iso.push(file("EXTRA/NOTES.TXT", b"lab notes\n"));
    }
    if variant & 4 != 0 {
        set.ramdisk
            .push(file("etc/vmware/firstboot.sh", b"#!/bin/sh\necho hi\n"));
    }
    set
}

fuzz_target!(|data: &[u8]| {
    let (_keep, path) = common::memfd_iso(data, MAX_VOLUME);
    let Ok(img) = IsoImage::open(&path) else {
        return;
    };
    let Ok(media) = Media::detect(&img) else {
        return;
    };
    // The last byte picks the variant, so mutations of the image and of the
    // build's shape are explored together.
    let variant = data.last().copied().unwrap_or(0);
    let dir = out_dir();
    let output = dir.join("out.iso");
    let host = HostBuild {
        output: output.clone(),
        ks_path: if variant & 8 != 0 {
            "KS/HOST.CFG"
        } else {
            "KS.CFG"
        }
        .into(),
        kickstart: KICKSTART.into(),
        edits: bootcfg::KernelOptEdits {
            set: vec![("allowLegacyCPU".into(), Some("true".into()))],
            remove: vec!["cdromBoot".into()],
        },
        overlay: overlay(variant),
        ks_in_ramdisk: variant & 1 != 0,
        replace_vendor_files: variant & 16 != 0,
        secure_boot: false,
    };
    let opts = Options {
        source_date_epoch: Some(1_700_000_000),
        force: true,
        cancel: None,
        trace: Default::default(),
    };
    let bar = indicatif::ProgressBar::hidden();
    match build::build(&img, &media, &host, &opts, &bar) {
        Err(_) => assert!(!output.exists(), "a failed build left {}", output.display()),
        Ok(summary) => {
            let bytes = std::fs::read(&output).expect("reading the output");
            assert_eq!(bytes.len() as u64, summary.size, "reported size");
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                summary.sha256,
                "reported SHA-256"
            );
            let out = IsoImage::open(&output).expect("the output opens");
            let media = Media::detect(&out).expect("the output is ESXi media");
            let want = host.ks_location();
            for (_, cfg) in media.configs() {
                let ko = cfg.get("kernelopt").unwrap_or_default();
                assert_eq!(bootcfg::option(ko, "ks"), Some(want.as_str()));
            }
            if !host.ks_in_ramdisk {
                let e = out
                    .find(&host.ks_path)
                    .expect("the kickstart is on the output");
                let rec = out.record(e);
                assert_eq!(out.read_small(rec, 1 << 20).unwrap(), KICKSTART.as_bytes());
            }
            // The full verify, against the source, must run to the end.
            let _ = verify::verify(&out, Depth::Full { source: Some(&img) });
        }
    }
    // Nothing but the output (and its .sha256) may be left behind.
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(
            name == "out.iso" || name == "out.iso.sha256",
            "left behind: {name}"
        );
    }
    let _ = std::fs::remove_file(&output);
    let _ = std::fs::remove_file(dir.join("out.iso.sha256"));
    let _ = std::fs::remove_dir(dir);
});
