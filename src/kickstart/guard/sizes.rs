//! Sizes for the memory budget ([`super::budget`]): how much memory a
//! value of Tera's takes and how long it prints (walking it without
//! recursion: a value may be nested deeper than the stack allows to
//! recurse), and what each of Tera's filters may allocate while it runs,
//! result included, worked out from its input and arguments without
//! allocating, so that a filter is refused before it takes the memory.
//!
//! Read from Tera 1.20's filters (`builtins/filters/*.rs`): most copy
//! their input first (`try_get_value!` clones it), then build the
//! result, sometimes through intermediate strings or vectors. The
//! filters that can grow a value, and by how much in one step:
//!
//! | filter | result | also allocates |
//! |---|---|---|
//! | `replace(from, to)` | len + k·(to − from), k matches | |
//! | `indent(prefix)` | len + prefix·(lines) | the result's capacity, then a copy |
//! | `join(sep)` | Σ printed items + (n − 1)·sep | each item printed |
//! | `concat(with)` | input + with | the vector's growth |
//! | `split(pat)` | one value per piece | a vector of slices |
//! | `linebreaksbr` | up to 4 bytes per line end | a first pass |
//! | `escape`, `escape_xml` | up to 6 bytes per byte | twice the input's capacity |
//! | `addslashes` | up to 2 bytes per byte | two more passes |
//! | `upper`, `lower`, `capitalize`, `title` | up to 3 bytes per byte (Unicode) | |
//! | `truncate(end)` | at most input + end | 24 bytes per character |
//! | `json_encode(pretty)` | escapes, indentation | |
//! | `as_str` | the printed value | |
//!
//! `wordcount`, `length`, `int`, `float`, `abs`, `round`, `pluralize`,
//! `trim*`, `striptags`, `spaceless`, `first`, `last`, `nth`, `slice`,
//! `sort`, `unique`, `filter`, `map`, `group_by`, `reverse` and `get`
//! make a number or at most a rearranged copy of their input; every other
//! filter is held to three times its input. Filters of Tera's `builtins`
//! feature (`date`, `filesizeformat`, `slugify`, `urlencode`) are not
//! compiled into esxi-iso.

use std::collections::HashMap;

use tera::Value;

/// Bytes a value of Tera's takes.
const VALUE: u64 = std::mem::size_of::<Value>() as u64;
/// Bytes an object's entry takes besides its value and the key's bytes.
const ENTRY: u64 = std::mem::size_of::<String>() as u64 + 8;

/// Bytes `v` holds: [`VALUE`] for it and each value inside it, its
/// strings' bytes, and [`ENTRY`] and the key for each object entry.
pub fn footprint(v: &Value) -> u64 {
    measure(v).0
}

