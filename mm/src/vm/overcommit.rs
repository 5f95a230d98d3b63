//! Overcommit accounting: may a mapping reserve `pages` of memory?
//! (cf. mm/util.c `__vm_enough_memory`, Documentation/mm/overcommit-accounting.rst)
//!
//! Private writable mappings (and the heap, and shared anonymous memory)
//! are *committed*: they may need that much memory later. The sum is
//! Committed_AS. The policy, `/proc/sys/vm/overcommit_memory`:
//!
//! ```text
//!   0  heuristic: refuse only a single request larger than RAM + swap
//!   1  always:    never refuse
//!   2  never:     refuse when Committed_AS would exceed CommitLimit =
//!                 RAM * overcommit_ratio / 100 + swap (or overcommit_kbytes)
//! ```
//!
//! MAP_NORESERVE mappings are not committed, except in mode 2.

use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::phys::page_alloc::PageAllocator;

pub const OVERCOMMIT_GUESS: u32 = 0;
pub const OVERCOMMIT_ALWAYS: u32 = 1;
pub const OVERCOMMIT_NEVER: u32 = 2;

/// Why the overcommit policy said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OvercommitError {
    /// The charge would break the policy.
    Refused,
    /// A policy other than 0, 1 or 2.
    UnknownMode,
}

/// The system-wide commit state.
pub struct Overcommit {
    mode: AtomicU32,
    ratio: AtomicU64,
    kbytes: AtomicU64,
    committed: AtomicI64,
    /// Swap pages on: part of CommitLimit and of the heuristic's bound.
    swap_pages: AtomicU64,
}

impl Default for Overcommit {
    fn default() -> Self {
        Self::new()
    }
}

impl Overcommit {
    pub const fn new() -> Self {
        Overcommit {
            mode: AtomicU32::new(OVERCOMMIT_GUESS),
            ratio: AtomicU64::new(50),
            kbytes: AtomicU64::new(0),
            committed: AtomicI64::new(0),
            swap_pages: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> u32 {
        self.mode.load(Ordering::Relaxed)
    }

    /// Set the policy; values other than 0, 1, 2 are refused.
    pub fn set_mode(&self, mode: u32) -> Result<(), OvercommitError> {
        if mode > 2 {
            return Err(OvercommitError::UnknownMode);
        }
        self.mode.store(mode, Ordering::Relaxed);
        Ok(())
    }

    pub fn ratio(&self) -> u64 {
        self.ratio.load(Ordering::Relaxed)
    }

    pub fn set_ratio(&self, r: u64) {
        self.ratio.store(r, Ordering::Relaxed);
    }

    pub fn set_kbytes(&self, k: u64) {
        self.kbytes.store(k, Ordering::Relaxed);
    }

    /// Pages committed (Committed_AS).
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed).max(0) as u64
    }

    /// Swap pages on (swapon and swapoff set it).
    pub fn set_swap_pages(&self, pages: u64) {
        self.swap_pages.store(pages, Ordering::Relaxed);
    }

    fn swap_pages(&self) -> u64 {
        self.swap_pages.load(Ordering::Relaxed)
    }

    /// CommitLimit in pages: the RAM share plus all of swap.
    pub fn commit_limit(&self, pa: &PageAllocator) -> u64 {
        let kb = self.kbytes.load(Ordering::Relaxed);
        let ram = if kb != 0 { kb / 4 } else { pa.nr_managed_pages() * self.ratio() / 100 };
        ram + self.swap_pages()
    }

    /// `__vm_enough_memory` for a request outside any address space.
    pub fn account(&self, pa: &PageAllocator, pages: u64, privileged: bool) -> Result<(), OvercommitError> {
        self.account_for(pa, pages, privileged, 0)
    }

    /// `__vm_enough_memory`: commit `pages` or say no. `privileged` is
    /// CAP_SYS_ADMIN (root), which may use the admin reserve in mode 2;
    /// `total_vm` (pages) sizes the user reserve kept back for the process.
    pub fn account_for(
        &self,
        pa: &PageAllocator,
        pages: u64,
        privileged: bool,
        total_vm: u64,
    ) -> Result<(), OvercommitError> {
        let after = self.committed.fetch_add(pages as i64, Ordering::Relaxed) + pages as i64;
        let ok = match self.mode() {
            OVERCOMMIT_ALWAYS => true,
            OVERCOMMIT_GUESS => pages <= pa.nr_managed_pages() + self.swap_pages(),
            _ => {
                // admin_reserve_kbytes: min(3% of free memory, 8 MiB);
                // user_reserve_kbytes: min(total_vm / 32, 128 MiB).
                let admin_reserve = if privileged { 0 } else { (pa.nr_free_pages() * 3 / 100).min(2048) };
                let user_reserve = (total_vm / 32).min(32768);
                (after as u64) < self.commit_limit(pa).saturating_sub(admin_reserve + user_reserve)
            }
        };
        if !ok {
            self.committed.fetch_sub(pages as i64, Ordering::Relaxed);
            return Err(OvercommitError::Refused);
        }
        Ok(())
    }

    /// Take back a commitment that was released and immediately reused
    /// (MAP_FIXED over accounted memory): no policy check.
    pub fn recharge(&self, pages: u64) {
        self.committed.fetch_add(pages as i64, Ordering::Relaxed);
    }

    /// Give back a commitment.
    pub fn unaccount(&self, pages: u64) {
        self.committed.fetch_sub(pages as i64, Ordering::Relaxed);
    }
}
