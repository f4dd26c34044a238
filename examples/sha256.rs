//! SHA-256 of files with esxi-iso's own hashing path (the `sha2` crate
//! over read-only mappings of the page cache, as `build` hashes its
//! source), printed as `sha256sum` does. The benchmark times it as the
//! floor of a build on a reflink file system, where the data costs
//! nothing to move and only the hash is left.
//!
//!     cargo run --release --example sha256 -- FILE...

use std::fs::File;

use sha2::{Digest, Sha256};

fn main() -> std::process::ExitCode {
    let mut status = std::process::ExitCode::SUCCESS;
    for path in std::env::args().skip(1) {
        let result = File::open(&path).and_then(|f| {
            let len = f.metadata()?.len();
            let mut h = Sha256::new();
            esxi_iso::iso::mapped::for_each_chunk(&f, 0, len, &mut |b| {
                h.update(b);
                Ok(())
            })
            .map_err(|e| e.error)?;
            Ok(h.finalize())
        });
        match result {
            Ok(d) => println!("{}  {path}", hex::encode(d)),
            Err(e) => {
                eprintln!("sha256: {path}: {e}");
                status = std::process::ExitCode::FAILURE;
            }
        }
    }
    status
}
