//! Which ESXi release an installer holds, from what the media carry, most
//! precise first:
//!
//! 1. boot.cfg's `build=` line: `7.0.3-0.55.20328353`, `8.0.3-0.0.24022510`,
//!    and from 9.0 four parts, `9.1.1.0-25714478`. Empty in 6.x.
//! 2. The volume id: the image profile name, upper-cased and cut to 32
//!    characters (`ESXI-6.5.0-20170702001-STANDARD`,
//!    `ESXI-8.0U3-24022510-STANDARD`, `ESXI-9.1.0.0100-25433460-STANDAR`).
//! 3. The shape of boot.cfg: `kernel=/tboot.b00` only in 6.0 and 6.5, so
//!    `kernel=/b.b00` with an empty `build=` is 6.7; else the stock
//!    kernelopt is `cdromBoot runweasel` from 6.7 to 7.0U2 and
//!    `runweasel cdromBoot` from 7.0U2c on.
//!
//! ESXi was renamed ESX in 9.0. Vendor ISOs carry the same lines. Not
//! covered: telling update levels apart when only the shape is known.

use serde::Serialize;

use super::loader::BootCfg;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    /// `ESXi`, or `ESX` from 9.0.
    pub product: String,
    /// `8.0.3`, `8.0U3`, `6.0 or 6.5` ...
    pub release: String,
    /// What it was read from, e.g. `build=8.0.3-0.0.24022510`.
    pub from: String,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (from {})", self.product, self.release, self.from)
    }
}

fn product(release: &str) -> &'static str {
    let major: u32 = release
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major >= 9 {
        "ESX"
    } else {
        "ESXi"
    }
}

/// `7.0.3` from `7.0.3-0.55.20328353`.
fn from_build(build: &str) -> Option<String> {
    let (release, rest) = build.split_once('-')?;
    let parts: Vec<&str> = release.split('.').collect();
    let numeric = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (parts.len() >= 2 && parts.iter().all(numeric) && !rest.is_empty()).then(|| release.to_string())
}

/// `8.0U3` from `ESXI-8.0U3-24022510-STANDARD`.
fn from_volume_id(volid: &str) -> Option<String> {
    let rest = volid
        .get(..5)?
        .eq_ignore_ascii_case("ESXI-")
        .then(|| &volid[5..])?;
    let release = rest.split('-').next()?;
    (release.starts_with(|c: char| c.is_ascii_digit()) && release.contains('.'))
        .then(|| release.to_string())
}

fn from_shape(cfg: &BootCfg) -> Option<(String, String)> {
    let kernel = cfg.get("kernel")?;
    if kernel.to_ascii_lowercase().ends_with("tboot.b00") {
        return Some(("6.0 or 6.5".into(), format!("kernel={kernel}")));
    }
    // build= is empty only in 6.x, and only 6.0 and 6.5 boot tboot.
    if cfg.get("build") == Some("") {
        return Some((
            "6.7".into(),
            format!("kernel={kernel} with an empty build="),
        ));
    }
    let ko = cfg.get("kernelopt")?;
    let words: Vec<String> = ko.split_whitespace().map(str::to_ascii_lowercase).collect();
    let at = |w: &str| words.iter().position(|x| x == w);
    match (at("cdromboot"), at("runweasel")) {
        (Some(c), Some(r)) if c < r => Some(("6.7 to 7.0U2".into(), format!("kernelopt={ko}"))),
        (Some(_), Some(_)) => Some(("7.0U2c or later".into(), format!("kernelopt={ko}"))),
        _ => None,
    }
}

/// The release of an installer with this (BIOS) boot.cfg and volume id.
pub fn detect(cfg: &BootCfg, volume_id: Option<&str>) -> Option<Version> {
    let make = |release: String, from: String| Version {
        product: product(&release).to_string(),
        release,
        from,
    };
    if let Some(b) = cfg.get("build").filter(|b| !b.is_empty()) {
        if let Some(r) = from_build(b) {
            return Some(make(r, format!("build={b}")));
        }
    }
    if let Some(v) = volume_id.and_then(|v| from_volume_id(v.trim()).map(|r| (r, v.trim()))) {
        return Some(make(v.0, format!("volume id {}", v.1)));
    }
    // A shape carries no number; from 9.0 the title names the product.
    let esx_title = cfg
        .get("title")
        .is_some_and(|t| t.to_ascii_lowercase().contains("esx installer"));
    from_shape(cfg).map(|(r, from)| {
        let mut v = make(r, from);
        if esx_title {
            v.product = "ESX".into();
        }
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_table() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            (
                "kernel=/b.b00\nbuild=7.0.3-0.55.20328353\n",
                None,
                Some("ESXi 7.0.3"),
            ),
            (
                "kernel=/b.b00\nbuild=9.1.1.0-25714478\n",
                None,
                Some("ESX 9.1.1.0"),
            ),
            (
                "kernel=/b.b00\nbuild=8.0.3-0.0.24022510\n",
                Some("ESXI-9.0"),
                Some("ESXi 8.0.3"),
            ),
            (
                "kernel=/tboot.b00\nkernelopt=runweasel\nbuild=\n",
                None,
                Some("ESXi 6.0 or 6.5"),
            ),
            (
                "kernel=/tboot.b00\nbuild=\n",
                Some("ESXI-6.5.0-20170702001-STANDARD"),
                Some("ESXi 6.5.0"),
            ),
            (
                "kernel=/b.b00\nbuild=\n",
                Some("ESXI-9.1.0.0100-25433460-STANDAR"),
                Some("ESX 9.1.0.0100"),
            ),
            (
                "kernel=/b.b00\n",
                Some("ESXI-8.0U3-24022510-STANDARD"),
                Some("ESXi 8.0U3"),
            ),
            (
                "kernel=/b.b00\nkernelopt=cdromBoot runweasel\nbuild=\n",
                None,
                Some("ESXi 6.7"),
            ),
            (
                "kernel=/b.b00\nkernelopt=cdromBoot runweasel\n",
                None,
                Some("ESXi 6.7 to 7.0U2"),
            ),
            (
                "kernel=/b.b00\nkernelopt=runweasel cdromBoot\n",
                Some("MYISO"),
                Some("ESXi 7.0U2c or later"),
            ),
            (
                "title=Loading ESX installer\nkernel=/b.b00\nkernelopt=runweasel cdromBoot\n",
                None,
                Some("ESX 7.0U2c or later"),
            ),
            (
                "kernel=/b.b00\nkernelopt=ks=usb\nbuild=garbage\n",
                Some("ESXI"),
                None,
            ),
        ];
        for (text, volid, want) in cases {
            let got = detect(&BootCfg::parse(*text), *volid)
                .map(|v| format!("{} {}", v.product, v.release));
            assert_eq!(got.as_deref(), *want, "{text:?} {volid:?}");
        }
    }
}
