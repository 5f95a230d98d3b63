//! The emulated MMU's page walk: what an x86_64 processor does on a TLB
//! miss, over the real 4-level tables in simulated RAM (Intel SDM Vol. 3A
//! 4.5 for the walk, 4.6 for access rights, 4.7 for the page-fault error
//! code, 4.8 for the accessed and dirty flags).
//!
//! ```text
//!   CR3 -> PML4 -> PDPT [-> PD [-> PT]]      a PS entry ends the walk early
//!   not present at any level                 #PF, P=0
//!   rights: R/W and U/S ANDed over the levels, XD ORed (when EFER.NXE)
//!   user mode:       needs U; a write needs W; a fetch needs no XD
//!   supervisor mode: a user page is data only with AC set (SMAP) and never
//!                    code (SMEP); a write needs W (CR0.WP); a fetch needs no XD
//!   denied                                   #PF, P=1
//!   allowed: A set in every entry walked, D in the leaf on a write
//! ```
//!
//! The accessed flags are written only by a walk that succeeds (the SDM
//! lets a processor set them earlier; setting them later keeps tests exact).
//! The paging-structure caches are not modelled: every miss walks from CR3.

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::PhysAddr;
use crate::phys::PhysMem;
use crate::vm::fault::FaultKind;
use crate::vm::page_table::MapSize;

/// What an access does with the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Instruction fetch.
    Fetch,
}

/// The privilege an access is made at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// CPL 3.
    User,
    /// CPL 0; `ac` is RFLAGS.AC (set by `stac` in the kernel's copy
    /// helpers), which lifts SMAP for data accesses.
    Supervisor { ac: bool },
}

/// The control bits that change the checks: CR0.WP, CR4.SMEP, CR4.SMAP,
/// EFER.NXE. The default is the kernel's set-up on a CPU that has them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Controls {
    pub wp: bool,
    pub smep: bool,
    pub smap: bool,
    pub nxe: bool,
}

impl Default for Controls {
    fn default() -> Controls {
        Controls { wp: true, smep: true, smap: true, nxe: true }
    }
}

/// The rights of a translation, combined over every level walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights {
    pub write: bool,
    pub user: bool,
    pub exec: bool,
}

impl Rights {
    /// Whether these rights allow `access` at `privilege` (SDM 4.6).
    pub fn allow(self, access: Access, privilege: Privilege, controls: Controls) -> bool {
        match privilege {
            Privilege::User => {
                self.user
                    && match access {
                        Access::Read => true,
                        Access::Write => self.write,
                        Access::Fetch => self.exec,
                    }
            }
            Privilege::Supervisor { ac } => match access {
                Access::Read => !(self.user && controls.smap && !ac),
                Access::Write => !(self.user && controls.smap && !ac) && (self.write || !controls.wp),
                Access::Fetch => !(self.user && controls.smep) && self.exec,
            },
        }
    }
}

/// A page fault as the processor reports it: CR2 and the error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    pub addr: u64,
    pub code: u64,
}

impl PageFault {
    /// The fault was a protection violation (the page was present).
    pub const P: u64 = 1 << 0;
    /// The access was a write.
    pub const W: u64 = 1 << 1;
    /// The access was made in user mode.
    pub const U: u64 = 1 << 2;
    /// A reserved bit was set in an entry (XD without EFER.NXE).
    pub const RSVD: u64 = 1 << 3;
    /// The access was an instruction fetch (reported with NXE or SMEP).
    pub const I: u64 = 1 << 4;

    /// The error code for `access` at `privilege`, with `flags` (P, RSVD)
    /// from the walk.
    pub fn new(addr: u64, access: Access, privilege: Privilege, controls: Controls, flags: u64) -> PageFault {
        let mut code = flags;
        if access == Access::Write {
            code |= Self::W;
        }
        if privilege == Privilege::User {
            code |= Self::U;
        }
        if access == Access::Fetch && (controls.nxe || controls.smep) {
            code |= Self::I;
        }
        PageFault { addr, code }
    }

    /// What the kernel's trap hands to `AddressSpace::handle_fault`.
    pub fn kind(self) -> FaultKind {
        FaultKind::from_error_code(self.code)
    }
}

/// A translation the walk found: the leaf's page (base addresses and size),
/// its combined rights, and the leaf's dirty and global flags after the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walked {
    pub va: u64,
    pub phys: u64,
    pub size: MapSize,
    pub rights: Rights,
    pub dirty: bool,
    pub global: bool,
}

impl Walked {
    /// The physical address of `va` inside this page.
    pub fn phys_of(&self, va: u64) -> u64 {
        self.phys + (va & (self.size.bytes() - 1))
    }
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

fn size_of_level(level: u32) -> MapSize {
    match level {
        3 => MapSize::Size1G,
        2 => MapSize::Size2M,
        _ => MapSize::Size4K,
    }
}

/// Walk the tables at `root` for an `access` to `va`: the translation with
/// the accessed (and, for a write, dirty) flags set in RAM, or the fault.
/// Panics on a non-canonical address (the processor raises #GP, not #PF).
pub fn walk(
    phys: &dyn PhysMem,
    root: PhysAddr,
    va: u64,
    access: Access,
    privilege: Privilege,
    controls: Controls,
) -> Result<Walked, PageFault> {
    let top = va >> 47;
    assert!(top == 0 || top == 0x1ffff, "mmu: #GP: {va:#x} is not canonical");
    let fault = |flags| PageFault::new(va, access, privilege, controls, flags);
    let mut entries = [None, None, None, None];
    let mut rights = Rights { write: true, user: true, exec: true };
    let mut table = root;
    let mut level = 4;
    let leaf = loop {
        let t = phys.table(table).expect("mmu: a page table outside simulated RAM");
        let e = &mut t[index(va, level)];
        let flags = e.flags();
        if !flags.contains(F::PRESENT) {
            return Err(fault(0));
        }
        if flags.contains(F::NO_EXECUTE) && !controls.nxe {
            return Err(fault(PageFault::P | PageFault::RSVD));
        }
        rights.write &= flags.contains(F::WRITABLE);
        rights.user &= flags.contains(F::USER_ACCESSIBLE);
        rights.exec &= !flags.contains(F::NO_EXECUTE);
        let is_leaf = level == 1 || (level < 4 && flags.contains(F::HUGE_PAGE));
        let next = e.addr();
        entries[4 - level as usize] = Some(e);
        if is_leaf {
            break level;
        }
        table = next;
        level -= 1;
    };
    if !rights.allow(access, privilege, controls) {
        return Err(fault(PageFault::P));
    }
    let size = size_of_level(leaf);
    let mut walked = Walked { va: va & !(size.bytes() - 1), phys: 0, size, rights, dirty: false, global: false };
    for (i, e) in entries.into_iter().flatten().enumerate() {
        let mut flags = e.flags() | F::ACCESSED;
        if i == (4 - leaf) as usize {
            if access == Access::Write {
                flags |= F::DIRTY;
            }
            walked.phys = e.addr().as_u64() & !(size.bytes() - 1);
            walked.dirty = flags.contains(F::DIRTY);
            walked.global = flags.contains(F::GLOBAL);
        }
        if flags != e.flags() {
            e.set_flags(flags);
        }
    }
    Ok(walked)
}
