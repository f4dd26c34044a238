//! One file per subcommand: turn the parsed arguments into a request of the
//! library (the conversions live in `cli`), call it, report the result on
//! stdout and stderr, and choose the exit code. No command imports another,
//! and none holds format or domain logic.

pub mod build;
pub mod completions;
pub mod deploy;
pub mod extract;
pub mod inspect;
pub mod kickstart;
pub mod lab;
pub mod man;
pub mod netboot;
pub mod pack;
pub mod serve;
pub mod status;
pub mod upload;
pub mod vcsp;
pub mod verify;
