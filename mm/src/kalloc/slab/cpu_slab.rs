//! Per-CPU slabs: the slab allocator's fast path (cf. mm/slub.c,
//! `struct kmem_cache_cpu`, `___slab_alloc`, `do_slab_free`, `__slab_free`,
//! `flush_cpu_slab`).
//!
//! Each CPU owns, per cache, an *active slab* whose free objects sit on the
//! CPU's own freelist, and a few more slabs on a per-CPU partial list:
//!
//! ```text
//!   CPU n   active slab   CPU freelist: obj -> obj -> obj    alloc pops; a free of an
//!           partial:      slab -> slab                       object of the active slab pushes
//!   cache   partial / full / free lists; each slab's own freelist (page.mapping)
//! ```
//!
//! A slab a CPU owns is *frozen* (`FROZEN` in its head's `index`): it is on
//! no cache list and only its owner moves it. A free of an object whose slab
//! is not this CPU's active slab is a *remote free*: under the cache lock the
//! object goes onto its slab's own freelist, and the slab moves between the
//! cache lists only if no CPU owns it. When the CPU freelist runs dry, the
//! owner takes (under the cache lock) its active slab's own freelist, which
//! holds the remote frees, else its next partial slab, else the cache's
//! newest partial slab or an empty one, and only then a new slab from the
//! buddy allocator, with no lock held, which becomes its active slab. A
//! free that opens the first hole in a full slab puts that slab on the
//! freeing CPU's partial list, while it has room.
//!
//! Like the locked path, a CPU never fills an empty slab while a partially
//! used one is ready for it (on its partial list or the cache's): a refill
//! skips empty slabs (giving the ones on its partial list back to the
//! cache's empty slabs), and a free that empties the active slab gives it
//! back when a used slab waits. So slabs pack, long-lived objects do not
//! pin slabs that would otherwise empty, and shrink frees what they leave.
//! The fast-path free reads the cache's partial count (`nr_partial`)
//! without the lock: a stale count only delays or hastens that give-back.
//!
//! Every free object is in exactly one place: for each slab, its count
//! (`index`) + its own freelist = objects per slab. For an active slab the
//! count includes the objects on its CPU freelist, as SLUB's frozen slabs
//! do: taking a slab's freelist onto the CPU adds their number to the count
//! (and to the slot's `nfree`), giving it back subtracts what is left, and
//! in between the fast path touches only the slot (pop or push, `nfree`),
//! never the slab's shared count; objects in use in the active slab are
//! `index - nfree`. Fast-path allocations and frees are counted in the
//! CPU's slot; active objects are all allocations minus all frees, so the
//! objects free on a CPU freelist count as free in /proc/slabinfo.
//!
//! Caches with red zones or poison never come here (as SLUB with debugging
//! on): every operation takes the cache lock and checks the object.
//!
//! Locking: a CPU's slot (`IrqLock<CpuSlab>`) protects its active slab, CPU
//! freelist, partial list and counters. Its own CPU takes it (interrupts
//! off, so the task cannot move while it holds it); another CPU takes it
//! only to flush it or read it (shrink, destroy, stats, checks). A task that
//! moves between reading `this_cpu()` and taking the slot just uses the
//! other CPU's slot under its lock: slower, never wrong. The cache lock
//! (`lists`) protects the cache lists and counters, every slab's own
//! freelist, the `FROZEN` bit and the writes of `nr_partial`. Order: CPU
//! slot -> cache lock, never the reverse; several slots are taken in CPU
//! order. No lock is held while the
//! buddy allocator runs (its reclaim may shrink this very cache). A
//! slab's count (`index`) changes only under the cache lock (a CPU taking
//! or giving back a freelist, remote frees); the fast path reads it without
//! (the empty-slab check) and changes only its own slot (`freelist`,
//! `nfree`, `allocs`, `frees`), under the slot lock, so two CPUs' fast paths
//! share no written cache line.

use alloc::boxed::Box;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use super::{FROZEN, INUSE, KmemCache, SlabError, SlabLists};
use crate::addr::PhysAddr;
use crate::percpu;
use crate::phys::page::{Page, PageList};
use crate::sync::{IrqGuard, IrqLock};

/// Slabs a CPU keeps on its partial list at most (SLUB's
/// `cpu_partial_slabs`).
pub(super) const CPU_PARTIAL_SLABS: u64 = 4;

