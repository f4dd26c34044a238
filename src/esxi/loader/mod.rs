//! How VMware's boot loader reads boot.cfg: which line sets which option,
//! which value takes effect, what each module path resolves to, and (in
//! `check`) which lines it ignores or refuses. A file is parsed once
//! into a [`BootCfg`], which every lookup then reads.
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

mod check;

pub use check::RULES;

use serde::Serialize;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based.
    pub number: usize,
    /// Byte offset of the line in the text.
    pub start: usize,
    /// Byte length of the line without its `\n` (a CR stays: the loader
    /// takes it for a space).
    pub len: usize,
    pub parsed: Parsed,
}

/// A boot.cfg parsed once, as the loader reads it: every line (split at
/// `\n`, with its number, place and meaning) and, for each option, the
/// line that sets it last, the one the loader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootCfg {
    text: String,
    lines: Vec<Line>,
    /// Per entry of [`OPTIONS`]: the index in `lines` of its last line.
    effective: [Option<usize>; OPTIONS.len()],
}

impl BootCfg {
    pub fn parse(text: impl Into<String>) -> BootCfg {
        let text = text.into();
        let mut lines = Vec::new();
        let mut effective = [None; OPTIONS.len()];
        let mut start = 0;
        for (i, piece) in text.split_inclusive('\n').enumerate() {
            let raw = piece.strip_suffix('\n').unwrap_or(piece);
            let parsed = parse_line(raw);
            if let Parsed::Option { name, .. } = &parsed {
                effective[option_index(name)] = Some(i);
            }
            lines.push(Line {
                number: i + 1,
                start,
                len: raw.len(),
                parsed,
            });
            start += piece.len();
        }
        BootCfg {
            text,
            lines,
            effective,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// A line as written, without its `\n`.
    pub fn raw(&self, line: &Line) -> &str {
        &self.text[line.start..line.start + line.len]
    }

    /// The line that sets option `name` (an entry of [`OPTIONS`]) last: the
    /// one the loader uses.
    pub fn effective(&self, name: &str) -> Option<&Line> {
        let i = OPTIONS.iter().position(|(n, _)| *n == name)?;
        self.effective[i].map(|l| &self.lines[l])
    }

    /// The value option `name` ends up with, spaces merged (`None` when
    /// unset or reset by an empty value).
    pub fn value(&self, name: &str) -> Option<&str> {
        match &self.effective(name)?.parsed {
            Parsed::Option { value, .. } if !value.is_empty() => Some(value),
            _ => None,
        }
    }

    /// The value of `key` on its last line, as written but trimmed (for
    /// the loader's options, the line it uses). Keys the loader ignores
    /// (`build`, `bootstate`) match exactly, ignoring case.
    pub fn get(&self, key: &str) -> Option<&str> {
        let line = match resolve_key(key).filter(|n| n.eq_ignore_ascii_case(key)) {
            Some(name) => self.effective(name)?,
            None => self.lines.iter().rev().find(|l| {
                matches!(&l.parsed, Parsed::Unknown { key: k, .. } if k.eq_ignore_ascii_case(key))
            })?,
        };
        let raw = self.raw(line);
        let eq = raw.find('=')?;
        Some(raw[eq + 1..].trim())
    }

    /// The prefix the loader joins relative paths to, for this file read
    /// from `cfg_path` (e.g. `/EFI/BOOT/BOOT.CFG`).
    pub fn prefix(&self, cfg_path: &str) -> String {
        match self.value("prefix") {
            Some(p) => p.to_string(),
            None => config_dir(cfg_path).to_string(),
        }
    }

    /// The `modules=` items, resolved for this file read from `cfg_path`.
    pub fn modules(&self, cfg_path: &str) -> Vec<Module> {
        let Some(list) = self.value("modules") else {
            return Vec::new();
        };
        let prefix = self.prefix(cfg_path);
        list_items(list)
            .into_iter()
            .map(|(entry, options)| Module {
                path: make_path(&prefix, &entry),
                entry,
                options,
            })
            .collect()
    }

    /// What the loader opens for each module, in order: the list Secure
    /// Boot compares with the signed image's (names and all).
    pub fn module_paths(&self, cfg_path: &str) -> Vec<String> {
        self.modules(cfg_path).into_iter().map(|m| m.path).collect()
    }

    /// The kernel path, resolved like a module.
    pub fn kernel(&self, cfg_path: &str) -> Option<String> {
        let k = self.value("kernel")?;
        Some(make_path(&self.prefix(cfg_path), k))
    }
}

fn option_index(name: &str) -> usize {
    OPTIONS
        .iter()
        .position(|(n, _)| *n == name)
        .expect("names come from OPTIONS")
}

/// The loader's `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`. All
/// ASCII, so a word boundary is always a char boundary.
fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'\x0b'
}

/// bootlib/string.c `str_merge_spaces`: words separated by one space.
/// One pass over the bytes, one allocation.
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

/// mboot/config.c `strip_basename`: the directory of the config file,
/// the prefix when `prefix=` is unset or empty (`/EFI/BOOT` for
/// `/EFI/BOOT/BOOT.CFG`, empty for `/BOOT.CFG`).
pub fn config_dir(cfg_path: &str) -> &str {
    let trimmed = cfg_path.trim_end_matches('/');
    let dir = trimmed.rfind('/').map_or("", |i| &trimmed[..i]);
    dir.trim_end_matches('/')
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
        let c = BootCfg::parse("kernelopt=a\nkernelopt=b\nprefix=/x\nprefix=\n");
        assert_eq!(c.value("kernelopt"), Some("b"));
        assert_eq!(c.value("prefix"), None);
        assert_eq!(c.effective("kernelopt").map(|l| l.number), Some(2));
        assert_eq!(c.effective("prefix").map(|l| l.number), Some(4));
        assert_eq!(c.effective("modules"), None);
        assert_eq!(c.effective("no-such-option"), None);
    }