/// [`footprint`] and the depth of `v` (1 for a value holding no other),
/// without recursion.
pub fn measure(v: &Value) -> (u64, usize) {
    let (mut bytes, mut depth) = (0, 0);
    let mut todo = vec![(v, 1)];
    while let Some((v, d)) = todo.pop() {
        depth = depth.max(d);
        bytes += VALUE;
        match v {
            Value::String(s) => bytes += s.len() as u64,
            Value::Array(a) => todo.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(m) => {
                for (k, x) in m {
                    bytes += ENTRY + k.len() as u64;
                    todo.push((x, d + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    (bytes, depth)
}

/// Bytes Tera writes when it prints `v` (strings as they are, arrays as
/// `[a, b]`, objects as `[object]`), without recursion.
pub fn rendered_len(v: &Value) -> u64 {
    let mut n = 0;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        n += match v {
            Value::String(s) => s.len() as u64,
            Value::Null => 0,
            Value::Bool(b) => b.to_string().len() as u64,
            Value::Number(x) => number_len(x),
            Value::Object(_) => "[object]".len() as u64,
            Value::Array(a) => {
                todo.extend(a);
                2 + 2 * (a.len() as u64).saturating_sub(1)
            }
        };
    }
    n
}

/// The length of a number as Tera prints it (integers as integers, others
/// with Rust's `Display` for `f64`).
fn number_len(x: &tera::Number) -> u64 {
    let s = if let Some(i) = x.as_i64() {
        i.to_string()
    } else if let Some(u) = x.as_u64() {
        u.to_string()
    } else {
        x.as_f64().unwrap_or_default().to_string()
    };
    s.len() as u64
}

/// `n` bytes for a message: KiB, MiB or GiB with one decimal, or bytes.
pub fn size(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / f64::from(1 << 30))
    } else if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / f64::from(1 << 10))
    } else {
        format!("{n} bytes")
    }
}

/// Bytes of a string slice, as `split` and `truncate` collect them.
const SLICE: u64 = std::mem::size_of::<&str>() as u64;
/// Bytes of a `(usize, &str)`, one per character in `truncate`.
const GRAPHEME: u64 = std::mem::size_of::<(usize, &str)>() as u64;

/// Bytes filter `name` may allocate on `value` (whose footprint is
/// `input`) with `args`, at most.
pub fn peak(name: &str, value: &Value, input: u64, args: &HashMap<String, Value>) -> u64 {
    let arg = |key: &str| args.get(key).and_then(Value::as_str);
    if let Value::String(s) = value {
        let len = s.len() as u64;
        let of = |f: &dyn Fn(char) -> u64| s.chars().map(f).sum::<u64>();
        let grown = match name {
            "replace" => match (arg("from"), arg("to")) {
                (Some(from), Some(to)) => {
                    let k = s.matches(from).count() as u64;
                    (len + k * to.len() as u64).saturating_sub(k * from.len() as u64)
                }
                _ => 0,
            },
            "indent" => {
                let prefix = arg("prefix").map_or(4, str::len) as u64;
                let lines = 1 + s.bytes().filter(|&c| c == b'\n').count() as u64;
                // The result's capacity, filled, then copied by to_value.
                2 * (len + prefix * lines)
            }
            "split" => {
                let pat = arg("pat").map(unescape).unwrap_or_default();
                let pieces = s.split(pat.as_str()).count() as u64;
                len + pieces * (SLICE + VALUE)
            }
            "linebreaksbr" => 2 * (len + 3 * s.bytes().filter(|&c| c == b'\n').count() as u64),
            "escape" => 2 * len.max(of(&|c| escaped_html(c) as u64)),
            "escape_xml" => 2 * len.max(of(&|c| escaped_xml(c) as u64)),
            "addslashes" => 3 * (len + s.bytes().filter(|c| b"\\\"'".contains(c)).count() as u64),
            "upper" => 2 * of(&|c| c.to_uppercase().map(char::len_utf8).sum::<usize>() as u64),
            "lower" => 2 * of(&|c| c.to_lowercase().map(char::len_utf8).sum::<usize>() as u64),
            "capitalize" | "title" => 3 * of(&|c| cased(c) as u64),
            "truncate" => {
                let end = arg("end").map_or(3, str::len) as u64;
                GRAPHEME * s.chars().count() as u64 + len + end
            }
            "reverse" | "trim" | "trim_start" | "trim_end" | "trim_start_matches"
            | "trim_end_matches" | "striptags" | "spaceless" => 2 * len,
            // A copy, then a number.
            "wordcount" => len,
            // Read in place.
            "length" | "int" | "float" => return VALUE,
            _ => return common(name, value, input, args),
        };
        return input + grown + VALUE;
    }
    common(name, value, input, args)
}

/// Filters on any value, and those on strings given something else
/// (which fail at once).
fn common(name: &str, value: &Value, input: u64, args: &HashMap<String, Value>) -> u64 {
    match (name, value) {
        ("join", Value::Array(items)) => {
            let sep = args
                .get("sep")
                .and_then(Value::as_str)
                .map_or(0, |s| unescape(s).len()) as u64;
            let printed: u64 = items.iter().map(rendered_len).sum();
            let n = items.len() as u64;
            // The copy, each item printed, then joined.
            input + n * 24 + 2 * printed + n.saturating_sub(1) * sep + VALUE
        }
        ("concat", _) => {
            let with = args.get("with").map_or(0, footprint);
            2 * (input + with)
        }
        ("json_encode", _) => {
            let pretty = args.get("pretty").and_then(Value::as_bool) == Some(true);
            2 * json_len(value, pretty) + VALUE
        }
        ("as_str", _) => 2 * rendered_len(value) + VALUE,
        _ => 3 * input,
    }
}

/// Tera's `split` and `join` read `\n` and `\t` in their argument as a
/// newline and a tab.
fn unescape(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\t", "\t")
}

/// Bytes Tera's `escape` writes for `c`.
fn escaped_html(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        '"' | '\'' | '/' => 6,
        _ => c.len_utf8(),
    }
}

/// Bytes Tera's `escape_xml` writes for `c`.
fn escaped_xml(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        '"' | '\'' => 6,
        _ => c.len_utf8(),
    }
}

/// Bytes `c` takes in upper or lower case, whichever is longer.
fn cased(c: char) -> usize {
    let up: usize = c.to_uppercase().map(char::len_utf8).sum();
    let low: usize = c.to_lowercase().map(char::len_utf8).sum();
    up.max(low).max(c.len_utf8())
}

/// Bytes serde_json writes for `v`, counted without writing them.
fn json_len(v: &Value, pretty: bool) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    let _ = if pretty {
        serde_json::to_writer_pretty(&mut n, v)
    } else {
        serde_json::to_writer(&mut n, v)
    };
    n.0
}