/// One CPU's share of a cache (`struct kmem_cache_cpu`).
pub(super) struct CpuSlab {
    /// The active slab (frozen), if any.
    pub(super) slab: Option<&'static Page>,
    /// Free objects of `slab` that only this CPU hands out (0 ends it).
    pub(super) freelist: u64,
    /// How many objects `freelist` holds (counted in the slab's `index`).
    pub(super) nfree: u64,
    /// More frozen slabs, used when `slab` is used up.
    pub(super) partial: PageList,
    /// Allocations and frees this CPU made without the cache lock.
    pub(super) allocs: u64,
    pub(super) frees: u64,
}

/// A CPU's slot, on a cache line of its own so CPUs do not share lines.
#[repr(align(64))]
pub(super) struct CpuSlot(pub(super) IrqLock<CpuSlab>);

/// One slot per possible CPU number.
pub(super) fn cpu_slots() -> Box<[CpuSlot]> {
    (0..percpu::MAX_CPUS)
        .map(|_| {
            CpuSlot(IrqLock::new(CpuSlab {
                slab: None,
                freelist: 0,
                nfree: 0,
                partial: PageList::new(),
                allocs: 0,
                frees: 0,
            }))
        })
        .collect()
}

/// How a flush takes the locks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LockWait {
    /// Wait for each lock.
    Wait,
    /// Skip a CPU whose slot, or the cache, is locked now (reclaim, which
    /// may run inside this cache's own allocation).
    Try,
}

/// Objects in use in the slab whose head is `head`.
#[inline]
pub(super) fn inuse(head: &Page) -> u64 {
    head.index.load(Ordering::Relaxed) & INUSE
}

impl KmemCache {
    #[inline]
    fn cpu_slot(&self) -> &IrqLock<CpuSlab> {
        &self.cpus[percpu::this_cpu()].0
    }

    /// `slab_alloc` without debugging: pop the CPU freelist, refilling it
    /// when empty.
    #[inline]
    pub(super) fn alloc_cpu(&self) -> Option<NonNull<u8>> {
        loop {
            let mut cpu = self.cpu_slot().lock();
            if let Some(obj) = self.pop_cpu_freelist(&mut cpu) {
                return NonNull::new(obj as *mut u8);
            }
            if self.refill_cpu(&mut cpu) {
                drop(cpu);
                self.trim_free_slabs();
                continue;
            }
            drop(cpu);
            // Unlocked, as in the locked path: reclaim may shrink us.
            let slab = self.new_slab()?;
            self.install_new_slab(slab);
            self.trim_free_slabs();
        }
    }

    /// A new slab becomes the active slab of the CPU the caller runs on
    /// now, unless that CPU got one meanwhile (an interrupt allocated, or
    /// the task moved): then it joins the cache's empty slabs.
    fn install_new_slab(&self, slab: &'static Page) {
        let mut cpu = self.cpu_slot().lock();
        let mut lists = self.lists.lock();
        lists.stats.num_slabs += 1;
        lists.stats.num_objs += self.objects_per_slab as u64;
        if cpu.slab.is_some() {
            lists.free.push_front(&self.pa.memmap, slab);
            return;
        }
        slab.index.fetch_or(FROZEN, Ordering::Relaxed);
        cpu.slab = Some(slab);
        self.take_freelist(&mut cpu, slab);
    }

    /// Move the own freelist of `slab` (frozen, this CPU's active slab,
    /// whose CPU freelist is empty) onto the CPU freelist, counting its
    /// objects in the slab's count. Under the cache lock, which remote
    /// frees take to push onto that freelist.
    fn take_freelist(&self, cpu: &mut CpuSlab, slab: &'static Page) {
        debug_assert!(cpu.freelist == 0 && cpu.nfree == 0);
        let n = self.objects_per_slab as u64 - inuse(slab);
        cpu.freelist = slab.mapping.swap(0, Ordering::Relaxed);
        slab.index.fetch_add(n, Ordering::Relaxed);
        cpu.nfree = n;
    }

    #[inline]
    fn pop_cpu_freelist(&self, cpu: &mut CpuSlab) -> Option<u64> {
        cpu.slab?;
        let obj = cpu.freelist;
        if obj == 0 {
            return None;
        }
        cpu.freelist = self.read_freeptr(self.stride_of_free(obj));
        cpu.nfree -= 1;
        cpu.allocs += 1;
        Some(obj)
    }

