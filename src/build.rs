//! Building one output ISO from an opened source: edit both boot.cfg
//! files, place the kickstart, stream the result atomically while hashing,
//! re-read the output's metadata, then rename it into place.
//!
//! The source is parsed once by the caller and shared, so an inventory of
//! hosts costs one metadata parse plus one copy per host.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::esxi::bootcfg::{self, KernelOptEdits};
use crate::esxi::{self, Media, BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::iso::{self, IsoImage, Patcher, Watch};
use crate::output::{self, AtomicFile};
use crate::overlay::{self, OverlaySet};
use crate::{signals, verify};

/// Where the kickstart lives in the installer ramdisk with `--ks-in-ramdisk`.
pub const RAMDISK_KS: &str = "ks.cfg";

/// Everything about one output, resolved before any byte is written.
#[derive(Debug, Clone, Default)]
pub struct HostBuild {
    pub output: PathBuf,
    /// Validated ISO path without the leading slash, e.g. `KS.CFG`.
    pub ks_path: String,
    pub kickstart: String,
    /// Kernel option edits besides `ks=`, which [`build`] adds.
    pub edits: KernelOptEdits,
    pub overlay: OverlaySet,
    /// Put the kickstart in the overlay module (`ks=file:///ks.cfg`).
    pub ks_in_ramdisk: bool,
    /// Let overlay files replace files already on the source ISO.
    pub replace_vendor_files: bool,
}

impl HostBuild {
    /// The `ks=` value both boot.cfg files get.
    pub fn ks_location(&self) -> String {
        if self.ks_in_ramdisk {
            format!("file:///{RAMDISK_KS}")
        } else {
            format!("cdrom:/{}", self.ks_path)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub source_date_epoch: Option<i64>,
    pub force: bool,
    /// Stops this build like Ctrl-C does, when another build of the same
    /// run has failed (`build --inventory`); None for a single build.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Options {
    /// A signal arrived or the run was cancelled.
    pub fn cancelled(&self) -> bool {
        signals::cancelled()
            || self
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
    }
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

/// The kernel option edits for a kickstart at `location`, then `extra`.
pub fn edits_for(location: &str, extra: &KernelOptEdits) -> KernelOptEdits {
    let mut set = vec![("ks".to_string(), Some(location.to_string()))];
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

/// The new contents of the image, computed before anything is written.
pub struct Changes {
    pub bios: bootcfg::Edited,
    pub efi: bootcfg::Edited,
    /// (ISO path, bytes), in placement order.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Works out every file to place: both boot.cfg files (edited, and with
/// the overlay module appended), overlay ISO files, the module, and the
/// kickstart on the ISO unless it goes into the ramdisk. `exists` tells
/// whether a loader-style path is on the source (an ISO or a tree).
pub fn plan_changes(
    exists: &dyn Fn(&str) -> bool,
    bios_text: &str,
    efi_text: &str,
    host: &HostBuild,
    opts: &Options,
) -> Result<Changes> {
    let is_cfg =
        |p: &str| p.eq_ignore_ascii_case(BIOS_BOOT_CFG) || p.eq_ignore_ascii_case(EFI_BOOT_CFG);
    if !host.ks_in_ramdisk && is_cfg(&host.ks_path) {
        bail!(
            "--ks-path /{} would overwrite a boot.cfg: choose another path",
            host.ks_path
        );
    }
    let mut bios_text = bios_text.to_string();
    let mut efi_text = efi_text.to_string();
    let mut files = Vec::new();
    for f in &host.overlay.iso {
        if exists(&f.path) && !host.replace_vendor_files {
            bail!(
                "overlay file {} would replace /{} from the source ISO: pass --replace-vendor-files if that is intended",
                f.origin,
                f.path
            );
        }
        if !host.ks_in_ramdisk && f.path.eq_ignore_ascii_case(&host.ks_path) {
            bail!(
                "overlay file {} collides with the kickstart at /{}: choose another --ks-path",
                f.origin,
                host.ks_path
            );
        }
        let text = || {
            String::from_utf8(f.data.clone())
                .with_context(|| format!("overlay file {} is not UTF-8", f.origin))
        };
        if f.path.eq_ignore_ascii_case(BIOS_BOOT_CFG) {
            bios_text = text()?;
        } else if f.path.eq_ignore_ascii_case(EFI_BOOT_CFG) {
            efi_text = text()?;
        } else {
            files.push((f.path.clone(), f.data.clone()));
        }
    }
    let mut module_files = host.overlay.ramdisk.clone();
    if host.ks_in_ramdisk {
        if module_files.iter().any(|f| f.path == RAMDISK_KS) {
            bail!("an overlay already provides /{RAMDISK_KS} in the ramdisk, where --ks-in-ramdisk puts the kickstart");
        }
        module_files.push(overlay::File {
            path: RAMDISK_KS.into(),
            data: host.kickstart.clone().into_bytes(),
            executable: false,
            origin: "the kickstart".into(),
        });
    }
    let edits = edits_for(&host.ks_location(), &host.edits);
    let mut bios = bootcfg::edit(&bios_text, &edits)
        .map_err(anyhow::Error::msg)
        .context("editing /BOOT.CFG")?;
    let mut efi = bootcfg::edit(&efi_text, &edits)
        .map_err(anyhow::Error::msg)
        .context("editing /EFI/BOOT/BOOT.CFG")?;
    if !module_files.is_empty() {
        let name = module_name(exists, &files);
        let mtime = opts.source_date_epoch.unwrap_or(0).max(0) as u64;
        let module = overlay::pack_module(&module_files, mtime)?;
        for (label, e) in [("/BOOT.CFG", &mut bios), ("/EFI/BOOT/BOOT.CFG", &mut efi)] {
            e.text = bootcfg::append_module(&e.text, &format!("/{name}"))
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("adding the overlay module to {label}"))?;
        }
        files.push((name, module));
    }
    if !host.ks_in_ramdisk {
        files.push((host.ks_path.clone(), host.kickstart.clone().into_bytes()));
    }
    Ok(Changes { bios, efi, files })
}

/// `OVERLAY.TGZ`, or the first free `OVERLAYn.TGZ` when the source already
/// carries one (an ISO built by esxi-iso before).
fn module_name(exists: &dyn Fn(&str) -> bool, files: &[(String, Vec<u8>)]) -> String {
    (1..)
        .map(|n| {
            if n == 1 {
                "OVERLAY.TGZ".to_string()
            } else {
                format!("OVERLAY{n}.TGZ")
            }
        })
        .find(|n| !exists(n) && !files.iter().any(|(p, _)| p.eq_ignore_ascii_case(n)))
        .expect("some name is free")
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
    let exists = |p: &str| img.find(p).is_some();
    let Changes { bios, efi, files } =
        plan_changes(&exists, &media.bios_text, &media.efi_text, host, opts)?;
    let mut patch = Patcher::new(img, opts.source_date_epoch)?;
    patch
        .put_file(BIOS_BOOT_CFG, bios.text.as_bytes())
        .context("placing /BOOT.CFG")?;
    patch
        .put_file(EFI_BOOT_CFG, efi.text.as_bytes())
        .context("placing /EFI/BOOT/BOOT.CFG")?;
    for (path, data) in &files {
        patch
            .put_file(path, data)
            .with_context(|| format!("placing /{path}"))?;
    }
    let layout = patch.finish()?;

    let out = AtomicFile::create(&host.output, opts.force)?;
    bar.set_length(layout.total_len());
    let progress = |n: u64| bar.set_position(n);
    let cancelled = || opts.cancelled();
    let watch = Watch {
        progress: &progress,
        cancelled: &cancelled,
    };
    let digest =
        iso::write_image(&img.file, &img.path, &layout, out.file(), &watch).map_err(|e| {
            if e.kind() == std::io::ErrorKind::Interrupted {
                anyhow::Error::new(signals::Interrupted)
            } else {
                iso::describe_write_error(e, &host.output)
            }
        })?;
    bar.finish_and_clear();
    check_output(img, media, out.path(), host).with_context(|| {
        format!(
            "checking the new image before saving it as {}",
            host.output.display()
        )
    })?;
    if opts.cancelled() {
        bail!(signals::Interrupted);
    }
    out.commit()?;
    let sha256 = hex(&digest);
    write_checksum_file(&host.output, &sha256, opts.force)?;
    Ok(Summary {
        output: host.output.clone(),
        size: layout.total_len(),
        sha256,
        ks_path: if host.ks_in_ramdisk {
            format!("/{RAMDISK_KS} (ramdisk)")
        } else {
            format!("/{}", host.ks_path)
        },
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
fn check_output(src: &IsoImage, src_media: &Media, path: &Path, host: &HostBuild) -> Result<()> {
    let out = IsoImage::open(path)?;
    let report = verify::verify(&out, verify::Depth::Cheap);
    let src_bit_ok = esxi::boot_report(src)?
        .iter()
        .any(|b| b.boot_info_table_valid == Some(true));
    // Only what the source got right has to stay right: a source whose
    // kernelopt lacks runweasel (not an installer boot) is not our doing.
    let src_runweasel = [&src_media.bios_text, &src_media.efi_text].iter().all(|t| {
        bootcfg::get(t, "kernelopt").is_some_and(|ko| bootcfg::option(ko, "runweasel").is_some())
    });
    let failures: Vec<String> = report
        .failures()
        .filter(|f| src_bit_ok || f.check != verify::Check::BootInfoTable)
        .filter(|f| src_runweasel || f.check != verify::Check::BootCfg)
        .map(|f| format!("{}: {}", f.check.label(), f.detail))
        .collect();
    ensure!(failures.is_empty(), "{}", failures.join("; "));
    let media = Media::detect(&out)?;
    let want = host.ks_location();
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
    if !host.ks_in_ramdisk {
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
    }
    ensure!(out.boot == src.boot, "the El Torito boot catalog changed");
    Ok(())
}

pub fn write_checksum_file(output: &Path, sha256: &str, force: bool) -> Result<()> {
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
