//! Reading the small files a user hands us whole (kickstarts, templates,
//! inventories, variables files, the extract record) with a size cap, so
//! a wrong path (an ISO, `/dev/zero`, a multi-gigabyte log) ends in an
//! error naming the file and the limit instead of exhausting memory.
//!
//! The cap is checked on the size the file system reports and again while
//! reading, since pipes, FIFOs and character devices report none. Large
//! data (source ISOs, tree files, overlay payloads) is not read here: it is
//! streamed, or capped where it is loaded (overlay.rs).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::failure::{self, Failure, Tag};

/// Kickstarts are a few KB; the installer reads them into memory, and
/// `verify` reads at most this much of one.
pub const KICKSTART_MAX: u64 = 1 << 20;
/// A Tera template renders to a kickstart, so it is as small.
pub const TEMPLATE_MAX: u64 = 1 << 20;
/// `--vars FILE.toml`: a few dozen variables.
pub const VARS_MAX: u64 = 1 << 20;
/// A lab inventory of the most hosts allowed is well under this.
pub const INVENTORY_MAX: u64 = 16 << 20;

/// "1 MiB", "16 MiB", or bytes.
pub fn size_label(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// Reads `path` (a `what`, e.g. "kickstart") whole, refusing more than
/// `cap` bytes.
pub fn read_capped(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>> {
    read_capped_untagged(path, cap, what).tag(Failure::Input)
}

fn read_capped_untagged(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>> {
    let too_big = || {
        anyhow::anyhow!(
            "{what} {} is larger than {}, the most esxi-iso reads for a {what}: \
             check that the path names the right file",
            path.display(),
            size_label(cap)
        )
    };
    let file = File::open(path).with_context(|| format!("reading {what} {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if meta.is_dir() {
        bail!("{what} {} is a directory, not a file", path.display());
    }
    if meta.len() > cap {
        return Err(too_big());
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if data.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(data)
}

/// [`read_capped`], as UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64, what: &str) -> Result<String> {
    let data = read_capped(path, cap, what)?;
    String::from_utf8(data).map_err(|_| {
        failure::error(
            Failure::Input,
            format!("{what} {} is not UTF-8 text", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_by_reported_size_and_by_bytes_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"vmaccepteula\n").unwrap();
        let sparse = dir.path().join("sparse");
        File::create(&sparse).unwrap().set_len(1 << 30).unwrap();
        let not_utf8 = dir.path().join("bin");
        std::fs::write(&not_utf8, [0xff, 0xfe]).unwrap();
        // (path, cap, Ok text or the error's start)
        let cases: [(&Path, u64, Result<&str, String>); 5] = [
            (&small, 1 << 20, Ok("vmaccepteula\n")),
            (&small, 13, Ok("vmaccepteula\n")),
            (
                &small,
                12,
                Err(format!(
                    "kickstart {} is larger than 12 bytes",
                    small.display()
                )),
            ),
            (
                &sparse,
                1 << 20,
                Err(format!(
                    "kickstart {} is larger than 1 MiB",
                    sparse.display()
                )),
            ),
            // Reports no size: stopped while reading.
            (
                Path::new("/dev/zero"),
                1 << 20,
                Err("kickstart /dev/zero is larger than 1 MiB".into()),
            ),
        ];
        for (path, cap, want) in cases {
            let got = read_text_capped(path, cap, "kickstart").map_err(|e| format!("{e:#}"));
            match (got, want) {
                (Ok(t), Ok(w)) => assert_eq!(t, w),
                (Err(e), Err(w)) => assert!(e.starts_with(&w), "{e}"),
                (got, want) => panic!("{}: got {got:?}, want {want:?}", path.display()),
            }
        }
        let e = read_text_capped(&not_utf8, 10, "kickstart").unwrap_err();
        assert!(e.to_string().ends_with("is not UTF-8 text"), "{e}");
        let e = read_capped(dir.path(), 10, "template").unwrap_err();
        assert!(e.to_string().ends_with("is a directory, not a file"), "{e}");
    }
}
