//! Ctrl-C and SIGTERM during a build: the handler only raises a flag; the
//! write loop checks it between chunks and unwinds, so temporary files are
//! removed by their destructors and no half-written output is left.
//! SIGXFSZ (file size limit) is ignored so that limit surfaces as EFBIG.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The error a cancelled operation returns (exit status 130).
#[derive(Debug, thiserror::Error)]
#[error("interrupted by a signal; no output was written")]
pub struct Interrupted;

/// The same, for a run that says itself what it left behind (deploy: the
/// VMs it made, recorded for the next run; upload: the ISOs that landed
/// and what became of the one in flight).
#[derive(Debug, thiserror::Error)]
#[error("interrupted by a signal")]
pub struct Stopped;

/// Installs the handlers once; later calls are no-ops.
pub fn install() {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            // Registration only fails for forbidden signals, which these aren't.
            let _ = signal_hook::flag::register(sig, Arc::clone(&flag));
        }
        // A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action
        // kills the process before the temporary can be removed; ignored,
        // the write fails with EFBIG and the error path cleans up.
        // SAFETY: setting a signal's disposition to SIG_IGN.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        flag
    });
}

pub fn cancelled() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}
