//! tmpfs regular files: their bytes are a shmem MemObject (mm's
//! file_io.rs), so read(2), write(2) and every mapping share its pages.
//! Size changes (write, fallocate; truncate in mod.rs) hold the file's
//! `io` lock.
//!
//! File seals (memfd.c, shmem.c) are kept on the MemObject, where mmap
//! sees them; they change and are checked here under the `io` lock:
//!
//! ```text
//!   F_SEAL_WRITE, F_SEAL_FUTURE_WRITE   write, punch hole: EPERM
//!   F_SEAL_GROW                         write, fallocate, truncate past the end: EPERM
//!   F_SEAL_SHRINK                       truncate below the size: EPERM
//!   F_SEAL_EXEC                         chmod changing an x bit: EPERM
//!   F_SEAL_SEAL                         F_ADD_SEALS: EPERM
//! ```

use abi::errno::*;
use abi::fcntl::{
    F_ALL_SEALS, F_SEAL_EXEC, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE,
    FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
};
use mm::vm::file::ObjError;

use super::{Body, TmpInode};

/// Largest file offset (Linux's MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

fn errno(e: ObjError) -> Errno {
    match e {
        ObjError::NoSpace => ENOSPC,
        ObjError::NoMemory => ENOMEM,
        ObjError::BeyondEof => EFBIG,
        ObjError::SwapIn(_) | ObjError::Io => EIO,
    }
}

/// Run `op` (which takes the file's locks itself: its outer error is a
/// plain refusal) until no page it needs is on swap: each such page is read
/// in with no lock held (shmem_swapin_folio), then `op` runs again. A page
/// its memory cgroup refused is fought for the same way, with no lock
/// held: reclaim in the group, then its OOM killer (as Linux's
/// `try_charge_memcg` does for a write), then `op` again.
fn swapping_in<T>(mut op: impl FnMut() -> Result<Result<T, ObjError>, Errno>) -> Result<T, Errno> {
    let mut memcg_retry = mm::memcg::ChargeRetry::default();
    loop {
        match op()? {
            Err(ObjError::SwapIn(e)) => crate::proc::reclaim::swap_in(e)?,
            Err(ObjError::NoMemory) => match crate::proc::cgroup::take_refused() {
                Some(over) => match crate::proc::cgroup::charge_refused(&over, &mut memcg_retry) {
                    mm::memcg::ChargeNext::Retry => {}
                    mm::memcg::ChargeNext::Fail => return Err(ENOMEM),
                },
                None => return Err(ENOMEM),
            },
            r => return r.map_err(errno),
        }
    }
}

impl TmpInode {
    pub(super) fn file_read(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let data = match &self.body {
            Body::File { data, .. } => data,
            Body::Dir(_) => return Err(EISDIR),
            Body::Link(_) => return Err(EINVAL),
        };
        crate::proc::reclaim::read_object_at(data, off, buf)
    }

    pub(super) fn file_write(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let Body::File { .. } = &self.body else { return Err(EINVAL) };
        if off.checked_add(buf.len() as u64).is_none_or(|e| e > MAX_FILE_SIZE) {
            return Err(EFBIG);
        }
        // A write stops short at a page on swap: go on after it is read.
        let mut done = 0;
        while done < buf.len() {
            match swapping_in(|| self.write_some(off + done as u64, &buf[done..])) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        if done > 0 {
            self.touch_mtime();
        }
        Ok(done)
    }

    /// One step of [`Self::file_write`], under the file's `io` lock.
    fn write_some(&self, off: u64, buf: &[u8]) -> Result<Result<usize, ObjError>, Errno> {
        let Body::File { data, io } = &self.body else { return Err(EINVAL) };
        if buf.is_empty() {
            return Ok(Ok(0));
        }
        let _io = io.lock();
        let seals = data.seals();
        if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(EPERM);
        }
        let mut buf = buf;
        let size = data.size();
        if seals & F_SEAL_GROW != 0 && off + buf.len() as u64 > size {
            // shmem_write_begin refuses the first page-sized step of the
            // write that ends past the size: what comes before it is
            // written (a short write), else EPERM.
            let allowed = (size & !4095).saturating_sub(off).min(buf.len() as u64);
            if allowed == 0 {
                return Err(EPERM);
            }
            buf = &buf[..allowed as usize];
        }
        Ok(data.write_at(off, buf))
    }

