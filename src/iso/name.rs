//! Names the ESXi loaders can read: uppercase ISO9660 level-1 (8.3)
//! d-characters in the primary tree. Used to validate `--ks-path` and any
//! file esxi-iso adds, and to suggest a valid name for a bad one.

/// Checks an absolute ISO path like `/KS.CFG` or `/KS/HOST01.CFG`; returns
/// the path without the leading slash.
pub fn validate_path(path: &str) -> Result<String, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "{path:?} must be absolute, e.g. /{}",
            suggest(path)
        ));
    };
    if rest.is_empty() {
        return Err("the path names no file".into());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() > 8 {
        return Err(format!("{path} is nested deeper than ISO9660's 8 levels"));
    }
    let (file, dirs) = parts.split_last().expect("non-empty");
    for d in dirs {
        validate_dir(d).map_err(|e| format!("{path}: {e}"))?;
    }
    validate_file(file).map_err(|e| format!("{path}: {e}"))?;
    Ok(rest.to_string())
}

fn is_d_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

fn validate_dir(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 8 || !name.chars().all(is_d_char) {
        return Err(format!(
            "directory name {name:?} is not 1-8 uppercase letters, digits or _ (try {:?})",
            suggest_part(name, false)
        ));
    }
    Ok(())
}

/// A file name: 1-8 d-characters, optionally `.` and 0-3 more.
pub fn validate_file(name: &str) -> Result<(), String> {
    let (base, ext) = match name.split_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    let ok = !base.is_empty()
        && base.len() <= 8
        && ext.len() <= 3
        && base.chars().all(is_d_char)
        && ext.chars().all(is_d_char);
    if !ok {
        return Err(format!(
            "file name {name:?} is not an uppercase 8.3 ISO9660 name the ESXi loader can read (try {:?})",
            suggest_part(name, true)
        ));
    }
    Ok(())
}

/// A valid path close to `path`.
pub fn suggest(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let n = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| suggest_part(p, i + 1 == n))
        .collect::<Vec<_>>()
        .join("/")
}

fn clean(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| c.to_ascii_uppercase())
        .map(|c| if is_d_char(c) { c } else { '_' })
        .take(max)
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

pub fn suggest_part(name: &str, is_file: bool) -> String {
    if !is_file {
        return clean(name, 8);
    }
    match name.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => {
            let ext = clean(e, 3);
            format!("{}.{}", clean(b, 8), ext)
        }
        _ => clean(name, 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let good = [
            ("/KS.CFG", "KS.CFG"),
            ("/KS/HOST_01.CFG", "KS/HOST_01.CFG"),
            ("/A", "A"),
            ("/ABCDEFGH.XYZ", "ABCDEFGH.XYZ"),
        ];
        for (p, want) in good {
            assert_eq!(validate_path(p).as_deref(), Ok(want), "{p}");
        }
        let bad = [
            ("KS.CFG", "must be absolute, e.g. /KS.CFG"),
            ("/ks.cfg", "(try \"KS.CFG\")"),
            ("/kickstart.cfg", "(try \"KICKSTAR.CFG\")"),
            ("/KS.CONF", "(try \"KS.CON\")"),
            ("/my-dir/KS.CFG", "directory name \"my-dir\""),
            ("/A.B.C", "not an uppercase 8.3"),
            ("/", "names no file"),
            ("/KS CFG", "(try \"KS_CFG\")"),
        ];
        for (p, want) in bad {
            let err = validate_path(p).unwrap_err();
            assert!(err.contains(want), "{p}: {err}");
        }
    }
}
