//! tmpfs regular files: their bytes are a shmem MemObject (mm's
//! file_io.rs), so read(2), write(2) and every mapping share its pages.
//! Size changes (write, fallocate; truncate in mod.rs) hold the file's
//! `io` lock.

use abi::errno::*;
use abi::fcntl::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mm::vm::file::ObjError;

use super::{Body, TmpInode};

/// Largest file offset (Linux's MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

fn errno(e: ObjError) -> Errno {
    match e {
        ObjError::NoSpace => ENOSPC,
        ObjError::NoMemory => ENOMEM,
        ObjError::BeyondEof => EFBIG,
    }
}

impl TmpInode {
    pub(super) fn file_read(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match &self.body {
            Body::File { data, .. } => Ok(data.read_at(off, buf)),
            Body::Dir(_) => Err(EISDIR),
            Body::Link(_) => Err(EINVAL),
        }
    }

    pub(super) fn file_write(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let Body::File { data, io } = &self.body else { return Err(EINVAL) };
        if off.checked_add(buf.len() as u64).is_none_or(|e| e > MAX_FILE_SIZE) {
            return Err(EFBIG);
        }
        let _io = io.lock();
        let n = data.write_at(off, buf).map_err(errno)?;
        self.touch_mtime();
        Ok(n)
    }

    /// Mode 0 and FALLOC_FL_KEEP_SIZE allocate (growing the size unless
    /// KEEP_SIZE); PUNCH_HOLE|KEEP_SIZE frees; anything else EOPNOTSUPP.
    pub(super) fn file_fallocate(&self, mode: u32, off: u64, len: u64) -> Result<(), Errno> {
        let Body::File { data, io } = &self.body else { return Err(ENODEV) };
        let end = off.checked_add(len).filter(|e| *e <= MAX_FILE_SIZE).ok_or(EFBIG)?;
        let _io = io.lock();
        match mode {
            0 | FALLOC_FL_KEEP_SIZE => {
                data.allocate(off, len).map_err(errno)?;
                if mode == 0 && end > data.size() {
                    data.set_size(end);
                }
            }
            m if m == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE => data.punch_hole(off, len),
            _ => return Err(EOPNOTSUPP),
        }
        self.touch_mtime();
        Ok(())
    }

    pub(super) fn file_seek(&self, data_wanted: bool, off: u64) -> Result<u64, Errno> {
        let Body::File { data, .. } = &self.body else { return Err(EINVAL) };
        let r = if data_wanted { data.seek_data(off) } else { data.seek_hole(off) };
        r.ok_or(ENXIO)
    }
}
