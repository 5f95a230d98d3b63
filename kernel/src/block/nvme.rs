//! NVMe: QEMU's `-device nvme` and the SSDs of real machines, namespace 1
//! of each controller as /dev/nvme0n1, /dev/nvme1n1, ... (cf.
//! drivers/nvme/host/pci.c; NVM Express Base Specification 1.4, sections
//! 3.1 registers, 4 queues, 5 admin commands, 7.6 initialisation).
//!
//! ```text
//!   BAR0: CAP (queue entries, doorbell stride, timeout), CC (enable,
//!         entry sizes), CSTS (ready), AQA/ASQ/ACQ (admin queues),
//!         doorbells from 0x1000: SQ y tail, CQ y head, (4 << DSTRD) apart
//!
//!   disable; admin queues; enable, wait ready;
//!   identify namespace 1 (size, LBA format) -- admin commands polled;
//!   create I/O completion queue 1 (interrupt: MSI-X entry 0),
//!   create I/O submission queue 1 -> requests:
//!     64-byte command: opcode, tag (command id), nsid, PRP1, PRP2,
//!                      starting LBA, number of LBAs - 1
//!     16-byte completion: tag, phase bit (flips each pass over the ring),
//!                      status
//! ```
//!
//! Data is described by PRPs: PRP1 the first page (any offset), PRP2 the
//! second page or, beyond two, a list of page addresses; each tag has its
//! own list page.
//!
//! Locks: a controller's `io` (an IrqLock: the interrupt handler takes it)
//! is taken alone; `CONTROLLERS` only to find them in the handler.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use abi::errno::{EINVAL, Errno};
use mm::addr::PAGE_SIZE;
use mm::sync::IrqLock;

use super::dma::DmaPages;
use super::tags::{self, Tags};
use super::{Bio, BlockDevice, Op, SECTOR};
use crate::platform::pci::{self, Bar, Msix, mmio_read32, mmio_write32, mmio_write64};
use crate::proc::waitqueue::WaitQueue;

/// blkext: Linux's major for NVMe namespaces.
pub const MAJOR: u32 = 259;

const REG_CAP: u64 = 0x00;
const REG_CC: u64 = 0x14;
const REG_CSTS: u64 = 0x1c;
const REG_AQA: u64 = 0x24;
const REG_ASQ: u64 = 0x28;
const REG_ACQ: u64 = 0x30;
const DOORBELLS: u64 = 0x1000;

const CC_EN: u32 = 1;
/// 64-byte submission entries, 16-byte completion entries.
const CC_ENTRY_SIZES: u32 = 6 << 16 | 4 << 20;
const CSTS_RDY: u32 = 1;
const CSTS_CFS: u32 = 2;

const ADMIN_CREATE_SQ: u8 = 0x01;
const ADMIN_CREATE_CQ: u8 = 0x05;
const ADMIN_IDENTIFY: u8 = 0x06;
const IO_FLUSH: u8 = 0x00;
const IO_WRITE: u8 = 0x01;
const IO_READ: u8 = 0x02;

/// Entries in each queue (at most what CAP.MQES allows).
const QUEUE_ENTRIES: u16 = 32;

/// One submission/completion queue pair.
struct QueuePair {
    sq: DmaPages,
    cq: DmaPages,
    id: u16,
    entries: u16,
    sq_tail: u16,
    cq_head: u16,
    /// The phase bit a new completion carries.
    phase: u16,
}

impl QueuePair {
    fn new(id: u16, entries: u16) -> Option<QueuePair> {
        Some(QueuePair { sq: DmaPages::new(0)?, cq: DmaPages::new(0)?, id, entries, sq_tail: 0, cq_head: 0, phase: 1 })
    }

