//! Why a run failed, as far as a script needs to know: the exit status.
//!
//! The library tags an error where it knows what went wrong ([`Tag::tag`],
//! [`tagged`]): a file that cannot be read, an output that exists, a
//! server that failed, a check that said no, an invalid request. `main`
//! turns the outermost tag into the exit status ([`Failure::code`]); an
//! untagged error is [`OTHER`]. A tag changes nothing in the message.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a negative verdict: lint errors, a failed verify check, a wait that timed out |
//! | 2 | usage: the command line, or a file of settings it names, asks for something invalid |
//! | 3 | an input cannot be read, or is not what it must be (missing, a folder, not an ESXi installer, damaged) |
//! | 4 | an output exists (pass `--force`) |
//! | 5 | a network or server failure (cannot connect, TLS, refused, a port in use) |
//! | 6 | any other failure (writing failed, a lab host failed) |
//! | 130 | interrupted (Ctrl-C, SIGTERM) |

use std::fmt;

/// What kind of failure an error is, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A check ran and said no.
    Verdict,
    /// What was asked is invalid: an unknown option, variable or key, a
    /// bad value, options that exclude each other.
    Usage,
    /// An input cannot be read or is not what it must be.
    Input,
    /// An output exists and `--force` was not given.
    OutputExists,
    /// A server could not be reached, refused the request or failed.
    Network,
}

/// The exit status of an untagged failure.
pub const OTHER: u8 = 6;
/// The exit status after Ctrl-C or SIGTERM.
pub const INTERRUPTED: u8 = 130;

impl Failure {
    pub fn code(self) -> u8 {
        match self {
            Failure::Verdict => 1,
            Failure::Usage => 2,
            Failure::Input => 3,
            Failure::OutputExists => 4,
            Failure::Network => 5,
        }
    }

    /// Every exit status and what it means, for the man page and docs.
    pub fn table() -> [(u8, &'static str); 8] {
        [
            (0, "success"),
            (Failure::Verdict.code(), "a negative verdict: kickstart lint found errors (also when build refuses a kickstart for them), verify found a failed check, status --wait timed out"),
            (Failure::Usage.code(), "usage: the command line, or a file of settings it names, asks for something invalid (an unknown option, variable or key, a bad value)"),
            (Failure::Input.code(), "an input cannot be read or is not what it must be: missing, unreadable, a folder, not an ESXi installer, damaged"),
            (Failure::OutputExists.code(), "an output exists: pass --force to replace it"),
            (Failure::Network.code(), "a network or server failure: cannot connect, TLS, a refused or failed request, a port in use"),
            (OTHER, "any other failure: writing an output failed, a host of a lab failed to build"),
            (INTERRUPTED, "interrupted by Ctrl-C or SIGTERM; nothing half-written is left"),
        ]
    }
}

/// An error with its [`Failure`]. It shows as the error it wraps, whole
/// (its causes included), so tagging never changes a message.
#[derive(Debug)]
pub struct Tagged {
    pub failure: Failure,
    err: anyhow::Error,
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.err)
    }
}

impl std::error::Error for Tagged {}

impl Tagged {
    /// The error inside, for callers that look for its type.
    pub fn inner(&self) -> &anyhow::Error {
        &self.err
    }
}

/// `err` tagged with `failure`. An error tagged already keeps its tag.
pub fn tagged(failure: Failure, err: impl Into<anyhow::Error>) -> anyhow::Error {
    let err = err.into();
    if of(&err).is_some() {
        return err;
    }
    anyhow::Error::new(Tagged { failure, err })
}

/// An error with `msg`, tagged: `bail!(failure::error(Failure::Usage, ...))`.
pub fn error(failure: Failure, msg: impl fmt::Display) -> anyhow::Error {
    tagged(failure, anyhow::anyhow!("{msg}"))
}

/// The outermost tag on `err`, if any.
pub fn of(err: &anyhow::Error) -> Option<Failure> {
    err.chain()
        .find_map(|c| c.downcast_ref::<Tagged>().map(|t| t.failure))
}

/// Tags the error of a result.
pub trait Tag<T> {
    fn tag(self, failure: Failure) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> Tag<T> for Result<T, E> {
    fn tag(self, failure: Failure) -> anyhow::Result<T> {
        self.map_err(|e| tagged(failure, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn tags_survive_context_and_do_not_change_messages() {
        let e: anyhow::Result<()> = Err(anyhow::anyhow!("no such file")).context("reading x");
        let e = e.tag(Failure::Input).context("building y").unwrap_err();
        assert_eq!(of(&e), Some(Failure::Input));
        assert_eq!(format!("{e:#}"), "building y: reading x: no such file");
        // The first tag stays.
        let e = tagged(Failure::Network, e);
        assert_eq!(of(&e), Some(Failure::Input));
        assert_eq!(of(&anyhow::anyhow!("plain")), None);
    }

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<u8> = Failure::table().iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Failure::table().len());
    }
}
