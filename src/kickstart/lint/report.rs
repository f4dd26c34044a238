//! Install report lines (`esxi-iso build --report-to`, see
//! [`crate::report`]) inside `%pre`, `%post` and `%firstboot` bodies.
//!
//! The installer does not judge script bodies; this is esxi-iso's advice
//! about what a report line does at run time, so every finding is a
//! warning marked as advice, even a `%pre` whose last command is a report
//! that can fail: it stops the installer only when the server is down,
//! which the installer cannot know from the file. A report's section
//! should match its event (`%pre` installing, `%post` installed,
//! `%firstboot` booted), or the status the server shows is wrong.
//!
//! [`reports`] lists the report lines of a kickstart so `kickstart lint`
//! can say where each one reports, and `build --report-to` can warn when a
//! kickstart has none.

use super::lexer;
use super::Diags;
use crate::report::{self, Event, Found};

/// A report line with the section it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub section: &'static str,
    pub found: Found,
}

impl Report {
    /// `reports "installing" for esx01 to http://...` (no token).
    pub fn describe(&self) -> String {
        format!(
            "{} reports \"{}\" for host {} to {}",
            self.section,
            self.found.event.as_deref().unwrap_or("?"),
            self.found.host.as_deref().unwrap_or("?"),
            self.found.base
        )
    }
}

/// Every report line of a kickstart, cut into sections as the installer
/// does.
pub fn reports(text: &str) -> Vec<Report> {
    lexer::scripts(text)
        .into_iter()
        .flat_map(|s| {
            report::find(&s.body).into_iter().map(move |found| Report {
                section: s.section,
                found,
            })
        })
        .collect()
}

/// Advice on the report lines of one script section.
pub(crate) fn check(d: &mut Diags, id: &str, body: &[(usize, String)]) {
    let last = body
        .iter()
        .rev()
        .find(|(_, t)| {
            let t = t.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(no, _)| *no);
    for f in report::find(body) {
        let what = format!(
            "install report to {} (event {})",
            f.base,
            f.event.as_deref().unwrap_or("?")
        );
        if !f.bounded {
            d.advice(
                f.line,
                "report-unbounded",
                format!(
                    "{what} has no time limit: a server that does not answer holds up the \
                     {id} script; end wget with a watchdog as `build --report-to` writes it"
                ),
            );
        }
        if !f.cannot_fail {
            let message = format!(
                "{what} fails when the server is down or refuses it; end the line with \
                 `|| true`"
            );
            if id == "%pre" && last == Some(f.line) {
                d.advice(
                    f.line,
                    "report-fails-pre",
                    format!(
                        "{message}: as the last command of %pre its failure makes the \
                         script exit non-zero and the installer stop (\"%pre\" script \
                         returned with an error)"
                    ),
                );
            } else {
                d.advice(f.line, "report-can-fail", message);
            }
        }
        if !f.has_token || f.host.is_none() {
            d.advice(
                f.line,
                "report-no-token",
                format!("{what} has no host or token: the server refuses it"),
            );
        }
        match f.event.as_deref().map(Event::parse) {
            Some(Some(e)) if e.section() != id => d.advice(
                f.line,
                "report-section",
                format!(
                    "{what} is in {id}, but \"{}\" is sent from {}: the status will be \
                     wrong",
                    e.name(),
                    e.section()
                ),
            ),
            Some(Some(_)) => {}
            _ => d.advice(
                f.line,
                "report-event",
                format!(
                    "{what}: the server knows only the events installing, installed and \
                     booted"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lint;
    use super::*;

    const HEAD: &str = "vmaccepteula\ninstall --firstdisk --overwritevmfs\n\
        rootpw --iscrypted $6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.\nnetwork --bootproto=dhcp\n";

    fn codes(ks: &str) -> Vec<(&'static str, usize, bool)> {
        lint(ks)
            .into_iter()
            .filter(|d| d.code.starts_with("report"))
            .map(|d| (d.code, d.line, d.advice))
            .collect()
    }

    #[test]
    fn written_lines_lint_clean_and_are_listed() {
        let r = crate::report::Reporter::open(
            "http://10.0.0.5:8080",
            std::path::Path::new("/nonexistent"),
            false,
        )
        .unwrap()
        .for_host("esx01");
        let l = r.lines();
        let ks = format!(
            "{HEAD}%pre --interpreter=busybox\n{}\n%post --interpreter=busybox\n{}\n\
             %firstboot --interpreter=busybox\n{}\n",
            l.pre, l.post, l.firstboot
        );
        assert_eq!(lint(&ks), vec![], "{ks}");
        let found = reports(&ks);
        let said: Vec<String> = found.iter().map(Report::describe).collect();
        assert_eq!(
            said,
            [
                "%pre reports \"installing\" for host esx01 to http://10.0.0.5:8080",
                "%post reports \"installed\" for host esx01 to http://10.0.0.5:8080",
                "%firstboot reports \"booted\" for host esx01 to http://10.0.0.5:8080",
            ]
        );
        let url = r.url(crate::report::Event::Installing);
        let token = url.split("token=").nth(1).unwrap();
        assert!(!said.iter().any(|s| s.contains(token)));
    }

    #[test]
    fn advice_table() {
        let url = "http://a/.esxi-iso/report?host=h&token=t";
        type Want = &'static [(&'static str, usize, bool)];
        let cases: &[(String, Want)] = &[
            (
                format!("{HEAD}%pre --interpreter=busybox\nwget \"{url}&event=installing\"\n"),
                &[("report-unbounded", 6, true), ("report-fails-pre", 6, true)],
            ),
            (
                format!("{HEAD}%pre --interpreter=busybox\nwget -T 5 \"{url}&event=installing\"\necho done\n"),
                &[("report-can-fail", 6, true)],
            ),
            (
                format!("{HEAD}%post --interpreter=busybox\nwget -T 5 \"{url}&event=installing\" || true\n"),
                &[("report-section", 6, true)],
            ),
            (
                format!("{HEAD}%firstboot --interpreter=busybox\nwget -T 5 \"http://a/.esxi-iso/report?event=booted\" || true\n"),
                &[("report-no-token", 6, true)],
            ),
            (
                format!("{HEAD}%firstboot --interpreter=busybox\nwget -T 5 \"{url}&event=up\" || true\n"),
                &[("report-event", 6, true)],
            ),
        ];
        for (ks, want) in cases {
            assert_eq!(codes(ks), *want, "{ks}");
        }
    }
}
