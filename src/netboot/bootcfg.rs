//! A host's boot.cfg for network install, made from the stock ISO's UEFI
//! boot.cfg as pure text, and read back as VMware's loader reads it.
//!
//! What changes, following VMware's documented network boot procedure
//! ("add prefix=...; if the filenames in the kernel= and modules= lines
//! begin with a forward slash, delete that character") and the loader's
//! rules in [`crate::esxi::loader`]:
//!
//! - `prefix=` becomes the host's URL on the server (replacing the line
//!   the loader uses, or added before `kernel=`);
//! - each path of `kernel=`, `modules=`, `crypto=` and `acpitables=` is
//!   resolved as the loader resolves it from the ISO (the source's prefix,
//!   or the config file's directory) and written relative, so the loader
//!   joins it to the new prefix: `/b.b00` becomes `b.b00`, and on a source
//!   with `prefix=/esxi` and `b.b00`, `esxi/b.b00`. A name keeps its
//!   spelling and case (Secure Boot compares them) and its options;
//! - `kernelopt=` gets `ks=` and the build's boot options
//!   ([`crate::esxi::bootcfg::edit`]).
//!
//! Every other line stays byte for byte, including lines the loader
//! ignores and its line endings.

use crate::esxi::bootcfg::{self, KernelOptEdits};
use crate::esxi::loader::{self, BootCfg, Parsed};

/// The options whose values are paths joined to the prefix.
const PATH_OPTIONS: &[&str] = &["kernel", "modules", "crypto", "acpitables"];

/// The boot.cfg a host loads from `prefix` (a URL), made from `src`, the
/// boot.cfg read from `src_path` on the ISO (e.g. `/EFI/BOOT/BOOT.CFG`).
pub fn for_host(
    cfg: &BootCfg,
    src_path: &str,
    prefix: &str,
    edits: &KernelOptEdits,
) -> Result<String, String> {
    let src = cfg.text();
    let stock_prefix = cfg.prefix(src_path);
    let lines = cfg.lines();
    // The index (in `lines`) of the line the loader uses for `name`.
    let effective = |name: &str| cfg.effective(name).map(|l| l.number - 1);
    let mut replace: Vec<(usize, String)> = Vec::new();
    for name in PATH_OPTIONS {
        let Some(i) = effective(name) else {
            continue;
        };
        let Parsed::Option { value, .. } = &lines[i].parsed else {
            continue;
        };
        let items: Vec<String> = loader::list_items(value)
            .into_iter()
            .map(|(entry, options)| {
                let resolved = loader::make_path(&stock_prefix, &entry);
                let rel = if loader::is_absolute(&resolved) && !resolved.contains("://") {
                    resolved.trim_start_matches('/').to_string()
                } else {
                    resolved
                };
                match options {
                    Some(o) => format!("{rel} {o}"),
                    None => rel,
                }
            })
            .collect();
        replace.push((i, format!("{name}={}", items.join(" --- "))));
    }
    let kernel =
        effective("kernel").ok_or("boot.cfg has no kernel= line: it is not an ESXi boot.cfg")?;
    let prefix_line = format!("prefix={prefix}");
    let insert_prefix = match effective("prefix") {
        Some(i) => {
            replace.push((i, prefix_line.clone()));
            false
        }
        None => true,
    };
    let mut out = String::with_capacity(src.len() + prefix.len() * 2 + 64);
    for l in lines {
        let piece = &src[l.start..l.start + l.len];
        let ending = &src[l.start + l.len..]
            .chars()
            .next()
            .filter(|c| *c == '\n')
            .map_or("", |_| "\n");
        let cr = if piece.ends_with('\r') { "\r" } else { "" };
        let i = l.number - 1;
        if insert_prefix && i == kernel {
            out.push_str(&prefix_line);
            out.push_str(cr);
            out.push('\n');
        }
        match replace.iter().find(|(at, _)| *at == i) {
            Some((_, new)) => {
                out.push_str(new);
                out.push_str(cr);
            }
            None => out.push_str(piece),
        }
        out.push_str(ending);
    }
    Ok(bootcfg::edit(&BootCfg::parse(out), edits)?.text)
}

/// What the loader will do with a host's boot.cfg: its prefix, kernel
/// options and the paths it loads, each relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    pub prefix: String,
    pub kernelopt: String,
    /// Paths of the kernel, modules, crypto module and ACPI tables,
    /// relative to the prefix (as the ISO names them, loader-style).
    pub files: Vec<String>,
    /// The loader's warnings about it (its errors make `read_back` fail).
    pub warnings: Vec<loader::Diagnostic>,
}

