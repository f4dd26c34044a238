//! esxi-iso: build unattended VMware ESXi installer ISOs.
//!
//! `src/main.rs` parses the command line ([`cli`]) and dispatches to
//! [`cmd`], one thin file per subcommand that turns its arguments into a
//! request of the library and reports the result. The library knows
//! nothing of the command line; its folders follow the domain:
//! - [`deploy`]: a lab's hosts as nested ESXi VMs on vSphere: created,
//!   booted, watched, torn down;
//! - [`lab`]: one ISO per host of a TOML or CSV inventory;
//! - [`build`]: one output ISO from an ISO or an extracted directory;
//! - [`tree`]: the ISO <-> directory mapping (extract, pack);
//! - [`publish`]: uploads to datastores and content libraries, VCSP indexes;
//! - [`vsphere`]: the HTTPS client, TLS trust and a vim25 SOAP client;
//! - [`verify`]: re-reading an ISO and checking what the installer needs;
//! - [`esxi`]: what is specific to ESXi media (detection, boot.cfg as
//!   VMware's loader reads it, release, inspect);
//! - [`kickstart`]: templates, rendering, password hashing, lint;
//! - [`overlay`]: extra ISO files and the ramdisk boot module;
//! - [`iso`]: ISO9660 + El Torito reading, in-place patching, mastering
//!   (the only module that knows the on-disk format);
//! - [`report`]: install reports: tokens, kickstart lines;
//! - [`serve`]: the lab's HTTP server, event log and status;
//! - [`input`]: reading the small files a user hands us, with a size cap;
//! - [`output`], [`diagnostic`], [`progress`], [`signals`], [`failure`]
//!   (what kind of failure an error is: the exit status), [`warning`]
//!   (warnings with codes, and `--allow`): shared pieces.
//!
//! ARCHITECTURE.md at the repository root is the map.

pub mod build;
pub mod cli;
pub mod cmd;
pub mod deploy;
pub mod diagnostic;
pub mod esxi;
pub mod failure;
pub mod input;
pub mod iso;
pub mod kickstart;
pub mod lab;
pub mod netboot;
pub mod output;
pub mod overlay;
pub mod progress;
pub mod publish;
pub mod report;
pub mod serve;
pub mod signals;
pub mod tree;
pub mod verify;
pub mod vsphere;
pub mod warning;
