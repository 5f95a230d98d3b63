//! A process's descriptor table (Linux's `files_struct`).
//!
//! Threads created with CLONE_FILES share one table: [`FdTable::share`]
//! hands out another handle to the same map, [`FdTable::copy`] (fork)
//! a new map with the same open files.
//!
//! Locks: the map's own spin lock, taken inside a task's `inner` lock and
//! never around another lock; files a change drops are dropped after it
//! is released (closing a pipe end wakes its readers).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use spin::Mutex;

use super::{OpenFile, record_lock};
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
#[derive(Default)]
pub struct FdTable {
    map: Arc<Mutex<FdMap>>,
}

#[derive(Default)]
struct FdMap {
    fds: BTreeMap<i32, FdEntry>,
    /// POSIX record locks were set through this table (record_lock.rs):
    /// closes must release them.
    posix_locked: bool,
}

impl Drop for FdTable {
    /// The table's last handle (its process's exit, or an exec that
    /// unshared it): its POSIX record locks go.
    fn drop(&mut self) {
        if Arc::strong_count(&self.map) == 1 && self.map.lock().posix_locked {
            record_lock::release_owner(self.owner());
        }
    }
}

impl FdTable {
    /// Descriptors 0, 1, 2 on `stdio` (the console, for processes the
    /// kernel starts).
    pub fn with_stdio(stdio: Arc<OpenFile>) -> FdTable {
        let t = FdTable::default();
        for fd in 0..3 {
            t.map.lock().fds.insert(fd, FdEntry { file: stdio.clone(), cloexec: false });
        }
        t
    }

    /// Another handle on this table (CLONE_FILES).
    pub fn share(&self) -> FdTable {
        FdTable { map: self.map.clone() }
    }

    /// A new table with the same descriptors (fork, and unsharing at
    /// execve).
    pub fn copy(&self) -> FdTable {
        // The new table owns no record locks (fork's child inherits none).
        let fds = self.map.lock().fds.clone();
        FdTable { map: Arc::new(Mutex::new(FdMap { fds, posix_locked: false })) }
    }

    /// The POSIX record-lock owner this table stands for.
    pub fn owner(&self) -> record_lock::Owner {
        record_lock::Owner::Posix(Arc::as_ptr(&self.map) as *const () as usize)
    }

    /// A POSIX record lock was set through this table.
    pub fn mark_posix_locked(&self) {
        self.map.lock().posix_locked = true;
    }

    /// Closing `file` through this table drops the process's POSIX
    /// record locks on it, whichever descriptor set them (POSIX's rule).
    fn closed(&self, locked: bool, file: Option<&FdEntry>) {
        if let (true, Some(e)) = (locked, file) {
            record_lock::release_file(e.file.lock_key(), self.owner());
        }
    }

