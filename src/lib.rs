//! esxi-iso: build unattended VMware ESXi installer ISOs.
//!
//! The library holds everything; `src/main.rs` only parses the command line
//! and reports errors. Folders follow the domain:
//! - [`iso`]: ISO9660 + El Torito reading and in-place patching (the only
//!   module that knows the on-disk format);
//! - [`esxi`]: what is specific to ESXi media (detection, boot.cfg editing);
//! - [`kickstart`]: templates, rendering, password hashing, lint;
//! - [`inventory`]: per-host plans from a TOML or CSV lab inventory;
//! - [`overlay`]: extra ISO files and the ramdisk boot module;
//! - [`publish`]: uploads to datastores and content libraries, VCSP indexes;
//! - [`report`]: install reports: tokens, kickstart lines;
//! - [`serve`]: the lab's HTTP server, event log and status;
//! - [`cmd`]: one file per subcommand.

pub mod build;
pub mod cli;
pub mod cmd;
pub mod esxi;
pub mod inventory;
pub mod iso;
pub mod kickstart;
pub mod output;
pub mod overlay;
pub mod progress;
pub mod publish;
pub mod report;
pub mod serve;
pub mod signals;
pub mod verify;
