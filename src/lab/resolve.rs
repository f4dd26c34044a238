//! Resolving a lab: merge each host of the inventory over the defaults and
//! the command line, render and lint every kickstart, and check the whole
//! lab, into one immutable plan per host. Every problem of every host is
//! collected, one line each, so a user fixes the file in one pass; nothing
//! is written when there is any.
//!
//! Variable precedence, lowest first: `--vars FILE` (and
//! ESXI_ISO_ROOT_PASSWORD when that file has no password), the inventory's
//! `[defaults]`, the host's entry, then `--set`. `--set` is for values the
//! whole lab shares (a password, a switch): setting a key with it that a
//! host entry also sets is refused, as it would silently erase the
//! per-host values.
//!
//! Keys with a meaning of their own, in `[defaults]` or a host: `template`
//! (built-in name, or a file relative to the inventory's directory),
//! `boot_opts` (`KEY[=VALUE]` strings), `ks_path`, `overlays`,
//! `secure_boot` (true: the host boots with UEFI Secure Boot, so builds
//! that add a boot module are refused). Every other key is a template
//! variable, and must be one the host's kickstart uses
//! ([`crate::kickstart::known`]): a misspelled key is a problem, not a
//! silently ignored value. Building the ISOs is [`super::runner`]'s job.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Result;
use toml::{Table, Value};

use super::inventory::Inventory;
use super::mac::Mac;
use super::vm::{vm_table, VmSettings};
use super::{HostPlan, LabPlan, Problem};
use crate::build::{checks, lint_file, HostBuild, Inputs};
use crate::diagnostic::nearest;
use crate::esxi::bootcfg::KernelOptEdits;
use crate::failure::{self, Failure};
use crate::iso::name;
use crate::kickstart::known::Known;
use crate::kickstart::{crypt::Salt, Kickstart, Source, Uses, Vars, TEMPLATES};
use crate::output;
use crate::overlay::OverlaySet;
use crate::report::Reporter;
use crate::warning::Allow;

/// Keys of `[defaults]` and host entries that are not template variables.
pub const SPECIAL: &[&str] = &[
    "template",
    "boot_opts",
    "ks_path",
    "overlays",
    "secure_boot",
    "mac",
    "vm",
];

/// Keys of `[lab]`.
pub const LAB_KEYS: &[&str] = &["name"];

/// Most overlay bytes all the hosts of one run may hold together.
const LAB_OVERLAY_MAX: u64 = 1 << 30;

/// What the command line contributes to every host.
#[derive(Debug, Clone)]
pub struct Common {
    /// `--vars FILE` plus the password from the environment.
    pub base: Vars,
    /// `--set`.
    pub set: Vars,
    /// `--kickstart`, or the default template.
    pub source: Source,
    /// `--ks-path`, as given.
    pub ks_path: String,
    /// `--boot-opt` and `--remove-boot-opt`.
    pub boot_opts: KernelOptEdits,
    pub lint: bool,
    pub force: bool,
    /// `--overlay`, applied to every host before its own `overlays`.
    pub overlays: Vec<String>,
    pub ks_in_ramdisk: bool,
    pub replace_vendor_files: bool,
    /// `--secure-boot`; a host's `secure_boot` key overrides it.
    pub secure_boot: bool,
    pub out_dir: PathBuf,
    /// Where relative template paths are looked up: the inventory's folder.
    pub base_dir: PathBuf,
    /// The inventory file's name without its extension: the lab's name
    /// unless `[lab] name` gives one.
    pub stem: String,
    /// `--report-to`, with the secret of the out-dir.
    pub report: Option<Reporter>,
    /// `--allow`: warnings not to keep.
    pub allow: Allow,
    /// `--host`: build only these (all when empty); the whole inventory
    /// is still checked.
    pub only: Vec<String>,
    /// `--netboot`: no ISO is written (the network install checks its own
    /// outputs), and lint names a kickstart `HOST.cfg`, as it is served.
    pub netboot: bool,
}

impl Common {
    /// The command line's share of every host of the inventory at
    /// `inventory`, whose ISOs go to `out_dir`.
    pub fn from_inputs(
        inputs: &Inputs,
        inventory: &Path,
        out_dir: PathBuf,
        only: &[String],
    ) -> Result<Common> {
        let boot_opts = KernelOptEdits::from_args(&inputs.boot_opts, &inputs.remove_boot_opts)?;
        // Vars::load puts the environment's password in this lowest layer, so
        // a password (or hash) in the inventory or --set wins over it.
        let mut base = Vars::load(inputs.vars.as_deref(), &[])?;
        base.salt = Salt::for_epoch(output::source_date_epoch()?);
        let mut set = Vars::default();
        set.extend_set(&inputs.set)?;
        let base_dir = match inventory.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = inventory
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lab".into());
        let report = match &inputs.report_to {
            Some(url) => Some(Reporter::open(url, &out_dir, inputs.allow_local_report)?),
            None => None,
        };
        Ok(Common {
            report,
            base,
            set,
            source: Source::from_kickstart_arg(inputs.kickstart.as_deref()),
            ks_path: inputs.ks_path.clone(),
            boot_opts,
            lint: inputs.lint,
            force: inputs.force,
            overlays: inputs.overlays.clone(),
            ks_in_ramdisk: inputs.ks_in_ramdisk,
            replace_vendor_files: inputs.replace_vendor_files,
            secure_boot: inputs.secure_boot,
            out_dir,
            base_dir,
            stem,
            allow: Allow::parse(&inputs.allow)?,
            only: only.to_vec(),
            netboot: false,
        })
    }
}