    /// Whether another task holds this table too.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.map) > 1
    }

    pub fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.map.lock().get(fd)
    }

    /// Lowest free descriptor at or above `min` (F_DUPFD's search; 0 for
    /// open).
    pub fn lowest_free(&self, min: i32) -> u64 {
        self.map.lock().lowest_free(min)
    }

    /// Lowest free descriptor (EMFILE past `limit`).
    pub fn install(&self, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        self.install_from(0, file, cloexec, limit)
    }

    /// Lowest free descriptor at or above `min` (EMFILE if none below
    /// `limit`): open, dup, F_DUPFD.
    pub fn install_from(&self, min: i32, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        self.map.lock().install_from(min, file, cloexec, limit)
    }

    /// Put `file` at `fd` (dup2), closing what was there.
    pub fn install_at(&self, fd: i32, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        if fd < 0 || fd as u64 >= limit {
            return Err(EBADF);
        }
        let (old, locked) = {
            let mut m = self.map.lock();
            (m.fds.insert(fd, FdEntry { file, cloexec }), m.posix_locked)
        };
        self.closed(locked, old.as_ref());
        drop(old);
        Ok(fd)
    }

    pub fn close(&self, fd: i32) -> Result<(), Errno> {
        let (old, locked) = {
            let mut m = self.map.lock();
            (m.fds.remove(&fd), m.posix_locked)
        };
        self.closed(locked, old.as_ref());
        old.map(|_| ()).ok_or(EBADF)
    }

    /// Drop close-on-exec descriptors (execve).
    pub fn close_on_exec(&self) {
        let (closed, locked): (alloc::vec::Vec<FdEntry>, bool) = {
            let mut m = self.map.lock();
            let (gone, kept) = core::mem::take(&mut m.fds).into_iter().partition(|(_, e)| e.cloexec);
            let gone: BTreeMap<i32, FdEntry> = gone;
            m.fds = kept;
            (gone.into_values().collect(), m.posix_locked)
        };
        for e in &closed {
            self.closed(locked, Some(e));
        }
        drop(closed);
    }

    pub fn set_cloexec(&self, fd: i32, on: bool) -> Result<(), Errno> {
        let mut m = self.map.lock();
        let e = m.fds.get_mut(&fd).ok_or(EBADF)?;
        e.cloexec = on;
        Ok(())
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.map.lock().fds.get(&fd).map(|e| e.cloexec).ok_or(EBADF)
    }

    pub fn clear(&self) {
        let (old, locked) = {
            let mut m = self.map.lock();
            (core::mem::take(&mut m.fds), m.posix_locked)
        };
        for e in old.values() {
            self.closed(locked, Some(e));
        }
        drop(old);
    }

    /// Linux's `fdt->max_fds`, the size of the table's arrays, which
    /// select(2) clips its descriptor count to: 64 (NR_OPEN_DEFAULT),
    /// grown as Linux's `alloc_fdtable` grows it to hold the highest open
    /// descriptor (a power of two times 128 slots).
    pub fn max_fds(&self) -> u64 {
        match self.map.lock().fds.last_key_value() {
            Some((&fd, _)) if fd >= 64 => (fd as u64 / 128 + 1).next_power_of_two() * 128,
            _ => 64,
        }
    }

    /// Open descriptors (for /proc/PID/fd-like views).
    pub fn count(&self) -> usize {
        self.map.lock().fds.len()
    }

    /// close_range(2)'s work on `first..=last`: close those descriptors,
    /// or only mark them close-on-exec (`cloexec_only`). The files are let
    /// go after the table's lock.
    pub fn close_range(&self, first: u32, last: u32, cloexec_only: bool) {
        if first > i32::MAX as u32 {
            return;
        }
        let range = first as i32..=last.min(i32::MAX as u32) as i32;
        let (closed, locked) = {
            let mut m = self.map.lock();
            if cloexec_only {
                m.fds.range_mut(range).for_each(|(_, e)| e.cloexec = true);
                return;
            }
            let fds: alloc::vec::Vec<i32> = m.fds.range(range).map(|(&fd, _)| fd).collect();
            let closed: alloc::vec::Vec<FdEntry> = fds.into_iter().filter_map(|fd| m.fds.remove(&fd)).collect();
            (closed, m.posix_locked)
        };
        for e in &closed {
            self.closed(locked, Some(e));
        }
    }

    /// The open descriptors, lowest first (/proc/PID/fd).
    pub fn fds(&self) -> alloc::vec::Vec<i32> {
        self.map.lock().fds.keys().copied().collect()
    }
}

impl FdMap {
    fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.fds.get(&fd).map(|e| e.file.clone()).ok_or(EBADF)
    }

    /// Lowest free descriptor at or above `min` (F_DUPFD's search; 0 for
    /// open). Walks the open descriptors from `min` on, so it ends after
    /// at most one step per open descriptor.
    fn lowest_free(&self, min: i32) -> u64 {
        let mut want = min.max(0) as u64;
        for &fd in self.fds.range(min.max(0)..).map(|(fd, _)| fd) {
            if fd as u64 != want {
                break;
            }
            want += 1;
        }
        want
    }

    /// Lowest free descriptor at or above `min` (EMFILE if none below
    /// `limit`): open, dup, F_DUPFD.
    fn install_from(&mut self, min: i32, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        let slot = self.lowest_free(min);
        if slot >= limit.min(i32::MAX as u64) {
            return Err(EMFILE);
        }
        self.fds.insert(slot as i32, FdEntry { file, cloexec });
        Ok(slot as i32)
    }
}
