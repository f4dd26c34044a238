//! Shell completion: the script `esxi-iso completions SHELL` prints, and
//! the values the shell gets back when it asks (clap_complete's dynamic
//! engine, `unstable-dynamic`).
//!
//! The script is a small registration: on every TAB the shell runs
//! `ESXI_ISO_COMPLETE=SHELL esxi-iso -- WORDS...`, and [`complete_env`]
//! answers from the same clap definitions the parser uses. So subcommands
//! and options never drift from the binary, and arguments that take "a
//! name or a path" complete both: `kickstart render --template` offers the
//! compiled-in template names and files, `build --overlay` the shipped
//! overlay names and folders, `--set` the template variables as `KEY=`.
//! A static script (clap_complete's `aot` generators) can offer either a
//! fixed list or files, never both.
//!
//! Not covered: completing values inside an inventory or a `--vars` file.

use std::ffi::OsStr;
use std::io::Write;

use clap::{CommandFactory, ValueEnum};
use clap_complete::engine::{CompletionCandidate, PathCompleter, ValueCompleter};
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
use clap_complete::CompleteEnv;

use super::Cli;
use crate::kickstart::{self, vars};
use crate::overlay;
use crate::serve::status::State;

/// The variable that switches the binary into answering completions. Its
/// own name, not clap's default `COMPLETE`, so that a variable set for
/// another program never turns a build into a completion.
pub const COMPLETE_VAR: &str = "ESXI_ISO_COMPLETE";

/// The command the registration scripts run (found on PATH, like the
/// command being completed).
const BIN: &str = "esxi-iso";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

impl Shell {
    fn completer(self) -> &'static dyn EnvCompleter {
        match self {
            Shell::Bash => &Bash,
            Shell::Zsh => &Zsh,
            Shell::Fish => &Fish,
            Shell::Powershell => &Powershell,
            Shell::Elvish => &Elvish,
        }
    }
}

/// Writes the registration script for `shell`.
pub fn write_script(shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    shell
        .completer()
        .write_registration(COMPLETE_VAR, BIN, BIN, BIN, out)
}

/// Answers a completion request and exits, when [`COMPLETE_VAR`] is set;
/// returns at once otherwise. Called before anything is parsed or printed.
pub fn complete_env() {
    CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .bin(BIN)
        .completer(BIN)
        .complete();
}

/// The names in `names` that start with `current`, each with `help`.
fn named(current: &OsStr, names: &[(&str, &str)]) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    names
        .iter()
        .filter(|(n, _)| n.starts_with(current.as_ref()))
        .map(|(n, help)| CompletionCandidate::new(*n).help(Some(help.to_string().into())))
        .collect()
}

/// `kickstart render --template NAME|FILE`.
pub fn template(current: &OsStr) -> Vec<CompletionCandidate> {
    let names: Vec<(&str, &str)> = kickstart::TEMPLATES
        .iter()
        .map(|(n, _)| (*n, "built-in template"))
        .collect();
    let mut v = named(current, &names);
    v.extend(PathCompleter::any().complete(current));
    v
}

/// `build --overlay DIR|NAME`.
pub fn overlay(current: &OsStr) -> Vec<CompletionCandidate> {
    let names: Vec<(&str, &str)> = overlay::shipped_names()
        .into_iter()
        .map(|n| (n, "shipped overlay"))
        .collect();
    let mut v = named(current, &names);
    v.extend(PathCompleter::dir().complete(current));
    v
}

/// `--set KEY=VALUE`: the variable names, as `KEY=` (values are free).
pub fn variable(current: &OsStr) -> Vec<CompletionCandidate> {
    if current.to_string_lossy().contains('=') {
        return Vec::new();
    }
    let keys: Vec<(String, &str)> = vars::SPECS
        .iter()
        .map(|s| (format!("{}=", s.name), s.help))
        .collect();
    let keys: Vec<(&str, &str)> = keys.iter().map(|(k, h)| (k.as_str(), *h)).collect();
    named(current, &keys)
}

/// `status --wait STATE`.
pub fn state(current: &OsStr) -> Vec<CompletionCandidate> {
    let names: Vec<(&str, &str)> = State::ALL
        .iter()
        .filter(|s| **s != State::Waiting)
        .map(|s| (s.name(), "wait until every host reached it"))
        .collect();
    named(current, &names)
}

/// `deploy --wait STATE`.
pub fn deploy_stage(current: &OsStr) -> Vec<CompletionCandidate> {
    let names: Vec<(&str, &str)> = crate::deploy::report::Stage::WAITABLE
        .iter()
        .map(|s| (s.name(), "wait until every host reached it"))
        .collect();
    named(current, &names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(c: Vec<CompletionCandidate>) -> Vec<String> {
        c.iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn name_lists_follow_the_library() {
        type Completer = fn(&OsStr) -> Vec<CompletionCandidate>;
        let cases: [(Completer, &str, &[&str]); 5] = [
            (variable, "host", &["hostname="]),
            (variable, "root_", &["root_password="]),
            (variable, "hostname=es", &[]),
            (state, "in", &["installing", "installed"]),
            (state, "w", &[]),
        ];
        for (f, current, want) in cases {
            assert_eq!(values(f(OsStr::new(current))), want, "{current}");
        }
    }

    #[test]
    fn names_come_before_paths() {
        let t = values(template(OsStr::new("nested")));
        assert_eq!(t.first().map(String::as_str), Some("nested-lab"));
        let o = values(overlay(OsStr::new("ssh")));
        assert_eq!(o.first().map(String::as_str), Some("ssh-keys"));
    }
}
