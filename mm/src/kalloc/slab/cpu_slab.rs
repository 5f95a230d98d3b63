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
//! The fast-path free reads the cache's partial count (`nr_partial`) and
//! its CPU partial count (`partial_len`) without a lock, and only when both
//! say a used slab may wait does it take the locks to decide: a stale count
//! only delays or hastens that give-back.
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
//! The fast path takes no lock and makes no atomic read-modify-write (as
//! SLUB's `this_cpu_cmpxchg` fast path, which is one unlocked instruction
//! on the owning CPU, or `local_lock` with interrupts off): with
//! interrupts off, so that the task neither moves nor is interrupted, it
//! reads `this_cpu()`'s slot and pops or pushes the CPU freelist with plain
//! loads and stores on the slot's own cache line:
//!
//! ```text
//!   alloc: obj = freelist; freelist = *obj             (0: slow path)
//!   free:  *obj = freelist; freelist = obj             (object of the active slab)
//!   flush: on the owner (percpu::call_on), slot lock and cache lock tried:
//!          the CPU freelist goes back onto the slab; slab = none
//! ```
//!
//! That is safe because only the owning CPU ever changes the active slab,
//! its CPU freelist and `nfree`: in the fast path with interrupts off, or
//! in its slow path holding its slot lock. A flush of another CPU's active
//! slab (`kmem_cache_shrink`, reclaim) runs on that CPU, as SLUB's
//! `flush_cpu_slab` does: `percpu::call_on` runs it from an interrupt, or
//! while that CPU spins on a lock, never inside its fast path. There it
//! may interrupt the owner's own slow path, so it only try-locks and says
//! whether it could flush; `shrink` asks again until it could, reclaim
//! (`try_shrink`) moves on. Other CPUs' partial lists are under their slot
//! locks, which the flusher takes itself.
//!
//! The fast path makes no call through the `PhysMem` seam and looks up no
//! page descriptor: when a CPU installs a slab (slow path) it asks the
//! window once for the kernel addresses of the slab's strides and keeps
//! their start in its slot (`base`, a `phys::WindowSpan`); the pop reads,
//! and the push writes, the free pointer through that span. A free by
//! `kmem_cache_free` of an object start inside the span is an object of
//! the active slab, pushed before any descriptor is looked at; any other
//! pointer takes the descriptor path (`slab_of`), which checks it. Frees
//! from other CPUs, or of other slabs, never touch the CPU freelist: they
//! go to the slab's own freelist under the cache lock (the slow path).
//!
//! So two tasks must never use one slot at once: a CPU's number is its own
//! (the kernel's hook; before SMP starts only the boot CPU runs), and host
//! tests that run threads at once give each its own simulated CPU
//! (`testing::cpus::on_cpu`, which also simulates interrupts and
//! `call_on`), as the slab and bench threads do.
//!
//! Locking: the fast-path fields of a slot (`freelist`, `slab`, `base`,
//! `nfree`, `allocs`, `frees`) are written only by its CPU with interrupts
//! off (by load and store, no read-modify-write); other CPUs only read them
//! (stats, exact only while nobody allocates). The slot lock
//! (`IrqLock<CpuSlow>`) protects the CPU partial list, and serialises the
//! owner's slow path (setting up or changing the active slab) with
//! flushes. The cache lock (`lists`) protects the cache lists and
//! counters, every slab's own freelist, the `FROZEN` bit and the writes of
//! `nr_partial`. Order: slot lock -> cache lock, never the reverse;
//! several slots are taken in CPU order; no lock is held while waiting for
//! another CPU's flush. No lock is held while the buddy allocator runs (its
//! reclaim may shrink this very cache). A slab's count (`index`) changes
//! only under the cache lock (a CPU taking or giving back a freelist,
//! remote frees); the fast path reads it without (the empty-slab check)
//! and writes only its own slot, so two CPUs' fast paths share no written
//! cache line.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::{FROZEN, INUSE, KmemCache, SlabError, SlabLists};
use crate::addr::PhysAddr;
use crate::percpu;
use crate::phys::WindowSpan;
use crate::phys::page::{Page, PageList};
use crate::sync::{IrqGuard, IrqLock, IrqOff};

