//! Block devices: disks that move whole sectors by DMA (cf. block/ in
//! Linux, `struct bio`, `submit_bio_wait`).
//!
//! ```text
//!   /dev/vda read(2) ──> rw_bytes: sectors covering the range, through
//!                        bounce pages (a partial sector is read, changed,
//!                        written back)
//!                   ──> Bio { op, sector, segments of physical memory }
//!                   ──> driver.submit: queue it on the device, sleep
//!   device interrupt ──> driver marks the request done, wakes the sleeper
//! ```
//!
//! Drivers: virtio-blk (`virtio_blk.rs`, modern or legacy transport) and
//! NVMe (`nvme.rs`). A device registers itself at
//! probe time and appears as /dev/NAME (vfs) and in /proc/partitions.
//! A request the device fails, or does not answer within
//! `REQUEST_TIMEOUT_TICKS`, ends with EIO and a log line.
//!
//! Layer: above `proc` (requests sleep on wait queues), below `vfs`.
//! Locks: `DEVICES` (a reader-writer spin lock, never taken in interrupt
//! context); each driver documents its own.

pub mod dma;
pub mod nvme;
pub mod swap;
pub mod tags;
pub mod virtio;
pub mod virtio_blk;
pub mod virtio_legacy;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::{EINVAL, ENOMEM, ENOSPC, EROFS, Errno};
use mm::addr::PAGE_SIZE;

/// Bytes in a sector, the unit of every request.
pub const SECTOR: u64 = 512;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    /// Make earlier writes durable.
    Flush,
}

/// One request (Linux's `struct bio`): `op` on the sectors from `sector`,
/// to or from physically contiguous segments `(address, bytes)`, each a
/// multiple of the sector size.
pub struct Bio {
    pub op: Op,
    pub sector: u64,
    pub segs: Vec<(u64, u32)>,
}

impl Bio {
    pub fn bytes(&self) -> u64 {
        self.segs.iter().map(|s| s.1 as u64).sum()
    }
}

/// A disk.
pub trait BlockDevice: Send + Sync {
    /// The name under /dev ("vda").
    fn name(&self) -> &str;
    /// (major, minor) of the block special file.
    fn devno(&self) -> (u32, u32);
    /// Size in sectors.
    fn sectors(&self) -> u64;
    /// The smallest unit the device reads or writes (its logical block
    /// size: 512, or 4096 on some NVMe namespaces).
    fn block_size(&self) -> u64 {
        SECTOR
    }
    fn read_only(&self) -> bool;
    /// Carry out `bio`, sleeping until the device completes it; EIO if
    /// the device fails it or never answers.
    fn submit(&self, bio: &Bio) -> Result<(), Errno>;
}

/// How long a request may take before it is given up (30 s).
pub const REQUEST_TIMEOUT_TICKS: u64 = 30 * crate::proc::sched::HZ;

static DEVICES: spin::RwLock<Vec<Arc<dyn BlockDevice>>> = spin::RwLock::new(Vec::new());

/// Make a probed disk known (/dev, /proc/partitions).
pub fn register(d: Arc<dyn BlockDevice>) {
    log::info!(
        "block: {} ({} sectors, {} MiB{})",
        d.name(),
        d.sectors(),
        d.sectors() * SECTOR >> 20,
        if d.read_only() { ", read-only" } else { "" }
    );
    DEVICES.write().push(d);
}

/// Every registered disk, in probe order.
pub fn devices() -> Vec<Arc<dyn BlockDevice>> {
    DEVICES.read().clone()
}

/// Find the drivers' devices on the PCI buses (at boot, after the PCI scan).
pub fn probe() {
    virtio_blk::probe();
    nvme::probe();
}

/// /proc/partitions: every disk with its size in KiB blocks.
pub fn render_partitions(s: &mut String) -> core::fmt::Result {
    writeln!(s, "major minor  #blocks  name\n")?;
    for d in devices() {
        let (major, minor) = d.devno();
        writeln!(s, "{:4}  {:7} {:10} {}", major, minor, d.sectors() * SECTOR / 1024, d.name())?;
    }
    Ok(())
}

