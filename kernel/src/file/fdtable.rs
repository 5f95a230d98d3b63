//! A process's descriptor table.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use super::OpenFile;
use abi::errno::*;

/// A descriptor slot.
#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

/// A process's descriptors.
///
/// Kept sparse (a map from number to entry), so memory grows with the
/// descriptors open, not with the largest number: dup2(0, 1000000) costs
/// one entry. Numbers stay below RLIMIT_NOFILE, itself at most nr_open.
#[derive(Clone, Default)]
pub struct FdTable {
    fds: BTreeMap<i32, FdEntry>,
}

impl FdTable {
    /// Descriptors 0, 1, 2 on `stdio` (the console, for processes the
    /// kernel starts).
    pub fn with_stdio(stdio: Arc<OpenFile>) -> FdTable {
        let mut t = FdTable::default();
        for fd in 0..3 {
            t.fds.insert(fd, FdEntry { file: stdio.clone(), cloexec: false });
        }
        t
    }

    pub fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.fds.get(&fd).map(|e| e.file.clone()).ok_or(EBADF)
    }

    /// Lowest free descriptor at or above `min` (F_DUPFD's search; 0 for
    /// open). Walks the open descriptors from `min` on, so it ends after
    /// at most one step per open descriptor.
    pub fn lowest_free(&self, min: i32) -> u64 {
        let mut want = min.max(0) as u64;
        for &fd in self.fds.range(min.max(0)..).map(|(fd, _)| fd) {
            if fd as u64 != want {
                break;
            }
            want += 1;
        }
        want
    }

    /// Lowest free descriptor (EMFILE past `limit`).
    pub fn install(&mut self, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        self.install_from(0, file, cloexec, limit)
    }

    /// Lowest free descriptor at or above `min` (EMFILE if none below
    /// `limit`): open, dup, F_DUPFD.
    pub fn install_from(&mut self, min: i32, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        let slot = self.lowest_free(min);
        if slot >= limit.min(i32::MAX as u64) {
            return Err(EMFILE);
        }
        self.fds.insert(slot as i32, FdEntry { file, cloexec });
        Ok(slot as i32)
    }

    /// Put `file` at `fd` (dup2), closing what was there.
    pub fn install_at(&mut self, fd: i32, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        if fd < 0 || fd as u64 >= limit {
            return Err(EBADF);
        }
        self.fds.insert(fd, FdEntry { file, cloexec });
        Ok(fd)
    }

    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.fds.remove(&fd).map(|_| ()).ok_or(EBADF)
    }

    /// Drop close-on-exec descriptors (execve).
    pub fn close_on_exec(&mut self) {
        self.fds.retain(|_, e| !e.cloexec);
    }

    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        let e = self.fds.get_mut(&fd).ok_or(EBADF)?;
        e.cloexec = on;
        Ok(())
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.fds.get(&fd).map(|e| e.cloexec).ok_or(EBADF)
    }

    pub fn clear(&mut self) {
        self.fds.clear();
    }

    /// Linux's `fdt->max_fds`, the size of the table's arrays, which
    /// select(2) clips its descriptor count to: 64 (NR_OPEN_DEFAULT),
    /// grown as Linux's `alloc_fdtable` grows it to hold the highest open
    /// descriptor (a power of two times 128 slots).
    pub fn max_fds(&self) -> u64 {
        match self.fds.last_key_value() {
            Some((&fd, _)) if fd >= 64 => (fd as u64 / 128 + 1).next_power_of_two() * 128,
            _ => 64,
        }
    }

    /// Open descriptors (for /proc/PID/fd-like views).
    pub fn count(&self) -> usize {
        self.fds.len()
    }
}
