//! What `esxi-iso build` is asked, as plain values (the command line is
//! turned into these once, in `cli`), and the step that resolves it into a
//! [`Plan`]: the kickstart rendered and linted, the boot options parsed,
//! the overlays loaded, every conflict refused, all before the source is
//! even opened. A lab ([`crate::lab`]) shares [`Inputs`] with every host.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::{checks, HostBuild, Options};
use crate::esxi::bootcfg::KernelOptEdits;
use crate::failure::{self, Failure, Tag};
use crate::iso::name;
use crate::kickstart::{crypt::Salt, known::Known, Kickstart, Source, Vars};
use crate::output;
use crate::overlay::OverlaySet;
use crate::progress::Trace;
use crate::report::Reporter;
use crate::warning::{Allow, Warning};

/// What to put on the ISO, as the user gave it: the same for one build
/// and for every host of a lab (where the inventory adds to it).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Where the kickstart goes on the ISO, as given (validated here).
    pub ks_path: String,
    /// A kickstart file (a `.tera` name is rendered), or the default template.
    pub kickstart: Option<PathBuf>,
    /// `KEY=VALUE` template variables; they override `vars`.
    pub set: Vec<String>,
    /// A TOML file of template variables.
    pub vars: Option<PathBuf>,
    /// `KEY[=VALUE]` kernel options to add or replace in both boot.cfg.
    pub boot_opts: Vec<String>,
    /// Kernel options to remove from both boot.cfg.
    pub remove_boot_opts: Vec<String>,
    /// Overlay folders or shipped overlay names.
    pub overlays: Vec<String>,
    pub replace_vendor_files: bool,
    pub ks_in_ramdisk: bool,
    pub secure_boot: bool,
    /// Lint the kickstart before injecting it.
    pub lint: bool,
    /// Replace existing outputs.
    pub force: bool,
    /// `--report-to URL`: the kickstart reports the install to a server.
    pub report_to: Option<String>,
    /// `--allow-local-report`: a loopback or link-local `--report-to` is meant.
    pub allow_local_report: bool,
    /// `--allow CODE`: warnings not to show.
    pub allow: Vec<String>,
}

/// One build: a source (ISO or extracted directory) and one output.
#[derive(Debug, Clone)]
pub struct Request {
    pub source: PathBuf,
    /// None: `<source stem>-ks.iso` in the current directory.
    pub output: Option<PathBuf>,
    pub inputs: Inputs,
}

/// A request resolved and checked: nothing is left to fail but the source
/// and the writing.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: PathBuf,
    pub host: HostBuild,
    pub opts: Options,
    /// `--report-to`: its secret is stored when the build starts.
    pub reporter: Option<Reporter>,
    /// What the plan found about the kickstart, less what `allow` silences.
    pub warnings: Vec<Warning>,
    pub allow: Allow,
}

impl Request {
    /// Everything checked before the source is even opened: lint errors
    /// and unknown variables stop here; warnings go into the plan.
    pub fn plan(&self) -> Result<Plan> {
        self.plan_untagged().tag(Failure::Usage)
    }

    fn plan_untagged(&self) -> Result<Plan> {
        let inputs = &self.inputs;
        let allow = Allow::parse(&inputs.allow)?;
        let ks_path = name::validate_path(&inputs.ks_path)
            .map_err(|e| anyhow::anyhow!("invalid --ks-path: {e}"))?;
        let extra = KernelOptEdits::from_args(&inputs.boot_opts, &inputs.remove_boot_opts)?;
        let output = resolve_output(self.output.as_deref(), &self.source)?;
        let source = Source::from_kickstart_arg(inputs.kickstart.as_deref());
        let template = Kickstart::load(&source)?;
        let overlay = OverlaySet::load(&inputs.overlays, Path::new("."))?;
        let source_date_epoch = output::source_date_epoch()?;
        let mut vars = Vars::load(inputs.vars.as_deref(), &inputs.set)?;
        // With --report-to the host name also names the host's reports.
        let also: &[&str] = if inputs.report_to.is_some() {
            &["hostname"]
        } else {
            &[]
        };
        let known = Known::new(&template.label(), template.uses()?.as_ref(), also);
        let unknown = known.unknown_lines(&vars);
        if !unknown.is_empty() {
            bail!(unknown_error(&unknown));
        }
        vars.set_overlay(&overlay);
        vars.salt = Salt::for_epoch(source_date_epoch);
        let reporter = match &inputs.report_to {
            Some(url) => Some(Reporter::open(
                url,
                output_dir(&output),
                inputs.allow_local_report,
            )?),
            None => None,
        };
        if let Some(r) = &reporter {
            vars.report = Some(r.for_host(&report_name(&vars, &output)?));
        }
        let kickstart = template.produce(&vars)?;
        let findings = checks::Kickstart {
            file: &lint_file(&source, &ks_path, inputs.ks_in_ramdisk),
            text: &kickstart,
            verbatim: !source.is_template(),
            vars: &vars,
            report: vars.report.as_ref(),
            secure_boot: inputs.secure_boot,
            lint: inputs.lint,
        }
        .check();
        if !findings.errors.is_empty() {
            return Err(lint_failed(&findings.errors));
        }
        let mut var_opts = KernelOptEdits {
            set: vars.boot_opts(),
            remove: Vec::new(),
        };
        var_opts.set.extend(extra.set);
        var_opts.remove = extra.remove;
        let host = HostBuild {
            output,
            edits: var_opts,
            ks_path,
            kickstart,
            overlay,
            ks_in_ramdisk: inputs.ks_in_ramdisk,
            replace_vendor_files: inputs.replace_vendor_files,
            secure_boot: inputs.secure_boot,
        };
        if let Some(e) = host.secure_boot_conflict() {
            anyhow::bail!(e);
        }
        Ok(Plan {
            source: self.source.clone(),
            host,
            opts: Options {
                source_date_epoch,
                force: inputs.force,
                cancel: None,
                trace: Trace::default(),
            },
            reporter,
            warnings: allow.filter(findings.warnings),
            allow,
        })
    }
}

