//! Findings about one line of a text file, shared by the two linters:
//! VMware's boot loader rules for boot.cfg ([`crate::esxi::loader`]) and
//! the ESXi installer's rules for kickstarts ([`crate::kickstart::lint`]).
//!
//! A diagnostic renders the way compilers print theirs,
//! `file:LINE: error: MESSAGE`, so editors and terminals can jump to the
//! line. What each linter checks stays in its own module; this one only
//! says what a finding is and how it prints, plus the edit distance both
//! use to suggest the key or command a misspelling meant.

use serde::Serialize;

/// How bad a finding is. Ordered: an error outranks a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The reader goes on, but not as the line's author meant.
    Warning,
    /// The reader refuses the file or stops.
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// 1-based; 0 means the whole file.
    pub line: usize,
    /// A stable name for the rule, e.g. `rootpw-crypted-invalid`.
    pub code: &'static str,
    /// esxi-iso's own advice about a runtime consequence, not something the
    /// reader (installer or loader) reports. Always a warning.
    pub advice: bool,
    pub message: String,
}

impl Diagnostic {
    /// `file:LINE: error: MESSAGE`; a whole-file diagnostic (line 0) renders
    /// as `file: error: MESSAGE`, as compilers do, rather than a fake line 0.
    pub fn render(&self, file: &str) -> String {
        let label = if self.advice {
            "warning (esxi-iso advice)"
        } else {
            self.severity.label()
        };
        if self.line == 0 {
            format!("{file}: {label}: {}", self.message)
        } else {
            format!("{file}:{}: {label}: {}", self.line, self.message)
        }
    }
}

pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(|d| d.severity == Severity::Error)
}

/// Levenshtein distance in characters, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_table() {
        let d = |severity, line, advice| Diagnostic {
            severity,
            line,
            code: "x",
            advice,
            message: "m".into(),
        };
        let cases = [
            (d(Severity::Error, 3, false), "f:3: error: m"),
            (d(Severity::Warning, 1, false), "f:1: warning: m"),
            (
                d(Severity::Warning, 2, true),
                "f:2: warning (esxi-iso advice): m",
            ),
            (d(Severity::Error, 0, false), "f: error: m"),
        ];
        for (diag, want) in cases {
            assert_eq!(diag.render("f"), want);
        }
        assert!(Severity::Error > Severity::Warning);
    }

    #[test]
    fn edit_distance_table() {
        let cases = [
            ("", "", 0),
            ("kernelopts", "kernelopt", 1),
            ("instal", "install", 1),
            ("rootwp", "rootpw", 2),
            ("abc", "", 3),
            ("ü", "u", 1),
        ];
        for (a, b, want) in cases {
            assert_eq!(edit_distance(a, b), want, "{a:?} {b:?}");
        }
    }
}
