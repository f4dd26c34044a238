//! boot.cfg editing, as pure functions over text.
//!
//! Which line counts is decided by the loader's own rules ([`loader`],
//! from vmware/esx-boot): only the value of the `kernelopt=` line the
//! loader uses (the last) is edited; every other line, and every other
//! byte of the edited line (spacing, line ending), is kept. A module is
//! appended to the `modules=` line the loader uses, as an absolute path,
//! without touching the existing entries. Options inside kernelopt are
//! whitespace-separated `key[=value]` tokens, matched by key without
//! regard to case.

use serde::Serialize;

use super::loader::{self, BootCfg};

/// The edits applied to the kernel options of both BOOT.CFG files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelOptEdits {
    /// Options to add or replace, in order: (key, value).
    pub set: Vec<(String, Option<String>)>,
    /// Keys to remove.
    pub remove: Vec<String>,
}

impl KernelOptEdits {
    /// Parses `KEY[=VALUE]` as given to `--boot-opt`.
    pub fn parse_opt(s: &str) -> Result<(String, Option<String>), String> {
        let (k, v) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (s, None),
        };
        validate_token(k, "option name")?;
        if let Some(v) = &v {
            if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "boot option value {v:?} contains whitespace or a control character"
                ));
            }
        }
        Ok((k.to_string(), v))
    }

    pub fn validate_key(k: &str) -> Result<(), String> {
        validate_token(k, "option name")
    }

    /// From `--boot-opt` and `--remove-boot-opt` values.
    pub fn from_args(set: &[String], remove: &[String]) -> anyhow::Result<KernelOptEdits> {
        let mut e = KernelOptEdits::default();
        for o in set {
            e.set
                .push(Self::parse_opt(o).map_err(|m| anyhow::anyhow!("invalid --boot-opt: {m}"))?);
        }
        for k in remove {
            Self::validate_key(k).map_err(|m| anyhow::anyhow!("invalid --remove-boot-opt: {m}"))?;
            if k.eq_ignore_ascii_case("runweasel") {
                anyhow::bail!(
                    "--remove-boot-opt runweasel would stop the installer from starting \
                     (the ISO would boot ESXi without installing): drop that option"
                );
            }
            e.remove.push(k.clone());
        }
        Ok(e)
    }
}

fn validate_token(k: &str, what: &str) -> Result<(), String> {
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(format!(
            "{what} {k:?} must be letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(())
}

/// Value of an option inside a kernelopt string (`Some("")` for a bare key).
pub fn option<'a>(kernelopt: &'a str, key: &str) -> Option<&'a str> {
    kernelopt
        .split_whitespace()
        .filter_map(|tok| {
            let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
            k.eq_ignore_ascii_case(key).then_some(v)
        })
        .next_back()
}

/// Applies `edits` to a kernelopt value, keeping the other options in order
/// and their spacing.
pub fn edit_kernelopt(value: &str, edits: &KernelOptEdits) -> String {
    // Tokens with the whitespace before each.
    let mut tokens: Vec<(String, String)> = Vec::new();
    let lead = &value[..value.len() - value.trim_start().len()];
    let mut rest = value;
    loop {
        let ws_len = rest.len() - rest.trim_start().len();
        let (ws, after) = rest.split_at(ws_len);
        if after.is_empty() {
            break;
        }
        let tok_len = after.find(char::is_whitespace).unwrap_or(after.len());
        let (tok, after) = after.split_at(tok_len);
        tokens.push((ws.to_string(), tok.to_string()));
        rest = after;
    }
    let trailing = rest.to_string();
    let key_of = |t: &str| t.split_once('=').map_or(t, |(k, _)| k).to_ascii_lowercase();
    let render = |k: &str, v: &Option<String>| match v {
        Some(v) => format!("{k}={v}"),
        None => k.to_string(),
    };
    let removed: Vec<String> = edits
        .remove
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    tokens.retain(|(_, t)| !removed.contains(&key_of(t)));
    for (k, v) in &edits.set {
        let lk = k.to_ascii_lowercase();
        let mut hits = tokens
            .iter()
            .enumerate()
            .filter(|(_, (_, t))| key_of(t) == lk)
            .map(|(i, _)| i);
        match hits.next() {
            Some(first) => {
                let dupes: Vec<usize> = hits.collect();
                tokens[first].1 = render(k, v);
                for i in dupes.into_iter().rev() {
                    tokens.remove(i);
                }
            }
            None => tokens.push((" ".into(), render(k, v))),
        }
    }
    let mut out = String::new();
    for (i, (ws, t)) in tokens.iter().enumerate() {
        out.push_str(if i == 0 {
            lead
        } else if ws.is_empty() {
            " "
        } else {
            ws
        });
        out.push_str(t);
    }
    out.push_str(&trailing);
    out
}

/// What an edit did to one boot.cfg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edited {
    pub text: String,
    /// The effective kernelopt value after the edit.
    pub kernelopt: String,
}

