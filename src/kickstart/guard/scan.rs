//! The template's text, read as Tera's grammar reads it (tags, strings,
//! comments, raw blocks) in one pass over its bytes: the tag and nesting
//! limits are checked here, every loop body gets a call to [`STEP_FN`],
//! and the lines of the tags that hold expressions are noted for
//! [`super::rewrite`], which has only Tera's parse tree and no lines.

use anyhow::{bail, Result};

use super::{NESTING_MAX, RESERVED, STEP_FN, TAG_TOKENS_MAX};

/// Keywords of the tags that open and close a block.
const OPENERS: [&str; 5] = ["for", "if", "macro", "filter", "block"];
const CLOSERS: [&str; 5] = ["endfor", "endif", "endmacro", "endfilter", "endblock"];

/// Keywords of the tags [`super::rewrite`] puts a check before (`""` is
/// `{{ }}`), and of `macro`, whose line names a macro's output.
const LINED: [&str; 8] = [
    "",
    "set",
    "set_global",
    "if",
    "elif",
    "for",
    "filter",
    "macro",
];

/// A template checked against the limits, with a step at the start of
/// every loop body.
#[derive(Debug)]
pub struct Instrumented {
    pub text: String,
    /// How many loops got a step.
    pub loops: usize,
    /// The line of each tag whose keyword is in `LINED`, in the order
    /// of the text (`{{ super() }}` is not one: Tera makes no expression
    /// of it).
    pub lines: Vec<usize>,
}

/// Checks `text` (template `name`) against the tag and nesting limits and
/// returns it with a [`STEP_FN`] call after every `{% for %}` tag. Line
/// numbers are kept: nothing inserted contains a newline.
pub fn instrument(name: &str, text: &str) -> Result<Instrumented> {
    if let Some(at) = text.find(RESERVED) {
        let end = text[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| at + n);
        bail!(
            "template {name} uses the name {}, and names starting with {RESERVED} are \
             esxi-iso's own: rename it",
            &text[at..end]
        );
    }
    let b = text.as_bytes();
    // Lines are counted as the scan goes: `line_at` is the line of byte
    // `counted`.
    let (mut counted, mut line_at) = (0, 1);
    let mut line = |at: usize| {
        line_at += b[counted..at].iter().filter(|&&c| c == b'\n').count();
        counted = at;
        line_at
    };
    let mut out = String::with_capacity(text.len() + 64);
    let mut copied = 0;
    let mut depth = 0usize;
    let mut loops = 0;
    let mut lines = Vec::new();
    let mut i = 0;
    while let Some(open) = find_block_start(b, i) {
        let Some(piece) = piece_at(b, open) else {
            // Unterminated: Tera refuses the template when it parses it.
            break;
        };
        i = piece.end;
        let Some(kw) = piece.parsed else {
            continue;
        };
        let at = line(open);
        if tokens(&b[open..piece.end]) > TAG_TOKENS_MAX {
            bail!(
                "template {name} line {at}: a tag of more than {TAG_TOKENS_MAX} words and \
                 symbols; Tera would overflow its stack on long expressions: split it into \
                 several {{% set %}} tags"
            );
        }
        if OPENERS.contains(&kw) {
            depth += 1;
            if depth > NESTING_MAX {
                bail!(
                    "template {name} line {at}: blocks (for, if, macro, filter, block) nested \
                     more than {NESTING_MAX} deep; Tera would overflow its stack on deeper ones"
                );
            }
        } else if CLOSERS.contains(&kw) {
            depth = depth.saturating_sub(1);
        }
        if LINED.contains(&kw) && !is_super(&b[open..piece.end]) {
            lines.push(at);
        }
        if kw == "for" {
            out.push_str(&text[copied..piece.end]);
            out.push_str(&step_call(b[piece.end - 3] == b'-'));
            copied = piece.end;
            loops += 1;
        }
    }
    out.push_str(&text[copied..]);
    Ok(Instrumented {
        text: out,
        loops,
        lines,
    })
}

/// The words inside the tags of `text` (`{{ }}` and `{% %}`, not
/// comments or raw blocks), outside strings, each with its line: what
/// [`crate::kickstart::uses`] uses to say where a variable is read. After
/// a `.` a word is an attribute, not a name of its own, and is left out.
pub fn tag_words(text: &str) -> Vec<(usize, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut line = 1;
    let mut counted = 0;
    let mut i = 0;
    while let Some(open) = find_block_start(b, i) {
        let Some(piece) = piece_at(b, open) else {
            break;
        };
        i = piece.end;
        if piece.parsed.is_none() {
            continue;
        }
        let mut j = open + 2;
        while j < piece.end {
            let c = b[j];
            if matches!(c, b'"' | b'\'' | b'`') {
                j = find(b, j + 1, &[c]).map_or(piece.end, |e| e + 1);
            } else if (c.is_ascii_alphabetic() || c == b'_') && b[j - 1] != b'.' {
                line += b[counted..j].iter().filter(|&&c| c == b'\n').count();
                counted = j;
                let w = word(b, j);
                out.push((line, w));
                j += w.len();
            } else if is_word(c) {
                j += word(b, j).len().max(1);
            } else {
                j += 1;
            }
        }
    }
    out
}

