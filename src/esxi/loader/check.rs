//! What VMware's loader would do differently from how a boot.cfg looks:
//! a value that is not a number where it takes one (the boot stops), an
//! inline comment (there are none: the text joins the value), a key it
//! does not know or cannot see (a space before `=`), a line without `=`,
//! an option set more than once (the last line wins). Each is a
//! [`Diagnostic`] with a stable code; the rules are those of the parent
//! module, from vmware/esx-boot.

use super::{is_absolute, kind, list_items, make_path, resolve_key, BootCfg, Kind, Line, Parsed};
use super::{Diagnostic, Severity, IMAGE_KEYS, OPTIONS};
use crate::diagnostic::edit_distance;

/// Every code [`BootCfg::check`] gives and what it may be, as
/// [`crate::kickstart::lint::RULES`] writes it: `E` an error (the boot
/// stops), `W` a warning (the loader goes on, not as the file looks).
pub const RULES: &[(&str, &str)] = &[
    ("not-a-number", "E"),
    ("inline-comment", "WE"),
    ("unknown-key", "W"),
    ("no-key", "W"),
    ("repeated-option", "W"),
];

/// bootlib/string.c `is_number`.
fn is_number(s: &str) -> bool {
    s.strip_prefix('-')
        .unwrap_or(s)
        .bytes()
        .all(|b| b.is_ascii_digit())
}

/// Where `#` starts an inline comment in a value: at its start or after
/// a space (a `#` inside a word, as in a URL fragment, is not one).
fn inline_comment(value: &str) -> Option<usize> {
    if value.starts_with('#') {
        return Some(0);
    }
    value.find(" #").map(|i| i + 1)
}

impl BootCfg {
    /// What the loader would do differently from how the file looks, line
    /// by line.
    pub fn check(&self) -> Vec<Diagnostic> {
        check(self)
    }
}

