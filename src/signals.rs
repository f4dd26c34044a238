//! in progress
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;
