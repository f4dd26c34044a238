//! Fuzz target: everything that reads an untrusted ISO image (the reader,
//! ESXi detection, boot report, verify, and the in-place patch planner).
//! The input is put in a memfd, so no disk is touched. The memfd is then
//! extended (sparsely, with zeros) to the volume size the input's PVD
//! claims, up to 64 MiB, so a seed can be just the metadata at the start
//! of an image (seeds/iso: small ESXi-shaped images cut after their last
//! data sector).
#![no_main]

mod common;

use esxi_iso::esxi::{self, bootcfg, Media};
use esxi_iso::iso::{IsoImage, Patcher};
use esxi_iso::verify::{self, Depth};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (_keep, path) = common::memfd_iso(data, 64 << 20);
    let Ok(img) = IsoImage::open(&path) else {
        return;
    };
    let _ = esxi::boot_report(&img);
    let _ = verify::verify(&img, Depth::Full { source: None });
    let Ok(media) = Media::detect(&img) else {
        return;
    };
    let edits = bootcfg::KernelOptEdits {
        set: vec![("ks".into(), Some("cdrom:/KS.CFG".into()))],
        remove: vec![],
    };
    let _ = bootcfg::edit(&media.bios, &edits);
    if let Ok(mut p) = Patcher::new(&img, Some(0)) {
        let _ = p.put_file("BOOT.CFG", b"kernel=/b.b00\nkernelopt=runweasel\n");
        let _ = p.put_file("KS.CFG", &[b'#'; 3000]);
        let _ = p.finish();
    }
});