/// Reads `text` (served as `cfg_url`) as the loader does and checks that
/// every file it loads lies under `prefix`. Loader errors (a line that
/// stops the boot) are errors here too.
pub fn read_back(text: &str, cfg_url: &str, prefix: &str) -> Result<ReadBack, String> {
    let cfg = BootCfg::parse(text);
    let (errors, warnings): (Vec<_>, Vec<_>) = cfg
        .check()
        .into_iter()
        .partition(|d| d.severity == loader::Severity::Error);
    let errors: Vec<String> = errors
        .iter()
        .map(|d| format!("line {}: {}", d.line, d.message))
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    let got = cfg.prefix(cfg_url);
    if got != prefix {
        return Err(format!(
            "the loader would use prefix {got:?}, not {prefix:?}"
        ));
    }
    let mut paths: Vec<String> = cfg.kernel(cfg_url).into_iter().collect();
    paths.extend(cfg.module_paths(cfg_url));
    for name in ["crypto", "acpitables"] {
        if let Some(v) = cfg.value(name) {
            paths.extend(
                loader::list_items(v)
                    .into_iter()
                    .map(|(e, _)| loader::make_path(prefix, &e)),
            );
        }
    }
    let base = format!("{}/", loader::make_path("", prefix));
    let files = paths
        .into_iter()
        .map(|p| {
            p.strip_prefix(&base)
                .map(str::to_string)
                .ok_or_else(|| format!("{p} is not under the prefix {prefix}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReadBack {
        prefix: got,
        kernelopt: cfg.value("kernelopt").unwrap_or_default().to_string(),
        files,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(ks: &str) -> KernelOptEdits {
        KernelOptEdits {
            set: vec![("ks".into(), Some(ks.into()))],
            remove: vec![],
        }
    }

    const P: &str = "http://10.0.0.5:8080/esxi/01-00-50-56-01-02-03";

    #[test]
    fn stock_lines_become_relative_under_the_prefix() {
        let src = "bootstate=0\r\ntitle=Loading ESXi installer\r\ntimeout=5\r\nprefix=\r\nkernel=/b.b00\r\nkernelopt=runweasel cdromBoot\r\nmodules=/jumpstrt.gz --- /useropts.gz --- /A.B00 opt=1 --- /imgpayld.tgz\r\nbuild=8.0.3\r\nupdated=0\r\n";
        let out = for_host(
            &BootCfg::parse(src),
            "/EFI/BOOT/BOOT.CFG",
            P,
            &edits("http://x/ks.cfg"),
        )
        .unwrap();
        assert_eq!(
            out,
            format!(
                "bootstate=0\r\ntitle=Loading ESXi installer\r\ntimeout=5\r\nprefix={P}\r\nkernel=b.b00\r\nkernelopt=runweasel cdromBoot ks=http://x/ks.cfg\r\nmodules=jumpstrt.gz --- useropts.gz --- A.B00 opt=1 --- imgpayld.tgz\r\nbuild=8.0.3\r\nupdated=0\r\n"
            )
        );
        let rb = read_back(&out, &format!("{P}/../efi/boot/x/boot.cfg"), P).unwrap();
        assert_eq!(
            rb.files,
            [
                "b.b00",
                "jumpstrt.gz",
                "useropts.gz",
                "A.B00",
                "imgpayld.tgz"
            ]
        );
        assert_eq!(rb.kernelopt, "runweasel cdromBoot ks=http://x/ks.cfg");
    }

    #[test]
    fn a_missing_prefix_is_added_and_relative_names_keep_their_folder() {
        // The UEFI file has no prefix: relative names are in /EFI/BOOT.
        let src = "# c\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/k.b00 --- x.gz\n";
        let out = for_host(&BootCfg::parse(src), "/EFI/BOOT/BOOT.CFG", P, &edits("u")).unwrap();
        assert_eq!(
            out,
            format!("# c\nprefix={P}\nkernel=b.b00\nkernelopt=runweasel ks=u\nmodules=k.b00 --- EFI/BOOT/x.gz\n")
        );
        // A prefix=/esxi source with relative names (and no final newline).
        let src = "prefix=/esxi\nkernel=b.b00\nmodules=a.gz---b.gz\nkernelopt=runweasel";
        let out = for_host(&BootCfg::parse(src), "/EFI/BOOT/BOOT.CFG", P, &edits("u")).unwrap();
        assert_eq!(
            out,
            format!("prefix={P}\nkernel=esxi/b.b00\nmodules=esxi/a.gz --- esxi/b.gz\nkernelopt=runweasel ks=u")
        );
        let rb = read_back(&out, "http://h/c/boot.cfg", P).unwrap();
        assert_eq!(rb.files, ["esxi/b.b00", "esxi/a.gz", "esxi/b.gz"]);
    }

    #[test]
    fn only_the_lines_the_loader_uses_change() {
        let src = "kernel=/old\nmodules=/x\nkernel=/b.b00\nmodules=/a --- /b\nprefix=/p\nprefix=\nkernelopt=a\n";
        let out = for_host(&BootCfg::parse(src), "/EFI/BOOT/BOOT.CFG", P, &edits("u")).unwrap();
        assert_eq!(
            out,
            format!("kernel=/old\nmodules=/x\nkernel=b.b00\nmodules=a --- b\nprefix=/p\nprefix={P}\nkernelopt=a ks=u\n")
        );
        assert!(for_host(
            &BootCfg::parse("title=x\n"),
            "/EFI/BOOT/BOOT.CFG",
            P,
            &edits("u")
        )
        .is_err());
    }

    #[test]
    fn read_back_refuses_what_would_not_load_from_the_prefix() {
        let good = format!("prefix={P}\nkernel=b.b00\nmodules=a\n");
        assert!(read_back(&good, "http://h/boot.cfg", P).is_ok());
        let abs = format!("prefix={P}\nkernel=/b.b00\nmodules=a\n");
        let e = read_back(&abs, "http://h/boot.cfg", P).unwrap_err();
        assert!(e.contains("/b.b00 is not under the prefix"), "{e}");
        let e = read_back("kernel=b\ntimeout=x\n", "http://h/boot.cfg", P).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = read_back("kernel=b\n", "http://h/x/boot.cfg", P).unwrap_err();
        assert!(e.contains("would use prefix \"http://h/x\""), "{e}");
    }
}
