//! Tasks: the `*_Task` methods answer at once with a `Task` reference;
//! what the task did is its `info` (`TaskInfo`: state `queued`, `running`,
//! `success` or `error`, the `result` of a success, the
//! `LocalizedMethodFault` of an error), read with RetrievePropertiesEx
//! until it ends. A failed task becomes a [`Fault`], as a failed call
//! does.
//!
//! Polling starts at 100 ms and doubles up to 2 s, so a task that ends at
//! once (as govmomi's simulator finishes them before it answers) costs one
//! read, and a long one (a VM created on a busy vCenter) a read every two
//! seconds. A wait stops at its time-out, or when its `cancel` check says
//! so (Ctrl-C): the task itself goes on on the server, and the error says
//! which task it was.

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::fault::Fault;
use super::inventory::FilterSpec;
use super::soap::Vim;
use super::xml::Element;
use super::MoRef;
use crate::signals::Interrupted;

/// How long the first pause between two reads of a task is.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two reads.
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// How to wait for a task.
pub struct Wait<'a> {
    /// Give up after this long (the task goes on on the server).
    pub timeout: Duration,
    /// Asked before every pause: true stops the wait with
    /// [`Interrupted`].
    pub cancel: &'a dyn Fn() -> bool,
}

impl Wait<'_> {
    /// A wait that only times out.
    pub fn for_at_most(timeout: Duration) -> Wait<'static> {
        Wait {
            timeout,
            cancel: &|| false,
        }
    }
}

/// The task a `*_Task` method's answer names.
pub fn task_of(answer: &Element, method: &str) -> Result<MoRef> {
    match answer.child("returnval").and_then(MoRef::from_element) {
        Some(task) => Ok(task),
        None => bail!("{method} returned no task"),
    }
}

impl Vim<'_> {
    /// Waits for a task to end: Ok on `success`, the task's fault as a
    /// [`Fault`] on `error`, an error after `timeout`.
    pub fn wait_task(&self, task: &MoRef, method: &str, timeout: Duration) -> Result<()> {
        self.wait_task_result(task, method, &Wait::for_at_most(timeout))
            .map(|_| ())
    }

    /// Like [`Vim::wait_task`], with the task's `result` (a new VM's
    /// reference, for CreateVM_Task), and a cancel check.
    pub fn wait_task_result(
        &self,
        task: &MoRef,
        method: &str,
        wait: &Wait,
    ) -> Result<Option<Element>> {
        let spec = FilterSpec::of_objects("Task", &["info"], std::slice::from_ref(task));
        let start = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            let objects = self.retrieve(&spec)?;
            let info = objects.first().and_then(|o| o.prop("info"));
            let state = info.and_then(|i| i.child_text("state")).unwrap_or("");
            match state.trim() {
                "success" => return Ok(info.and_then(|i| i.child("result")).cloned()),
                "error" => {
                    let error = info.and_then(|i| i.child("error"));
                    let message = error
                        .and_then(|e| e.child_text("localizedMessage"))
                        .unwrap_or_default();
                    let detail = error.and_then(|e| e.child("fault"));
                    return Err(Fault::from_detail(detail, message, method).into());
                }
                _ if (wait.cancel)() => {
                    return Err(anyhow::Error::new(Interrupted).context(format!(
                        "stopped waiting for {method} ({task}); the task goes on on {}",
                        self.server().host
                    )))
                }
                _ if start.elapsed() > wait.timeout => bail!(
                    "{method} on {} did not finish within {} s ({task}, state {}{})",
                    self.server().host,
                    wait.timeout.as_secs(),
                    if state.is_empty() { "unknown" } else { state },
                    info.and_then(|i| i.child_text("progress"))
                        .map(|p| format!(", {}% done", p.trim()))
                        .unwrap_or_default()
                ),
                _ => {
                    sleep(pause);
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
            }
        }
    }
}
