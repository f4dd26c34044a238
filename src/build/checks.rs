//! What a build says about the kickstart it is about to put on an ISO,
//! for one build and every host of a lab alike: the installer's verdict
//! (lint: errors stop the build, warnings are kept), and esxi-iso's own
//! advice about what the kickstart will not do on these hosts: report
//! lines missing for `--report-to`, a `%firstboot` that Secure Boot will
//! skip, `allow_legacy_cpu` that cannot reach the installed host.

use crate::kickstart::{lint, Vars};
use crate::report::HostReport;
use crate::warning::Warning;

/// A kickstart about to be placed, and what the build knows about it.
pub struct Kickstart<'a> {
    /// Where lint findings point: the file the lines are in (the user's
    /// file, or the kickstart's path on the ISO for a rendered template).
    pub file: &'a str,
    pub text: &'a str,
    /// Copied as it is (not rendered from a template).
    pub verbatim: bool,
    pub vars: &'a Vars,
    pub report: Option<&'a HostReport>,
    pub secure_boot: bool,
    pub lint: bool,
}

/// Lint errors (each rendered `file:line: error: ...`) and warnings.
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<String>,
    pub warnings: Vec<Warning>,
}

impl Kickstart<'_> {
    pub fn check(&self) -> Findings {
        let mut f = Findings::default();
        if self.lint {
            for d in lint::lint(self.text) {
                match d.severity {
                    lint::Severity::Error => f.errors.push(d.render(self.file)),
                    lint::Severity::Warning => {
                        f.warnings.push(Warning::from_diagnostic(&d, self.file))
                    }
                }
            }
        }
        if let Some(m) = missing_lines(self.report, self.text) {
            f.warnings
                .push(Warning::advice("report-lines-missing", m).at(self.file, 0));
        }
        if self.secure_boot {
            f.warnings.extend(self.firstboot_skipped());
        }
        if self.verbatim
            && self
                .vars
                .boot_opts()
                .iter()
                .any(|(k, _)| k == "allowLegacyCPU")
        {
            f.warnings.push(Warning::advice(
                "legacy-cpu-verbatim",
                format!(
                    "allow_legacy_cpu puts allowLegacyCPU=true on the ISO's boot.cfg, so the \
                     installer boots, but the kickstart {} is copied as it is and does not add \
                     it to the installed host's /bootbank/boot.cfg: the host will not boot \
                     after the install on this CPU. Add the line the nested-lab template's \
                     %firstboot uses, or use a template",
                    self.file
                ),
            ));
        }
        f
    }

    /// ESXi skips `%firstboot` under Secure Boot ("UEFI Secure Boot
    /// Enabled, skipping execution of ..." in kickstart.log): say so, with
    /// the commands that will not run.
    fn firstboot_skipped(&self) -> Vec<Warning> {
        lint::lexer::scripts(self.text)
            .into_iter()
            .filter(|s| s.section == "%firstboot")
            .map(|s| {
                let commands: Vec<String> = s
                    .body
                    .iter()
                    .map(|(_, t)| t.trim())
                    .filter(|t| !t.is_empty() && !t.starts_with('#'))
                    .map(|t| shorten(t, 90))
                    .collect();
                let shown = commands.len().min(6);
                let more = match commands.len() - shown {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                Warning::advice(
                    "firstboot-secure-boot",
                    format!(
                        "%firstboot will not run: ESXi skips it when the host boots with \
                         Secure Boot (--secure-boot), so these settings are lost: {}{more}. \
                         Make them another way (a host profile, or after the install), or \
                         build without --secure-boot for hosts that boot without it",
                        commands[..shown].join("; ")
                    ),
                )
                .at(self.file, s.line)
            })
            .collect()
    }
}

/// A warning when reports are asked for but the kickstart has no report
/// line (a verbatim file, or a template without `report`).
fn missing_lines(report: Option<&HostReport>, kickstart: &str) -> Option<String> {
    let r = report?;
    lint::report::reports(kickstart).is_empty().then(|| {
        format!(
            "--report-to {} has no effect: the kickstart has no report lines \
                 (a template gets them from {{{{ report.pre }}}}, {{{{ report.post }}}} and \
                 {{{{ report.firstboot }}}})",
            r.base
        )
    })
}

/// `text` cut to `max` characters, with `...` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 3).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, secure_boot: bool, verbatim: bool, vars: &Vars) -> Findings {
        Kickstart {
            file: "/KS.CFG",
            text,
            verbatim,
            vars,
            report: None,
            secure_boot,
            lint: true,
        }
        .check()
    }

    #[test]
    fn firstboot_under_secure_boot_is_named_with_its_commands() {
        let ks = "vmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted $6$abcdefgh$0123456789012345678901234567890123456789012345678901234567890123456789012345678901234\nnetwork --bootproto=dhcp\n%firstboot --interpreter=busybox\n# ssh\nvim-cmd hostsvc/enable_ssh\nesxcli system ntp set --server=10.0.0.1 --enabled=true\n";
        let f = check(ks, true, false, &Vars::default());
        let w: Vec<_> = f
            .warnings
            .iter()
            .filter(|w| w.code == "firstboot-secure-boot")
            .collect();
        assert_eq!(w.len(), 1, "{f:?}");
        assert_eq!(w[0].line, Some(5));
        assert!(
            w[0].message
                .contains("vim-cmd hostsvc/enable_ssh; esxcli system ntp set"),
            "{}",
            w[0].message
        );
        let f = check(ks, false, false, &Vars::default());
        assert!(f.warnings.iter().all(|w| w.code != "firstboot-secure-boot"));
    }

    #[test]
    fn legacy_cpu_with_a_verbatim_kickstart_warns() {
        let mut v = Vars::default();
        v.insert_str("allow_legacy_cpu", "true").unwrap();
        let f = check("vmaccepteula\n", false, true, &v);
        assert!(f.warnings.iter().any(|w| w.code == "legacy-cpu-verbatim"));
        let f = check("vmaccepteula\n", false, false, &v);
        assert!(f.warnings.iter().all(|w| w.code != "legacy-cpu-verbatim"));
        assert_eq!(shorten("abcdef", 5), "ab...");
    }
}
