//! Kickstart templates, rendering and lint.
//!
//! Built-in templates live in the repo's `kickstart/` folder and are
//! compiled into the binary. A kickstart given as a file is copied verbatim
//! unless its name ends in `.tera`, in which case it is rendered with the
//! same variables as the built-ins.

pub mod crypt;
pub mod lint;
pub mod vars;

use std::path::Path;

use anyhow::{bail, Result};

use crate::input;

pub use vars::Vars;

/// Built-in templates: (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "nested-lab",
        include_str!("../../kickstart/nested-lab.ks.tera"),
    ),
    ("minimal", include_str!("../../kickstart/minimal.ks.tera")),
];

pub const DEFAULT_TEMPLATE: &str = "nested-lab";

/// Where a kickstart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A built-in template by name.
    Builtin(&'static str),
    /// A `.tera` file rendered with the variables.
    TemplateFile(std::path::PathBuf),
    /// A file copied verbatim.
    Verbatim(std::path::PathBuf),
}

impl Source {
    /// `--template NAME|FILE` for `kickstart render`.
    pub fn from_template_arg(arg: &str) -> Result<Source> {
        if let Some((name, _)) = TEMPLATES.iter().find(|(n, _)| *n == arg) {
            return Ok(Source::Builtin(name));
        }
        let p = Path::new(arg);
        if p.exists() {
            return Ok(Source::TemplateFile(p.to_path_buf()));
        }
        bail!(
            "no template {arg:?}: use one of {} or a path to a .tera file",
            TEMPLATES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// `--kickstart FILE` for `build` (None: the default template).
    pub fn from_kickstart_arg(arg: Option<&Path>) -> Source {
        match arg {
            None => Source::Builtin(DEFAULT_TEMPLATE),
            Some(p) if p.extension().is_some_and(|e| e == "tera") => {
                Source::TemplateFile(p.to_path_buf())
            }
            Some(p) => Source::Verbatim(p.to_path_buf()),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Source::Builtin(n) => n.to_string(),
            Source::TemplateFile(p) | Source::Verbatim(p) => p.display().to_string(),
        }
    }

    pub fn is_template(&self) -> bool {
        !matches!(self, Source::Verbatim(_))
    }
}

/// Renders or reads the kickstart.
pub fn produce(source: &Source, vars: &Vars) -> Result<String> {
    let (name, text) = match source {
        Source::Verbatim(p) => {
            return input::read_text_capped(p, input::KICKSTART_MAX, "kickstart");
        }
        Source::Builtin(n) => (n.to_string(), builtin(n).to_string()),
        Source::TemplateFile(p) => (
            p.display().to_string(),
            input::read_text_capped(p, input::TEMPLATE_MAX, "template")?,
        ),
    };
    render(&name, &text, vars)
}

pub fn builtin(name: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("built-in template exists")
}

/// Renders template `text` (named `name` in errors) with `vars`.
pub fn render(name: &str, text: &str, vars: &Vars) -> Result<String> {
    if text.contains("root_password") && !vars.has_password() {
        bail!(
            "no root password for template {name}: pass --set root_password=... \
             or set {} (a $6$ crypt hash is accepted as is)",
            vars::PASSWORD_ENV
        );
    }
    let ctx = vars.context()?;
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_template(name, text)
        .map_err(|e| tera_error(e, name))?;
    let ks = tera.render(name, &ctx).map_err(|e| tera_error(e, name))?;
    if ks.len() as u64 > input::KICKSTART_MAX {
        bail!(
            "template {name} renders to {} bytes, more than the {} a kickstart may have: \
             check the variables for a value that does not belong there",
            ks.len(),
            input::size_label(input::KICKSTART_MAX)
        );
    }
    Ok(ks)
}

fn tera_error(e: tera::Error, name: &str) -> anyhow::Error {
    let mut msg = format!("rendering template {name}");
    let mut cause: Option<&dyn std::error::Error> = Some(&e);
    let mut parts = Vec::new();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    if let Some(last) = parts.last() {
        msg.push_str(": ");
        msg.push_str(last);
    }
    if parts.iter().any(|p| p.contains("not found in context")) {
        msg.push_str(" (define it with --set KEY=VALUE or in --vars FILE.toml)");
    }
    anyhow::anyhow!(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_variable_is_reported() {
        let v = Vars::default();
        let err = render("t", "x {{ nope }}", &v).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("--set"), "{err}");
    }

    #[test]
    fn missing_password_says_how() {
        let err = render("nested-lab", builtin("nested-lab"), &Vars::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--set root_password=") && err.contains("ESXI_ISO_ROOT_PASSWORD"),
            "{err}"
        );
    }
}
