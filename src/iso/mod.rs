//! ISO9660 + El Torito behind one facade: the only module that knows the
//! on-disk format.
//!
//! esxi-iso uses its own ISO9660 code rather than a crate: it needs a reader
//! that survives hostile images with errors naming the LBA, in-place edits
//! that keep Joliet and Rock Ridge trees consistent, and untouched sectors
//! and boot images kept byte for byte. References: ECMA-119 4th edition,
//! El Torito 1.0, SUSP 1.12 / RRIP 1.12, Joliet.

pub mod copy;
pub mod eltorito;
pub mod format;
pub mod layout;
pub mod mapped;
pub mod master;
pub mod name;
pub mod patch;
pub mod reader;
pub mod record;
pub mod writer;

pub use eltorito::{BootCatalog, BootEntry, BootInfoTable};
pub use layout::{Layout, Segment};
pub use patch::{Patcher, PutOutcome};
pub use reader::{Entry, IsoImage};
pub use writer::{
    describe as describe_write_error, input_failed, write_image, DataReport, Watch, WriteStats,
    Written,
};

/// Errors callers may match on.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    #[error("not an ISO9660 image: {0}")]
    NotIso(String),
    #[error("malformed ISO: {what} (LBA {lba})")]
    Malformed { what: String, lba: u32 },
    #[error("not found on the ISO: {0}")]
    NotFound(String),
    #[error("unsupported image: {0}")]
    Unsupported(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