/// Edits the `kernelopt=` line the loader uses (the last one); other
/// `kernelopt=` lines, which it ignores, stay byte for byte. Without one, a
/// `kernelopt=` line is added after the `kernel=` line it uses.
pub fn edit(cfg: &BootCfg, edits: &KernelOptEdits) -> Result<Edited, String> {
    let text = cfg.text();
    let mut out = String::with_capacity(text.len() + 64);
    let value = match cfg.effective("kernelopt") {
        Some(l) => {
            let raw = cfg.raw(l);
            let eq = raw.find('=').expect("an option line has '='");
            let body_end = raw.trim_end_matches('\r').len();
            let value = edit_kernelopt(&raw[eq + 1..body_end], edits);
            out.push_str(&text[..l.start + eq + 1]);
            out.push_str(&value);
            out.push_str(&text[l.start + body_end..]);
            value
        }
        None => {
            let Some(l) = cfg.effective("kernel") else {
                return Err("boot.cfg has no kernel= line: it is not an ESXi boot.cfg".into());
            };
            let raw = cfg.raw(l);
            let ending = if raw.ends_with('\r') { "\r\n" } else { "\n" };
            let body_end = l.start + raw.trim_end_matches('\r').len();
            let value = edit_kernelopt("", edits);
            out.push_str(&text[..body_end]);
            out.push_str(ending);
            out.push_str("kernelopt=");
            out.push_str(&value);
            // The kernel line's own line end now ends the new line.
            match &text[body_end..] {
                "" => out.push_str(ending),
                rest => out.push_str(rest),
            }
            value
        }
    };
    // The edited line is the one the loader uses, so its value (trimmed,
    // as BootCfg::get reads it) is the effective kernelopt.
    Ok(Edited {
        kernelopt: value.trim().to_string(),
        text: out,
    })
}

