//! brk(2) (cf. mm/mmap.c `SYSCALL_DEFINE1(brk)`, `do_brk_flags`; older
//! kernels' `sys_brk` and `do_brk`).
//!
//! ```text
//!   start_brk                    brk (any byte address)
//!   [ heap VMA ......... |........)   pages come on first touch
//! ```
//!
//! - below `start_brk` (or a failed check): return the current break
//! - RLIMIT_DATA counts the heap plus the data segment
//! - shrinking unmaps the freed pages (a regrown heap reads zeros)
//! - growing checks room below the next mapping (keeping a guard page),
//!   RLIMIT_AS / RLIMIT_DATA and the overcommit policy, then extends the
//!   heap VMA or creates it.

use crate::addr::{PAGE_SHIFT, PAGE_SIZE};
use crate::error::MmError;
use crate::vm::address_space::{AddressSpace, MmEnv, Rlimits};
use crate::vm::vma::{Backing, VmFlags, Vma};

/// `VM_DATA_DEFAULT_FLAGS` plus accounting: the heap's flags.
pub const HEAP_FLAGS: VmFlags = VmFlags::READ
    .union(VmFlags::WRITE)
    .union(VmFlags::MAYREAD)
    .union(VmFlags::MAYWRITE)
    .union(VmFlags::MAYEXEC)
    .union(VmFlags::ACCOUNT);

fn page_up(x: u64) -> u64 {
    x.next_multiple_of(PAGE_SIZE)
}

impl AddressSpace {
    /// brk(2): set the break to `requested`; returns the break in effect.
    pub fn brk(&mut self, env: &MmEnv<'_>, requested: u64, lim: &Rlimits) -> u64 {
        let l = self.layout;
        if requested < l.start_brk || requested > crate::vm::address_space::TASK_SIZE {
            return l.brk;
        }
        // check_data_rlimit: heap + initialised data.
        let data = (requested - l.start_brk) + (l.end_data - l.start_data);
        if lim.data != u64::MAX && data > lim.data {
            return l.brk;
        }
        let (newbrk, oldbrk) = (page_up(requested), page_up(l.brk));
        if newbrk == oldbrk {
            self.layout.brk = requested;
            return requested;
        }
        if requested <= l.brk {
            if self.do_munmap(env, newbrk, oldbrk - newbrk).is_err() {
                return l.brk;
            }
            self.layout.brk = requested;
            return requested;
        }
        // Room up to the next mapping, keeping one guard page.
        if let Some(next) = self.vmas.find(oldbrk) {
            let gap = if next.is_stack() { crate::vm::address_space::STACK_GUARD_GAP } else { 0 };
            if newbrk + PAGE_SIZE > next.start.saturating_sub(gap) {
                return l.brk;
            }
        }
        if self.do_brk(env, oldbrk, newbrk - oldbrk, lim).is_err() {
            return l.brk;
        }
        self.layout.brk = requested;
        requested
    }

    /// `do_brk_flags`: add `[addr, addr+len)` of anonymous heap memory.
    fn do_brk(&mut self, env: &MmEnv<'_>, addr: u64, len: u64, lim: &Rlimits) -> Result<(), MmError> {
        let pages = len >> PAGE_SHIFT;
        let flags = HEAP_FLAGS | self.def_flags;
        if !self.may_expand(flags, pages, lim) {
            return Err(MmError::NoMemory);
        }
        env.commit.account_for(env.pa, pages, lim.admin, self.vm.total_vm)?;
        // Soft-dirty as every new area (`do_brk_flags`).
        let vma = Vma {
            start: addr,
            end: addr + len,
            flags: flags | VmFlags::SOFTDIRTY,
            pgoff: addr >> PAGE_SHIFT,
            backing: Backing::Anon,
            policy: None,
        };
        if let Err(e) = self.attach_vma(env, vma) {
            env.commit.unaccount(pages);
            return Err(e);
        }
        if flags.contains(VmFlags::LOCKED) {
            let _ = self.populate(env, addr, addr + len, lim);
        }
        Ok(())
    }
}
