//! `esxi-iso upload`: check the ISOs and the target
//! ([`crate::publish::plan_upload`]), warn about `--insecure`, then log in
//! and upload.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::UploadArgs;
use crate::publish;
use crate::vsphere::http::Trust;

pub fn run(args: &UploadArgs) -> Result<ExitCode> {
    let plan = publish::plan_upload(&args.request())?;
    if matches!(plan.trust, Trust::Insecure) {
        let _ = writeln!(
            io::stderr(),
            "esxi-iso: warning: --insecure: the certificate of {} is not verified; \
             anyone on the network path can read the password and the ISO",
            plan.server.host
        );
    }
    publish::upload(&plan, args.username.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
