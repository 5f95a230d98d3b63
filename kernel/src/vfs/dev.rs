//! /dev: the console, /dev/null, /dev/zero and the disks (blockdev.rs).

use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::sync::Arc;

use abi::errno::Errno;
use abi::stat::{S_IFCHR, Stat};

use super::{Inode, MemDir};

/// `/dev/null`: reads end at once, writes vanish.
pub struct Null;

impl Inode for Null {
    fn stat(&self) -> Stat {
        Stat {
            st_ino: 3,
            st_nlink: 1,
            st_mode: S_IFCHR | 0o666,
            st_rdev: (1 << 8) | 3,
            st_blksize: 4096,
            st_dev: 5,
            ..Stat::default()
        }
    }
    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }
    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }
    fn discards_writes(&self) -> bool {
        true
    }
    fn writable(&self) -> bool {
        true
    }
    fn seekable(&self) -> bool {
        true
    }
}

/// `/dev/zero`: endless zeros.
pub struct Zero;

impl Inode for Zero {
    fn stat(&self) -> Stat {
        Stat {
            st_ino: 5,
            st_nlink: 1,
            st_mode: S_IFCHR | 0o666,
            st_rdev: (1 << 8) | 5,
            st_blksize: 4096,
            st_dev: 5,
            ..Stat::default()
        }
    }
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        buf.fill(0);
        Ok(buf.len())
    }
    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }
    fn discards_writes(&self) -> bool {
        true
    }
    fn writable(&self) -> bool {
        true
    }
}

/// /dev, with the tmpfs mounted at /dev/shm.
pub fn dev_dir(shm: Arc<dyn Inode>) -> Arc<dyn Inode> {
    let mut entries: BTreeMap<_, Arc<dyn Inode>> = BTreeMap::new();
    entries.insert("console".to_string(), super::console::inode());
    entries.insert("tty".to_string(), super::console::inode());
    entries.insert("null".to_string(), Arc::new(Null));
    entries.insert("zero".to_string(), Arc::new(Zero));
    entries.insert("shm".to_string(), shm);
    entries.extend(super::blockdev::entries());
    Arc::new(MemDir { ino: 2, entries })
}
