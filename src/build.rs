//! Building one output ISO from an opened source: edit both boot.cfg
//! files, place the kickstart, stream the result atomically while hashing,
//! re-read the output's metadata, then rename it into place.
//!
//! The source is parsed once by the caller and shared, so an inventory of
//! hosts costs one metadata parse plus one copy per host.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::esxi::bootcfg::{self, KernelOptEdits};
use crate::esxi::{self, Media, BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::iso::{self, IsoImage, Patcher, Watch};
use crate::output::{self, AtomicFile};
use crate::{signals, verify};

/// Everything about one output, resolved before any byte is written.
#[derive(Debug, Clone)]
pub struct HostBuild {
    pub output: PathBuf,
    /// Validated ISO path without the leading slash, e.g. `KS.CFG`.
    pub ks_path: String,
    pub kickstart: String,
    /// Kernel option edits, `ks=` included.
    pub edits: KernelOptEdits,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub source_date_epoch: Option<i64>,
    pub force: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelOpts {
    pub bios: String,
    pub efi: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub output: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub ks_path: String,
    pub kernelopt: KernelOpts,
}

/// The kernel option edits for a kickstart at `ks_path`, then `extra`.
pub fn edits_for(ks_path: &str, extra: &KernelOptEdits) -> KernelOptEdits {
    let mut set = vec![("ks".to_string(), Some(format!("cdrom:/{ks_path}")))];
    set.extend(extra.set.iter().cloned());
    KernelOptEdits {
        set,
        remove: extra.remove.clone(),
    }
}

/// Reads SOURCE_DATE_EPOCH (seconds since 1970) if set.
pub fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => {
            s.trim().parse().map(Some).with_context(|| {
                format!("SOURCE_DATE_EPOCH={s:?} is not a whole number of seconds")
            })
        }
        _ => Ok(None),
    }
}

/// Builds one output.
pub fn build(
    img: &IsoImage,
    media: &Media,
    host: &HostBuild,
    opts: &Options,
    bar: &ProgressBar,
) -> Result<Summary> {
    output::refuse_same_file(&img.path, &host.output)?;
    let bios = bootcfg::edit(&media.bios_text, &host.edits)
        .map_err(anyhow::Error::msg)
        .context("editing /BOOT.CFG")?;
    let efi = bootcfg::edit(&media.efi_text, &host.edits)
        .map_err(anyhow::Error::msg)
        .context("editing /EFI/BOOT/BOOT.CFG")?;
    if host.ks_path.eq_ignore_ascii_case(BIOS_BOOT_CFG)
        || host.ks_path.eq_ignore_ascii_case(EFI_BOOT_CFG)
    {
        bail!(
            "--ks-path /{} would overwrite a boot.cfg: choose another path",
            host.ks_path
        );
    }
    let mut patch = Patcher::new(img, opts.source_date_epoch)?;
    patch
        .put_file(BIOS_BOOT_CFG, bios.text.as_bytes())
        .context("placing /BOOT.CFG")?;
    patch
        .put_file(EFI_BOOT_CFG, efi.text.as_bytes())
        .context("placing /EFI/BOOT/BOOT.CFG")?;
    patch
        .put_file(&host.ks_path, host.kickstart.as_bytes())
        .with_context(|| format!("placing the kickstart at /{}", host.ks_path))?;
    let layout = patch.finish()?;

    let out = AtomicFile::create(&host.output, opts.force)?;
    bar.set_length(layout.total_len());
    let progress = |n: u64| bar.set_position(n);
    let watch = Watch {
        progress: &progress,
        cancelled: &signals::cancelled,
    };
    let digest = iso::write_image(&img.file, &layout, out.file(), &watch).map_err(|e| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            anyhow::Error::new(signals::Interrupted)
        } else {
            anyhow::Error::new(e).context(format!("writing {}", host.output.display()))
        }
    })?;
    bar.finish_and_clear();
    check_output(img, out.path(), host).with_context(|| {
        format!(
            "checking the new image before saving it as {}",
            host.output.display()
        )
    })?;
    if signals::cancelled() {
        bail!(signals::Interrupted);
    }
    out.commit()?;
    let sha256 = hex(&digest);
    write_checksum_file(&host.output, &sha256, opts.force)?;
    Ok(Summary {
        output: host.output.clone(),
        size: layout.total_len(),
        sha256,
        ks_path: format!("/{}", host.ks_path),
        kernelopt: KernelOpts {
            bios: bios.kernelopt,
            efi: efi.kernelopt,
        },
    })
}

/// The cheap part of `verify` ([`verify::Depth::Cheap`]) on the unrenamed
/// output, plus what only the build knows: both boot.cfg point at this
/// kickstart, it has exactly the bytes rendered, and the boot catalog is
/// the source's. A BIOS boot-info-table that was already invalid on the
/// source is tolerated (esxi-iso never touches the boot images).
fn check_output(src: &IsoImage, path: &Path, host: &HostBuild) -> Result<()> {
    let out = IsoImage::open(path)?;
    let report = verify::verify(&out, verify::Depth::Cheap);
    let src_bit_ok = esxi::boot_report(src)?
        .iter()
        .any(|b| b.boot_info_table_valid == Some(true));
    let failures: Vec<String> = report
        .failures()
        .filter(|f| src_bit_ok || f.check != verify::Check::BootInfoTable)
        .map(|f| format!("{}: {}", f.check.label(), f.detail))
        .collect();
    ensure!(failures.is_empty(), "{}", failures.join("; "));
    let media = Media::detect(&out)?;
    let want = format!("cdrom:/{}", host.ks_path);
    for (name, text) in [
        ("/BOOT.CFG", &media.bios_text),
        ("/EFI/BOOT/BOOT.CFG", &media.efi_text),
    ] {
        let ko = bootcfg::get(text, "kernelopt").unwrap_or_default();
        ensure!(
            bootcfg::option(ko, "ks") == Some(want.as_str()),
            "{name} does not carry ks={want}"
        );
    }
    let ks = out
        .find(&host.ks_path)
        .with_context(|| format!("/{} is missing from the output", host.ks_path))?;
    let rec = out.record(ks);
    ensure!(
        rec.size as usize == host.kickstart.len(),
        "/{} has the wrong size on the output",
        host.ks_path
    );
    let bytes = out.read_small(rec, rec.size)?;
    ensure!(
        bytes == host.kickstart.as_bytes(),
        "/{} on the output differs from the kickstart",
        host.ks_path
    );
    ensure!(out.boot == src.boot, "the El Torito boot catalog changed");
    Ok(())
}

fn write_checksum_file(output: &Path, sha256: &str, force: bool) -> Result<()> {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut path = output.as_os_str().to_owned();
    path.push(".sha256");
    output::write_atomic(
        Path::new(&path),
        format!("{sha256}  {name}\n").as_bytes(),
        force,
    )
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