    /// Copy a command into the next slot and ring the tail doorbell.
    fn submit(&mut self, regs: &Regs, cmd: &[u32; 16]) {
        let at = self.sq_tail as u64 * 64;
        for (i, w) in cmd.iter().enumerate() {
            self.sq.at32(at + 4 * i as u64).store(*w, Ordering::Relaxed);
        }
        self.sq_tail = (self.sq_tail + 1) % self.entries;
        core::sync::atomic::fence(Ordering::SeqCst);
        mmio_write32(regs.doorbell(2 * self.id), self.sq_tail as u32);
    }

    /// The next completion, if the device posted one: (tag, status).
    fn pop(&mut self, regs: &Regs) -> Option<(u16, u16)> {
        let at = self.cq_head as u64 * 16;
        let dw3 = self.cq.at32(at + 12).load(Ordering::Acquire);
        if (dw3 >> 16) as u16 & 1 != self.phase {
            return None;
        }
        self.cq_head += 1;
        if self.cq_head == self.entries {
            self.cq_head = 0;
            self.phase ^= 1;
        }
        mmio_write32(regs.doorbell(2 * self.id + 1), self.cq_head as u32);
        Some((dw3 as u16, (dw3 >> 17) as u16))
    }
}

/// The controller's registers, mapped.
struct Regs {
    base: u64,
    stride: u64,
}

impl Regs {
    fn doorbell(&self, n: u16) -> u64 {
        self.base + DOORBELLS + n as u64 * self.stride
    }

    fn read64(&self, off: u64) -> u64 {
        mmio_read32(self.base + off) as u64 | (mmio_read32(self.base + off + 4) as u64) << 32
    }

    /// Wait until CSTS.RDY equals `ready`, up to the controller's timeout.
    fn wait_ready(&self, ready: bool, timeout_ms: u64) -> bool {
        let end = arch::time::uptime_ns() + timeout_ms * 1_000_000;
        loop {
            let csts = mmio_read32(self.base + REG_CSTS);
            if csts & CSTS_CFS != 0 {
                return false;
            }
            if (csts & CSTS_RDY != 0) == ready {
                return true;
            }
            if arch::time::uptime_ns() > end {
                return false;
            }
            core::hint::spin_loop();
        }
    }
}

struct Io {
    qp: QueuePair,
    tags: Tags,
    /// One PRP list page per tag.
    prp_lists: Vec<DmaPages>,
}

pub struct Nvme {
    name: String,
    minor: u32,
    regs: Regs,
    /// Logical block size (bytes, a power of two, at least 512).
    lba_size: u64,
    blocks: u64,
    io: IrqLock<Io>,
    done: WaitQueue,
}

static CONTROLLERS: IrqLock<Vec<Arc<Nvme>>> = IrqLock::new(Vec::new());

/// Find and start every NVMe controller (class 01, subclass 08, NVMe
/// programming interface 02).
pub fn probe() {
    let mut n = 0;
    for d in pci::devices() {
        if d.class != (0x01, 0x08, 0x02) {
            continue;
        }
        let name = format!("nvme{n}n1");
        match start(d, &name, n) {
            Some(c) => {
                CONTROLLERS.lock().push(c.clone());
                super::register(c);
                n += 1;
            }
            None => log::warn!("nvme {:02x}:{:02x}.{}: not started", d.at.bus, d.at.dev, d.at.func),
        }
    }
}

/// Run one admin command and poll for its completion (boot time, before
/// the I/O queues exist). Returns the completion's status (0: success).
fn admin(regs: &Regs, aq: &mut QueuePair, cmd: &[u32; 16]) -> Option<u16> {
    aq.submit(regs, cmd);
    let end = arch::time::uptime_ns() + 5_000_000_000;
    loop {
        if let Some((_, status)) = aq.pop(regs) {
            return Some(status);
        }
        if arch::time::uptime_ns() > end {
            return None;
        }
        core::hint::spin_loop();
    }
}

