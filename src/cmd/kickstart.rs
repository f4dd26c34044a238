use std::process::ExitCode;
pub fn render(_: &crate::cli::RenderArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("in progress")
}
pub fn lint(_: &crate::cli::LintArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("in progress")
}
pub fn vars() -> anyhow::Result<ExitCode> {
    anyhow::bail!("in progress")
}
