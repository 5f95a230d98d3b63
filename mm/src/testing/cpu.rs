//! One emulated CPU: the loads, stores and instruction fetches of host
//! tests go through it, so they see what a program on the real machine
//! would see, stale TLB entries included.
//!
//! ```text
//!   access va ──> TLB hit, rights allow ──────────────────────> bytes
//!       │         TLB hit, rights deny ──> #PF (entry dropped)    ▲
//!       │         TLB hit, write, clean ─┐                       │
//!       └──────── TLB miss ──────────────┴─> walk ─ ok ─> cache ─┘
//!                                               └─ #PF
//!   #PF ──> the kernel's trap: AddressSpace::handle_fault ─ Ok ──> retry
//!                                                         └ Err ─> the access fails
//! ```
//!
//! Each access names the address space it runs in; when CR3 holds another
//! one, the CPU switches first (a CR3 load, as the scheduler's would).
//! A cached translation is used until an invalidation reaches this CPU's
//! [`Tlb`] (mm's flushes, through the machine's `Shootdown`) or CR3 is
//! loaded, so a missing or too-narrow flush shows: a load reads the old
//! frame, a store writes it, a protection mm removed still holds. A cached
//! entry that denies an access faults without a walk, as the SDM allows
//! (Vol. 3A 4.10.4.3), and the fault drops it (4.10.4.1): a spurious fault
//! that mm's handler must take. A write through an entry cached clean walks
//! again to set the dirty flag, and faults if the tables no longer allow it.
//!
//! The trap follows the kernel's (`kernel/src/fault.rs`): a user-mode
//! fault goes to the address space's fault handler and the access is
//! retried after a fixed fault; a supervisor-mode fault is handled the same
//! way only inside a copy helper (RFLAGS.AC set by `stac`, at a user
//! address), anything else is an oops and panics. An access whose fault is
//! "fixed" [`RETRY_LIMIT`] times and still faults is a livelock: it panics.

use crate::addr::{PAGE_SIZE, PhysAddr};
use crate::testing::mmu::{Access, Controls, PageFault, Privilege, Walked, walk};
use crate::testing::tlb::{Tlb, TlbStats};
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits, TASK_SIZE};
use crate::vm::fault::{FaultError, SegvCode};

/// Faults one access may have fixed before the CPU calls it a livelock.
pub const RETRY_LIMIT: u32 = 8;

/// A simulated CPU of a machine built by `testing::machine`.
pub struct Cpu {
    pub id: usize,
    env: &'static MmEnv<'static>,
    tlb: &'static Tlb,
    /// The root of the address space loaded in CR3.
    cr3: Option<PhysAddr>,
    /// The privilege of the next accesses (user mode unless a test says).
    pub privilege: Privilege,
    pub controls: Controls,
    /// The limits of the process running here, for its faults (stack growth).
    pub rlimits: Rlimits,
}

impl Cpu {
    /// CPU `id` of the machine whose mm environment is `env`, with `tlb`
    /// (which `env.tlb` must reach).
    pub(super) fn new(id: usize, env: &'static MmEnv<'static>, tlb: &'static Tlb) -> Cpu {
        Cpu {
            id,
            env,
            tlb,
            cr3: None,
            privilege: Privilege::User,
            controls: Controls::default(),
            rlimits: Rlimits::default(),
        }
    }