    #[test]
    fn lines_keep_their_place_and_text() {
        let t = "title=x\r\n\nKERNELOPT=  runweasel  cdromBoot \r\nbuild=1\nkernelopt = y";
        let c = BootCfg::parse(t);
        let rows: Vec<(usize, usize, &str)> = c
            .lines()
            .iter()
            .map(|l| (l.number, l.start, c.raw(l)))
            .collect();
        assert_eq!(
            rows,
            [
                (1, 0, "title=x\r"),
                (2, 9, ""),
                (3, 10, "KERNELOPT=  runweasel  cdromBoot \r"),
                (4, 45, "build=1"),
                (5, 53, "kernelopt = y"),
            ]
        );
        assert_eq!(c.text(), t);
        // The value as merged, and as written (trimmed) for edits.
        assert_eq!(c.value("kernelopt"), Some("runweasel cdromBoot"));
        assert_eq!(c.get("kernelopt"), Some("runweasel  cdromBoot"));
        assert_eq!(c.get("KernelOpt"), Some("runweasel  cdromBoot"));
        assert_eq!(c.get("build"), Some("1"));
        assert_eq!(c.get("BUILD"), Some("1"));
        // An abbreviation the loader accepts is not a key `get` matches.
        assert_eq!(c.get("kern"), None);
        assert_eq!(c.get("updated"), None);
        // A trailing line without `\n` is a line too.
        assert_eq!(BootCfg::parse("a=1").lines().len(), 1);
        assert_eq!(BootCfg::parse("").lines().len(), 0);
        assert_eq!(BootCfg::parse("\n").lines().len(), 1);
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
        let t = BootCfg::parse("kernel=/b.b00\nmodules=a.gz --- /b.gz opt=1\n");
        assert_eq!(t.prefix("/BOOT.CFG"), "");
        assert_eq!(t.prefix("/EFI/BOOT/BOOT.CFG"), "/EFI/BOOT");
        let m = t.modules("/EFI/BOOT/BOOT.CFG");
        assert_eq!(m[0].path, "/EFI/BOOT/a.gz");
        assert_eq!(m[1].path, "/b.gz");
        assert_eq!(m[1].options.as_deref(), Some("opt=1"));
        let t = BootCfg::parse("prefix=/esxi\nkernel=b.b00\nmodules=a.gz---b.gz\n");
        let paths: Vec<String> = t.modules("/BOOT.CFG").into_iter().map(|m| m.path).collect();
        assert_eq!(paths, ["/esxi/a.gz", "/esxi/b.gz"]);
        assert_eq!(t.kernel("/BOOT.CFG").as_deref(), Some("/esxi/b.b00"));
        assert_eq!(config_dir("/EFI/BOOT/BOOT.CFG"), "/EFI/BOOT");
        assert_eq!(config_dir("/BOOT.CFG"), "");
        assert_eq!(config_dir("boot.cfg"), "");
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
}
