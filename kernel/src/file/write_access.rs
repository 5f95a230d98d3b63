//! Who may write a file that runs (Linux's `i_writecount` with
//! `get_write_access` and `deny_write_access`): ETXTBSY.
//!
//! The count is positive while files are open for writing (each such open
//! adds one), negative while the file is the program of some process (each
//! such process subtracts one), never both: opening a running program for
//! writing, or truncating it by name, is ETXTBSY; so is executing a file
//! that is open for writing. A process keeps its program denied until its
//! address space goes (`UserMm::exe_deny`), as Linux's `mm->exe_file` does.
//!
//! Locks: none; the count is one atomic changed by compare-and-swap.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicI64, Ordering};

use abi::errno::{ETXTBSY, Errno};

use super::Inode;

/// The count itself, kept by inodes that can be both written and run.
#[derive(Default)]
pub struct WriteCount(AtomicI64);

impl WriteCount {
    /// Add `d` unless the count has the other sign (ETXTBSY).
    fn change(&self, d: i64) -> Result<(), Errno> {
        self.0
            .try_update(Ordering::AcqRel, Ordering::Acquire, |c| ((c >= 0) == (d > 0) || c == 0).then_some(c + d))
            .map(|_| ())
            .map_err(|_| ETXTBSY)
    }

    fn undo(&self, d: i64) {
        self.0.fetch_sub(d, Ordering::AcqRel);
    }
}

/// One opening for writing (`get_write_access`), given back when dropped.
pub struct WriteGuard(Arc<dyn Inode>);

impl WriteGuard {
    /// None for a file without a count (nothing can run from it).
    pub fn take(inode: &Arc<dyn Inode>) -> Result<Option<WriteGuard>, Errno> {
        let Some(c) = inode.write_count() else { return Ok(None) };
        c.change(1)?;
        Ok(Some(WriteGuard(inode.clone())))
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.write_count() {
            c.undo(1);
        }
    }
}

/// One running program (`deny_write_access`), allowed again when dropped.
pub struct DenyWrite(Arc<dyn Inode>);

impl DenyWrite {
    pub fn take(inode: &Arc<dyn Inode>) -> Result<Option<DenyWrite>, Errno> {
        let Some(c) = inode.write_count() else { return Ok(None) };
        c.change(-1)?;
        Ok(Some(DenyWrite(inode.clone())))
    }
}

impl Drop for DenyWrite {
    fn drop(&mut self) {
        if let Some(c) = self.0.write_count() {
            c.undo(-1);
        }
    }
}