    /// Give the CPU free objects again, under the cache lock; false when
    /// only a new slab can. A partially used slab is always taken before
    /// an empty one, so no slab starts filling while another has room.
    fn refill_cpu(&self, cpu: &mut CpuSlab) -> bool {
        let mut lists = self.lists.lock();
        lists.stats.alloc_slowpath += 1;
        if let Some(slab) = cpu.slab {
            // The remote frees, unless the slab is empty and a used one waits.
            let used = inuse(slab);
            self.take_freelist(cpu, slab);
            if cpu.freelist != 0 && (used > 0 || !self.used_slab_waits(lists.partial.len(), cpu)) {
                return true;
            }
            // Full (both freelists empty), or empty: back to the cache.
            self.deactivate_active(&mut lists, cpu);
        }
        let Some(slab) = self.take_cpu_partial(&mut lists, cpu).or_else(|| self.take_from_cache(&mut lists)) else {
            return false;
        };
        cpu.slab = Some(slab);
        self.take_freelist(cpu, slab);
        true
    }

    /// Whether a partially used slab is ready for this CPU: on the cache's
    /// partial list (`nr_partial` of them) or on the CPU's own.
    #[inline]
    fn used_slab_waits(&self, nr_partial: u64, cpu: &CpuSlab) -> bool {
        nr_partial > 0 || cpu.partial.iter(&self.pa.memmap).any(|s| inuse(s) > 0)
    }

