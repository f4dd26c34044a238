//! Reading one command's words against its option table, as the
//! installer's `buildBranch` and `validate(..., 'argument')` do in weasel's
//! `scriptedinstall.py` (Python 3 version).
//!
//! `--name=value` is split at the first `=`; a word that names no option is
//! left over; positional arguments take the first (`FRONT`) or last
//! (`BACK`) leftover word; what is still left is an "unknown argument"
//! (a warning). A value is then checked: a missing one, a value given to a
//! flag, and a pattern mismatch are warnings unless the grammar says error,
//! and the option is dropped; a validator's complaint is an error. A
//! repeated option is a warning, or an error where the grammar says so.

use super::grammar::{Arg, Check, Command};
use super::Diags;

#[derive(Default)]
pub struct Branch {
    opts: Vec<(&'static str, String)>,
    hanging: Vec<(&'static str, String)>,
}

impl Branch {
    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| *n == name)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn hanging(&self, name: &str) -> Option<&str> {
        self.hanging
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An option or positional argument found on the line: its name, its
/// value, its table entry (`None` for a positional one) and its check.
type Tuple<'a> = (&'static str, Option<String>, Option<&'a Arg>, Option<Check>);

/// How a word is shown in a message: never a password.
fn shown(cmd: &Command, word: &str) -> String {
    if cmd.id == "rootpw" {
        "(a password word, not shown)".to_string()
    } else {
        format!("\"{}\"", word.escape_debug())
    }
}

/// Parses `words` (the words after the command name). Returns the branch,
/// or `None` when the installer would stop at an error here.
pub fn parse(d: &mut Diags, line: usize, cmd: &Command, words: &[String]) -> Option<Branch> {
    let errors_before = d.errors();
    let id = cmd.id;
    let mut tuples: Vec<Tuple> = Vec::new();
    let mut extra: Vec<(usize, &str)> = Vec::new();
    for (index, word) in words.iter().enumerate() {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (word.as_str(), None),
        };
        match cmd.args.iter().find(|a| a.name == key) {
            Some(arg) => tuples.push((arg.name, value, Some(arg), arg.value)),
            None => extra.push((index, word)),
        }
    }

    extra.retain(|(_, word)| {
        if cmd.deprecated_words.contains(word) {
            d.warn(
                line,
                "arg-deprecated",
                format!(
                    "`{word}` is deprecated for the {id} command (the installer ignores it): \
                     remove it"
                ),
            );
            return false;
        }
        true
    });

    for h in cmd.hanging {
        let taken = if h.front {
            (!extra.is_empty()).then(|| extra.remove(0))
        } else {
            extra.pop()
        };
        match taken {
            Some((index, value)) => {
                let expected = if h.front { 0 } else { words.len() - 1 };
                if index != expected {
                    d.warn(
                        line,
                        "arg-position",
                        format!(
                            "{id}: the installer expects the {} at the {} of the line and \
                             takes {} from position {index} instead: put it {}",
                            h.name,
                            if h.front { "start" } else { "end" },
                            shown(cmd, value),
                            if h.front { "first" } else { "last" },
                        ),
                    );
                }
                tuples.push((h.name, Some(value.to_string()), None, Some(h.check)));
            }
            None if h.required => d.error(
                line,
                "arg-missing",
                format!(
                    "{} not specified for {id} command: write `{}`",
                    h.name,
                    usage(cmd)
                ),
            ),
            None => {}
        }
    }

    for (_, word) in &extra {
        let message = format!(
            "unknown argument {} to command \"{id}\": the installer ignores it; remove it{}",
            shown(cmd, word),
            if word.starts_with("--") {
                " or fix its spelling"
            } else if id == "rootpw" {
                " (quote a password that contains spaces)"
            } else if word.trim().is_empty() {
                " (a backslash at the end of a line does not continue it: put the whole \
                 command on one line)"
            } else {
                ", or write options as --name=value"
            }
        );
        if id == "installorupgrade" && *word == "--ignoressd" {
            d.error(line, "arg-unknown", message);
        } else {
            d.warn(line, "arg-unknown", message);
        }
    }

    let mut branch = Branch::default();
    for (name, value, arg, check) in tuples {
        let value = value.or_else(|| arg.and_then(|a| a.none_value).map(str::to_string));
        let value = match (value, check) {
            (Some(v), Some(_)) if v.is_empty() => None,
            (None, Some(_)) => None,
            (v, _) => Some(v.unwrap_or_default()),
        };
        let Some(value) = value else {
            d.warn(
                line,
                "arg-no-value",
                format!(
                    "argument \"{name}\" to command \"{id}\" is missing a value: the installer \
                     ignores it; write {name}=VALUE (the value must follow an `=`)"
                ),
            );
            continue;
        };
        match check {
            None if !value.is_empty() => {
                d.warn(
                    line,
                    "arg-takes-no-value",
                    format!(
                        "argument \"{name}\" to command \"{id}\" does not take a value: the \
                         installer ignores the option; write {name} alone"
                    ),
                );
                continue;
            }
            Some(Check::Regex { ok, error, msg }) if !ok(&value) => {
                let said = match msg {
                    Some(m) => m.replace("{}", &value),
                    None => format!(
                        "argument \"{name}\" to command \"{id}\" set but an invalid value was \
                         specified"
                    ),
                };
                let message = format!("{said} (`{}`): {}", value.escape_debug(), fix(id, name));
                if error {
                    d.error(line, "arg-invalid", message);
                } else {
                    d.warn(line, "arg-invalid", message);
                }
                continue;
            }
            Some(Check::Validator(problem)) => {
                if let Some(p) = problem(&value) {
                    d.error(
                        line,
                        "arg-invalid",
                        format!(
                            "\"{name}=\" {p} (`{}`): {}",
                            value.escape_debug(),
                            fix(id, name)
                        ),
                    );
                }
            }
            _ => {}
        }
        let alias = arg.and_then(|a| a.alias);
        if branch.has(name) || alias.is_some_and(|a| branch.has(a)) {
            let display = match alias {
                Some(a) => format!("({name} or {a})"),
                None => format!("\"{name}\""),
            };
            let message =
                format!("duplicate argument {display} specified for command \"{id}\": remove one");
            if arg.is_some_and(|a| a.dup_error) {
                d.error(line, "arg-duplicate", message);
            } else {
                d.warn(line, "arg-duplicate", message);
            }
        } else if arg.is_some() {
            branch.opts.push((name, value));
        } else {
            branch.hanging.push((name, value));
        }
    }

    // `addBranch` stops before `validate` when reading the words failed.
    if d.errors() == errors_before {
        validate(d, line, cmd, &branch);
    }
    (d.errors() == errors_before).then_some(branch)
}

/// `validate(commandGrammar['args'], branch, 'argument')`: required
/// options, deprecated ones, and pairs that exclude each other.
fn validate(d: &mut Diags, line: usize, cmd: &Command, branch: &Branch) {
    let id = cmd.id;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for arg in cmd.args {
        let present = branch.has(arg.name);
        if arg.required && !present && !arg.alias.is_some_and(|a| branch.has(a)) {
            d.error(
                line,
                "arg-required",
                format!(
                    "argument \"{}\" required but not found: write `{}`",
                    arg.name,
                    usage(cmd)
                ),
            );
        }
        if !present {
            continue;
        }
        if arg.deprecated {
            d.warn(
                line,
                "arg-deprecated",
                format!(
                    "{} is deprecated (the installer ignores it): remove it from {id}",
                    arg.name
                ),
            );
        }
        for other in arg.invalids {
            if branch.has(other) {
                let pair = if arg.name < *other {
                    (arg.name, *other)
                } else {
                    (*other, arg.name)
                };
                if !pairs.contains(&pair) {
                    pairs.push(pair);
                }
            }
        }
    }
    for (a, b) in pairs {
        d.error(
            line,
            "arg-conflict",
            format!(
                "argument \"{a}\" is invalid when used with argument \"{b}\": keep only one \
                 of them on {id}"
            ),
        );
    }
}

fn usage(cmd: &Command) -> &'static str {
    match cmd.id {
        "rootpw" => "rootpw --iscrypted HASH",
        "keyboard" => "keyboard 'US Default'",
        "part" => "part NAME --ondisk=DISK",
        "include" => "%include FILE",
        "vmserialnum" => "serialnum --esx=XXXXX-XXXXX-XXXXX-XXXXX-XXXXX",
        _ => "the value",
    }
}

/// What to do about an invalid value.
fn fix(id: &str, name: &str) -> &'static str {
    match (id, name) {
        ("network", "--bootproto") => "use --bootproto=dhcp or --bootproto=static (lowercase)",
        ("network", "--ip" | "--gateway") => "write a unicast address such as 192.168.1.10",
        ("network", "--nameserver") => {
            "list addresses such as 192.168.1.1,192.168.1.2 (comma, no spaces)"
        }
        ("network", "--netmask") => "write a contiguous mask such as 255.255.255.0",
        ("network", "--hostname") => "use letters, digits and hyphens in each label",
        ("network", "--vlanid") => "use a VLAN id from 0 to 4095",
        ("network", "--addvmportgroup") => "use 0 or 1",
        (_, "--interpreter") => "use --interpreter=busybox or --interpreter=python",
        (_, "--timeout") => "write a number of seconds",
        (_, "--ignorefailure") => "use true or false",
        ("vmserialnum", _) => "write the key as five groups of five characters",
        ("part", "mountpoint") => "name the datastore without slashes",
        _ => "fix the value",
    }
}
