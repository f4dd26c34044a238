//! What `esxi-iso build` is asked, as plain values (the command line is
//! turned into these once, in `cli`), and the step that resolves it into a
//! [`Plan`]: the kickstart rendered and linted, the boot options parsed,
//! the overlays loaded, every conflict refused, all before the source is
//! even opened. A lab ([`crate::lab`]) shares [`Inputs`] with every host.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{HostBuild, Options};
use crate::esxi::bootcfg::KernelOptEdits;
use crate::failure::{self, Failure, Tag};
use crate::iso::name;
use crate::kickstart::{self, crypt::Salt, lint, Source, Vars};
use crate::output;
use crate::overlay::OverlaySet;
use crate::progress::{Notify, Trace};
use crate::report::{self, Reporter};

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
}

impl Request {
    /// Everything checked before the source is even opened. Kickstart lint
    /// warnings go to `notify`; lint errors stop here.
    pub fn plan(&self, notify: Notify<'_>) -> Result<Plan> {
        self.plan_untagged(notify).tag(Failure::Usage)
    }

    fn plan_untagged(&self, notify: Notify<'_>) -> Result<Plan> {
        let inputs = &self.inputs;
        let ks_path = name::validate_path(&inputs.ks_path)
            .map_err(|e| anyhow::anyhow!("invalid --ks-path: {e}"))?;
        let extra = KernelOptEdits::from_args(&inputs.boot_opts, &inputs.remove_boot_opts)?;
        let source = Source::from_kickstart_arg(inputs.kickstart.as_deref());
        let overlay = OverlaySet::load(&inputs.overlays, Path::new("."))?;
        let source_date_epoch = output::source_date_epoch()?;
        let mut vars = Vars::load(inputs.vars.as_deref(), &inputs.set)?;
        vars.set_overlay(&overlay);
        vars.salt = Salt::for_epoch(source_date_epoch);
        let output = match &self.output {
            Some(o) => o.clone(),
            None => default_output(&self.source),
        };
        let reporter = match &inputs.report_to {
            Some(url) => Some(Reporter::open(url, output_dir(&output))?),
            None => None,
        };
        if let Some(r) = &reporter {
            vars.report = Some(r.for_host(&report::host_name(&vars, &output)?));
        }
        let kickstart = kickstart::produce(&source, &vars)?;
        if let Some(m) = report::missing_lines(vars.report.as_ref(), &kickstart) {
            notify(&format!("warning: {}: {m}", source.label()));
        }
        if inputs.lint {
            check_lint(&source.label(), &kickstart, notify)?;
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
        })
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

/// Lints a kickstart about to be injected: warnings go to `notify`, errors
/// stop the build before anything is written.
fn check_lint(label: &str, text: &str, notify: Notify<'_>) -> Result<()> {
    let diags = lint::lint(text);
    let (errors, warnings): (Vec<_>, Vec<_>) = diags
        .iter()
        .partition(|d| d.severity == lint::Severity::Error);
    for w in warnings {
        notify(&w.render(label));
    }
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(|d| d.render(label)).collect();
        return Err(failure::error(
            Failure::Verdict,
            format!(
                "the kickstart fails lint ({} error{}); fix it or pass --no-lint:\n  {}",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                lines.join("\n  ")
            ),
        ));
    }
    Ok(())
}

/// The folder an output goes to (its state folder holds the report secret).
fn output_dir(output: &Path) -> &Path {
    match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `<source stem>-ks.iso` in the current directory.
fn default_output(source: &Path) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "esxi".into());
    PathBuf::from(format!("{stem}-ks.iso"))
}