    /// The first used slab on the CPU's partial list. The empty ones before
    /// it (emptied by remote frees) go back to the cache's empty slabs,
    /// which are used last and freed by shrink.
    fn take_cpu_partial(&self, lists: &mut SlabLists, cpu: &mut CpuSlab) -> Option<&'static Page> {
        while let Some(slab) = cpu.partial.pop_front(&self.pa.memmap) {
            if inuse(slab) > 0 {
                return Some(slab);
            }
            self.unfreeze(lists, slab);
        }
        None
    }

    /// Freeze the cache's newest partial (else an empty) slab for this CPU.
    fn take_from_cache(&self, lists: &mut SlabLists) -> Option<&'static Page> {
        let mm = &self.pa.memmap;
        let slab = match lists.partial.front().and_then(|f| mm.page(f)) {
            Some(slab) => {
                self.partial_remove(lists, slab);
                slab
            }
            None => lists.free.pop_front(mm)?,
        };
        slab.index.fetch_or(FROZEN, Ordering::Relaxed);
        Some(slab)
    }

    /// A frozen slab, its CPU freelist already given back, returns to the
    /// cache list its count says (empty ones to the free list: shrink
    /// decides what to keep).
    fn unfreeze(&self, lists: &mut SlabLists, slab: &'static Page) {
        let mm = &self.pa.memmap;
        let inuse = slab.index.fetch_and(!FROZEN, Ordering::Relaxed) & INUSE;
        if inuse == 0 {
            lists.free.push_front(mm, slab);
        } else if inuse == self.objects_per_slab as u64 {
            lists.full.push_front(mm, slab);
        } else {
            self.partial_push(lists, slab);
        }
    }

    /// `deactivate_slab` and `unfreeze_partials`: everything a CPU holds
    /// goes back to the cache lists.
    fn deactivate(&self, lists: &mut SlabLists, cpu: &mut CpuSlab) {
        self.deactivate_active(lists, cpu);
        while let Some(slab) = cpu.partial.pop_front(&self.pa.memmap) {
            self.unfreeze(lists, slab);
        }
    }

    /// `deactivate_slab`: the active slab and its CPU freelist go back to
    /// the cache lists.
    fn deactivate_active(&self, lists: &mut SlabLists, cpu: &mut CpuSlab) {
        if let Some(slab) = cpu.slab.take() {
            let first = core::mem::replace(&mut cpu.freelist, 0);
            if slab.mapping.load(Ordering::Relaxed) == 0 {
                // No remote frees: the CPU freelist becomes the slab's.
                slab.mapping.store(first, Ordering::Relaxed);
            } else if first != 0 {
                // Splice the CPU freelist in front of the slab's own.
                let mut tail = self.stride_of_free(first);
                loop {
                    let next = self.read_freeptr(tail);
                    if next == 0 {
                        break;
                    }
                    tail = self.stride_of_free(next);
                }
                self.write_freeptr(tail, slab.mapping.load(Ordering::Relaxed));
                slab.mapping.store(first, Ordering::Relaxed);
            }
            slab.index.fetch_sub(core::mem::replace(&mut cpu.nfree, 0), Ordering::Relaxed);
            self.unfreeze(lists, slab);
        }
    }

    /// `flush_all`: every CPU's slabs go back to the cache lists, so that
    /// empty ones can be given back.
    pub(super) fn flush_cpus(&self, wait: LockWait) {
        for slot in self.cpus.iter() {
            let cpu = match wait {
                LockWait::Wait => Some(slot.0.lock()),
                LockWait::Try => slot.0.try_lock(),
            };
            let Some(mut cpu) = cpu else { continue };
            if cpu.slab.is_none() && cpu.partial.is_empty() {
                continue;
            }
            let lists = match wait {
                LockWait::Wait => Some(self.lists.lock()),
                LockWait::Try => self.lists.try_lock(),
            };
            if let Some(mut lists) = lists {
                self.deactivate(&mut lists, &mut cpu);
            }
        }
    }

    /// `do_slab_free` without debugging: an object of this CPU's active
    /// slab goes onto the CPU freelist; any other is a remote free.
    #[inline]
    pub(super) fn free_cpu(&self, head: &'static Page, stride: PhysAddr, obj: u64) -> Result<(), SlabError> {
        let mut cpu = self.cpu_slot().lock();
        if cpu.slab.is_some_and(|s| core::ptr::eq(s, head)) {
            if cpu.freelist == obj {
                // The cheap hardened-freelist check: the object freed last.
                drop(cpu);
                self.report(&mut self.lists.lock(), SlabError::DoubleFree, obj as *const u8);
                return Err(SlabError::DoubleFree);
            }
            self.write_freeptr(stride, cpu.freelist);
            cpu.freelist = obj;
            cpu.nfree += 1;
            cpu.frees += 1;
            // The count includes the CPU freelist: equal means none in use
            // (a remote free racing with this read only delays the give-back).
            if inuse(head) == cpu.nfree && self.used_slab_waits(self.nr_partial.load(Ordering::Relaxed), &cpu) {
                // The active slab is empty and a used slab has room: give
                // the empty one back, so that the next allocation fills the
                // used one and shrink can free this one (as the locked path,
                // which never starts a slab while another has room).
                let mut lists = self.lists.lock();
                self.deactivate_active(&mut lists, &mut cpu);
                drop(lists);
                drop(cpu);
                self.trim_free_slabs();
            }
            return Ok(());
        }
        self.free_remote(&mut cpu, head, stride, obj)
    }

    /// `__slab_free`: the object goes onto its slab's own freelist under
    /// the cache lock. A full slab no CPU owns goes onto this CPU's partial
    /// list while there is room (`put_cpu_partial`: the next slab this CPU
    /// fills is the one with the newest hole); another slab no CPU owns
    /// moves between the cache lists.
    fn free_remote(&self, cpu: &mut CpuSlab, head: &'static Page, stride: PhysAddr, obj: u64) -> Result<(), SlabError> {
        let mut lists = self.lists.lock();
        if head.mapping.load(Ordering::Relaxed) == obj {
            self.report(&mut lists, SlabError::DoubleFree, obj as *const u8);
            return Err(SlabError::DoubleFree);
        }
        self.write_freeptr(stride, head.mapping.load(Ordering::Relaxed));
        head.mapping.store(obj, Ordering::Relaxed);
        let old = head.index.fetch_sub(1, Ordering::Relaxed);
        lists.stats.frees += 1;
        lists.stats.free_slowpath += 1;
        if old & FROZEN != 0 {
            return Ok(());
        }
        let inuse = (old & INUSE) - 1;
        if inuse + 1 == self.objects_per_slab as u64 && inuse > 0 && cpu.partial.len() < CPU_PARTIAL_SLABS {
            let mm = &self.pa.memmap;
            lists.full.remove(mm, head);
            head.index.fetch_or(FROZEN, Ordering::Relaxed);
            cpu.partial.push_front(mm, head);
            return Ok(());
        }
        self.slab_lost_object(lists, head, inuse);
        Ok(())
    }

    /// Fast-path counts of every CPU, and its slabs with objects in use:
    /// `(allocs, frees, active slabs)`.
    pub(super) fn cpu_counts(&self) -> (u64, u64, u64) {
        let mm = &self.pa.memmap;
        let (mut allocs, mut frees, mut active) = (0, 0, 0);
        for slot in self.cpus.iter() {
            let cpu = slot.0.lock();
            allocs += cpu.allocs;
            frees += cpu.frees;
            active += cpu.slab.is_some_and(|s| inuse(s) > cpu.nfree) as u64;
            active += cpu.partial.iter(mm).filter(|s| inuse(s) > 0).count() as u64;
        }
        (allocs, frees, active)
    }

    /// Every CPU slot, locked in CPU order (for checks).
    pub(super) fn lock_cpus(&self) -> alloc::vec::Vec<IrqGuard<'_, CpuSlab>> {
        self.cpus.iter().map(|s| s.0.lock()).collect()
    }
}

#[cfg(test)]
mod tests;