/// Slabs a CPU keeps on its partial list at most (SLUB's
/// `cpu_partial_slabs`).
pub(super) const CPU_PARTIAL_SLABS: u64 = 4;

/// One CPU's share of a cache (`struct kmem_cache_cpu`), on cache lines of
/// its own so CPUs do not share lines. The first six fields are the fast
/// path's: only the owner writes them, with plain stores, interrupts off
/// (or holding `slow`). Remote readers (stats, checks) only read them.
#[repr(align(64))]
pub(super) struct CpuSlot {
    /// Free objects of `slab` that only this CPU hands out (0 ends it).
    pub(super) freelist: AtomicU64,
    /// The active slab (frozen), or null. Set and cleared under `slow`.
    slab: AtomicPtr<Page>,
    /// Kernel address of the active slab's first stride (the start of the
    /// `WindowSpan` the window gave for its strides), or 0: set with
    /// `slab`, cleared before it. The fast path reaches free pointers
    /// through this span instead of asking the window each time.
    base: AtomicU64,
    /// How many objects `freelist` holds (counted in the slab's `index`).
    pub(super) nfree: AtomicU64,
    /// Allocations and frees this CPU made without the cache lock.
    pub(super) allocs: AtomicU64,
    pub(super) frees: AtomicU64,
    /// `slow.partial.len()`, written under `slow`, read by the fast free.
    pub(super) partial_len: AtomicU64,
    /// The slow path's and the flushers' lock.
    pub(super) slow: IrqLock<CpuSlow>,
}

/// What a CPU slot's lock protects besides the fast-path fields.
pub(super) struct CpuSlow {
    /// More frozen slabs, used when the active slab is used up.
    pub(super) partial: PageList,
}

impl CpuSlot {
    fn new() -> Self {
        CpuSlot {
            freelist: AtomicU64::new(0),
            slab: AtomicPtr::new(core::ptr::null_mut()),
            base: AtomicU64::new(0),
            nfree: AtomicU64::new(0),
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            partial_len: AtomicU64::new(0),
            slow: IrqLock::new(CpuSlow { partial: PageList::new() }),
        }
    }

    /// The active slab.
    #[inline]
    pub(super) fn slab(&self) -> Option<&'static Page> {
        // SAFETY: `slab` only ever holds null or a `&'static Page` (a slab
        // head descriptor in the memmap, which is never freed).
        unsafe { self.slab.load(Ordering::Relaxed).as_ref() }
    }

    /// Make `slab` (its strides at `span`) the active slab, or clear it
    /// (the owner, holding `slow`).
    fn set_slab(&self, slab: Option<(&'static Page, WindowSpan)>) {
        match slab {
            Some((s, span)) => {
                self.slab.store(s as *const Page as *mut Page, Ordering::Relaxed);
                self.base.store(span.start(), Ordering::Relaxed);
            }
            None => {
                self.base.store(0, Ordering::Relaxed);
                self.slab.store(core::ptr::null_mut(), Ordering::Relaxed);
            }
        }
    }

    /// The active slab's strides (`len` bytes), or the empty span (the
    /// owner's, read with interrupts off).
    #[inline]
    fn span(&self, len: u64) -> WindowSpan {
        // SAFETY: `base` only holds 0 or the start of the span `set_slab`
        // was given, which `strides_span` asked of the window with `len`
        // (the cache's `strides_len`, the same for every slab).
        unsafe { WindowSpan::from_start(self.base.load(Ordering::Relaxed), len) }
    }

    /// Whether `head` is the active slab (no reference made).
    #[inline]
    fn is_active(&self, head: &Page) -> bool {
        core::ptr::eq(self.slab.load(Ordering::Relaxed), head)
    }
}

/// Add to a counter only its owner writes: a load and a store, no
/// read-modify-write instruction (other CPUs only read it).
#[inline]
fn owner_add(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// One slot per possible CPU number.
pub(super) fn cpu_slots() -> Box<[CpuSlot; percpu::MAX_CPUS]> {
    let slots: Box<[CpuSlot]> = (0..percpu::MAX_CPUS).map(|_| CpuSlot::new()).collect();
    slots.try_into().ok().expect("slab: one slot per CPU")
}

/// How a flush takes the locks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LockWait {
    /// Wait for each lock, and ask each CPU until it could flush.
    Wait,
    /// Skip a CPU whose slot, or the cache, is locked now (reclaim, which
    /// may run inside this cache's own allocation).
    Try,
}

