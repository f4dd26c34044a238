//! Datastore files through `FileManager` (`MoveDatastoreFile_Task`,
//! `DeleteDatastoreFile_Task`, in WSDL order: sourceName,
//! sourceDatacenter, destinationName, destinationDatacenter, force; name,
//! datacenter) and folders (`MakeDirectory`).
//!
//! Datastore paths are vSphere's `[datastore] folder/file`. Waiting for
//! the tasks is [`super::task`]'s. `MakeDirectory` (name, datacenter,
//! createParentDirectories) is not a task: it answers when the folder is
//! there.

use anyhow::Result;

use super::fault::{Fault, FaultKind};
use super::soap::Vim;
use super::task::task_of;
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

    /// Creates a datastore folder (`[datastore] a/b`) and its parents; a
    /// folder that is there already is fine.
    pub fn make_directory(&self, name: &str, datacenter: &MoRef) -> Result<()> {
        let fm = self.manager(self.content().file_manager.as_ref(), "file manager")?;
        let made = self.call(
            "MakeDirectory",
            &fm,
            vec![
                Node::text("name", name),
                datacenter.node("datacenter"),
                Node::text("createParentDirectories", "true"),
            ],
        );
        match made {
            Err(e)
                if matches!(
                    e.downcast_ref::<Fault>().map(|f| &f.kind),
                    Some(FaultKind::FileAlreadyExists { .. })
                ) =>
            {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }
}
