//! How VMware's boot loader reads boot.cfg, as pure functions: which line
//! sets which option, which value takes effect, what each module path
//! resolves to, and which lines it ignores or refuses.
//!
//! The facts come from VMware's loader source, vmware/esx-boot (commit
//! 0b0b31e0e5a5), which builds both mboot.c32 (BIOS) and BOOTX64.EFI:
//!
//! - `bootlib/parse.c` `parse_config_file`: lines end at `\n` only (a CR
//!   is whitespace). `parse_option`: `str_merge_spaces` (bootlib/string.c)
//!   trims the line and turns every whitespace run into one space; empty
//!   lines and lines starting with `#` are skipped. There are no inline
//!   comments: text after `#` is part of the value. `locate_value`: the
//!   key is the text before the first `=`, and an option matches when
//!   `strncasecmp(option, line, key length)` is 0, so a key that is a
//!   case-insensitive prefix of an option name selects the first such
//!   option in table order, and a misspelled key (`kernelopts`) matches
//!   nothing and the line is ignored. The loop meant to skip spaces before
//!   `=` looks at the `=` itself, so a space before `=` stays in the key
//!   and `kernelopt = x` is ignored too. Spaces after `=` are skipped. An
//!   empty value resets the option. An integer option whose value is not
//!   `-?[0-9]*` (`is_number`) is `ERR_SYNTAX`: parsing stops and
//!   `parse_config` (mboot/config.c) fails with "Configuration error while
//!   parsing", which ends the boot. A repeated key: the last line wins.
//! - `mboot/config.c` `mboot_options`: the option table and its order.
//!   `parse_config`: without `prefix=` (or with an empty one) the prefix
//!   is the config file's directory (`strip_basename`): empty for
//!   /BOOT.CFG, `/EFI/BOOT` for the UEFI loader's /EFI/BOOT/BOOT.CFG.
//!   `find_next_listitem` / `parse_filelist`: `modules=` items are split
//!   at every `---` (spaces optional); an item's file name runs to its
//!   first whitespace, the rest are the module's options.
//! - `bootlib/string.c` `make_path`: a path that is not absolute
//!   (`is_absolute` in include/bootlib.h: starts with `/` or `\`, or holds
//!   `://`) is joined to the prefix with `/`; `file_sanitize_path` then
//!   drops whitespace, turns `\` into `/` and merges repeated slashes.
//!
//! Not covered: network boot (per-MAC boot.cfg files), mboot's `-c` and
//! other command-line options, and what the kernel does with its options.

use serde::Serialize;

use crate::diagnostic::edit_distance;
pub use crate::diagnostic::{Diagnostic, Severity};

/// How the loader treats an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (kernelopt, title).
    Text,
    /// A file path, joined to the prefix (kernel, crypto, prefix itself).
    Path,
    /// A `---` separated list of `path [options]` items.
    List,
    /// `-?[0-9]*`, or the boot stops.
    Int,
}

/// mboot/config.c `mboot_options`, in table order (the order matters for
/// abbreviated keys).
pub const OPTIONS: &[(&str, Kind)] = &[
    ("kernel", Kind::Path),
    ("kernelopt", Kind::Text),
    ("modules", Kind::List),
    ("title", Kind::Text),
    ("prefix", Kind::Path),
    ("nobootif", Kind::Int),
    ("timeout", Kind::Int),
    ("noquirks", Kind::Int),
    ("norts", Kind::Int),
    ("crypto", Kind::Path),
    ("runtimewd", Kind::Int),
    ("tftpblksize", Kind::Int),
    ("acpitables", Kind::List),
    ("runtimewdtimeout", Kind::Int),
    ("skip", Kind::Int),
    ("errtimeout", Kind::Int),
];

/// Keys VMware writes for its image tools; the loader ignores them.
pub const IMAGE_KEYS: &[&str] = &["bootstate", "build", "updated"];

