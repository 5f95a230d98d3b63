//! /dev/vda and the other disks as block special files: read, write,
//! pread64, pwrite64 at any byte offset (through block::read_bytes and
//! write_bytes), lseek with SEEK_END at the disk's size, fsync as a flush,
//! and the block ioctls programs ask a disk (cf. block/ioctl.c).

use alloc::sync::Arc;

use abi::errno::{ENOTTY, Errno};
use abi::stat::{S_IFBLK, Stat};

use crate::block::{self, BlockDevice, SECTOR};
use crate::file::Inode;
use crate::usercopy::write_user;

const BLKROGET: u32 = 0x125e;
const BLKGETSIZE: u32 = 0x1260;
const BLKFLSBUF: u32 = 0x1261;
const BLKSSZGET: u32 = 0x1268;
const BLKBSZGET: u32 = 0x8008_1270;
const BLKGETSIZE64: u32 = 0x8008_1272;
const BLKPBSZGET: u32 = 0x127b;

pub struct BlockFile {
    dev: Arc<dyn BlockDevice>,
    ino: u64,
}

/// The /dev entries of the registered disks: (name, inode).
pub fn entries() -> alloc::vec::Vec<(alloc::string::String, Arc<dyn Inode>)> {
    let files = block::devices().into_iter().enumerate().map(|(i, dev)| {
        let f: Arc<dyn Inode> = Arc::new(BlockFile { dev: dev.clone(), ino: 0x1000 + i as u64 });
        (alloc::string::String::from(dev.name()), f)
    });
    files.collect()
}

/// The disk behind a block special file.
pub fn device_of(inode: &dyn Inode) -> Option<Arc<dyn BlockDevice>> {
    inode.as_any()?.downcast_ref::<BlockFile>().map(|f| f.dev.clone())
}

/// Linux's `new_encode_dev`.
fn encode_dev(major: u32, minor: u32) -> u64 {
    ((minor & 0xff) | (major & 0xfff) << 8 | (minor & !0xff) << 12) as u64
}

impl Inode for BlockFile {
    fn stat(&self) -> Stat {
        let (major, minor) = self.dev.devno();
        Stat {
            st_ino: self.ino,
            st_nlink: 1,
            st_mode: S_IFBLK | 0o660,
            st_gid: 6,
            st_rdev: encode_dev(major, minor),
            st_blksize: 4096,
            st_dev: 5,
            ..Stat::default()
        }
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        block::read_bytes(self.dev.as_ref(), off, buf)
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        block::write_bytes(self.dev.as_ref(), off, buf)
    }

    fn writable(&self) -> bool {
        true
    }

    /// Root and group `disk` (6), as udev sets the mode on Linux.
    fn permission(&self, mask: u32) -> Result<(), Errno> {
        super::namei::generic_permission(&self.stat(), mask)
    }

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }

    fn seek_end(&self) -> Option<u64> {
        Some(self.dev.sectors() * SECTOR)
    }

    fn sync(&self) -> Result<(), Errno> {
        block::flush(self.dev.as_ref())
    }

    fn ioctl(&self, cmd: u32, arg: u64) -> Result<u64, Errno> {
        let sectors = self.dev.sectors();
        match cmd {
            BLKGETSIZE64 => write_user(arg, &(sectors * SECTOR))?,
            BLKGETSIZE => write_user(arg, &sectors)?,
            BLKSSZGET | BLKPBSZGET => write_user(arg, &(self.dev.block_size() as u32))?,
            BLKBSZGET => write_user(arg, &4096u32)?,
            BLKROGET => write_user(arg, &(self.dev.read_only() as i32))?,
            BLKFLSBUF => block::flush(self.dev.as_ref())?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}