/// Whether a tag is `{{ super() }}`, which Tera parses to a node of its
/// own, with no expression.
fn is_super(tag: &[u8]) -> bool {
    let Some(inner) = tag.strip_prefix(b"{{").and_then(|t| t.strip_suffix(b"}}")) else {
        return false;
    };
    let inner = inner.strip_prefix(b"-").unwrap_or(inner);
    let inner = inner.strip_suffix(b"-").unwrap_or(inner);
    let start = inner.iter().position(|&c| !is_ws(c)).unwrap_or(inner.len());
    let end = inner
        .iter()
        .rposition(|&c| !is_ws(c))
        .map_or(start, |e| e + 1);
    &inner[start..end] == b"super()"
}

/// A comment, tag or raw block of a template.
struct Piece<'a> {
    /// Just past its end.
    end: usize,
    /// For a tag Tera parses, its keyword (empty for `{{ }}`); None for a
    /// comment or a raw block.
    parsed: Option<&'a str>,
}

/// The comment, tag or raw block that starts at `open` (a `{{`, `{%` or
/// `{#`); None if it never ends.
fn piece_at(b: &[u8], open: usize) -> Option<Piece<'_>> {
    let (end, parsed) = match b[open + 1] {
        b'#' => (find(b, open + 2, b"#}")? + 2, None),
        b'{' => (tag_end(b, open + 2, b"}}")?, Some("")),
        _ => {
            let dash = usize::from(b.get(open + 2) == Some(&b'-'));
            let kw_at = skip_ws(b, open + 2 + dash);
            match word(b, kw_at) {
                "raw" => (raw_end(b, kw_at)?, None),
                kw => (tag_end(b, kw_at, b"%}")?, Some(kw)),
            }
        }
    };
    Some(Piece { end, parsed })
}

/// The step call for a loop body; `trim` when the `for` tag ended in
/// `-%}`, whose trimming of the body's first text the call takes over.
fn step_call(trim: bool) -> String {
    format!("{{{{ {STEP_FN}() {}}}}}", if trim { "-" } else { "" })
}

/// The next `{{`, `{%` or `{#` at or after `from`.
fn find_block_start(b: &[u8], from: usize) -> Option<usize> {
    (from..b.len().saturating_sub(1))
        .find(|&i| b[i] == b'{' && matches!(b[i + 1], b'{' | b'%' | b'#'))
}

fn find(b: &[u8], from: usize, what: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(what.len())
        .position(|w| w == what)
        .map(|p| from + p)
}

/// Tera's WHITESPACE: space, tab, CR, LF.
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_ws(c)) {
        i += 1;
    }
    i
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The word at `i` (empty if none).
fn word(b: &[u8], i: usize) -> &str {
    let i = i.min(b.len());
    let n = b[i..].iter().take_while(|&&c| is_word(c)).count();
    // ASCII only, so always UTF-8.
    std::str::from_utf8(&b[i..i + n]).unwrap_or_default()
}

/// Past the `close` of a tag whose inside starts at `from`, skipping
/// Tera's strings ("...", '...', `...`: no escapes).
fn tag_end(b: &[u8], from: usize, close: &[u8]) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => i = find(b, i + 1, &[q])? + 1,
            _ if b[i..].starts_with(close) => return Some(i + close.len()),
            _ => i += 1,
        }
    }
    None
}

/// Past the `{% endraw %}` of a raw block whose `raw` word is at `kw_at`.
fn raw_end(b: &[u8], kw_at: usize) -> Option<usize> {
    let mut i = find(b, kw_at, b"%}")? + 2;
    loop {
        let open = find(b, i, b"{%")?;
        let mut j = open + 2;
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        j = skip_ws(b, j);
        if word(b, j) == "endraw" {
            j = skip_ws(b, j + "endraw".len());
            if b.get(j) == Some(&b'-') {
                j += 1;
            }
            if b[j.min(b.len())..].starts_with(b"%}") {
                return Some(j + 2);
            }
        }
        i = open + 2;
    }
}