    pub fn tlb(&self) -> &'static Tlb {
        self.tlb
    }

    pub fn stats(&self) -> TlbStats {
        self.tlb.stats()
    }

    /// Run `mm` here: load CR3 with its root (x86 without PCID: every
    /// non-global translation is dropped, even when the root is the same).
    pub fn switch_to(&mut self, mm: &AddressSpace) {
        self.cr3 = Some(mm.root);
        self.tlb.load_cr3();
    }

    /// Switch to `mm` unless it is the one loaded, as the scheduler would
    /// before the process runs.
    fn enter(&mut self, mm: &AddressSpace) {
        if self.cr3 != Some(mm.root) {
            self.switch_to(mm);
        }
    }

    /// What the MMU does for one access to `va` in the loaded address
    /// space: the cached translation, or a walk (cached when it succeeds),
    /// or the page fault. Nothing handles the fault.
    pub fn translate(&mut self, va: u64, access: Access) -> Result<Walked, PageFault> {
        let root = self.cr3.expect("cpu: no address space loaded in CR3");
        if let Some(w) = self.tlb.lookup(va) {
            if !w.rights.allow(access, self.privilege, self.controls) {
                self.tlb.invalidate_page(va);
                return Err(PageFault::new(va, access, self.privilege, self.controls, PageFault::P));
            }
            if access != Access::Write || w.dirty {
                self.tlb.count_hit();
                return Ok(w);
            }
        }
        self.tlb.count_walk();
        match walk(self.env.pa.phys(), root, va, access, self.privilege, self.controls) {
            Ok(w) => {
                self.tlb.insert(w);
                Ok(w)
            }
            Err(f) => {
                self.tlb.invalidate_page(va);
                Err(f)
            }
        }
    }

    /// The kernel's page-fault trap for `f`, taken while `mm` runs.
    fn trap(&mut self, mm: &mut AddressSpace, f: PageFault) -> Result<(), FaultError> {
        let in_copy_helper = matches!(self.privilege, Privilege::Supervisor { ac: true }) && f.addr < TASK_SIZE;
        if self.privilege != Privilege::User && !in_copy_helper {
            panic!("cpu{}: oops: supervisor page fault at {:#x}, error code {:#x}", self.id, f.addr, f.code);
        }
        if f.code & PageFault::RSVD != 0 {
            // The kernel kills the process (or fails the copy) at once.
            return Err(FaultError::Segv(SegvCode::AccErr));
        }
        // As the kernel: the shared path first, the exclusive one to grow a stack.
        match mm.handle_fault(self.env, f.addr, f.kind()) {
            Err(FaultError::ExpandStack) => mm.handle_fault_mut(self.env, f.addr, f.kind(), &self.rlimits).map(|_| ()),
            r => r.map(|_| ()),
        }
    }

    /// The translation for an `access` to `va` in `mm`, taking faults into
    /// `mm`'s handler until the access goes through or the handler refuses.
    fn resolve(&mut self, mm: &mut AddressSpace, va: u64, access: Access) -> Result<Walked, FaultError> {
        self.enter(mm);
        let mut fixed = 0;
        loop {
            match self.translate(va, access) {
                Ok(w) => return Ok(w),
                Err(f) => {
                    self.trap(mm, f)?;
                    fixed += 1;
                    assert!(
                        fixed < RETRY_LIMIT,
                        "cpu{}: livelock: {access:?} at {va:#x} faults again after {fixed} fixed faults (error code {:#x})",
                        self.id,
                        f.code
                    );
                }
            }
        }
    }

    /// Do `access` to `len` bytes at `va` in `mm`, page by page, giving
    /// `f` each piece: its host pointer, offset in the access and length.
    /// A fault that cannot be fixed ends the access there (the pieces
    /// before it are done, as with a `rep movs`).
    fn each_piece(
        &mut self,
        mm: &mut AddressSpace,
        va: u64,
        len: usize,
        access: Access,
        f: &mut dyn FnMut(*mut u8, usize, usize),
    ) -> Result<(), FaultError> {
        va.checked_add(len as u64).expect("cpu: the access wraps around the address space");
        let mut done = 0;
        while done < len {
            let addr = va + done as u64;
            let n = ((PAGE_SIZE - addr % PAGE_SIZE) as usize).min(len - done);
            let w = self.resolve(mm, addr, access)?;
            let p = self.env.pa.phys().ptr(PhysAddr::new(w.phys_of(addr)), n).expect("cpu: a translation outside RAM");
            f(p, done, n);
            done += n;
        }
        Ok(())
    }

    /// Make `access` to `va` in `mm` without moving bytes: the faults,
    /// the accessed and dirty flags and the TLB entry of a real access.
    pub fn touch(&mut self, mm: &mut AddressSpace, va: u64, access: Access) -> Result<(), FaultError> {
        self.resolve(mm, va, access).map(|_| ())
    }

    /// Read `buf.len()` bytes at `va` in `mm`.
    pub fn load(&mut self, mm: &mut AddressSpace, va: u64, buf: &mut [u8]) -> Result<(), FaultError> {
        self.each_piece(mm, va, buf.len(), Access::Read, &mut |p, off, n| {
            // SAFETY: `p` is `n` bytes of simulated RAM inside one page the
            // translation maps; `buf[off..off + n]` is ours.
            unsafe { core::ptr::copy_nonoverlapping(p, buf[off..].as_mut_ptr(), n) }
        })
    }

    /// Read the byte at `va` in `mm`.
    pub fn load_u8(&mut self, mm: &mut AddressSpace, va: u64) -> Result<u8, FaultError> {
        let mut b = [0u8];
        self.load(mm, va, &mut b)?;
        Ok(b[0])
    }

    /// Write `bytes` at `va` in `mm`.
    pub fn store(&mut self, mm: &mut AddressSpace, va: u64, bytes: &[u8]) -> Result<(), FaultError> {
        self.each_piece(mm, va, bytes.len(), Access::Write, &mut |p, off, n| {
            // SAFETY: `p` is `n` bytes of simulated RAM inside one page the
            // translation maps for writing.
            unsafe { core::ptr::copy_nonoverlapping(bytes[off..].as_ptr(), p, n) }
        })
    }

    /// Fetch the instruction byte at `va` in `mm`.
    pub fn fetch(&mut self, mm: &mut AddressSpace, va: u64) -> Result<u8, FaultError> {
        let mut b = 0u8;
        self.each_piece(mm, va, 1, Access::Fetch, &mut |p, _, _| {
            // SAFETY: `p` is one byte of simulated RAM the translation maps.
            b = unsafe { p.read() }
        })?;
        Ok(b)
    }
}
