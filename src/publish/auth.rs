//! Credentials: the user from `--username` / `ESXI_ISO_USERNAME`, the
//! password from `ESXI_ISO_PASSWORD` or an interactive prompt on the
//! terminal. There is deliberately no password flag (argv is visible to
//! every local user), and `Debug` never shows the password.

use std::fmt;

use anyhow::{anyhow, bail, Result};

use crate::vsphere::{Fault, FaultKind, Vim};

pub const PASSWORD_ENV: &str = "ESXI_ISO_PASSWORD";

pub struct Credentials {
    pub username: String,
    password: String,
}

impl Credentials {
    pub fn new(username: String, password: String) -> Self {
        Credentials { username, password }
    }

    /// Resolves the credentials, prompting on the terminal when the
    /// password is not in the environment.
    pub fn resolve(username: Option<&str>, host: &str) -> Result<Self> {
        let Some(username) = username.filter(|u| !u.is_empty()) else {
            bail!("no user name: pass --username or set ESXI_ISO_USERNAME");
        };
        let password = match std::env::var(PASSWORD_ENV) {
            Ok(p) => p,
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!("{PASSWORD_ENV} is not valid UTF-8")
            }
            Err(std::env::VarError::NotPresent) => {
                match rpassword::prompt_password(format!("Password for {username}@{host}: ")) {
                    Ok(p) => p,
                    Err(_) => bail!(
                        "no password: set {PASSWORD_ENV}, or run in a terminal to be \
                         prompted for it"
                    ),
                }
            }
        };
        Ok(Credentials::new(username.to_string(), password))
    }

    /// For a login call's body; never for a message.
    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    pub fn basic_auth(&self) -> String {
        crate::vsphere::http::basic_auth(&self.username, &self.password)
    }

    /// Removes the password from text that is about to be shown, in case a
    /// server echoed it back.
    pub fn scrub(&self, text: &str) -> String {
        if self.password.len() < 3 {
            return text.to_string();
        }
        text.replace(&self.password, "***")
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Logs in over SOAP; a wrong password is said as such.
pub fn login(vim: &Vim, creds: &Credentials) -> Result<()> {
    let host = &vim.server().host;
    vim.login(&creds.username, creds.password()).map_err(|e| {
        match e.downcast_ref::<Fault>().map(|f| &f.kind) {
            Some(FaultKind::InvalidLogin) => anyhow!(
                "{host} refused the credentials of {} (InvalidLogin): check --username or \
                 ESXI_ISO_USERNAME (on vCenter with its domain, e.g. \
                 administrator@vsphere.local), and ESXI_ISO_PASSWORD",
                creds.username
            ),
            _ => e.context(format!("logging in to {host} as {}", creds.username)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_password() {
        let c = Credentials::new("root".into(), "VMware1!secret".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("VMware1!secret"), "{shown}");
        assert_eq!(c.scrub("echo VMware1!secret"), "echo ***");
    }
}