fn check(cfg: &BootCfg) -> Vec<Diagnostic> {
    let ls = cfg.lines();
    let mut out = Vec::new();
    let relative_paths = ["kernel", "modules"].iter().any(|n| {
        cfg.value(n)
            .is_some_and(|v| list_items(v).iter().any(|(f, _)| !is_absolute(f)))
    });
    let mut push = |severity, line: &Line, code, message: String| {
        out.push(Diagnostic {
            severity,
            line: line.number,
            code,
            advice: false,
            message,
        })
    };
    for l in ls {
        match &l.parsed {
            Parsed::Option { name, value } => {
                let kind = kind(name).expect("names come from OPTIONS");
                let comment = inline_comment(value);
                if kind == Kind::Int && !is_number(value) {
                    let why = if comment.is_some() {
                        " (a # comment must be on a line of its own)"
                    } else {
                        ""
                    };
                    push(
                        Severity::Error,
                        l,
                        "not-a-number",
                        format!(
                            "{name}={value}: VMware's loader takes only a number here and stops the \
                             boot with \"Configuration error while parsing\"{why}"
                        ),
                    );
                    continue;
                }
                let Some(at) = comment else { continue };
                let text = &value[at..];
                let (severity, effect) = match kind {
                    Kind::Int => continue,
                    Kind::Path if *name != "prefix" || relative_paths => (
                        Severity::Error,
                        format!("it becomes part of the path ({}), which is not found", make_path("", value)),
                    ),
                    Kind::Path => (Severity::Warning, "it becomes part of the prefix".into()),
                    Kind::List if text.contains("---") => (
                        Severity::Error,
                        "its `---` splits the list, so the loader tries to load the words after it as modules and stops with \"Not found\"".into(),
                    ),
                    Kind::List => (Severity::Warning, "it is passed to the last item as its options".into()),
                    Kind::Text if *name == "kernelopt" => (
                        Severity::Warning,
                        "its words are passed to the kernel as boot options".into(),
                    ),
                    Kind::Text => (Severity::Warning, "it is part of the text".into()),
                };
                push(
                    severity,
                    l,
                    "inline-comment",
                    format!(
                        "{name}= ends with `{text}`: VMware's loader has no inline comments, so {effect}; \
                         put comments on lines of their own"
                    ),
                );
            }
            Parsed::Unknown { key, .. } => {
                let lower = key.to_ascii_lowercase();
                if IMAGE_KEYS.contains(&lower.as_str()) {
                    continue;
                }
                let msg = if key.ends_with(' ') && resolve_key(key.trim_end()).is_some() {
                    format!(
                        "`{key}=`: the space before `=` hides the key from VMware's loader, which \
                         ignores this line; write `{}=`",
                        key.trim_end()
                    )
                } else if let Some(near) = nearest_option(&lower) {
                    format!(
                        "`{key}=` is not a key VMware's loader knows (did you mean `{near}=`?): it \
                         ignores this line"
                    )
                } else {
                    format!("`{key}=` is not a key VMware's loader knows: it ignores this line")
                };
                push(Severity::Warning, l, "unknown-key", msg);
            }
            Parsed::NoKey => push(
                Severity::Warning,
                l,
                "no-key",
                "this line has no `=`: VMware's loader ignores it (start comments with #)".into(),
            ),
            Parsed::Blank | Parsed::Comment => {}
        }
    }
    for (name, _) in OPTIONS {
        let at: Vec<&Line> = ls
            .iter()
            .filter(|l| matches!(&l.parsed, Parsed::Option { name: n, .. } if n == name))
            .collect();
        if let [.., last] = at[..] {
            if at.len() > 1 {
                let earlier: Vec<String> = at[..at.len() - 1]
                    .iter()
                    .map(|l| l.number.to_string())
                    .collect();
                out.push(Diagnostic {
                    severity: Severity::Warning,
                    line: last.number,
                    code: "repeated-option",
                    advice: false,
                    message: format!(
                        "{} `{name}=` lines: VMware's loader uses only this last one and ignores line{} {}{}",
                        at.len(),
                        if earlier.len() == 1 { "" } else { "s" },
                        earlier.join(", "),
                        if *name == "kernelopt" {
                            " (esxi-iso edits only this one)"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
    }
    out.sort_by_key(|d| d.line);
    debug_assert!(
        out.iter().all(|d| RULES.iter().any(|(c, k)| *c == d.code
            && k.contains(if d.severity == Severity::Error {
                'E'
            } else {
                'W'
            }))),
        "a boot.cfg finding not in RULES: {out:?}"
    );
    out
}

/// An option name within two edits of `key`, or that `key` starts with.
///
/// The distance is only computed for names within two characters of the
/// key's length (it can't be smaller than the difference), and a prefix's
/// is that difference, so a long garbage key costs its length, not its
/// length times every option's.
fn nearest_option(key: &str) -> Option<&'static str> {
    let len = key.chars().count();
    OPTIONS
        .iter()
        .filter_map(|(n, _)| {
            if key.starts_with(n) {
                Some((*n, len - n.chars().count()))
            } else if len.abs_diff(n.chars().count()) <= 2 {
                Some((*n, edit_distance(key, n))).filter(|(_, d)| *d <= 2)
            } else {
                None
            }
        })
        .min_by_key(|(_, d)| *d)
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Vec<Diagnostic> {
        BootCfg::parse(text).check()
    }

    fn severities(text: &str) -> Vec<(usize, Severity)> {
        check(text)
            .into_iter()
            .map(|d| (d.line, d.severity))
            .collect()
    }

    #[test]
    fn check_table() {
        use Severity::*;
        let cases: &[(&str, &[(usize, Severity)])] = &[
            (
                "kernel=/b.b00\nkernelopt=runweasel\nmodules=/a\nbuild=1\nbootstate=0\n",
                &[],
            ),
            ("kernel=/b.b00\ntimeout=5 # seconds\n", &[(2, Error)]),
            ("kernel=/b.b00\ntimeout=five\n", &[(2, Error)]),
            ("kernel=/b.b00\ntimeout=-1\nerrtimeout=\n", &[]),
            ("kernel=/b.b00 # x\n", &[(1, Error)]),
            (
                "kernel=/b.b00\nprefix=/e # x\nmodules=/a\n",
                &[(2, Warning)],
            ),
            ("kernel=b.b00\nprefix=/e # x\nmodules=a\n", &[(2, Error)]),
            ("kernel=/b.b00\nmodules=/a --- /b # x\n", &[(2, Warning)]),
            ("kernel=/b.b00\nmodules=/a # <--- add\n", &[(2, Error)]),
            (
                "kernel=/b.b00\nkernelopt=runweasel # ks later\n",
                &[(2, Warning)],
            ),
            ("kernel=/b.b00\nkernelopt=ks=http://h/a#frag\n", &[]),
            ("kernel=/b.b00\nkernelopt=a\nkernelopt=b\n", &[(3, Warning)]),
            ("kernel=/b.b00\nkernelopts=a\n", &[(2, Warning)]),
            ("kernel=/b.b00\nkernelopt = a\n", &[(2, Warning)]),
            ("kernel=/b.b00\nfoo=a\n", &[(2, Warning)]),
            ("kernel=/b.b00\nrunweasel\n", &[(2, Warning)]),
        ];
        for (text, want) in cases {
            assert_eq!(severities(text), *want, "{text:?}");
        }
        let d = check("kernel=/b.b00\nkernelopts=a\n");
        assert!(d[0].message.contains("did you mean `kernelopt=`"), "{d:?}");
        let d = check("kernel=/b.b00\nkernelopt = a\n");
        assert!(d[0].message.contains("space before `=`"), "{d:?}");
        let d = check("kernelopt=a\nkernel=/b\nkernelopt=b\nkernelopt=c\n");
        assert!(d[0].message.contains("ignores lines 1, 3"), "{d:?}");
    }

    #[test]
    fn nearest_option_matches_the_plain_search() {
        // The plain search: every option's distance, kept when within two
        // edits or a prefix of the key, nearest first.
        let plain = |key: &str| {
            OPTIONS
                .iter()
                .map(|(n, _)| (*n, edit_distance(key, n)))
                .filter(|(n, d)| key.starts_with(n) || *d <= 2)
                .min_by_key(|(_, d)| *d)
                .map(|(n, _)| n)
        };
        let long = format!("kernelopt{}", "x".repeat(5000));
        let keys = [
            "kernelopts",
            "kernalopt",
            "kernel",
            "kerne",
            "modules2",
            "modul",
            "titl",
            "prefixes",
            "timeout",
            "nobootif",
            "build",
            "bootstate",
            "xyz",
            "",
            "ü",
            "kernelopt_extra",
            &long,
        ];
        for key in keys {
            assert_eq!(nearest_option(key), plain(key), "{key:.20}");
        }
        assert_eq!(nearest_option(&long), Some("kernelopt"));
    }
}
