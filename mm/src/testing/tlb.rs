//! The emulated machine's TLBs and the flusher mm calls to invalidate them.
//!
//! Each simulated CPU has a [`Tlb`]: translations its walks found, kept
//! (with the rights and the dirty flag as walked) until an invalidation
//! reaches that CPU. mm's flushes arrive through [`Shootdown`], the
//! machine's [`TlbFlusher`]: today it applies every invalidation to every
//! CPU at once (what a shootdown IPI to all CPUs does); the per-CPU
//! counters say what each CPU received, so a shootdown that targets only
//! the CPUs using an address space can be tested here later.
//!
//! Entries are kept per page of the size the walk found (a 2 MiB leaf is
//! one entry), so invalidating any address inside a huge page drops it, as
//! `invlpg` does.

extern crate std;

use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::vec::Vec;

use crate::testing::mmu::Walked;
use crate::vm::page_table::MapSize;
use crate::vm::tlb::TlbFlusher;

/// Counters of one CPU's TLB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlbStats {
    /// Accesses served from a cached translation.
    pub hits: u64,
    /// Page walks (misses, and writes to clean entries).
    pub walks: u64,
    /// Single-page invalidations received (`invlpg`).
    pub page_flushes: u64,
    /// Full invalidations received, global entries included.
    pub full_flushes: u64,
    /// CR3 loads (non-global entries dropped).
    pub cr3_loads: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    walks: AtomicU64,
    page_flushes: AtomicU64,
    full_flushes: AtomicU64,
    cr3_loads: AtomicU64,
}

/// One CPU's translation cache, keyed by the first address of each page.
#[derive(Default)]
pub struct Tlb {
    entries: Mutex<BTreeMap<u64, Walked>>,
    counters: Counters,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Tlb {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Walked>> {
        self.entries.lock().expect("tlb: poisoned by a failed test")
    }

    /// The cached translation covering `va`, of any page size.
    pub fn lookup(&self, va: u64) -> Option<Walked> {
        let entries = self.entries();
        [MapSize::Size4K, MapSize::Size2M, MapSize::Size1G]
            .into_iter()
            .find_map(|size| entries.get(&(va & !(size.bytes() - 1))).filter(|w| w.size == size).copied())
    }

    /// Cache a translation a walk found (replacing one for the same page).
    pub fn insert(&self, walked: Walked) {
        self.entries().insert(walked.va, walked);
    }

    /// Drop whatever translation covers `va` (`invlpg`; also what the
    /// processor does for the address of a page fault).
    pub fn invalidate_page(&self, va: u64) {
        let mut entries = self.entries();
        for size in [MapSize::Size4K, MapSize::Size2M, MapSize::Size1G] {
            let base = va & !(size.bytes() - 1);
            if entries.get(&base).is_some_and(|w| w.size == size) {
                entries.remove(&base);
            }
        }
    }

    /// Drop every translation, global ones included (a CR4.PGE toggle).
    pub fn invalidate_all(&self) {
        self.entries().clear();
    }

    /// A CR3 load without PCID: every non-global translation goes.
    pub fn load_cr3(&self) {
        bump(&self.counters.cr3_loads);
        self.entries().retain(|_, w| w.global);
    }

    /// Number of cached translations.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn count_hit(&self) {
        bump(&self.counters.hits);
    }

    pub(super) fn count_walk(&self) {
        bump(&self.counters.walks);
    }

    pub fn stats(&self) -> TlbStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TlbStats {
            hits: get(&c.hits),
            walks: get(&c.walks),
            page_flushes: get(&c.page_flushes),
            full_flushes: get(&c.full_flushes),
            cr3_loads: get(&c.cr3_loads),
        }
    }
}

/// The machine's [`TlbFlusher`]: every invalidation mm asks for reaches
/// the TLB of every CPU, at once.
pub struct Shootdown {
    cpus: Vec<&'static Tlb>,
}

impl Shootdown {
    /// A flusher over these CPUs' TLBs.
    pub fn new(cpus: Vec<&'static Tlb>) -> Shootdown {
        Shootdown { cpus }
    }
}

impl TlbFlusher for Shootdown {
    fn flush_page(&self, va: u64) {
        for tlb in &self.cpus {
            bump(&tlb.counters.page_flushes);
            tlb.invalidate_page(va);
        }
    }

    fn flush_all(&self) {
        for tlb in &self.cpus {
            bump(&tlb.counters.full_flushes);
            tlb.invalidate_all();
        }
    }
}
