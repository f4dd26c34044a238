//! Datastore files through `FileManager` (`MoveDatastoreFile_Task`,
//! `DeleteDatastoreFile_Task`, in WSDL order: sourceName,
//! sourceDatacenter, destinationName, destinationDatacenter, force; name,
//! datacenter), and waiting for a task: its `info` read with
//! RetrievePropertiesEx until `state` is `success` or `error`, whose
//! `LocalizedMethodFault` becomes a [`Fault`].
//!
//! Datastore paths are vSphere's `[datastore] folder/file`. Later task
//! methods (CreateVM_Task, PowerOnVM_Task, ...) return a task the same
//! way and wait with [`Vim::wait_task`].

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::fault::Fault;
use super::inventory::{FilterSpec, ObjectSpec, PropertySpec};
use super::soap::Vim;
use super::xml::Node;
use super::MoRef;

impl Vim<'_> {
    /// Starts moving (renaming) a datastore file; `force` replaces an
    /// existing destination.
    pub fn move_datastore_file(
        &self,
        source: &str,
        destination: &str,
        datacenter: &MoRef,
        force: bool,
    ) -> Result<MoRef> {
        let fm = self.manager(self.content().file_manager.as_ref(), "file manager")?;
        let answer = self.call(
            "MoveDatastoreFile_Task",
            &fm,
            vec![
                Node::text("sourceName", source),
                datacenter.node("sourceDatacenter"),
                Node::text("destinationName", destination),
                datacenter.node("destinationDatacenter"),
                Node::text("force", if force { "true" } else { "false" }),
            ],
        )?;
        task_of(&answer, "MoveDatastoreFile_Task")
    }

    /// Starts deleting a datastore file.
    pub fn delete_datastore_file(&self, name: &str, datacenter: &MoRef) -> Result<MoRef> {
        let fm = self.manager(self.content().file_manager.as_ref(), "file manager")?;
        let answer = self.call(
            "DeleteDatastoreFile_Task",
            &fm,
            vec![Node::text("name", name), datacenter.node("datacenter")],
        )?;
        task_of(&answer, "DeleteDatastoreFile_Task")
    }

    /// Waits for a task to end: Ok on `success`, the task's fault as a
    /// [`Fault`] on `error`, an error after `timeout`.
    pub fn wait_task(&self, task: &MoRef, method: &str, timeout: Duration) -> Result<()> {
        let spec = FilterSpec {
            props: vec![PropertySpec {
                kind: "Task".into(),
                paths: vec!["info".into()],
            }],
            objects: vec![ObjectSpec {
                obj: task.clone(),
                skip: false,
                select: Vec::new(),
            }],
        };
        let start = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let objects = self.retrieve(&spec)?;
            let info = objects.first().and_then(|o| o.prop("info"));
            let state = info.and_then(|i| i.child_text("state")).unwrap_or("");
            match state {
                "success" => return Ok(()),
                "error" => {
                    let error = info.and_then(|i| i.child("error"));
                    let message = error
                        .and_then(|e| e.child_text("localizedMessage"))
                        .unwrap_or_default();
                    let detail = error.and_then(|e| e.child("fault"));
                    return Err(Fault::from_detail(detail, message, method).into());
                }
                _ if start.elapsed() > timeout => bail!(
                    "{method} on {} did not finish within {} s ({task}, state {})",
                    self.server().host,
                    timeout.as_secs(),
                    if state.is_empty() { "unknown" } else { state }
                ),
                _ => {
                    sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

fn task_of(answer: &super::xml::Element, method: &str) -> Result<MoRef> {
    match answer.child("returnval").and_then(MoRef::from_element) {
        Some(task) => Ok(task),
        None => bail!("{method} returned no task"),
    }
}