/// Each kickstart source, read and parsed once for the whole lab.
#[derive(Default)]
struct Templates(HashMap<Source, Result<(Kickstart, Option<Uses>), Problem>>);

impl Templates {
    fn get(&mut self, source: &Source) -> Result<&(Kickstart, Option<Uses>), Problem> {
        self.0
            .entry(source.clone())
            .or_insert_with(|| {
                Kickstart::load(source)
                    .and_then(|k| {
                        let uses = k.uses()?;
                        Ok((k, uses))
                    })
                    .map_err(|e| Problem {
                        failure: failure::of(&e).unwrap_or(Failure::Usage),
                        text: one_line(&format!("{e:#}")),
                    })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Merges and checks every host; all problems, or the plans of the hosts
/// to build.
pub fn resolve(inv: &Inventory, common: &Common) -> Result<LabPlan, Vec<Problem>> {
    let mut problems = Vec::new();
    if inv.hosts.is_empty() {
        problems.push(Problem::usage(
            "no hosts: add [[host]] entries (TOML) or rows (CSV)",
        ));
    }
    problems.extend(set_conflicts(inv, common).into_iter().map(Problem::usage));
    let name = lab_name(inv, &common.stem, &mut problems);
    problems.extend(vm_problems(inv));
    let mut templates = Templates::default();
    let mut hosts = Vec::new();
    let mut found = Vec::new();
    let mut macs = Vec::new();
    // A `[defaults]` key or a CSV column is fine when some host's
    // kickstart reads it; one that none reads is one problem, said once.
    let mut shared_used = BTreeSet::new();
    let mut shared_unused: BTreeMap<String, Problem> = BTreeMap::new();
    let mut overlay_bytes = 0u64;
    for (i, entry) in inv.hosts.iter().enumerate() {
        let r = resolve_host(i, inv, entry, common, &mut templates);
        shared_used.extend(r.shared_used);
        for p in r.problems {
            match p.shared {
                Some(key) => {
                    shared_unused.entry(key).or_insert(p.problem);
                }
                None => problems.push(p.problem),
            }
        }
        overlay_bytes += r.plan.as_ref().map_or(0, |p| p.build.overlay.bytes());
        hosts.extend(r.plan);
        found.push((r.hostname, r.ip));
        macs.push(r.mac);
        // Every host holds its own copy of its overlays until it is built.
        if overlay_bytes > LAB_OVERLAY_MAX {
            problems.push(Problem::usage(format!(
                "the overlays of the first {} hosts hold more than {} MiB in memory: \
                 build fewer hosts per run, or keep large payloads out of overlays",
                i + 1,
                LAB_OVERLAY_MAX >> 20
            )));
            break;
        }
    }
    problems.extend(
        shared_unused
            .into_iter()
            .filter(|(key, _)| !shared_used.contains(key))
            .map(|(_, p)| p),
    );
    problems.extend(duplicates(&found).into_iter().map(Problem::usage));
    problems.extend(
        duplicate_macs(&found, &macs)
            .into_iter()
            .map(Problem::usage),
    );
    let names: Vec<&str> = found.iter().filter_map(|(n, _)| n.as_deref()).collect();
    problems.extend(unknown_hosts(&names, &common.only));
    if !common.only.is_empty() {
        hosts.retain(|h| {
            common
                .only
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&h.hostname))
        });
    }
    if !common.netboot {
        problems.extend(existing_outputs(&hosts, common));
    }
    if problems.is_empty() {
        Ok(LabPlan {
            name,
            hosts,
            out_dir: common.out_dir.clone(),
            report: common.report.clone(),
            only: common.only.clone(),
            index: None,
            allow: common.allow.clone(),
        })
    } else {
        Err(problems)
    }
}

/// A problem of one host; `shared` names the key when the problem is a
/// key of the inventory as a whole (`[defaults]`, a CSV column) that this
/// host's kickstart does not read: a problem only if no host reads it.
struct HostProblem {
    problem: Problem,
    shared: Option<String>,
}

struct Resolved {
    plan: Option<HostPlan>,
    hostname: Option<String>,
    ip: Option<Ipv4Addr>,
    problems: Vec<HostProblem>,
    /// Shared keys (`[defaults]`, CSV columns) this host's kickstart reads.
    shared_used: Vec<String>,
    /// `mac`, when given and valid.
    mac: Option<Mac>,
}

/// One host: its entry over the inventory's defaults.
fn resolve_host(
    index: usize,
    inv: &Inventory,
    entry: &Table,
    common: &Common,
    templates: &mut Templates,
) -> Resolved {
    let mut merged = inv.defaults.clone();
    merged.extend(entry.clone());
    let mut problems = Vec::new();
    let mut own = Vars::default();
    for (k, v) in &merged {
        if SPECIAL.contains(&k.as_str()) {
            continue;
        }
        let origin = if entry.contains_key(k) {
            inv.key_word()
        } else {
            "[defaults] key"
        };
        if let Err(e) = own.insert_from(k, v.clone(), origin) {
            problems.push(format!("{e:#}"));
        }
    }
    let mut vars = common.base.overlay(&own).overlay(&common.set);
    let hostname = match vars.values.get("hostname") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let label = hostname
        .clone()
        .unwrap_or_else(|| format!("host #{}", index + 1));
    // A hostname of the wrong type is there: vars.problems() says so.
    if hostname.is_none() && vars.values.get("hostname").is_none_or(Value::is_str) {
        problems.push("missing hostname".to_string());
    }
    problems.extend(vars.problems());

    let (template, source) = match string_key(&merged, "template", &mut problems) {
        None => (common.source.label(), Some(common.source.clone())),
        Some(t) => (
            t.clone(),
            template_source(&t, &common.base_dir, &mut problems),
        ),
    };
    // Problems that are not usage errors (lint errors, a template that
    // cannot be read), and those said once for the whole inventory.
    let mut tagged: Vec<HostProblem> = Vec::new();
    let loaded = source.as_ref().map(|s| templates.get(s));
    if let Some(Err(p)) = &loaded {
        tagged.push(HostProblem {
            problem: p.clone(),
            shared: None,
        });
    }
    let loaded = loaded.and_then(Result::ok);
    let is_shared = |origin: &str| origin.starts_with("[defaults]") || inv.csv;
    let mut shared_used = Vec::new();
    if let Some((ks, uses)) = loaded {
        let known = Known::new(&ks.label(), uses.as_ref(), &["hostname"]);
        shared_used.extend(
            vars.origins
                .iter()
                .filter(|(k, o)| is_shared(o) && known.accepts(k))
                .map(|(k, o)| format!("{o} {k}")),
        );
        for (key, msg) in known.unknown(&vars) {
            let origin = vars.origins.get(&key).cloned().unwrap_or_default();
            let shared = is_shared(&origin).then(|| format!("{origin} {key}"));
            let text = match &shared {
                Some(_) => format!("{origin} {key}: {msg}"),
                None => format!("{label}: {origin} {key}: {msg}"),
            };
            tagged.push(HostProblem {
                problem: Problem::usage(text),
                shared,
            });
        }
    }
    let ks_path = string_key(&merged, "ks_path", &mut problems).unwrap_or(common.ks_path.clone());
    let ks_path = name::validate_path(&ks_path)
        .map_err(|e| problems.push(format!("ks_path: {e}")))
        .ok();
    let mut opts = KernelOptEdits {
        set: vars.boot_opts(),
        remove: common.boot_opts.remove.clone(),
    };
    opts.set.extend(common.boot_opts.set.iter().cloned());
    for o in string_list(&merged, "boot_opts", &mut problems) {
        match KernelOptEdits::parse_opt(&o) {
            Ok(kv) => opts.set.push(kv),
            Err(e) => problems.push(format!("boot_opts: {e}")),
        }
    }
    let secure_boot = bool_key(&merged, "secure_boot", &mut problems).unwrap_or(common.secure_boot);
    let mac = string_key(&merged, "mac", &mut problems)
        .and_then(|m| {
            Mac::parse(&m)
                .map_err(|e| problems.push(format!("mac: {e}")))
                .ok()
        })
        .or_else(|| first_vm_mac(inv, entry));
    let overlays = string_list(&merged, "overlays", &mut problems);
    // Command-line overlays load from the current directory, inventory ones
    // from the inventory's folder.
    let mut overlay = OverlaySet::load(&common.overlays, Path::new("."));
    if let Ok(set) = &mut overlay {
        match OverlaySet::load(&overlays, &common.base_dir) {
            Ok(own) => set
                .extend(own)
                .unwrap_or_else(|e| problems.push(format!("overlays: {e:#}"))),
            Err(e) => problems.push(format!("overlays: {e:#}")),
        }
    }
    let overlay = overlay
        .map_err(|e| problems.push(format!("overlays: {e:#}")))
        .ok()
        .unwrap_or_default();
    vars.set_overlay(&overlay);
    if let (Some(r), Some(h)) = (&common.report, &hostname) {
        vars.report = Some(r.for_host(h));
    }
    // The overlay moves through the probe: a lab's overlays can be large.
    let probe = HostBuild {
        overlay,
        ks_in_ramdisk: common.ks_in_ramdisk,
        secure_boot,
        ..HostBuild::default()
    };
    if let Some(e) = probe.secure_boot_conflict() {
        problems.push(e);
    }
    let overlay = probe.overlay;

    let mut warnings = Vec::new();
    let mut kickstart = None;
    let ready = problems.is_empty() && tagged.iter().all(|p| p.shared.is_some());
    if let (true, Some((ks, _)), Some(ks_path)) = (ready, loaded, &ks_path) {
        match ks.produce(&vars) {
            Err(e) => tagged.push(HostProblem {
                problem: Problem {
                    failure: failure::of(&e).unwrap_or(Failure::Usage),
                    text: one_line(&format!("{e:#}")),
                },
                shared: None,
            }),
            Ok(text) => {
                let file = match (&hostname, common.netboot, ks.source.is_template()) {
                    (Some(h), true, true) => format!("{}.cfg", h.to_ascii_lowercase()),
                    _ => lint_file(&ks.source, ks_path, common.ks_in_ramdisk),
                };
                let findings = checks::Kickstart {
                    file: &file,
                    text: &text,
                    verbatim: !ks.source.is_template(),
                    vars: &vars,
                    report: vars.report.as_ref(),
                    secure_boot,
                    lint: common.lint,
                }
                .check();
                tagged.extend(findings.errors.into_iter().map(|e| HostProblem {
                    problem: Problem {
                        failure: Failure::Verdict,
                        text: e,
                    },
                    shared: None,
                }));
                warnings = common.allow.filter(findings.warnings);
                kickstart = Some(text);
            }
        }
    }
    let mut all: Vec<HostProblem> = problems
        .into_iter()
        .map(|p| HostProblem {
            problem: Problem::usage(p),
            shared: None,
        })
        .collect();
    all.extend(tagged);
    for p in &mut all {
        if p.shared.is_none() && !p.problem.text.starts_with(&format!("{label}: ")) {
            p.problem.text = format!("{label}: {}", p.problem.text);
        }
    }
    let ip = vars.network().ok().flatten().map(|(addr, _)| addr);
    let fine = all.iter().all(|p| p.shared.is_some());
    let plan = match (fine, hostname.clone(), kickstart, ks_path) {
        (true, Some(hostname), Some(kickstart), Some(ks_path)) => Some(HostPlan {
            build: HostBuild {
                output: common.out_dir.join(format!("{hostname}.iso")),
                edits: opts,
                ks_path,
                kickstart,
                overlay,
                ks_in_ramdisk: common.ks_in_ramdisk,
                replace_vendor_files: common.replace_vendor_files,
                secure_boot,
            },
            hostname,
            template,
            vars,
            overlays,
            warnings,
            mac,
        }),
        _ => None,
    };
    Resolved {
        plan,
        hostname,
        ip,
        problems: all,
        shared_used,
        mac,
    }
}

fn template_source(name: &str, base_dir: &Path, problems: &mut Vec<String>) -> Option<Source> {
    if let Some((n, _)) = TEMPLATES.iter().find(|(n, _)| *n == name) {
        return Some(Source::Builtin(n));
    }
    let p = base_dir.join(name);
    if !p.is_file() {
        problems.push(format!(
            "unknown template {name:?}: use one of {} or a .tera file \
             (relative to the inventory's folder)",
            TEMPLATES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return None;
    }
    Some(Source::from_kickstart_arg(Some(&p)))
}

pub(crate) fn string_key(t: &Table, key: &str, problems: &mut Vec<String>) -> Option<String> {
    match t.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::String(_) => None,
        _ => {
            problems.push(format!("{key}: must be a string"));
            None
        }
    }
}

/// true/false (CSV cells: true, false, yes, no, 1, 0).
pub(crate) fn bool_key(t: &Table, key: &str, problems: &mut Vec<String>) -> Option<bool> {
    match t.get(key)? {
        Value::Boolean(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => {
                problems.push(format!("{key}: {s:?} is not true or false"));
                None
            }
        },
        _ => {
            problems.push(format!("{key}: must be true or false"));
            None
        }
    }
}

/// An array of strings (a single string is split on whitespace).
fn string_list(t: &Table, key: &str, problems: &mut Vec<String>) -> Vec<String> {
    match t.get(key) {
        None => Vec::new(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) if a.iter().all(Value::is_str) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            problems.push(format!("{key}: must be a list of strings"));
            Vec::new()
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `--set` of a key some host entry sets itself.
fn set_conflicts(inv: &Inventory, common: &Common) -> Vec<String> {
    let mut out = Vec::new();
    for key in common.set.values.keys() {
        let hosts: Vec<String> = inv
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.contains_key(key))
            .map(|(i, h)| match h.get("hostname").and_then(Value::as_str) {
                Some(n) => n.to_string(),
                None => format!("host #{}", i + 1),
            })
            .collect();
        if !hosts.is_empty() {
            out.push(format!(
                "--set {key} would replace the per-host values of {}: \
                 set it in the inventory instead",
                hosts.join(", ")
            ));
        }
    }
    out
}

/// Hostnames (and so output files) and addresses used twice. Hostnames
/// compare without regard to case, as DNS and some file systems do.
fn duplicates(found: &[(Option<String>, Option<Ipv4Addr>)]) -> Vec<String> {
    let mut names: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut ips: BTreeMap<Ipv4Addr, Vec<String>> = BTreeMap::new();
    for (i, (name, ip)) in found.iter().enumerate() {
        if let Some(n) = name {
            names.entry(n.to_ascii_lowercase()).or_default().push(i);
        }
        if let Some(ip) = ip {
            let who = name.clone().unwrap_or_else(|| format!("host #{}", i + 1));
            ips.entry(*ip).or_default().push(who);
        }
    }
    let mut out = Vec::new();
    for (n, idx) in &names {
        if idx.len() > 1 {
            let at: Vec<String> = idx.iter().map(|i| format!("#{}", i + 1)).collect();
            out.push(format!(
                "duplicate hostname {n}: hosts {} (each host needs its own name and ISO)",
                at.join(", ")
            ));
        }
    }
    for (ip, who) in &ips {
        if who.len() > 1 {
            out.push(format!("duplicate ip {ip}: {}", who.join(", ")));
        }
    }
    out
}

/// The `vm` tables' problems (`deploy` reads them; a build checks them
/// too, so a typo is found before the lab is built): the defaults' once,
/// then each host's.
fn vm_problems(inv: &Inventory) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut shared = Vec::new();
    VmSettings::parse(&vm_table(&inv.defaults, &mut shared), &mut shared);
    out.extend(
        shared
            .into_iter()
            .map(|p| Problem::usage(format!("[defaults] {p}"))),
    );
    for (i, entry) in inv.hosts.iter().enumerate() {
        let mut own = Vec::new();
        VmSettings::parse(&vm_table(entry, &mut own), &mut own);
        let label = match entry.get("hostname").and_then(Value::as_str) {
            Some(n) => n.to_string(),
            None => format!("host #{}", i + 1),
        };
        out.extend(
            own.into_iter()
                .map(|p| Problem::usage(format!("{label}: {p}"))),
        );
    }
    out
}

/// NIC 0's MAC from the host's merged `vm.macs`, for a host without
/// `mac`: the boot NIC deploy gives its VM, so a network install writes
/// its boot.cfg for that MAC (the `vm` tables' problems are
/// [`vm_problems`]'s to say).
fn first_vm_mac(inv: &Inventory, entry: &Table) -> Option<Mac> {
    let mut ignored = Vec::new();
    let defaults = VmSettings::parse(&vm_table(&inv.defaults, &mut ignored), &mut ignored);
    let own = VmSettings::parse(&vm_table(entry, &mut ignored), &mut ignored);
    own.over(&defaults).macs?.first().copied()
}

/// `[lab] name`, or the inventory's file name (`stem`); unknown `[lab]`
/// keys are problems.
pub(crate) fn lab_name(inv: &Inventory, stem: &str, problems: &mut Vec<Problem>) -> String {
    for k in inv.lab.keys().filter(|k| !LAB_KEYS.contains(&k.as_str())) {
        let near = nearest(k, LAB_KEYS)
            .map(|n| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        problems.push(Problem::usage(format!(
            "[lab] key {k}: not a lab setting{near}; [lab] takes {}",
            LAB_KEYS.join(", ")
        )));
    }
    match inv.lab.get("name") {
        None => stem.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() && !s.chars().any(char::is_control) => {
            s.trim().to_string()
        }
        Some(_) => {
            problems.push(Problem::usage(
                "[lab] name: must be a non-empty string (it names the lab: derived MACs \
                 and deploy markers come from it)",
            ));
            stem.to_string()
        }
    }
}

/// MACs given to two hosts.
fn duplicate_macs(
    found: &[(Option<String>, Option<Ipv4Addr>)],
    macs: &[Option<Mac>],
) -> Vec<String> {
    let mut by: BTreeMap<Mac, Vec<String>> = BTreeMap::new();
    for (i, (m, (name, _))) in macs.iter().zip(found).enumerate() {
        if let Some(m) = m {
            let who = name.clone().unwrap_or_else(|| format!("host #{}", i + 1));
            by.entry(*m).or_default().push(who);
        }
    }
    by.into_iter()
        .filter(|(_, who)| who.len() > 1)
        .map(|(m, who)| {
            format!(
                "duplicate mac {m}: {} (each NIC needs its own)",
                who.join(", ")
            )
        })
        .collect()
}

/// `--host` names that are not among the inventory's hosts `names` (for
/// `build` and `deploy`).
pub(crate) fn unknown_hosts(names: &[&str], only: &[String]) -> Vec<Problem> {
    only.iter()
        .filter(|o| !names.iter().any(|n| n.eq_ignore_ascii_case(o)))
        .map(|o| {
            let near = nearest(o, names)
                .map(|n| format!("did you mean {n}? "))
                .unwrap_or_default();
            Problem::usage(format!(
                "--host {o}: the inventory has no host {o}: {near}its hosts are {}",
                names.join(", ")
            ))
        })
        .collect()
}

/// The ISOs of the hosts to build that exist already (refused without
/// --force), an out-dir that is not a directory, and one whose parent is
/// not there (the run makes the out-dir, not a path of folders a typo
/// made up). The index files are merged, not replaced, so they need no
/// --force.
fn existing_outputs(hosts: &[HostPlan], common: &Common) -> Vec<Problem> {
    let dir = &common.out_dir;
    if dir.symlink_metadata().is_ok() && !dir.is_dir() {
        return vec![Problem::usage(format!(
            "--out-dir {} exists and is not a directory",
            dir.display()
        ))];
    }
    if let Some(parent) = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
    {
        return vec![Problem::usage(format!(
            "--out-dir {}: the folder {} does not exist: create it (mkdir -p {}) or build \
             elsewhere; the run makes only the last folder",
            dir.display(),
            parent.display(),
            parent.display()
        ))];
    }
    if common.force {
        return Vec::new();
    }
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for h in hosts {
        let iso = &h.build.output;
        paths.push((h.hostname.clone(), iso.clone()));
        paths.push((h.hostname.clone(), output::checksum_path(iso)));
    }
    paths
        .into_iter()
        .filter(|(_, p)| p.symlink_metadata().is_ok())
        .map(|(who, p)| Problem {
            failure: Failure::OutputExists,
            text: format!(
                "{who}: {} already exists: pass --force to overwrite it",
                p.display()
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::inventory::{parse_csv, parse_toml};
    use super::*;

    const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";

    fn common(dir: &Path) -> Common {
        Common {
            report: None,
            allow: Allow::default(),
            only: Vec::new(),
            base: Vars::default(),
            set: Vars::default(),
            source: Source::Builtin("minimal"),
            ks_path: "/KS.CFG".into(),
            boot_opts: KernelOptEdits::default(),
            lint: true,
            force: false,
            overlays: Vec::new(),
            ks_in_ramdisk: false,
            replace_vendor_files: false,
            secure_boot: false,
            out_dir: dir.join("out"),
            base_dir: dir.to_path_buf(),
            stem: "lab".into(),
            netboot: false,
        }
    }

    fn lab(hosts: &str) -> String {
        format!(
            "[defaults]\nroot_password = '{HASH}'\ngateway = '10.0.0.1'\n\
             nameservers = ['10.0.0.2']\nboot_opts = ['systemMediaSize=min']\n{hosts}"
        )
    }

    fn problems(toml: &str, c: &Common) -> Vec<String> {
        resolve(&parse_toml(toml).unwrap(), c)
            .unwrap_err()
            .into_iter()
            .map(|p| p.text)
            .collect()
    }

    #[test]
    fn toml_and_csv_resolve_alike() {
        let dir = tempfile::tempdir().unwrap();
        let c = common(dir.path());
        let t = parse_toml(&lab(
            "[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\n\
             [[host]]\nhostname = 'esx02'\nip = '10.0.0.12/24'\nboot_opts = ['allowLegacyCPU=true']\n",
        ))
        .unwrap();
        let plan = resolve(&t, &c).unwrap();
        assert_eq!(plan.hosts.len(), 2);
        let h2 = &plan.hosts[1];
        assert_eq!(h2.hostname, "esx02");
        assert_eq!(h2.build.output, dir.path().join("out/esx02.iso"));
        assert!(h2.build.kickstart.contains("--ip=10.0.0.12"));
        // The host's boot_opts replace the defaults' list.
        assert!(h2
            .build
            .edits
            .set
            .contains(&("allowLegacyCPU".into(), Some("true".into()))));
        assert!(!h2
            .build
            .edits
            .set
            .contains(&("systemMediaSize".into(), Some("min".into()))));
        assert!(plan.hosts[0]
            .build
            .edits
            .set
            .contains(&("systemMediaSize".into(), Some("min".into()))));

        let mut c2 = c.clone();
        c2.base.insert_str("root_password", HASH).unwrap();
        c2.base.insert_str("gateway", "10.0.0.1").unwrap();
        let csv = "hostname,ip,nameservers,boot_opts\n\
                   esx01,10.0.0.11/24,\"10.0.0.2\",systemMediaSize=min\n\
                   esx02 , 10.0.0.12/24,10.0.0.2,allowLegacyCPU=true\n";
        let plan2 = resolve(&parse_csv(csv).unwrap(), &c2).unwrap();
        for (a, b) in plan.hosts.iter().zip(&plan2.hosts) {
            assert_eq!(a.build.kickstart, b.build.kickstart);
        }
        assert_eq!(plan2.hosts[1].build.edits, h2.build.edits);
    }

    #[test]
    fn every_problem_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let c = common(dir.path());
        let p = problems(
            &lab("[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\n\
                  [[host]]\nhostname = 'ESX01'\nip = '10.0.0.11/24'\n\
                  [[host]]\nhostname = 'esx03'\nip = '10.0.1.13/24'\n\
                  [[host]]\nip = '10.0.0.14/24'\n\
                  [[host]]\nhostname = 'esx05'\ntemplate = 'nope'\n\
                  [[host]]\nhostname = 'esx06'\nboot_opts = ['a b']\nks_path = '/ks.cfg'\n\
                  [[host]]\nhostname = 'esx07'\noverlays = ['vib.tgz']\n\
                  [[host]]\nhostname = 'esx_08'\n"),
            &c,
        );
        let want = [
            "duplicate hostname esx01: hosts #1, #2",
            "duplicate ip 10.0.0.11: esx01, ESX01",
            "esx03: gateway 10.0.0.1 is outside the subnet of ip 10.0.1.13/24",
            "host #4: missing hostname",
            "esx05: unknown template \"nope\"",
            "esx06: boot_opts:",
            "esx06: ks_path:",
            "esx07: overlays: overlay \"vib.tgz\": no such directory, and not a shipped overlay",
            "esx_08: hostname: \"esx_08\" is not a valid RFC 1123 host name",
        ];
        for w in want {
            assert!(p.iter().any(|l| l.starts_with(w)), "{w}\n{p:#?}");
        }
        assert!(p.iter().all(|l| !l.contains('\n')), "{p:#?}");
    }

    #[test]
    fn missing_password_and_lint_errors_name_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let c = common(dir.path());
        let p = problems("[[host]]\nhostname = 'esx01'\n", &c);
        assert!(
            p[0].starts_with("esx01: no root password") && p[0].contains("ESXI_ISO_ROOT_PASSWORD"),
            "{p:?}"
        );
        std::fs::write(
            dir.path().join("bad.tera"),
            "install --firstdisk\nrootpw --iscrypted {{ root_password }}\n",
        )
        .unwrap();
        let p = problems(
            &format!(
                "[[host]]\nhostname = 'esx01'\ntemplate = 'bad.tera'\nroot_password = '{HASH}'\n"
            ),
            &c,
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("esx01: /KS.CFG") && l.contains("error")),
            "{p:?}"
        );
    }

    #[test]
    fn set_precedence_and_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = common(dir.path());
        c.base.insert_str("root_password", "Low-Pass-1").unwrap();
        c.base.insert_str("vlan_id", "5").unwrap();
        c.set.insert_str("enable_ssh", "true").unwrap();
        let plan = resolve(
            &parse_toml(&lab(
                "[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\nvlan_id = 7\n",
            ))
            .unwrap(),
            &c,
        )
        .unwrap();
        let v = &plan.hosts[0].vars;
        assert_eq!(v.values["root_password"].as_str(), Some(HASH));
        assert_eq!(v.values["vlan_id"].as_str(), Some("7"));
        assert_eq!(v.values["enable_ssh"].as_bool(), Some(true));
        c.set.insert_str("vlan_id", "9").unwrap();
        let p = problems(
            &lab("[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\nvlan_id = 7\n"),
            &c,
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("--set vlan_id would replace the per-host values of esx01")),
            "{p:?}"
        );
    }

    #[test]
    fn existing_outputs_need_force() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = common(dir.path());
        std::fs::create_dir(&c.out_dir).unwrap();
        std::fs::write(c.out_dir.join("esx01.iso"), b"old").unwrap();
        // The index files are merged, not replaced: no --force for them.
        std::fs::write(c.out_dir.join(crate::lab::SUMS_FILE), b"old").unwrap();
        let text = lab("[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\n\
                        [[host]]\nhostname = 'esx02'\nip = '10.0.0.12/24'\n");
        let p = problems(&text, &c);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("esx01: ")
                && p[0].ends_with("already exists: pass --force to overwrite it")
        );
        // Only the hosts of --host count.
        c.only = vec!["ESX02".into()];
        let plan = resolve(&parse_toml(&text).unwrap(), &c).unwrap();
        assert_eq!(plan.hosts.len(), 1);
        assert_eq!(plan.hosts[0].hostname, "esx02");
        c.only = vec!["esx2".into()];
        let p = problems(&text, &c);
        assert!(
            p[0].starts_with("--host esx2: the inventory has no host esx2: did you mean esx02?"),
            "{p:?}"
        );
        c.only.clear();
        c.force = true;
        assert!(resolve(&parse_toml(&text).unwrap(), &c).is_ok());
    }

