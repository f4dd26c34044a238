//! Fuzz target: everything that reads an untrusted ISO image (the reader,
//! ESXi detection, boot report, verify, and the in-place patch planner).
//! The input is put in a memfd, so no disk is touched. The memfd is then
//! extended (sparsely, with zeros) to the volume size the input's PVD
//! claims, up to 64 MiB, so a seed can be just the metadata at the start
//! of an image (the fixture ISOs cut to their first 128 KiB).
#![no_main]

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;

use esxi_iso::esxi::{self, bootcfg, Media};
use esxi_iso::iso::{IsoImage, Patcher};
use esxi_iso::verify::{self, Depth};
use libfuzzer_sys::fuzz_target;

fn memfd(data: &[u8]) -> (File, PathBuf) {
    let name = CString::new("iso").unwrap();
    // SAFETY: memfd_create with a valid name; the fd is owned by the File.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create failed");
    let mut f = unsafe { File::from_raw_fd(fd) };
    f.write_all(data).unwrap();
    const VOLUME_SPACE: usize = 16 * 2048 + 80;
    if let Some(b) = data.get(VOLUME_SPACE..VOLUME_SPACE + 4) {
        let claimed = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])) * 2048;
        if claimed > data.len() as u64 && claimed <= 64 << 20 {
            f.set_len(claimed).unwrap();
        }
    }
    let path = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
    (f, path)
}

fuzz_target!(|data: &[u8]| {
    let (_keep, path) = memfd(data);
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
    let _ = bootcfg::edit(&media.bios_text, &edits);
    if let Ok(mut p) = Patcher::new(&img, Some(0)) {
        let _ = p.put_file("BOOT.CFG", b"kernel=/b.b00\nkernelopt=runweasel\n");
        let _ = p.put_file("KS.CFG", &[b'#'; 3000]);
        let _ = p.finish();
    }
});