fn start(d: &pci::Device, name: &str, index: u32) -> Option<Arc<Nvme>> {
    d.enable();
    let Bar::Memory { addr, size } = d.bar(0) else { return None };
    let base = pci::map_mmio(addr, size.min(0x4000), "nvme")?;
    let mut regs = Regs { base, stride: 4 };
    let cap = regs.read64(REG_CAP);
    regs.stride = 4 << ((cap >> 32) & 0xf);
    let timeout_ms = ((cap >> 24) & 0xff).max(1) * 500;
    let entries = QUEUE_ENTRIES.min((cap & 0xffff) as u16 + 1);
    // Disable, give the admin queues, enable.
    mmio_write32(base + REG_CC, 0);
    if !regs.wait_ready(false, timeout_ms) {
        return None;
    }
    let mut aq = QueuePair::new(0, entries)?;
    mmio_write32(base + REG_AQA, ((entries as u32 - 1) << 16) | (entries as u32 - 1));
    mmio_write64(base + REG_ASQ, aq.sq.pa);
    mmio_write64(base + REG_ACQ, aq.cq.pa);
    mmio_write32(base + REG_CC, CC_EN | CC_ENTRY_SIZES);
    if !regs.wait_ready(true, timeout_ms) {
        log::warn!("nvme: {} did not become ready", name);
        return None;
    }
    // Identify namespace 1: size (NSZE) and the LBA format in use.
    let ident = DmaPages::new(0)?;
    let mut cmd = [0u32; 16];
    cmd[0] = ADMIN_IDENTIFY as u32;
    cmd[1] = 1;
    cmd[6] = ident.pa as u32;
    cmd[7] = (ident.pa >> 32) as u32;
    cmd[10] = 0; // CNS 0: the namespace
    if admin(&regs, &mut aq, &cmd)? != 0 {
        return None;
    }
    let blocks = ident.at64(0).load(Ordering::Relaxed);
    let flbas = ident.at32(24).load(Ordering::Relaxed) >> 16 & 0xf;
    let lbads = ident.at32(128 + 4 * flbas as u64).load(Ordering::Relaxed) >> 16 & 0xff;
    if !(9..=12).contains(&lbads) || blocks == 0 {
        log::warn!("nvme: {}: namespace 1 has {} blocks of 2^{} bytes: not used", name, blocks, lbads);
        return None;
    }
    // Interrupts: MSI-X entry 0 for the I/O completion queue.
    let msix = Msix::map(d)?;
    let vector = pci::alloc_vector()?;
    arch::trap::set_handler(vector, on_interrupt);
    msix.route(0, vector);
    let io = QueuePair::new(1, entries)?;
    let mut cmd = [0u32; 16];
    cmd[0] = ADMIN_CREATE_CQ as u32;
    cmd[6] = io.cq.pa as u32;
    cmd[7] = (io.cq.pa >> 32) as u32;
    cmd[10] = ((entries as u32 - 1) << 16) | 1;
    cmd[11] = 0b11; // interrupts enabled, physically contiguous; vector 0
    if admin(&regs, &mut aq, &cmd)? != 0 {
        return None;
    }
    let mut cmd = [0u32; 16];
    cmd[0] = ADMIN_CREATE_SQ as u32;
    cmd[6] = io.sq.pa as u32;
    cmd[7] = (io.sq.pa >> 32) as u32;
    cmd[10] = ((entries as u32 - 1) << 16) | 1;
    cmd[11] = 1 << 16 | 1; // completion queue 1, physically contiguous
    if admin(&regs, &mut aq, &cmd)? != 0 {
        return None;
    }
    // The admin queue stays allocated while the controller runs.
    core::mem::forget(aq);
    let prp_lists = (0..entries).map(|_| DmaPages::new(0)).collect::<Option<Vec<_>>>()?;
    Some(Arc::new(Nvme {
        name: name.into(),
        minor: index,
        regs,
        lba_size: 1 << lbads,
        blocks,
        io: IrqLock::new(Io { qp: io, tags: Tags::new(entries as usize - 1), prp_lists }),
        done: WaitQueue::new(),
    }))
}

fn on_interrupt(_: &mut arch::trap::TrapFrame) {
    arch::apic::eoi();
    let all: Vec<Arc<Nvme>> = CONTROLLERS.lock().clone();
    for c in all {
        c.reap();
    }
}