    #[test]
    fn vm_tables_are_checked_by_a_build_too() {
        let dir = tempfile::tempdir().unwrap();
        let c = common(dir.path());
        let p = problems(
            &lab(
                "[defaults.vm]\ncpu = 4\n[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\n\
                  vm.memory_gb = 'lots'\n[[host]]\nhostname = 'esx02'\nip = '10.0.0.12/24'\n",
            ),
            &c,
        );
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with("[defaults] vm.cpu: not a VM setting (did you mean cpus?)"),
            "{p:#?}"
        );
        assert!(
            p[1].starts_with("esx01: vm.memory_gb: must be a whole number"),
            "{p:#?}"
        );
        // Settings deploy needs (a datastore) are not a build's business.
        let plan = resolve(
            &parse_toml(&lab(
                "[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\nvm.cpus = 2\n",
            ))
            .unwrap(),
            &c,
        );
        assert!(plan.is_ok());
    }

    #[test]
    fn the_boot_nic_is_mac_else_the_vms_nic_0() {
        let dir = tempfile::tempdir().unwrap();
        let c = common(dir.path());
        let hosts = "[[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\n\
                     [[host]]\nhostname = 'esx02'\nip = '10.0.0.12/24'\nmac = '00:50:56:00:00:0b'\n\
                     [[host]]\nhostname = 'esx03'\nip = '10.0.0.13/24'\nvm.macs = ['00:50:56:00:00:0c']\n";
        let plan = resolve(&parse_toml(&lab(hosts)).unwrap(), &c).unwrap();
        let macs: Vec<Option<String>> = plan
            .hosts
            .iter()
            .map(|h| h.mac.map(|m| m.to_string()))
            .collect();
        assert_eq!(
            macs,
            [
                None,
                Some("00:50:56:00:00:0b".into()),
                Some("00:50:56:00:00:0c".into())
            ]
        );
        // A default NIC 0 is every host's that does not set its own: two
        // hosts with one MAC are refused.
        let shared = format!(
            "[defaults.vm]\nmacs = ['00:50:56:00:00:0a']\n{hosts}\
             [[host]]\nhostname = 'esx04'\nip = '10.0.0.14/24'\nvm = {{ nics = 2 }}\n"
        );
        let p: Vec<String> = resolve(&parse_toml(&lab(&shared)).unwrap(), &c)
            .unwrap_err()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].starts_with("duplicate mac 00:50:56:00:00:0a: esx01, esx04"),
            "{p:#?}"
        );
    }

    #[test]
    fn unknown_keys_are_problems_named_once_for_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = common(dir.path());
        let toml = format!(
            "[defaults]\nroot_password = '{HASH}'\nntp_server = '10.0.0.9'\n\
             [[host]]\nhostname = 'esx01'\nnameserver = '10.0.0.2'\n\
             [[host]]\nhostname = 'esx02'\nenable_ssh = true\n"
        );
        let p = problems(&toml, &c);
        // minimal reads neither ntp_servers nor enable_ssh.
        assert_eq!(p.len(), 3, "{p:#?}");
        for want in [
            "[defaults] key ntp_server: template minimal reads no variable ntp_server (ntp_servers, the nearest name",
            "esx01: key nameserver: template minimal reads no variable nameserver (did you mean nameservers?)",
            "esx02: key enable_ssh: template minimal reads no variable enable_ssh (a variable of the built-in",
        ] {
            assert!(p.iter().any(|l| l.starts_with(want)), "{want}\n{p:#?}");
        }
        let csv =
            "hostname,ip,nameserver\nesx01,10.0.0.11/24,10.0.0.2\nesx02,10.0.0.12/24,10.0.0.2\n";
        let mut c2 = c.clone();
        c2.base.insert_str("root_password", HASH).unwrap();
        let p: Vec<String> = resolve(&parse_csv(csv).unwrap(), &c2)
            .unwrap_err()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("column nameserver: template minimal reads no variable nameserver (did you mean nameservers?)"), "{p:#?}");
    }
}