/// One line of boot.cfg as the loader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Blank,
    Comment,
    /// Text without `=`: matches no option.
    NoKey,
    /// Sets `name` (an entry of [`OPTIONS`]) to `value` (spaces merged).
    Option {
        name: &'static str,
        value: String,
    },
    /// A key the loader does not know (as merged, e.g. `kernelopt `).
    Unknown {
        key: String,
        value: String,
    },
}

/// A line with its place in the text.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// 1-based.
    pub number: usize,
    /// Byte offset of the line in the text.
    pub start: usize,
    /// The line without its `\n`.
    pub raw: &'a str,
    pub parsed: Parsed,
}

/// The loader's `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`. All
/// ASCII, so a word boundary is always a char boundary.
fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'\x0b'
}

/// bootlib/string.c `str_merge_spaces`: words separated by one space.
/// One pass over the bytes, one allocation (every boot.cfg line goes
/// through here each time a value is looked up).
pub fn merge_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word = None;
    let mut push = |w: &str| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    };
    for (i, &b) in s.as_bytes().iter().enumerate() {
        match (is_space(b), word) {
            (false, None) => word = Some(i),
            (true, Some(start)) => {
                push(&s[start..i]);
                word = None;
            }
            _ => {}
        }
    }
    if let Some(start) = word {
        push(&s[start..]);
    }
    out
}

/// The option a line key selects: the first in table order whose name
/// starts with the key, ignoring case.
pub fn resolve_key(key: &str) -> Option<&'static str> {
    OPTIONS
        .iter()
        .find(|(name, _)| {
            key.len() <= name.len()
                && name.as_bytes()[..key.len()].eq_ignore_ascii_case(key.as_bytes())
        })
        .map(|(name, _)| *name)
}

pub fn kind(name: &str) -> Option<Kind> {
    OPTIONS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// bootlib/parse.c `parse_option` + `locate_value` for one line.
pub fn parse_line(raw: &str) -> Parsed {
    let line = merge_spaces(raw);
    if line.is_empty() {
        return Parsed::Blank;
    }
    if line.starts_with('#') {
        return Parsed::Comment;
    }
    let Some((key, value)) = line.split_once('=') else {
        return Parsed::NoKey;
    };
    let value = value.trim_start_matches(' ').to_string();
    match resolve_key(key) {
        Some(name) => Parsed::Option { name, value },
        None => Parsed::Unknown {
            key: key.to_string(),
            value,
        },
    }
}

/// Every line, split at `\n` as the loader splits them.
pub fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, piece) in text.split_inclusive('\n').enumerate() {
        let raw = piece.strip_suffix('\n').unwrap_or(piece);
        out.push(Line {
            number: i + 1,
            start,
            raw,
            parsed: parse_line(raw),
        });
        start += piece.len();
    }
    out
}

/// Index (into [`lines`]) of the line that sets `name` last, the one the
/// loader uses.
pub fn effective_line(lines: &[Line<'_>], name: &str) -> Option<usize> {
    lines
        .iter()
        .rposition(|l| matches!(&l.parsed, Parsed::Option { name: n, .. } if *n == name))
}

/// The value `name` ends up with (`None` when unset or reset by an empty
/// value).
pub fn value(text: &str, name: &str) -> Option<String> {
    let ls = lines(text);
    let i = effective_line(&ls, name)?;
    match &ls[i].parsed {
        Parsed::Option { value, .. } if !value.is_empty() => Some(value.clone()),
        _ => None,
    }
}

/// bootlib/string.c `is_number`.
fn is_number(s: &str) -> bool {
    s.strip_prefix('-')
        .unwrap_or(s)
        .bytes()
        .all(|b| b.is_ascii_digit())
}

/// include/bootlib.h `is_absolute`.
pub fn is_absolute(path: &str) -> bool {
    path.starts_with('/') || path.starts_with('\\') || path.contains("://")
}

/// bootlib/string.c `make_path` followed by `file_sanitize_path`.
pub fn make_path(prefix: &str, path: &str) -> String {
    let path = path.trim_start();
    let prefix = prefix.trim_start();
    let joined = if is_absolute(path) || prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    };
    let scheme_end = joined.find("://").map(|i| i + 3);
    let mut out = String::with_capacity(joined.len());
    let mut slash = false;
    for (i, c) in joined.char_indices() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == '/' || c == '\\' {
            if !slash || scheme_end.is_some_and(|e| i < e) {
                out.push('/');
                slash = true;
            }
        } else {
            out.push(c);
            slash = false;
        }
    }
    out
}