impl Nvme {
    fn reap(&self) {
        let mut any = false;
        {
            let mut io = self.io.lock();
            while let Some((tag, status)) = io.qp.pop(&self.regs) {
                io.tags.complete(tag, status);
                any = true;
            }
        }
        if any {
            self.done.wake_all();
        }
    }

    /// The pages of `bio`'s segments, as PRP entries need them: every
    /// segment after the first starts on a page, every one before the
    /// last ends on one. Returns the first address and the later pages.
    fn prp_pages(bio: &Bio) -> Result<(u64, Vec<u64>), Errno> {
        let mut first = None;
        let mut rest = Vec::new();
        let last = bio.segs.len().saturating_sub(1);
        for (i, &(pa, len)) in bio.segs.iter().enumerate() {
            let end = pa + len as u64;
            if (i > 0 && pa % PAGE_SIZE != 0) || (i < last && end % PAGE_SIZE != 0) {
                return Err(EINVAL);
            }
            let mut page = pa & !(PAGE_SIZE - 1);
            if first.is_none() {
                first = Some(pa);
                page += PAGE_SIZE;
            }
            while page < end {
                rest.push(page);
                page += PAGE_SIZE;
            }
        }
        Ok((first.unwrap_or(0), rest))
    }

    fn try_push(&self, io: &mut Io, opcode: u8, bio: &Bio, prp1: u64, pages: &[u64]) -> Option<u16> {
        let tag = io.tags.free_tag()?;
        let prp2 = match pages.len() {
            0 => 0,
            1 => pages[0],
            _ => {
                let list = &io.prp_lists[tag as usize];
                for (i, p) in pages.iter().enumerate() {
                    list.at64(8 * i as u64).store(*p, Ordering::Relaxed);
                }
                list.pa
            }
        };
        let lba = bio.sector * SECTOR / self.lba_size;
        let count = bio.bytes() / self.lba_size;
        let mut cmd = [0u32; 16];
        cmd[0] = opcode as u32 | (tag as u32) << 16;
        cmd[1] = 1;
        cmd[6] = prp1 as u32;
        cmd[7] = (prp1 >> 32) as u32;
        cmd[8] = prp2 as u32;
        cmd[9] = (prp2 >> 32) as u32;
        cmd[10] = lba as u32;
        cmd[11] = (lba >> 32) as u32;
        cmd[12] = count.saturating_sub(1) as u32;
        io.tags.start(tag);
        io.qp.submit(&self.regs, &cmd);
        Some(tag)
    }
}

impl BlockDevice for Nvme {
    fn name(&self) -> &str {
        &self.name
    }

    fn devno(&self) -> (u32, u32) {
        (MAJOR, self.minor)
    }

    fn sectors(&self) -> u64 {
        self.blocks * self.lba_size / SECTOR
    }

    fn block_size(&self) -> u64 {
        self.lba_size
    }

    fn read_only(&self) -> bool {
        false
    }

    fn submit(&self, bio: &Bio) -> Result<(), Errno> {
        let opcode = match bio.op {
            Op::Read => IO_READ,
            Op::Write => IO_WRITE,
            Op::Flush => IO_FLUSH,
        };
        let (prp1, pages) = Self::prp_pages(bio)?;
        if bio.op != Op::Flush {
            super::check_range(self, bio)?;
            // Whole logical blocks only, at most one PRP list page.
            if (bio.sector * SECTOR) % self.lba_size != 0 || bio.bytes() % self.lba_size != 0 || pages.len() > 512 {
                return Err(EINVAL);
            }
        }
        let push = |io: &mut Io| self.try_push(io, opcode, bio, prp1, &pages);
        match tags::issue_and_wait(
            &self.name,
            bio,
            &self.io,
            &self.done,
            push,
            |io| &mut io.tags,
            |_, _| {},
            || self.reap(),
        )? {
            0 => Ok(()),
            st => Err(tags::failed(&self.name, bio, st)),
        }
    }
}