    /// Mode 0 and FALLOC_FL_KEEP_SIZE allocate (growing the size unless
    /// KEEP_SIZE); PUNCH_HOLE|KEEP_SIZE frees; anything else EOPNOTSUPP.
    pub(super) fn file_fallocate(&self, mode: u32, off: u64, len: u64) -> Result<(), Errno> {
        let Body::File { data, io } = &self.body else { return Err(ENODEV) };
        let end = off.checked_add(len).filter(|e| *e <= MAX_FILE_SIZE).ok_or(EFBIG)?;
        swapping_in(|| {
            let _io = io.lock();
            let seals = data.seals();
            Ok(match mode {
                m if m == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                    && seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 =>
                {
                    return Err(EPERM);
                }
                0 | FALLOC_FL_KEEP_SIZE if seals & F_SEAL_GROW != 0 && end > data.size() => return Err(EPERM),
                0 | FALLOC_FL_KEEP_SIZE => data.allocate(off, len).and_then(|()| {
                    // Growing: no page to zero, never on swap.
                    if mode == 0 && end > data.size() { data.set_size(end) } else { Ok(()) }
                }),
                m if m == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE => data.punch_hole(off, len),
                _ => return Err(EOPNOTSUPP),
            })
        })?;
        self.touch_mtime();
        Ok(())
    }

    /// truncate(2) and ftruncate(2) of a file, under its `io` lock (the
    /// seals checked by `check`).
    pub(super) fn file_truncate(&self, size: u64, check: impl Fn() -> Result<(), Errno>) -> Result<(), Errno> {
        let Body::File { data, io } = &self.body else { return Err(EISDIR) };
        let changed = swapping_in(|| {
            let _io = io.lock();
            check()?;
            Ok(if size != data.size() { data.set_size(size).map(|()| true) } else { Ok(false) })
        })?;
        if changed {
            self.touch_mtime();
        }
        Ok(())
    }

    pub(super) fn file_seek(&self, data_wanted: bool, off: u64) -> Result<u64, Errno> {
        let Body::File { data, .. } = &self.body else { return Err(EINVAL) };
        let r = if data_wanted { data.seek_data(off) } else { data.seek_hole(off) };
        r.ok_or(ENXIO)
    }
}

impl TmpInode {
    /// F_ADD_SEALS (`memfd_add_seals`; the caller checked that the file is
    /// open for writing): EINVAL for unknown seals, EPERM once F_SEAL_SEAL
    /// is set, EBUSY for F_SEAL_WRITE while a shared mapping may write.
    pub(super) fn file_add_seals(&self, seals: u32) -> Result<(), Errno> {
        if seals & !F_ALL_SEALS != 0 {
            return Err(EINVAL);
        }
        let Body::File { data, io } = &self.body else { return Err(EINVAL) };
        let _io = io.lock();
        let cur = data.seals();
        if cur & F_SEAL_SEAL != 0 {
            return Err(EPERM);
        }
        let mut seals = seals;
        if seals & F_SEAL_WRITE != 0 && cur & F_SEAL_WRITE == 0 {
            // Linux's mapping_deny_writable. The seal is published before
            // the mappings are counted (each count takes its address
            // space's lock, under which mmap checks the seal), so a
            // mapping made meanwhile is either counted or refused.
            data.add_seals(F_SEAL_WRITE);
            if data.mapping_counts().writable_shared > 0 {
                data.remove_seals(F_SEAL_WRITE);
                return Err(EBUSY);
            }
        }
        // F_SEAL_EXEC on an executable file implies every write seal (W^X).
        if seals & F_SEAL_EXEC != 0 && self.meta.lock().mode & 0o111 != 0 {
            seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
        }
        data.add_seals(seals);
        Ok(())
    }

    /// The seals a truncate to `size` or a chmod to `mode` must respect.
    pub(super) fn check_attr_seals(&self, size: Option<u64>, mode: Option<u32>) -> Result<(), Errno> {
        let Body::File { data, .. } = &self.body else { return Ok(()) };
        let seals = data.seals();
        if let Some(size) = size {
            let old = data.size();
            if (size < old && seals & F_SEAL_SHRINK != 0) || (size > old && seals & F_SEAL_GROW != 0) {
                return Err(EPERM);
            }
        }
        if let Some(mode) = mode {
            if seals & F_SEAL_EXEC != 0 && (self.meta.lock().mode ^ mode) & 0o111 != 0 {
                return Err(EPERM);
            }
        }
        Ok(())
    }
}
