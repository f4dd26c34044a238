//! Helpers shared by the integration tests. Each test binary does `mod common;`
//! and uses what it needs.
#![allow(dead_code)]

pub mod cli;
pub mod faultfs;
pub mod fixture;
pub mod loopfs;
pub mod oracle;
pub mod qemu;
pub mod rng;
pub mod scene;
pub mod server;
pub mod tera_plain;
pub mod tools;
