//! What a long operation shows while it works, all on stderr: progress
//! bars (indicatif), the [`Notify`] sink for warnings, and the [`Trace`]
//! sink for `--verbose`.
//!
//! [`enabled`] is the one place that decides whether bars are drawn: only
//! on a terminal that can draw them (stderr is a TTY, `TERM` is not
//! `dumb`) and never with `--quiet`. `NO_COLOR` does not hide them: the
//! bars carry no colour, and no-color.org asks only that colour go. The
//! only coloured output is clap's help and usage errors: anstream drops
//! colour for `NO_COLOR` and a stream that is not a terminal, and
//! `Cli::parse_args` for `TERM=dumb`.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress bars are drawn (see the module header).
pub fn enabled(quiet: bool) -> bool {
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !quiet && !dumb && std::io::stderr().is_terminal()
}

/// A byte-count bar with a label, hidden when `show` is false.
pub fn bytes(total: u64, label: &str, show: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// Where a long operation tells what the user must know as it goes
/// (warnings, a failed cleanup): one line each, which the command prints
/// on stderr after `esxi-iso: `. The library never prints.
pub type Notify<'a> = &'a dyn Fn(&str);

/// Where `--verbose` describes each step as it happens (the layout chosen,
/// what is copied and how): one line each, printed by the command. Off by
/// default, and then a message is never even formatted. Messages name
/// files, sizes and decisions, never a secret (no password, hash, token
/// or kickstart text), since `--verbose` output lands in CI logs.
#[derive(Clone, Default)]
pub struct Trace(Option<Arc<Sink>>);

/// A trace's line consumer, shared by the threads of a lab.
type Sink = dyn Fn(&str) + Send + Sync;

impl Trace {
    /// A trace that hands each line to `sink`.
    pub fn to(sink: impl Fn(&str) + Send + Sync + 'static) -> Trace {
        Trace(Some(Arc::new(sink)))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Says `msg()` when on.
    pub fn say(&self, msg: impl FnOnce() -> String) {
        if let Some(sink) = &self.0 {
            sink(&msg());
        }
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() {
            "Trace(on)"
        } else {
            "Trace(off)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn trace_formats_only_when_on() {
        let off = Trace::default();
        off.say(|| panic!("formatted while off"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = Arc::clone(&seen);
        let on = Trace::to(move |l| s2.lock().unwrap().push(l.to_string()));
        on.clone().say(|| "one".into());
        assert_eq!(*seen.lock().unwrap(), ["one"]);
        assert_eq!(format!("{on:?} {off:?}"), "Trace(on) Trace(off)");
    }
}
