//! One file per subcommand, each a short pipeline of verb-named steps.

pub mod build;
pub mod extract;
pub mod inspect;
pub mod kickstart;
pub mod lab;
pub mod pack;
pub mod serve;
pub mod status;
pub mod verify;
