//! in progress

pub mod lint;