/// [`percpu::CpuFn`] run on a CPU to flush its active slab of the cache
/// at `arg`: 1 if it is flushed (or there was none), 0 if a lock it needs
/// is held (the owner's own slow path, or another flusher).
fn flush_active_here(arg: u64) -> u64 {
    // SAFETY: `flush_cpus` passes its `&KmemCache` and waits for the answer.
    let cache = unsafe { &*(arg as *const KmemCache) };
    cache.flush_own_active() as u64
}

/// Objects in use in the slab whose head is `head`.
#[inline]
pub(super) fn inuse(head: &Page) -> u64 {
    head.index.load(Ordering::Relaxed) & INUSE
}

impl KmemCache {
    /// The running CPU's slot: only the owner's while interrupts are off.
    #[inline]
    fn cpu_slot(&self, _irq: &IrqOff) -> &CpuSlot {
        &self.cpus[percpu::this_cpu()]
    }

    /// `slab_alloc` without debugging: pop the CPU freelist with interrupts
    /// off and no lock; the slow path refills it.
    #[inline]
    pub(super) fn alloc_cpu(&self) -> Option<NonNull<u8>> {
        {
            let _irq = IrqOff::new();
            let slot = self.cpu_slot(&_irq);
            let obj = slot.freelist.load(Ordering::Relaxed);
            // The free pointer is read through the active slab's span, with
            // no call through the window (0 lies in no span).
            let next = slot.span(self.strides_len).load_u64(obj.wrapping_add(self.freeptr_offset as u64));
            if let Some(next) = next {
                slot.freelist.store(next, Ordering::Relaxed);
                slot.nfree.store(slot.nfree.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
                owner_add(&slot.allocs, 1);
                return NonNull::new(obj as *mut u8);
            }
        }
        self.alloc_slow()
    }

    /// `___slab_alloc`: under the slot lock, refill the CPU freelist (the
    /// active slab's remote frees, a partial slab) or install a new slab.
    #[inline(never)]
    fn alloc_slow(&self) -> Option<NonNull<u8>> {
        loop {
            {
                let irq = IrqOff::new();
                let slot = self.cpu_slot(&irq);
                let mut slow = slot.slow.lock();
                if let Some(obj) = Self::pop_owned(self, slot) {
                    return NonNull::new(obj as *mut u8);
                }
                let refilled = self.refill_cpu(slot, &mut slow);
                drop(slow);
                drop(irq);
                if refilled {
                    self.trim_free_slabs();
                    continue;
                }
            }
            // Unlocked, as in the locked path: reclaim may shrink us.
            let slab = self.new_slab()?;
            self.install_new_slab(slab);
            self.trim_free_slabs();
        }
    }

    /// Pop the CPU freelist as its owner holding the slot lock (no flusher
    /// can take it meanwhile).
    fn pop_owned(&self, slot: &CpuSlot) -> Option<u64> {
        slot.slab()?;
        let obj = slot.freelist.load(Ordering::Relaxed);
        if obj == 0 {
            return None;
        }
        slot.freelist.store(self.read_freeptr(self.stride_of_free(obj)), Ordering::Relaxed);
        slot.nfree.store(slot.nfree.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        owner_add(&slot.allocs, 1);
        Some(obj)
    }

    /// A new slab becomes the active slab of the CPU the caller runs on
    /// now, unless that CPU got one meanwhile (an interrupt allocated, or
    /// the task moved): then it joins the cache's empty slabs.
    fn install_new_slab(&self, slab: &'static Page) {
        let irq = IrqOff::new();
        let slot = self.cpu_slot(&irq);
        let _slow = slot.slow.lock();
        let mut lists = self.lists.lock();
        lists.stats.num_slabs += 1;
        lists.stats.num_objs += self.objects_per_slab as u64;
        if slot.slab().is_some() {
            lists.free.push_front(&self.pa.memmap, slab);
            return;
        }
        slab.index.fetch_or(FROZEN, Ordering::Relaxed);
        slot.set_slab(Some((slab, self.strides_span(slab))));
        self.take_freelist(slot, slab);
    }

    /// The kernel addresses of the strides of the slab whose head is
    /// `slab`, asked of the window once per slab a CPU installs.
    fn strides_span(&self, slab: &Page) -> WindowSpan {
        WindowSpan::of(self.phys(), slab.phys(), self.strides_len as usize).expect("slab: slab page outside the window")
    }

    /// Move the own freelist of `slab` (frozen, this CPU's active slab,
    /// whose CPU freelist is empty) onto the CPU freelist, counting its
    /// objects in the slab's count. Under the slot lock and the cache lock,
    /// which remote frees take to push onto that freelist.
    fn take_freelist(&self, slot: &CpuSlot, slab: &'static Page) {
        debug_assert!(slot.freelist.load(Ordering::Relaxed) == 0 && slot.nfree.load(Ordering::Relaxed) == 0);
        let n = self.objects_per_slab as u64 - inuse(slab);
        slot.freelist.store(slab.mapping.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        slab.index.fetch_add(n, Ordering::Relaxed);
        slot.nfree.store(n, Ordering::Relaxed);
    }

    /// Give the CPU free objects again, under the cache lock; false when
    /// only a new slab can. A partially used slab is always taken before
    /// an empty one, so no slab starts filling while another has room.
    fn refill_cpu(&self, slot: &CpuSlot, slow: &mut CpuSlow) -> bool {
        let mut lists = self.lists.lock();
        lists.stats.alloc_slowpath += 1;
        if let Some(slab) = slot.slab() {
            // The remote frees, unless the slab is empty and a used one waits.
            let used = inuse(slab);
            self.take_freelist(slot, slab);
            let got = slot.freelist.load(Ordering::Relaxed) != 0;
            if got && (used > 0 || !self.used_slab_waits(lists.partial.len(), slow)) {
                return true;
            }
            // Full (both freelists empty), or empty: back to the cache.
            self.deactivate_owned(&mut lists, slot);
        }
        let taken = self.take_cpu_partial(&mut lists, slot, slow);
        let Some(slab) = taken.or_else(|| self.take_from_cache(&mut lists)) else {
            return false;
        };
        slot.set_slab(Some((slab, self.strides_span(slab))));
        self.take_freelist(slot, slab);
        true
    }

    /// Whether a partially used slab is ready for this CPU: on the cache's
    /// partial list (`nr_partial` of them) or on the CPU's own.
    #[inline]
    fn used_slab_waits(&self, nr_partial: u64, slow: &CpuSlow) -> bool {
        nr_partial > 0 || slow.partial.iter(&self.pa.memmap).any(|s| inuse(s) > 0)
    }

    /// The first used slab on the CPU's partial list. The empty ones before
    /// it (emptied by remote frees) go back to the cache's empty slabs,
    /// which are used last and freed by shrink.
    fn take_cpu_partial(&self, lists: &mut SlabLists, slot: &CpuSlot, slow: &mut CpuSlow) -> Option<&'static Page> {
        let mut found = None;
        while let Some(slab) = slow.partial.pop_front(&self.pa.memmap) {
            if inuse(slab) > 0 {
                found = Some(slab);
                break;
            }
            self.unfreeze(lists, slab);
        }
        slot.partial_len.store(slow.partial.len(), Ordering::Relaxed);
        found
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

    /// `deactivate_slab` by the owner, holding its slot lock: the active
    /// slab and its CPU freelist go back to the cache lists.
    fn deactivate_owned(&self, lists: &mut SlabLists, slot: &CpuSlot) {
        if let Some(slab) = slot.slab() {
            let first = slot.freelist.swap(0, Ordering::Relaxed);
            let n = slot.nfree.swap(0, Ordering::Relaxed);
            self.deactivate_slab(lists, slab, first, n);
            slot.set_slab(None);
        }
    }

    /// Put the `n` objects of a CPU freelist starting at `first` back on
    /// `slab`'s own freelist, and unfreeze it.
    fn deactivate_slab(&self, lists: &mut SlabLists, slab: &'static Page, first: u64, n: u64) {
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
        slab.index.fetch_sub(n, Ordering::Relaxed);
        self.unfreeze(lists, slab);
    }

    /// `flush_all`: every CPU's slabs go back to the cache lists, so that
    /// empty ones can be given back. Each CPU flushes its active slab
    /// itself (asked by `percpu::call_on`); its partial list is taken here,
    /// under its slot lock. No lock is held while a CPU is asked.
    pub(super) fn flush_cpus(&self, wait: LockWait) {
        for (cpu, slot) in self.cpus.iter().enumerate() {
            // A racy look: a slab installed after it is not flushed, as in
            // Linux, where allocations may follow flush_all at once. Asked
            // again only while the CPU answers "busy" (never because it
            // allocated again meanwhile, which would not end).
            if slot.slab().is_some() {
                while let Some(0) = percpu::call_on(cpu, flush_active_here, self as *const KmemCache as u64) {
                    if wait == LockWait::Try {
                        break;
                    }
                    crate::sync::spin_wait();
                }
            }
            let slow = match wait {
                LockWait::Wait => Some(slot.slow.lock()),
                LockWait::Try => slot.slow.try_lock(),
            };
            let Some(mut slow) = slow else { continue };
            if slow.partial.is_empty() {
                continue;
            }
            let lists = match wait {
                LockWait::Wait => Some(self.lists.lock()),
                LockWait::Try => self.lists.try_lock(),
            };
            if let Some(mut lists) = lists {
                while let Some(slab) = slow.partial.pop_front(&self.pa.memmap) {
                    self.unfreeze(&mut lists, slab);
                }
                slot.partial_len.store(0, Ordering::Relaxed);
            }
        }
    }

    /// On the owning CPU (interrupts off, outside its fast path): give its
    /// active slab back, if the slot lock and the cache lock are free now.
    fn flush_own_active(&self) -> bool {
        let irq = IrqOff::new();
        let slot = self.cpu_slot(&irq);
        if slot.slab().is_none() {
            return true;
        }
        let Some(_slow) = slot.slow.try_lock() else { return false };
        let Some(mut lists) = self.lists.try_lock() else { return false };
        self.deactivate_owned(&mut lists, slot);
        true
    }

    /// `do_slab_free` without debugging: an object of this CPU's active
    /// slab goes onto the CPU freelist with interrupts off and no lock; any
    /// other is a remote free.
    #[inline]
    pub(super) fn free_cpu(&self, head: &'static Page, stride: PhysAddr, obj: u64) -> Result<(), SlabError> {
        {
            let irq = IrqOff::new();
            let slot = self.cpu_slot(&irq);
            if slot.is_active(head) {
                return self.push_cpu(irq, slot, head, obj);
            }
        }
        self.free_slow(head, stride, obj)
    }

    /// `kmem_cache_free`'s fast path, before any page descriptor is looked
    /// at: an object start inside this CPU's active slab (its span) is one
    /// of ours, and goes onto the CPU freelist. `None` when it is not: the
    /// caller takes the descriptor path, which checks the pointer and
    /// frees it the slow way if need be.
    #[inline]
    pub(super) fn free_active(&self, obj: u64) -> Option<Result<(), SlabError>> {
        let irq = IrqOff::new();
        let slot = self.cpu_slot(&irq);
        let off = slot.span(self.strides_len).offset_of(obj)?;
        if !self.divides.divides(off) {
            return None;
        }
        let head = slot.slab()?;
        Some(self.push_cpu(irq, slot, head, obj))
    }

    /// Push `obj`, an object of `head`, this CPU's active slab, onto the
    /// CPU freelist (interrupts off since `irq`).
    #[inline(always)]
    fn push_cpu(&self, irq: IrqOff, slot: &CpuSlot, head: &'static Page, obj: u64) -> Result<(), SlabError> {
        let first = slot.freelist.load(Ordering::Relaxed);
        if first == obj {
            // The cheap hardened-freelist check: the object freed last.
            drop(irq);
            return Err(self.refuse(SlabError::DoubleFree, obj as *const u8));
        }
        debug_assert!(slot.span(self.strides_len).offset_of(obj).is_some(), "slab: an object outside the active slab");
        // SAFETY: both callers checked that `obj` starts an object of the
        // active slab (`free_active` by its span, `free_cpu` by the
        // descriptors): the free pointer's word, inside the object, is
        // this slab's RAM at its kernel address, and nobody else reads or
        // writes it while the object is free on this CPU.
        unsafe { (obj.wrapping_add(self.freeptr_offset as u64) as *mut u64).write(first) };
        slot.freelist.store(obj, Ordering::Relaxed);
        let nfree = slot.nfree.load(Ordering::Relaxed) + 1;
        slot.nfree.store(nfree, Ordering::Relaxed);
        owner_add(&slot.frees, 1);
        // The count includes the CPU freelist: equal means none in use. A
        // used slab may wait for the CPU (a stale `nr_partial` only delays
        // or hastens this).
        if inuse(head) == nfree
            && self.nr_partial.load(Ordering::Relaxed) + slot.partial_len.load(Ordering::Relaxed) > 0
        {
            drop(irq);
            self.give_back_empty_active(head);
        }
        Ok(())
    }

    /// The active slab `head` emptied and a used slab may wait: give the
    /// empty one back, so that the next allocation fills the used one and
    /// shrink can free this one (as the locked path, which never starts a
    /// slab while another has room). Empty slabs on the CPU's partial list
    /// go back too, so the fast path stops coming here for them.
    #[cold]
    fn give_back_empty_active(&self, head: &'static Page) {
        {
            let irq = IrqOff::new();
            let slot = self.cpu_slot(&irq);
            let mut slow = slot.slow.lock();
            if !slot.is_active(head) || inuse(head) != slot.nfree.load(Ordering::Relaxed) {
                return;
            }
            let mut lists = self.lists.lock();
            if self.used_slab_waits(lists.partial.len(), &slow) {
                self.deactivate_owned(&mut lists, slot);
            } else {
                while let Some(slab) = slow.partial.pop_front(&self.pa.memmap) {
                    self.unfreeze(&mut lists, slab);
                }
                slot.partial_len.store(0, Ordering::Relaxed);
            }
        }
        self.trim_free_slabs();
    }

    /// The slow free: under the slot lock, a remote free.
    #[inline(never)]
    fn free_slow(&self, head: &'static Page, stride: PhysAddr, obj: u64) -> Result<(), SlabError> {
        let irq = IrqOff::new();
        let slot = self.cpu_slot(&irq);
        let mut slow = slot.slow.lock();
        self.free_remote(slot, &mut slow, head, stride, obj)
    }

    /// `__slab_free`: the object goes onto its slab's own freelist under
    /// the cache lock. A full slab no CPU owns goes onto this CPU's partial
    /// list while there is room (`put_cpu_partial`: the next slab this CPU
    /// fills is the one with the newest hole); another slab no CPU owns
    /// moves between the cache lists.
    fn free_remote(
        &self,
        slot: &CpuSlot,
        slow: &mut CpuSlow,
        head: &'static Page,
        stride: PhysAddr,
        obj: u64,
    ) -> Result<(), SlabError> {
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
        if inuse + 1 == self.objects_per_slab as u64 && inuse > 0 && slow.partial.len() < CPU_PARTIAL_SLABS {
            let mm = &self.pa.memmap;
            lists.full.remove(mm, head);
            head.index.fetch_or(FROZEN, Ordering::Relaxed);
            slow.partial.push_front(mm, head);
            slot.partial_len.store(slow.partial.len(), Ordering::Relaxed);
            return Ok(());
        }
        self.slab_lost_object(lists, head, inuse);
        Ok(())
    }

    /// Fast-path counts of every CPU, and its slabs with objects in use:
    /// `(allocs, frees, active slabs)`. Read without stopping the owners:
    /// exact only while nobody allocates.
    pub(super) fn cpu_counts(&self) -> (u64, u64, u64) {
        let mm = &self.pa.memmap;
        let (mut allocs, mut frees, mut active) = (0, 0, 0);
        for slot in self.cpus.iter() {
            let slow = slot.slow.lock();
            allocs += slot.allocs.load(Ordering::Relaxed);
            frees += slot.frees.load(Ordering::Relaxed);
            active += slot.slab().is_some_and(|s| inuse(s) > slot.nfree.load(Ordering::Relaxed)) as u64;
            active += slow.partial.iter(mm).filter(|s| inuse(s) > 0).count() as u64;
        }
        (allocs, frees, active)
    }

    /// Every CPU slot's lock, taken in CPU order (for checks).
    pub(super) fn lock_cpus(&self) -> Vec<IrqGuard<'_, CpuSlow>> {
        self.cpus.iter().map(|s| s.slow.lock()).collect()
    }
}

#[cfg(test)]
mod tests;
