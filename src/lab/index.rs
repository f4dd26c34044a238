//! The lab's index files, written next to the ISOs once every host is
//! built: SHA256SUMS (the format `sha256sum -c` reads) and manifest.json
//! (per host: file, size, checksum, template, variables with secrets
//! redacted, overlays, kernel options, warnings, how the data was
//! written). Both list only the hosts
//! that were built.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{HostPlan, LabPlan};
use crate::build::{BuildSummary, KernelOpts};
use crate::iso::DataReport;
use crate::output;

/// manifest.json: what was built for each host, secrets redacted.
#[derive(Debug, Serialize)]
pub struct LabManifest {
    pub source: String,
    pub hosts: Vec<ManifestHost>,
}

#[derive(Debug, Serialize)]
pub struct ManifestHost {
    pub hostname: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub template: String,
    pub ks_path: String,
    pub variables: std::collections::BTreeMap<String, toml::Value>,
    pub overlays: Vec<String>,
    pub kernelopt: KernelOpts,
    /// Always present, empty when there were none (as in every JSON
    /// esxi-iso prints, lists are never left out).
    pub warnings: Vec<String>,
    /// How the ISO's bytes got there: cloned from the source, copied.
    pub data: DataReport,
}

pub fn manifest(source: &Path, built: &[(&HostPlan, &BuildSummary)]) -> LabManifest {
    LabManifest {
        source: source.display().to_string(),
        hosts: built
            .iter()
            .map(|(h, s)| ManifestHost {
                hostname: h.hostname.clone(),
                file: file_name(&s.output),
                size: s.size,
                sha256: s.sha256.clone(),
                template: h.template.clone(),
                ks_path: s.ks_path.clone(),
                variables: h.vars.redacted(),
                overlays: h.overlays.clone(),
                kernelopt: s.kernelopt.clone(),
                warnings: s.warnings.clone(),
                data: s.data,
            })
            .collect(),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// SHA256SUMS (the format `sha256sum -c` reads) and manifest.json.
pub fn write_index(lab: &LabPlan, m: &LabManifest, force: bool) -> Result<()> {
    let sums: String = m
        .hosts
        .iter()
        .map(|h| format!("{}  {}\n", h.sha256, h.file))
        .collect();
    output::write_atomic(&lab.sums_path(), sums.as_bytes(), force)?;
    let mut json = serde_json::to_vec_pretty(m).context("serializing the manifest")?;
    json.push(b'\n');
    output::write_atomic(&lab.manifest_path(), &json, force)
}