/// Bounce pages for one chunk of a byte-range transfer.
const CHUNK_ORDER: u32 = 4;
const CHUNK: u64 = PAGE_SIZE << CHUNK_ORDER;

/// One bounce-buffer's worth of a byte-range transfer: the device blocks
/// from byte `first` covering `span` bytes, of which the caller's `n`
/// bytes start `skip` bytes in.
struct Chunk {
    first: u64,
    skip: u64,
    n: u64,
    span: u64,
}

impl Chunk {
    /// The chunk starting at byte `pos`, with `left` bytes still to move,
    /// in blocks of `unit` bytes.
    fn at(pos: u64, left: u64, unit: u64) -> Chunk {
        let skip = pos % unit;
        let n = (CHUNK - skip).min(left);
        Chunk { first: pos - skip, skip, n, span: (skip + n).next_multiple_of(unit) }
    }
}

fn bounce() -> Result<dma::DmaPages, Errno> {
    dma::DmaPages::new(CHUNK_ORDER).ok_or(ENOMEM)
}

fn sectors_io(d: &dyn BlockDevice, op: Op, sector: u64, pa: u64, bytes: u64) -> Result<(), Errno> {
    d.submit(&Bio { op, sector, segs: alloc::vec![(pa, bytes as u32)] })
}

/// Read `buf.len()` bytes at byte offset `off` (short at the end of the
/// disk). Returns the bytes read.
pub fn read_bytes(d: &dyn BlockDevice, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let size = d.sectors() * SECTOR;
    if off >= size || buf.is_empty() {
        return Ok(0);
    }
    let unit = d.block_size();
    let len = (buf.len() as u64).min(size - off);
    let bounce = bounce()?;
    let mut done = 0u64;
    while done < len {
        let Chunk { first, skip, n, span } = Chunk::at(off + done, len - done, unit);
        sectors_io(d, Op::Read, first / SECTOR, bounce.pa, span)?;
        bounce.read(skip, &mut buf[done as usize..(done + n) as usize]);
        done += n;
    }
    Ok(len as usize)
}

/// Write `data` at byte offset `off`: ENOSPC at or past the end of the
/// disk, short writes up to it, EROFS on a read-only disk. A partial
/// block at either end is read first and written back whole.
pub fn write_bytes(d: &dyn BlockDevice, off: u64, data: &[u8]) -> Result<usize, Errno> {
    if d.read_only() {
        return Err(EROFS);
    }
    let size = d.sectors() * SECTOR;
    if data.is_empty() {
        return Ok(0);
    }
    if off >= size {
        return Err(ENOSPC);
    }
    let unit = d.block_size();
    let len = (data.len() as u64).min(size - off);
    let bounce = bounce()?;
    let mut done = 0u64;
    while done < len {
        let Chunk { first, skip, n, span } = Chunk::at(off + done, len - done, unit);
        if skip != 0 {
            sectors_io(d, Op::Read, first / SECTOR, bounce.pa, unit)?;
        }
        if (skip + n) % unit != 0 && (span > unit || skip == 0) {
            let last = span - unit;
            sectors_io(d, Op::Read, (first + last) / SECTOR, bounce.pa + last, unit)?;
        }
        bounce.write(skip, &data[done as usize..(done + n) as usize]);
        sectors_io(d, Op::Write, first / SECTOR, bounce.pa, span)?;
        done += n;
    }
    Ok(len as usize)
}

/// fsync(2) on the device: a flush request.
pub fn flush(d: &dyn BlockDevice) -> Result<(), Errno> {
    d.submit(&Bio { op: Op::Flush, sector: 0, segs: Vec::new() })
}

/// A bio's sectors must lie on the disk.
pub fn check_range(d: &dyn BlockDevice, bio: &Bio) -> Result<(), Errno> {
    let n = bio.bytes();
    if n % SECTOR != 0 || bio.sector.checked_add(n / SECTOR).is_none_or(|end| end > d.sectors()) {
        return Err(EINVAL);
    }
    Ok(())
}
