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

/// The name in `names` a user most likely meant by `want`, for "did you
/// mean": the same but for case, else the closest within a few edits
/// (1 for up to three characters, else one per three, 2 to 3), else the
/// same but for
/// `_` and `-` (`vlanid`, `vlan_id`). One rule for every name a user
/// types: variables, inventory keys, hosts, datastores, warning codes.
pub fn nearest<'a, S: AsRef<str>>(want: &str, names: &'a [S]) -> Option<&'a str> {
    let lower = want.to_lowercase();
    let names = || names.iter().map(AsRef::as_ref);
    if let Some(n) = names().find(|n| n.to_lowercase() == lower) {
        return Some(n);
    }
    // Long input is no one's typo, and the distance is quadratic.
    if lower.chars().count() > 64 {
        return None;
    }
    let limit = match want.chars().count() {
        0..=3 => 1,
        n => (n / 3).clamp(2, 3),
    };
    let bare = |s: &str| s.to_lowercase().replace(['_', '-'], "");
    names()
        .map(|n| (edit_distance(&lower, &n.to_lowercase()), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
        .or_else(|| names().find(|n| bare(n) == bare(want)))
}

/// Edit distance in characters, for "did you mean" suggestions: inserts,
/// deletes, substitutions and swaps of two neighbours (`bois`, `bios`)
/// each count one (optimal string alignment).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the table.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 0..a.len() {
        let mut cur = vec![i + 1];
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            let mut d = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(before[j - 1] + 1);
            }
            cur.push(d);
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names() {
        let names = [
            "datastore1",
            "LocalDS_0",
            "nfs-isos",
            "hostname",
            "ntp_servers",
            "vlan_id",
        ];
        let cases = [
            ("datastore1", Some("datastore1")),
            ("Datastore1", Some("datastore1")),
            ("datastor1", Some("datastore1")),
            ("localds_1", Some("LocalDS_0")),
            ("hostnmae", Some("hostname")),
            ("ntp_server", Some("ntp_servers")),
            ("vlanid", Some("vlan_id")),
            ("VLAN-ID", Some("vlan_id")),
            ("nfs", None),
            ("x", None),
            ("zzz", None),
        ];
        for (want, got) in cases {
            assert_eq!(nearest(want, &names), got, "{want}");
        }
        assert_eq!(nearest(&"a".repeat(100_000), &names), None);
        assert_eq!(nearest("bois", &["efi", "bios"]), Some("bios"));
        assert_eq!(nearest("rakc", &["rack", "ip"]), Some("rack"));
        assert_eq!(nearest("esx9", &["esx01", "esx02"]), Some("esx01"));
        assert_eq!(nearest("x", &["ip", "gw"]), None);
    }

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
            ("rootwp", "rootpw", 1),
            ("ca", "abc", 3),
            ("abc", "", 3),
            ("ü", "u", 1),
        ];
        for (a, b, want) in cases {
            assert_eq!(edit_distance(a, b), want, "{a:?} {b:?}");
        }
    }
}
