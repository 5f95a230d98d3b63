//! swapon(2) and swapoff(2) (mm/swapfile.c): the checks in Linux's order,
//! then the block layer's swap areas (block/swap.rs).
//!
//! swapon: unknown flags EINVAL, not root EPERM, the path (ENOENT,
//! ENOTDIR, ...; a directory EISDIR, as opening it for writing is), then
//! what it names: a disk (a block special file), as
//! swap already EBUSY; a regular file is EINVAL (every file here is in
//! memory: tmpfs and the initrd have no blocks to swap to, as Linux says
//! for tmpfs), anything else EINVAL; a disk without a valid swap header
//! EINVAL. swapoff: not root EPERM, the path, then EINVAL unless it is an
//! active swap area.

use alloc::sync::Arc;

use abi::errno::{EINVAL, EISDIR, EPERM};

use super::SysResult;
use super::fs::{base_dir, path_arg};
use crate::block::BlockDevice;
use crate::block::swap::{self, SWAP_FLAGS_VALID};
use crate::vfs::blockdev::device_of;
use crate::vfs::namei::{creds, resolve};

fn disk_at(path_ptr: u64) -> Result<(alloc::string::String, Arc<dyn BlockDevice>), abi::errno::Errno> {
    let path = path_arg(path_ptr)?;
    let base = base_dir(abi::fcntl::AT_FDCWD, &path)?;
    let at = resolve(&path, &base, true)?;
    // Linux opens the path for reading and writing first.
    if at.inode.is_dir() {
        return Err(EISDIR);
    }
    let dev = device_of(at.inode.as_ref()).ok_or(EINVAL)?;
    Ok((path, dev))
}

pub fn swapon(path_ptr: u64, flags: u32) -> SysResult {
    if flags & !SWAP_FLAGS_VALID != 0 {
        return Err(EINVAL);
    }
    if !creds().is_root() {
        return Err(EPERM);
    }
    let (path, dev) = disk_at(path_ptr)?;
    swap::swapon(&path, dev, flags)?;
    Ok(0)
}

pub fn swapoff(path_ptr: u64) -> SysResult {
    if !creds().is_root() {
        return Err(EPERM);
    }
    let (_, dev) = disk_at(path_ptr)?;
    swap::swapoff(&dev)?;
    Ok(0)
}
