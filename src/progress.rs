//! Progress bars on stderr (indicatif), shown only on a terminal and never
//! with `--quiet`; and the [`Notify`] sink for warnings given while working.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
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