/// The prefix the loader joins relative paths to, for a boot.cfg read
/// from `cfg_path` (e.g. `/EFI/BOOT/BOOT.CFG`).
pub fn prefix(text: &str, cfg_path: &str) -> String {
    value(text, "prefix").unwrap_or_else(|| {
        let trimmed = cfg_path.trim_end_matches('/');
        let dir = trimmed.rfind('/').map_or("", |i| &trimmed[..i]);
        dir.trim_end_matches('/').to_string()
    })
}

/// One `modules=` item as the loader reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Module {
    /// The file name as written.
    pub entry: String,
    /// The rest of the item, passed to the module.
    pub options: Option<String>,
    /// What the loader opens: joined to the prefix and sanitized.
    pub path: String,
}

/// mboot/config.c `find_next_listitem` + `parse_filelist`.
pub fn list_items(list: &str) -> Vec<(String, Option<String>)> {
    list.split("---")
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(
            |item| match item.split_once(|c: char| c.is_ascii_whitespace()) {
                Some((f, rest)) => (f.to_string(), Some(rest.trim().to_string())),
                None => (item.to_string(), None),
            },
        )
        .collect()
}

/// The modules of a boot.cfg read from `cfg_path`, resolved.
pub fn modules(text: &str, cfg_path: &str) -> Vec<Module> {
    let prefix = prefix(text, cfg_path);
    value(text, "modules")
        .map(|list| {
            list_items(&list)
                .into_iter()
                .map(|(entry, options)| Module {
                    path: make_path(&prefix, &entry),
                    entry,
                    options,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel path, resolved like a module.
pub fn kernel(text: &str, cfg_path: &str) -> Option<String> {
    let k = value(text, "kernel")?;
    Some(make_path(&prefix(text, cfg_path), &k))
}

/// Where `#` starts an inline comment in a value: at its start or after
/// a space (a `#` inside a word, as in a URL fragment, is not one).
fn inline_comment(value: &str) -> Option<usize> {
    if value.starts_with('#') {
        return Some(0);
    }
    value.find(" #").map(|i| i + 1)
}

/// What the loader would do wrong with `text`, line by line.
pub fn check(text: &str) -> Vec<Diagnostic> {
    let ls = lines(text);
    let mut out = Vec::new();
    let relative_paths = ["kernel", "modules"].iter().any(|n| {
        value(text, n).is_some_and(|v| list_items(&v).iter().any(|(f, _)| !is_absolute(f)))
    });
    let mut push = |severity, line: &Line<'_>, code, message: String| {
        out.push(Diagnostic {
            severity,
            line: line.number,
            code,
            advice: false,
            message,
        })
    };
    for l in &ls {
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
        let at: Vec<&Line<'_>> = ls
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

    #[test]
    fn parse_line_table() {
        let opt = |name, value: &str| Parsed::Option {
            name,
            value: value.into(),
        };
        let unknown = |key: &str, value: &str| Parsed::Unknown {
            key: key.into(),
            value: value.into(),
        };
        let cases = [
            ("", Parsed::Blank),
            ("   \t\r", Parsed::Blank),
            ("# kernelopt=x", Parsed::Comment),
            ("  #x", Parsed::Comment),
            ("runweasel", Parsed::NoKey),
            (
                "kernelopt=runweasel  cdromBoot\r",
                opt("kernelopt", "runweasel cdromBoot"),
            ),
            ("KERNELOPT=a", opt("kernelopt", "a")),
            ("kernelopt=  a", opt("kernelopt", "a")),
            ("\tkernel=/b.b00", opt("kernel", "/b.b00")),
            ("kernel=/b.b00 # x", opt("kernel", "/b.b00 # x")),
            ("kern=/b.b00", opt("kernel", "/b.b00")),
            ("=/b.b00", opt("kernel", "/b.b00")),
            ("t=x", opt("title", "x")),
            ("time=3", opt("timeout", "3")),
            ("runtimewd=1", opt("runtimewd", "1")),
            ("MODULES=/a --- /b", opt("modules", "/a --- /b")),
            ("prefix=", opt("prefix", "")),
            ("kernelopt = runweasel", unknown("kernelopt ", "runweasel")),
            ("kernelopts=a", unknown("kernelopts", "a")),
            ("build=8.0.3-0.0.1", unknown("build", "8.0.3-0.0.1")),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_line(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn last_line_wins_and_empty_resets() {
        let t = "kernelopt=a\nkernelopt=b\nprefix=/x\nprefix=\n";
        assert_eq!(value(t, "kernelopt").as_deref(), Some("b"));
        assert_eq!(value(t, "prefix"), None);
        assert_eq!(effective_line(&lines(t), "kernelopt"), Some(1));
    }

    #[test]
    fn make_path_table() {
        let cases = [
            ("", "/b.b00", "/b.b00"),
            ("/esxi", "/b.b00", "/b.b00"),
            ("/esxi", "b.b00", "/esxi/b.b00"),
            ("/esxi/", "b.b00", "/esxi/b.b00"),
            ("/EFI/BOOT", "overlay.tgz", "/EFI/BOOT/overlay.tgz"),
            ("", "k.b00", "k.b00"),
            ("vmware", "k.b00", "vmware/k.b00"),
            ("http://h/esx", "k.b00", "http://h/esx/k.b00"),
            ("/esxi", "http://h//a", "http://h/a"),
            ("/esxi # x", "k.b00", "/esxi#x/k.b00"),
            ("/x", "\\y\\z", "/y/z"),
        ];
        for (prefix, path, want) in cases {
            assert_eq!(make_path(prefix, path), want, "{prefix:?} {path:?}");
        }
    }

    #[test]
    fn prefix_defaults_to_the_config_directory() {
        let t = "kernel=/b.b00\nmodules=a.gz --- /b.gz opt=1\n";
        assert_eq!(prefix(t, "/BOOT.CFG"), "");
        assert_eq!(prefix(t, "/EFI/BOOT/BOOT.CFG"), "/EFI/BOOT");
        let m = modules(t, "/EFI/BOOT/BOOT.CFG");
        assert_eq!(m[0].path, "/EFI/BOOT/a.gz");
        assert_eq!(m[1].path, "/b.gz");
        assert_eq!(m[1].options.as_deref(), Some("opt=1"));
        let t = "prefix=/esxi\nkernel=b.b00\nmodules=a.gz---b.gz\n";
        let paths: Vec<String> = modules(t, "/BOOT.CFG")
            .into_iter()
            .map(|m| m.path)
            .collect();
        assert_eq!(paths, ["/esxi/a.gz", "/esxi/b.gz"]);
        assert_eq!(kernel(t, "/BOOT.CFG").as_deref(), Some("/esxi/b.b00"));
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
    fn merge_spaces_table() {
        let cases = [
            ("", ""),
            ("   ", ""),
            ("a", "a"),
            ("  a  ", "a"),
            ("a \t\x0b\x0c\r b", "a b"),
            (
                "kernelopt=runweasel  cdromBoot\r",
                "kernelopt=runweasel cdromBoot",
            ),
            // Not the loader's spaces: NBSP, a Unicode space, NUL.
            ("a\u{a0}b \u{2003}c\0d", "a\u{a0}b \u{2003}c\0d"),
            ("ü  é\tß", "ü é ß"),
        ];
        for (raw, want) in cases {
            assert_eq!(merge_spaces(raw), want, "{raw:?}");
        }
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
