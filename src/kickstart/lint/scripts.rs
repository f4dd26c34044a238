//! `%pre`, `%post` and `%firstboot` sections, as weasel's
//! `doMultilineCommand` and `doFirstBootSection` treat them: a section
//! without `--interpreter` gets the installer's warning and runs under
//! busybox; an empty `%firstboot` makes the installer fail (it looks up a
//! script that was never recorded).
//!
//! The installer runs `%pre` before anything else and stops when it exits
//! non-zero, whatever `--ignorefailure` says. `%end` is not a keyword: the
//! line stays in the script, where busybox reports `%end: not found` (exit
//! 127) and Python a syntax error. esxi-iso says so as advice, and as an
//! error where it certainly fails a `%pre`: under Python, or as the last
//! command of a busybox script.

use super::args::Branch;
use super::Diags;

pub fn check(d: &mut Diags, line: usize, id: &str, b: &Branch, body: &[(usize, String)]) {
    let interpreter = b.get("--interpreter");
    if interpreter.is_none() {
        d.warn(
            line,
            "script-no-interpreter",
            format!(
                "interpreter not defined. Defaulting to busybox: write `{id} \
                 --interpreter=busybox` (or python)"
            ),
        );
    }
    if id == "%firstboot" && b.hanging("script").is_none() {
        d.error(
            line,
            "firstboot-empty",
            "an empty %firstboot section makes the installer fail (it records no script and \
             then looks it up): add commands, or remove the section"
                .to_string(),
        );
    }
    // Report lines are shell; a Python body is not read for them.
    if interpreter != Some("python") {
        super::report::check(d, id, body);
    }
    let python = interpreter == Some("python");
    let commands: Vec<&(usize, String)> = body
        .iter()
        .filter(|(_, t)| {
            let t = t.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .collect();
    for (i, (no, text)) in commands.iter().enumerate() {
        if text.split_whitespace().next() != Some("%end") {
            continue;
        }
        let last = i + 1 == commands.len();
        if id == "%pre" && (python || last) {
            d.error(
                *no,
                "script-end-fails-pre",
                format!(
                    "%end is not a keyword for the ESXi installer: it is part of the %pre \
                     script that starts on line {line}, where {} so the script exits non-zero \
                     and the installer stops (\"%pre\" script returned with an error); remove \
                     the line",
                    if python {
                        "Python rejects it as a syntax error,"
                    } else {
                        "busybox runs it as its last command (`%end: not found`),"
                    }
                ),
            );
        } else {
            d.advice(
                *no,
                "script-end",
                format!(
                    "%end is not a keyword for the ESXi installer: this line and all up to the \
                     next %pre, %post, %firstboot or %include belong to the {id} script that \
                     starts on line {line} and run as {}; remove the line",
                    if python {
                        "Python (a syntax error)"
                    } else {
                        "a shell command (`%end: not found`)"
                    }
                ),
            );
        }
    }
}
