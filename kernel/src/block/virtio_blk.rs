//! virtio-blk: QEMU's `-device virtio-blk-pci` disks, as /dev/vda,
//! /dev/vdb, ... (cf. drivers/block/virtio_blk.c; virtio 1.1 section 5.2).
//!
//! ```text
//!   request = header  (type, reserved, sector)      device reads
//!           + data    (the bio's segments)          device reads (write) or writes (read)
//!           + status  (one byte: 0 ok, 1 I/O error, 2 unsupported)   device writes
//! ```
//!
//! One queue per disk, its interrupt by MSI-X entry 0, over the modern
//! transport when the device offers it and the legacy one otherwise
//! (virtio.rs: the queue code is the same). Each request's
//! header and status byte live in a page of slots indexed by the chain's
//! head descriptor, so a slot is free exactly when its descriptor is.
//! A submitter sleeps on `done` until the interrupt handler has marked its
//! tag finished (tags.rs).
//!
//! Locks: a disk's `queue` (an IrqLock: the interrupt handler takes it) is
//! taken alone; `DISKS` (an IrqLock too) only to find the disks in the
//! interrupt handler, and never with a queue's lock held.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::{ENOMEM, Errno};
use mm::sync::IrqLock;

use super::dma::DmaPages;
use super::tags::{self, Tags};
use super::virtio::{DESC_WRITE, Queue, Transport, VENDOR};
use super::{Bio, BlockDevice, Op};
use crate::platform::pci::{self, Msix};
use crate::proc::waitqueue::WaitQueue;

/// virtio-blk's PCI device ids: transitional (or legacy-only) and modern.
const DEVICE_IDS: [u16; 2] = [0x1001, 0x1042];

const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;

const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;

const S_OK: u16 = 0;

/// Where the status bytes start in the slots page.
const STATUS_AT: u64 = 2048;

/// Linux gives virtblk a dynamic major; 254 is what it usually gets.
pub const MAJOR: u32 = 254;

struct State {
    vq: Queue,
    tags: Tags,
}

pub struct VirtioBlk {
    name: String,
    minor: u32,
    sectors: u64,
    read_only: bool,
    flush: bool,
    queue: IrqLock<State>,
    done: WaitQueue,
    /// The slots page: headers at 16 x id, status bytes at 2048 + id.
    slots: DmaPages,
}

static DISKS: IrqLock<Vec<Arc<VirtioBlk>>> = IrqLock::new(Vec::new());

/// Find and start every virtio-blk disk.
pub fn probe() {
    let mut n = 0;
    for d in pci::devices() {
        if d.vendor != VENDOR || !DEVICE_IDS.contains(&d.device) {
            continue;
        }
        let name = format!("vd{}", (b'a' + n as u8) as char);
        match start(d, &name, n) {
            Some(disk) => {
                DISKS.lock().push(disk.clone());
                super::register(disk);
                n += 1;
            }
            None => log::warn!("virtio-blk {:02x}:{:02x}.{}: not started", d.at.bus, d.at.dev, d.at.func),
        }
        if n == 26 {
            break;
        }
    }
}

fn start(d: &pci::Device, name: &str, index: u32) -> Option<Arc<VirtioBlk>> {
    d.enable();
    let t = Transport::new(d)?;
    let features = t.start(F_RO | F_FLUSH)?;
    let msix = Msix::map(d)?;
    let vector = pci::alloc_vector()?;
    arch::trap::set_handler(vector, on_interrupt);
    // MSI-X is on before the queue's vector is set: a legacy device has
    // the vector registers (and moves its configuration) only then.
    msix.route(0, vector);
    let vq = t.setup_queue(0, Some(0))?;
    let sectors = t.config64(0);
    let slots = DmaPages::new(0)?;
    t.ready();
    let size = vq.size as usize;
    log::info!(
        "virtio-blk {}: {} transport, {} descriptors",
        name,
        if t.is_legacy() { "legacy" } else { "modern" },
        size
    );
    Some(Arc::new(VirtioBlk {
        name: name.into(),
        minor: index * 16,
        sectors,
        read_only: features & F_RO != 0,
        flush: features & F_FLUSH != 0,
        queue: IrqLock::new(State { vq, tags: Tags::new(size) }),
        done: WaitQueue::new(),
        slots,
    }))
}

/// MSI-X vector of every disk: collect what the devices finished.
fn on_interrupt(_: &mut arch::trap::TrapFrame) {
    arch::apic::eoi();
    let disks: Vec<Arc<VirtioBlk>> = DISKS.lock().clone();
    for d in disks {
        d.reap();
    }
}

impl VirtioBlk {
    fn status_pa(&self, id: u16) -> u64 {
        self.slots.pa + STATUS_AT + id as u64
    }

    /// Mark the finished requests, wake their submitters.
    fn reap(&self) {
        let mut any = false;
        {
            let mut s = self.queue.lock();
            while let Some((id, _)) = s.vq.pop_used() {
                let mut status = [0u8];
                self.slots.read(STATUS_AT + id as u64, &mut status);
                // The chain stays the request's until its submitter has
                // taken the status (its tag is the chain's head).
                if s.tags.complete(id, status[0] as u16) {
                    s.vq.free_chain(id);
                }
                any = true;
            }
        }
        if any {
            self.done.wake_all();
        }
    }

    /// Queue the request's chain; None while too few descriptors are free.
    fn try_push(&self, s: &mut State, ty: u32, bio: &Bio) -> Option<u16> {
        let need = bio.segs.len() + 2;
        if s.vq.free() < need || need > s.vq.size as usize {
            return None;
        }
        // The head is the next free descriptor: its slot takes the header.
        let mut probe = Vec::with_capacity(need);
        let head = s.vq.peek_head()?;
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&ty.to_le_bytes());
        hdr[8..16].copy_from_slice(&bio.sector.to_le_bytes());
        self.slots.write(16 * head as u64, &hdr);
        self.slots.write(STATUS_AT + head as u64, &[0xff]);
        probe.push((self.slots.pa + 16 * head as u64, 16, 0));
        let data_flag = if ty == T_IN { DESC_WRITE } else { 0 };
        probe.extend(bio.segs.iter().map(|&(pa, len)| (pa, len, data_flag)));
        probe.push((self.status_pa(head), 1, DESC_WRITE));
        let id = s.vq.push(&probe)?;
        debug_assert_eq!(id, head);
        s.tags.start(id);
        Some(id)
    }
}

impl BlockDevice for VirtioBlk {
    fn name(&self) -> &str {
        &self.name
    }

    fn devno(&self) -> (u32, u32) {
        (MAJOR, self.minor)
    }

    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn submit(&self, bio: &Bio) -> Result<(), Errno> {
        let ty = match bio.op {
            Op::Read => T_IN,
            Op::Write => T_OUT,
            Op::Flush if !self.flush => return Ok(()),
            Op::Flush => T_FLUSH,
        };
        if bio.op != Op::Flush {
            super::check_range(self, bio)?;
        }
        if bio.segs.len() + 2 > 128 {
            return Err(ENOMEM);
        }
        let push = |s: &mut State| self.try_push(s, ty, bio);
        let release = |s: &mut State, id: u16| s.vq.free_chain(id);
        match tags::issue_and_wait(
            &self.name,
            bio,
            &self.queue,
            &self.done,
            push,
            |s| &mut s.tags,
            release,
            || self.reap(),
        )? {
            S_OK => Ok(()),
            st => Err(tags::failed(&self.name, bio, st)),
        }
    }
}