/// The error for variables nothing would use: each on its own line.
pub fn unknown_error(unknown: &[String]) -> anyhow::Error {
    match unknown {
        [one] => anyhow::anyhow!("{one}"),
        many => anyhow::anyhow!(
            "{} variables that nothing would use:\n  {}",
            many.len(),
            many.join("\n  ")
        ),
    }
}

/// Where lint findings of a kickstart point: the user's file when it is
/// copied as it is, else the kickstart's place on the ISO (the rendered
/// text, which `esxi-iso kickstart render` shows).
pub fn lint_file(source: &Source, ks_path: &str, in_ramdisk: bool) -> String {
    match source {
        Source::Verbatim(p) => p.display().to_string(),
        _ if in_ramdisk => format!("/{}", super::RAMDISK_KS),
        _ => format!("/{ks_path}"),
    }
}

impl Plan {
    /// For `--verbose`: what the plan decided, one line each, without a
    /// secret (sizes and places, never the kickstart text or the hash).
    pub fn describe(&self) -> Vec<String> {
        let mut v = vec![format!(
            "plan: {} from {} {}",
            self.host.output.display(),
            if self.source.is_dir() {
                "the extracted directory"
            } else {
                "the ISO"
            },
            self.source.display()
        )];
        v.extend(describe_host(&self.host));
        if let Some(r) = &self.reporter {
            v.push(format!("plan: {}", r.describe()));
        }
        v
    }
}

/// For `--verbose`: the kickstart's place and size, the boot option
/// edits, the overlays and the Secure Boot rule of one output.
pub fn describe_host(host: &HostBuild) -> Vec<String> {
    let mut v = vec![format!(
        "plan: kickstart of {} bytes at {}, both boot.cfg get ks={}",
        host.kickstart.len(),
        host.ks_label(),
        host.ks_location()
    )];
    let set: Vec<String> = host
        .edits
        .set
        .iter()
        .map(|(k, val)| match val {
            Some(val) => format!("{k}={val}"),
            None => k.clone(),
        })
        .collect();
    if !set.is_empty() {
        v.push(format!("plan: kernel options set: {}", set.join(" ")));
    }
    if !host.edits.remove.is_empty() {
        v.push(format!(
            "plan: kernel options removed: {}",
            host.edits.remove.join(" ")
        ));
    }
    if !host.overlay.names.is_empty() {
        v.push(format!(
            "plan: overlays {}: {} file(s) on the ISO, {} in the added ramdisk module",
            host.overlay.names.join(", "),
            host.overlay.iso.len(),
            host.overlay.ramdisk.len()
        ));
    }
    if host.secure_boot {
        v.push("plan: --secure-boot: the boot module list stays as the source's".into());
    }
    v
}

/// The error for a kickstart that fails lint: every error, one a line.
fn lint_failed(errors: &[String]) -> anyhow::Error {
    failure::error(
        Failure::Verdict,
        format!(
            "the kickstart fails lint ({} error{}); fix it or pass --no-lint:\n  {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            errors.join("\n  ")
        ),
    )
}

/// The name a single build reports under: the `hostname` variable, else
/// the output's file stem.
fn report_name(vars: &Vars, output: &Path) -> Result<String> {
    let name = match vars.values.get("hostname").and_then(|v| v.as_str()) {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !crate::kickstart::vars::valid_hostname(&name) {
        anyhow::bail!(
            "--report-to: the host would report as {name:?}, which is not a valid host \
             name: pass --set hostname=NAME"
        );
    }
    Ok(name)
}

/// The folder an output goes to (its state folder holds the report secret).
fn output_dir(output: &Path) -> &Path {
    match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The output path: `-o` as given, or inside it with the default name
/// when it is a folder (or ends in `/`), or the default name in the
/// current directory. The folder the output goes to must exist: this is
/// checked now, not after the build.
fn resolve_output(given: Option<&Path>, source: &Path) -> Result<PathBuf> {
    let name = default_name(source);
    let out = match given {
        None => return Ok(PathBuf::from(name)),
        Some(o) if o.is_dir() || o.as_os_str().to_string_lossy().ends_with('/') => o.join(name),
        Some(o) => o.to_path_buf(),
    };
    let dir = output_dir(&out);
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        bail!(
            "-o {}: the folder {} {what}: create it (mkdir -p {}) or write elsewhere",
            given.unwrap_or(&out).display(),
            dir.display(),
            dir.display()
        );
    }
    Ok(out)
}

/// `<source stem>-ks.iso`.
fn default_name(source: &Path) -> String {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "esxi".into());
    format!("{stem}-ks.iso")
}
