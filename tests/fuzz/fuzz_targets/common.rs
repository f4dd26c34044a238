//! What the fuzz targets share: inputs put in a memfd, so no disk is
//! touched and the library opens them by path like any file. Each target
//! uses what it needs.
#![allow(dead_code)]

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;

/// `data` in a memfd, and a path (`/proc/self/fd/N`) that opens it.
pub fn memfd(data: &[u8]) -> (File, PathBuf) {
    let name = CString::new("fuzz").unwrap();
    // SAFETY: memfd_create with a valid name; the fd is owned by the File.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create failed");
    let mut f = unsafe { File::from_raw_fd(fd) };
    f.write_all(data).unwrap();
    let path = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
    (f, path)
}

/// [`memfd`] for an ISO image, extended (sparsely, with zeros) to the
/// volume size its PVD claims when that is at most `max_volume`, so a
/// seed can be an image cut after its last non-zero sector.
pub fn memfd_iso(data: &[u8], max_volume: u64) -> (File, PathBuf) {
    let (f, path) = memfd(data);
    const VOLUME_SPACE: usize = 16 * 2048 + 80;
    if let Some(b) = data.get(VOLUME_SPACE..VOLUME_SPACE + 4) {
        let claimed = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])) * 2048;
        if claimed > data.len() as u64 && claimed <= max_volume {
            f.set_len(claimed).unwrap();
        }
    }
    (f, path)
}