/// Words, numbers, strings and other symbols in a tag, counted as Tera's
/// parser would meet them (a string is one).
fn tokens(tag: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < tag.len() {
        let c = tag[i];
        if is_ws(c) {
            i += 1;
            continue;
        }
        n += 1;
        if matches!(c, b'"' | b'\'' | b'`') {
            i = find(tag, i + 1, &[c]).map_or(tag.len(), |e| e + 1);
        } else if is_word(c) || c == b'.' {
            while i < tag.len() && (is_word(tag[i]) || tag[i] == b'.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::tests::parsed;
    use super::super::verify;
    use super::*;

    #[test]
    fn every_loop_gets_a_step_and_nothing_else_does() {
        // (template, loops)
        let cases = [
            ("plain text { with braces } and {{ x }}", 0),
            ("{% for i in xs %}{{ i }}{% endfor %}", 1),
            ("{%- for i in xs -%}\n  {{ i }}\n{%- endfor %}", 1),
            ("{%for i in xs%}{% for k, v in m %}{% endfor %}{%endfor%}", 2),
            ("{% for i in [\"%}\", '{% for', `}}`] %}{% endfor %}", 1),
            ("{# {% for i in xs %} #}{% raw %}{% for i in xs %}{% endraw %}", 0),
            ("{% raw -%} {% for %} {%- endraw %}{% for i in xs %}{% endfor %}", 1),
            ("{% macro m(a) %}{% for i in a %}{{ i }}{% endfor %}{% endmacro m %}{{ self::m(a=[1]) }}", 1),
            ("{% if a %}{% for i in xs %}{% else %}{% endfor %}{% elif b %}{% for j in xs %}{% endfor %}{% endif %}", 2),
            ("{% filter upper %}{% for i in xs %}{% endfor %}{% endfilter %}", 1),
            ("{% set forx = 1 %}{{ format }}{% if for_each %}{% endif %}", 0),
        ];
        for (text, loops) in cases {
            let got = instrument("t", text).unwrap();
            assert_eq!(got.loops, loops, "{text}");
            assert_eq!(got.text.lines().count(), text.lines().count(), "{text}");
            verify("t", &parsed(&got.text), loops).unwrap_or_else(|e| panic!("{text}: {e:#}"));
        }
    }

    #[test]
    fn lines_of_the_tags_that_hold_expressions() {
        let text = "{{ a }}\n{% set b = 1 %}{# {{ no }} #}\n{% raw %}{{ no }}\n{% endraw %}{% if a %}\n\
                    {% elif b %}{% else %}{% endif %}\n{% macro m() %}{{- super() -}}{% endmacro m %}\n\
                    {% for x in [\"}}\", '%}'] %}{% filter upper %}\n{%- set_global c = x -%}\
                    {% endfilter %}{% endfor %}{% block k %}{{ super () }}{% endblock k %}";
        assert_eq!(
            instrument("t", text).unwrap().lines,
            [1, 2, 4, 5, 6, 7, 7, 8, 8]
        );
    }

    #[test]
    fn steps_keep_the_loops_whitespace() {
        let mut tera = tera::Tera::default();
        tera.register_function(STEP_FN, |_: &HashMap<String, tera::Value>| {
            Ok(tera::Value::from(""))
        });
        let mut ctx = tera::Context::new();
        ctx.insert("xs", &[1, 2]);
        for text in [
            "a\n{% for i in xs %}\n  {{ i }}\n{% endfor %}\nb",
            "a\n{%- for i in xs -%}\n  {{ i }}\n{%- endfor -%}\nb",
            "a\n{% for i in xs -%}\n  {{ i }} {% for j in xs -%}  {{ j }}{% endfor %}\n{% endfor %}\nb",
            "{% for i in [] -%}\n x{% else -%}\n  none{% endfor %}",
        ] {
            let plain = tera::Tera::one_off(text, &ctx, false).unwrap();
            let t = instrument("t", text).unwrap().text;
            tera.add_raw_template("t", &t).unwrap();
            assert_eq!(tera.render("t", &ctx).unwrap(), plain, "{text}");
        }
    }

    #[test]
    fn limits_are_refused_with_the_line() {
        let deep = "x\n".to_string() + &"{% if a %}".repeat(65) + &"{% endif %}".repeat(65);
        let err = instrument("t", &deep).unwrap_err().to_string();
        assert!(
            err.contains("line 2: blocks") && err.contains("more than 64 deep"),
            "{err}"
        );
        let ok = "{% if a %}".repeat(64)
            + &"{% endif %}".repeat(64)
            + &"{% if a %}{% endif %}".repeat(1000);
        instrument("t", &ok).unwrap();

        let long = format!("{{{{ 1{} }}}}", " + 1".repeat(600));
        let err = instrument("t", &long).unwrap_err().to_string();
        assert!(
            err.contains("line 1: a tag of more than 1024 words"),
            "{err}"
        );
        let parens = format!("{{{{ {}1{} }}}}", "(".repeat(600), ")".repeat(600));
        assert!(instrument("t", &parens).is_err());
        // Long strings are one token; comments and raw blocks have none.
        let fine = format!(
            "{{{{ \"{}\" }}}}{{# {} #}}{{% raw %}}{}{{% endraw %}}",
            "a b ".repeat(5000),
            "+ ".repeat(5000),
            "esxcli network ip interface add -i vmk1\n".repeat(1000)
        );
        instrument("t", &fine).unwrap();

        let err = instrument("t", "{{ __esxi_iso_loop_step() }}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names starting with __esxi_iso_ are esxi-iso's own"),
            "{err}"
        );
    }
}