/// Appends a module to the `modules=` line the loader uses, as an
/// absolute path, so it resolves to the ISO's root whatever `prefix=`
/// says (a relative entry would be joined to the prefix, or on UEFI to
/// /EFI/BOOT). Lowercase when the existing entries are. The existing
/// entries keep every byte: their spelling and case are what Secure Boot
/// checks.
pub fn append_module(cfg: &BootCfg, module: &str) -> Result<String, String> {
    let text = cfg.text();
    let Some(l) = cfg.effective("modules") else {
        return Err("boot.cfg has no modules= line".into());
    };
    let raw = cfg.raw(l);
    let body_end = l.start + raw.trim_end_matches('\r').len();
    let value = raw.split_once('=').map_or("", |(_, v)| v.trim());
    let lower = !loader::list_items(value)
        .iter()
        .any(|(f, _)| f.chars().any(|c| c.is_ascii_uppercase()));
    let mut name = module.trim_start_matches('/').to_string();
    if lower {
        name = name.to_ascii_lowercase();
    }
    let sep = if value.is_empty() { "" } else { " --- " };
    let mut out = String::with_capacity(text.len() + name.len() + 6);
    out.push_str(&text[..body_end]);
    out.push_str(sep);
    out.push('/');
    out.push_str(&name);
    out.push_str(&text[body_end..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, e: &KernelOptEdits) -> Result<Edited, String> {
        let out = super::edit(&BootCfg::parse(text), e)?;
        // The reported kernelopt is what the loader reads from the output.
        assert_eq!(
            Some(out.kernelopt.as_str()),
            BootCfg::parse(out.text.as_str()).get("kernelopt")
        );
        Ok(out)
    }

    fn append_module(text: &str, module: &str) -> Result<String, String> {
        super::append_module(&BootCfg::parse(text), module)
    }

    fn edits(set: &[&str], remove: &[&str]) -> KernelOptEdits {
        KernelOptEdits {
            set: set
                .iter()
                .map(|s| KernelOptEdits::parse_opt(s).unwrap())
                .collect(),
            remove: remove.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn kernelopt_table() {
        let cases: &[(&str, &[&str], &[&str], &str)] = &[
            (
                "runweasel cdromBoot",
                &["ks=cdrom:/KS.CFG"],
                &[],
                "runweasel cdromBoot ks=cdrom:/KS.CFG",
            ),
            (
                "runweasel",
                &["ks=cdrom:/KS.CFG"],
                &[],
                "runweasel ks=cdrom:/KS.CFG",
            ),
            (
                "runweasel ks=usb cdromBoot",
                &["ks=cdrom:/KS.CFG"],
                &[],
                "runweasel ks=cdrom:/KS.CFG cdromBoot",
            ),
            (
                "runweasel KS=usb ks=file:///a",
                &["ks=cdrom:/X.CFG"],
                &[],
                "runweasel ks=cdrom:/X.CFG",
            ),
            ("", &["ks=cdrom:/KS.CFG"], &[], "ks=cdrom:/KS.CFG"),
            (
                "runweasel  cdromBoot",
                &["allowLegacyCPU=true"],
                &[],
                "runweasel  cdromBoot allowLegacyCPU=true",
            ),
            ("runweasel cdromBoot", &[], &["cdromboot"], "runweasel"),
            ("a cdromBoot b", &[], &["cdromBoot"], "a b"),
            (
                "runweasel systemMediaSize=max",
                &["systemMediaSize=min"],
                &[],
                "runweasel systemMediaSize=min",
            ),
            ("runweasel", &["nofb"], &[], "runweasel nofb"),
            (
                "runweasel ",
                &["ks=cdrom:/KS.CFG"],
                &[],
                "runweasel ks=cdrom:/KS.CFG ",
            ),
        ];
        for (input, set, remove, want) in cases {
            assert_eq!(
                edit_kernelopt(input, &edits(set, remove)),
                *want,
                "{input:?} {set:?} {remove:?}"
            );
        }
    }

    #[test]
    fn edit_keeps_other_lines_byte_for_byte() {
        let src = "bootstate=0\r\ntitle=Loading ESXi installer\r\ntimeout=5\r\n# comment kernelopt=x\r\nprefix=\r\nkernel=/b.b00\r\nkernelopt=  runweasel cdromBoot\r\nmodules=/jumpstrt.gz --- /useropts.gz\r\nbuild=8.0.3\r\nupdated=0\r\n";
        let out = edit(src, &edits(&["ks=cdrom:/KS.CFG"], &[])).unwrap();
        assert_eq!(
            out.text,
            src.replace(
                "kernelopt=  runweasel cdromBoot",
                "kernelopt=  runweasel cdromBoot ks=cdrom:/KS.CFG"
            )
        );
        assert_eq!(out.kernelopt, "runweasel cdromBoot ks=cdrom:/KS.CFG");
    }

    #[test]
    fn edit_adds_missing_kernelopt_after_kernel() {
        let src = "title=x\nkernel=/b.b00\nmodules=/k.b00\n";
        let out = edit(src, &edits(&["ks=cdrom:/KS.CFG"], &[])).unwrap();
        assert_eq!(
            out.text,
            "title=x\nkernel=/b.b00\nkernelopt=ks=cdrom:/KS.CFG\nmodules=/k.b00\n"
        );
        let src = "kernel=/b.b00";
        let out = edit(src, &edits(&["ks=cdrom:/KS.CFG"], &[])).unwrap();
        assert_eq!(out.text, "kernel=/b.b00\nkernelopt=ks=cdrom:/KS.CFG\n");
        assert!(edit("title=x\n", &edits(&["a"], &[])).is_err());
    }

    #[test]
    fn getters() {
        let src = BootCfg::parse("kernel=/b.b00\nmodules=/a --- /b c --- /d\nbuild=8.0.3-0.0.1\nKERNELOPT=runweasel ks=cdrom:/KS.CFG\n");
        assert_eq!(src.get("build"), Some("8.0.3-0.0.1"));
        let items: Vec<(String, Option<String>)> = src
            .modules("/BOOT.CFG")
            .into_iter()
            .map(|m| (m.entry, m.options))
            .collect();
        assert_eq!(
            items,
            [
                ("/a".into(), None),
                ("/b".into(), Some("c".into())),
                ("/d".into(), None)
            ]
        );
        assert_eq!(
            option(src.get("kernelopt").unwrap(), "ks"),
            Some("cdrom:/KS.CFG")
        );
        assert_eq!(option("runweasel", "runweasel"), Some(""));
        assert_eq!(option("runweasel", "ks"), None);
    }

    #[test]
    fn append_module_table() {
        let cases = [
            (
                "kernel=/b.b00\nmodules=/a.gz --- /imgpayld.tgz\nbuild=1\n",
                "kernel=/b.b00\nmodules=/a.gz --- /imgpayld.tgz --- /overlay.tgz\nbuild=1\n",
            ),
            (
                "modules=/a.gz --- /b.gz\r\n",
                "modules=/a.gz --- /b.gz --- /overlay.tgz\r\n",
            ),
            (
                "modules=a.gz --- b.gz",
                "modules=a.gz --- b.gz --- /overlay.tgz",
            ),
            (
                "modules=/A.GZ --- /B.GZ\n",
                "modules=/A.GZ --- /B.GZ --- /OVERLAY.TGZ\n",
            ),
            ("modules=\n", "modules=/overlay.tgz\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                append_module(input, "/OVERLAY.TGZ").unwrap(),
                want,
                "{input:?}"
            );
        }
        assert!(append_module("kernel=/b\n", "/OVERLAY.TGZ").is_err());
    }

    #[test]
    fn parse_opt_rejects_injection() {
        assert!(KernelOptEdits::parse_opt("a=b c").is_err());
        assert!(KernelOptEdits::parse_opt("a=b\nkernel=/x").is_err());
        assert!(KernelOptEdits::parse_opt("=b").is_err());
        assert_eq!(
            KernelOptEdits::parse_opt("allowLegacyCPU=true").unwrap(),
            ("allowLegacyCPU".into(), Some("true".into()))
        );
    }
}
