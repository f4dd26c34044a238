//! `esxi-iso kickstart render|lint|vars`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{LintArgs, RenderArgs};
use crate::kickstart::{self, vars, Source, Vars};

pub fn render(args: &RenderArgs) -> Result<ExitCode> {
    let source = Source::from_template_arg(&args.template)?;
    let vars = Vars::load(args.vars.as_deref(), &args.set)?;
    let text = kickstart::produce(&source, &vars)?;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn lint(_args: &LintArgs) -> Result<ExitCode> {
    anyhow::bail!("kickstart lint is not available in this build")
}

pub fn vars() -> Result<ExitCode> {
    let mut o = std::io::stdout().lock();
    let mut group = "";
    for s in vars::SPECS {
        if s.group != group {
            group = s.group;
            writeln!(o, "{group}:")?;
        }
        let default = if s.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", s.default)
        };
        writeln!(o, "  {:<24}{}{default}", s.name, s.help)?;
    }
    Ok(ExitCode::SUCCESS)
}
