//! The `esxi-iso` binary: parse the command line, dispatch, report errors.

use std::io::Write;
use std::process::ExitCode;

use esxi_iso::cli::{Cli, Command, KickstartCommand};
use esxi_iso::cmd;
use esxi_iso::failure::{self, Failure};

fn main() -> ExitCode {
    quiet_template_panics();
    esxi_iso::cli::complete::complete_env();
    let cli = Cli::parse_args();
    let result = match cli.command {
        Command::Build(args) if args.netboot.is_some() => cmd::netboot::run(&args),
        Command::Build(args) if args.inventory.is_some() => cmd::lab::run(&args),
        Command::Build(args) => cmd::build::run(&args),
        Command::Inspect(args) => cmd::inspect::run(&args),
        Command::Verify(args) => cmd::verify::run(&args),
        Command::Kickstart(KickstartCommand::Render(args)) => cmd::kickstart::render(&args),
        Command::Kickstart(KickstartCommand::Lint(args)) => cmd::kickstart::lint(&args),
        Command::Kickstart(KickstartCommand::Vars(args)) => cmd::kickstart::vars(&args),
        Command::Extract(args) => cmd::extract::run(&args),
        Command::Pack(args) => cmd::pack::run(&args),
        Command::Upload(args) => cmd::upload::run(&args),
        Command::Vcsp(args) => cmd::vcsp::run(&args),
        Command::Serve(args) => cmd::serve::run(&args),
        Command::Status(args) => cmd::status::run(&args),
        Command::Deploy(args) => cmd::deploy::run(&args),
        Command::Completions(args) => cmd::completions::run(&args),
        Command::Man(args) => cmd::man::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "esxi-iso: error: {err:#}");
            if err.is::<esxi_iso::signals::Interrupted>() || err.is::<esxi_iso::signals::Stopped>()
            {
                return ExitCode::from(failure::INTERRUPTED);
            }
            ExitCode::from(failure::of(&err).map_or(failure::OTHER, Failure::code))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = match cause.downcast_ref::<std::io::Error>() {
            Some(e) => Some(e.kind()),
            // serde_json keeps the io::Error inside, out of the chain.
            None => cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Tera panics on some templates; the library turns those panics into
/// errors that quote them, so they are not printed twice.
fn quiet_template_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(esxi_iso::kickstart::RENDER_THREAD) {
            default(info);
        }
    }));
}
