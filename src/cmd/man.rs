//! `esxi-iso man [DIR]`: write the man pages, `esxi-iso.1` and one page
//! per subcommand (`esxi-iso-build.1`, `esxi-iso-kickstart-render.1`, ...),
//! from the same clap definitions the parser uses (clap_mangen), plus the
//! sections clap does not know: ENVIRONMENT, EXIT STATUS and SEE ALSO.
//!
//! Every page is rendered before the first is written, and each is
//! written atomically; existing pages are replaced only with `--force`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use roff::{bold, roman, Roff};

use crate::cli::{Cli, ManArgs};
use crate::failure::{self, Failure};
use crate::output;

/// What esxi-iso reads from the environment: (name, meaning).
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "ESXI_ISO_ROOT_PASSWORD",
        "Root password for the built-in templates when none is given with --set \
         or in an inventory; it reaches the ISO only as a SHA-512 crypt hash.",
    ),
    ("ESXI_ISO_USERNAME", "User for upload (same as --username)."),
    (
        "ESXI_ISO_PASSWORD",
        "Password for upload; without it, upload prompts for one. Never taken \
         from the command line.",
    ),
    (
        "SOURCE_DATE_EPOCH",
        "Unix time for new directory records and the password salt: the same \
         inputs then give a byte-identical ISO.",
    ),
    (
        "NO_COLOR",
        "When set and not empty, help and error messages carry no colour or \
         text styles.",
    ),
    (
        "ESXI_ISO_COMPLETE",
        "Set by the completion scripts (see esxi-iso-completions(1)) when the \
         shell asks for completions; not for interactive use.",
    ),
];

pub fn run(args: &ManArgs) -> Result<ExitCode> {
    let pages = render_all()?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let paths: Vec<PathBuf> = pages.iter().map(|(f, _)| args.dir.join(f)).collect();
    if !args.force {
        if let Some(p) = paths.iter().find(|p| p.symlink_metadata().is_ok()) {
            return Err(failure::error(
                Failure::OutputExists,
                format!(
                    "{} already exists: pass --force to replace the pages in {}",
                    p.display(),
                    args.dir.display()
                ),
            ));
        }
    }
    for (path, (_, page)) in paths.iter().zip(&pages) {
        output::write_atomic(path, page, args.force)?;
    }
    let mut out = std::io::stdout().lock();
    for p in &paths {
        use std::io::Write;
        writeln!(out, "wrote {}", p.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every page as (file name, roff source), the main page first.
pub fn render_all() -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut all = Vec::new();
    collect(&cmd, &mut all);
    let names: Vec<String> = all.iter().map(page_name).collect();
    all.iter()
        .enumerate()
        .map(|(i, c)| {
            // The main page lists every other; a subcommand page names the
            // main page and its parent (esxi-iso-kickstart for render).
            let others: Vec<&str> = if i == 0 {
                names[1..].iter().map(String::as_str).collect()
            } else {
                let parent = names[i].rsplit_once('-').map(|(p, _)| p);
                let mut v = vec![names[0].as_str()];
                v.extend(
                    names[1..i]
                        .iter()
                        .map(String::as_str)
                        .filter(|n| Some(*n) == parent),
                );
                v
            };
            let page = render(c, i == 0, &others)
                .with_context(|| format!("rendering the man page {}", names[i]))?;
            Ok((format!("{}.1", names[i]), page))
        })
        .collect()
}

/// The command and its visible subcommands, depth first.
fn collect(cmd: &clap::Command, out: &mut Vec<clap::Command>) {
    out.push(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, out);
    }
}

/// `esxi-iso-kickstart-render` (clap sets the display name when building).
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

fn render(cmd: &clap::Command, main: bool, see_also: &[&str]) -> std::io::Result<Vec<u8>> {
    // The footer names the program and its version on every page (clap
    // would give a subcommand page its bare name, e.g. "render").
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("esxi-iso {}", env!("CARGO_PKG_VERSION")));
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut w)?;
    }
    if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
        man.render_extra_section(&mut w)?;
    }
    let mut roff = Roff::new();
    if main {
        roff.control("SH", ["ENVIRONMENT"]);
        for (name, meaning) in ENVIRONMENT {
            roff.control("TP", [] as [&str; 0]);
            roff.text([bold(*name)]);
            roff.text([roman(*meaning)]);
        }
        roff.control("SH", ["EXIT STATUS"]);
        roff.text([roman(
            "An error is one line on stderr, esxi-iso: error: ..., and the status says \
             what kind of failure it was:",
        )]);
        for (code, meaning) in Failure::table() {
            roff.control("TP", [] as [&str; 0]);
            roff.text([bold(code.to_string())]);
            roff.text([roman(meaning)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let refs: Vec<String> = see_also.iter().map(|n| format!("{n}(1)")).collect();
    // Page names are not words to hyphenate.
    roff.control("nh", [] as [&str; 0]);
    roff.text([bold(refs.join(", "))]);
    roff.control("hy", [] as [&str; 0]);
    roff.to_writer(&mut w)?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut w)?;
    }
    Ok(w)
}
