//! The reverse map of memory objects (Linux's `address_space->i_mmap`):
//! from a file or shmem object to the address spaces that map it, so that
//! truncate, hole punching and MADV_REMOVE take the pages away from every
//! mapper, and so that seals and shm_nattch can count the mappings.
//!
//! ```text
//!   MemObject.rmap ── Weak ──> address space A  (its VMAs of the object)
//!                  ── Weak ──> address space B
//! ```
//!
//! Linux keeps each VMA in an interval tree of the file. Here VMAs are
//! values inside their address space (split, merged and copied freely), so
//! the object keeps the address spaces instead, and asks each one to walk
//! its own VMAs of the object. An address space joins the set when it
//! first maps the object (`AddressSpace::attach_vma`) or when it is created
//! with such VMAs (fork, exec: `set_rmap_owner`); it leaves when it dies
//! (`AddressSpace::destroy` takes it out of every object it entered, which
//! it remembers as weak references; entries that no longer upgrade are
//! pruned whenever a set changes). A space that unmapped the object stays
//! in the set until it dies and simply finds no VMA: a walk, never a wrong
//! answer.
//!
//! Locks: `spaces` (an IrqLock) is a leaf held only to copy or change the
//! list. The walks (`unmap_range`, `counts`) run with no lock of the
//! object's held and take one address space's lock at a time, so a caller
//! must hold none: in particular not its own address space's lock (madvise
//! defers its hole punches until that lock is dropped, see
//! `AddressSpace::take_deferred`). The order is therefore: a file's own
//! lock (tmpfs `io`), then one address space's lock, then its page-table
//! lock, then the object's page lock (taken by faults and zaps).
//!
//! Against concurrent faults (which hold a space's lock shared and install
//! under its page-table lock): `unmap_range` takes the space's lock
//! exclusive, and a fault holds the shared lock from its VMA lookup to its
//! install, so a zap comes wholly before or after each fault, as it did
//! when faults were exclusive. `counts` takes it shared and only reads entries: a
//! fault installing meanwhile is counted or not, a moment's view as
//! /proc's, never a freed table (tables go only under the exclusive lock).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::sync::IrqLock;
use crate::vm::address_space::{AddressSpace, Mapping, MmEnv};
use crate::vm::file::MemObject;
use crate::vm::vma::VmFlags;

/// How many mappings of an object exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapCounts {
    /// VMAs mapping the object, in every address space (shm_nattch).
    pub vmas: u64,
    /// Of those, shared ones that may be made writable (VM_SHARED with
    /// VM_MAYWRITE: Linux's `i_mmap_writable`, which F_SEAL_WRITE checks).
    pub writable_shared: u64,
}

impl core::ops::AddAssign for MapCounts {
    fn add_assign(&mut self, o: MapCounts) {
        self.vmas += o.vmas;
        self.writable_shared += o.writable_shared;
    }
}

/// An address space as the reverse map reaches it: the kernel's handle on
/// a process's memory (which owns the lock around the `AddressSpace`).
pub trait MapperSpace: Send + Sync {
    /// Unmap the pages at page offsets `[first, last)` of `obj` from every
    /// VMA of this space that maps them. `even_cows`: also the private
    /// copies a private mapping made of those pages (truncate), not only
    /// the object's own pages (hole punching).
    fn unmap_object_range(&self, obj: &MemObject, first: u64, last: u64, even_cows: bool);
    /// This space's mappings of `obj`.
    fn count_mappings(&self, obj: &MemObject) -> MapCounts;
    /// Age the entries of this space that map `t` (`rmap_walk.rs`): None
    /// if the space's lock could not be taken at once.
    fn page_referenced(&self, t: &crate::vm::rmap_walk::PageTarget) -> Option<crate::vm::rmap_walk::Referenced>;
    /// Unmap `t` from this space, its entries becoming `swap` (anonymous
    /// pages) or none; nothing if the space's lock could not be taken at
    /// once. Returns the entries unmapped.
    fn try_unmap_page(
        &self,
        t: &crate::vm::rmap_walk::PageTarget,
        swap: Option<crate::swap::entry::SwapEntry>,
    ) -> Option<u32>;
    /// Run `f` on this space with its lock taken shared, and the
    /// environment that reaches the CPUs running it (page migration holds
    /// every mapper of a page this way while the page moves,
    /// `vm::migrate`): false, and `f` not run, if the lock could not be
    /// taken at once.
    fn try_with_space(
        &self,
        f: &mut dyn FnMut(&crate::vm::address_space::AddressSpace, &crate::vm::address_space::MmEnv<'_>),
    ) -> bool;
}

/// The address spaces that map one object.
pub struct Rmap {
    pub(crate) spaces: IrqLock<Vec<Weak<dyn MapperSpace>>>,
}

impl Default for Rmap {
    fn default() -> Rmap {
        Rmap::new()
    }
}

impl Rmap {
    pub const fn new() -> Rmap {
        Rmap { spaces: IrqLock::new(Vec::new()) }
    }

    /// Add `space` (once), dropping entries of spaces that died.
    pub fn add(&self, space: &Weak<dyn MapperSpace>) {
        let mut spaces = self.spaces.lock();
        spaces.retain(|w| w.strong_count() > 0);
        if !spaces.iter().any(|w| Weak::ptr_eq(w, space)) {
            spaces.push(space.clone());
        }
    }

    /// Take `space` out (it is being torn down). An emptied list gives its
    /// memory back: long-lived objects (the initrd's programs) hold nothing
    /// for processes that are gone.
    pub fn remove(&self, space: &Weak<dyn MapperSpace>) {
        let mut spaces = self.spaces.lock();
        spaces.retain(|w| !Weak::ptr_eq(w, space) && w.strong_count() > 0);
        if spaces.is_empty() {
            *spaces = Vec::new();
        }
    }

    /// The live spaces, each held for the length of a walk.
    pub(crate) fn live(&self) -> Vec<Arc<dyn MapperSpace>> {
        self.spaces.lock().iter().filter_map(Weak::upgrade).collect()
    }

    /// Take the pages `[first, last)` of `obj` away from every mapper.
    pub fn unmap_range(&self, obj: &MemObject, first: u64, last: u64, even_cows: bool) {
        if first >= last {
            return;
        }
        for space in self.live() {
            space.unmap_object_range(obj, first, last, even_cows);
        }
    }

    /// Count the mappings of `obj` in every space.
    pub fn counts(&self, obj: &MemObject) -> MapCounts {
        let mut total = MapCounts::default();
        for space in self.live() {
            total += space.count_mappings(obj);
        }
        total
    }

    /// Spaces in the set, dead ones included (for tests).
    pub fn len(&self) -> usize {
        self.spaces.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A hole punch MADV_REMOVE asked for, run once the caller's address-space
/// lock is dropped (Linux's madvise_remove drops mmap_lock before
/// vfs_fallocate for the same reason: the punch visits every mapper).
pub struct Punch {
    obj: Arc<MemObject>,
    first: u64,
    last: u64,
}

impl Punch {
    pub(crate) fn new(obj: Arc<MemObject>, first: u64, last: u64) -> Punch {
        Punch { obj, first, last }
    }

    fn run(self) {
        self.obj.remove_range(self.first, self.last, false);
    }
}

/// Work an address-space operation left for after its lock is dropped:
/// hole punches, and the swap writes of MADV_PAGEOUT (swap_out.rs).
#[must_use = "run() it once the address-space lock is dropped"]
pub struct Deferred(Vec<Punch>, Option<crate::vm::swap_out::PageOut>);

impl Deferred {
    pub fn run(self) {
        for p in self.0 {
            p.run();
        }
        if let Some(w) = self.1 {
            w.run();
        }
    }
}

impl AddressSpace {
    /// Name the kernel's handle on this space: objects it maps from now on
    /// learn of it. Call [`Self::rmap_enter_all`] once the handle is live.
    pub fn set_rmap_owner(&mut self, owner: Weak<dyn MapperSpace>) {
        self.rmap_owner = Some(owner);
        if self.anon.is_none() {
            self.anon = Some(crate::vm::rmap_walk::AnonFamily::new());
        }
    }

    /// Enter this space in the reverse map of every object it already maps
    /// (a fork child, a new program). Only once its handle is live: an
    /// entry that cannot be upgraded counts as dead and is pruned.
    pub fn rmap_enter_all(&mut self) {
        if let (Some(f), Some(o)) = (&self.anon, &self.rmap_owner) {
            f.rmap.add(o);
        }
        let objects: Vec<Arc<MemObject>> = self.vmas.iter().filter_map(|v| v.backing.object().cloned()).collect();
        for obj in &objects {
            self.rmap_enter(obj);
        }
    }

    /// Leave the reverse map of every object this space ever entered
    /// (teardown), including those it has unmapped since.
    pub(crate) fn rmap_leave_all(&mut self) {
        let objects = core::mem::take(&mut self.rmap_objects);
        if let (Some(f), Some(o)) = (&self.anon, &self.rmap_owner) {
            f.rmap.remove(o);
        }
        if let Some(o) = &self.rmap_owner {
            for obj in objects.iter().filter_map(Weak::upgrade) {
                obj.rmap.remove(o);
            }
        }
    }

    /// A VMA of `obj` entered the tree: the object learns of this space
    /// (once).
    pub(crate) fn rmap_enter(&mut self, obj: &Arc<MemObject>) {
        let Some(o) = &self.rmap_owner else { return };
        if self.rmap_objects.iter().any(|w| core::ptr::eq(w.as_ptr(), Arc::as_ptr(obj))) {
            return;
        }
        obj.rmap.add(o);
        self.rmap_objects.retain(|w| w.strong_count() > 0);
        self.rmap_objects.push(Arc::downgrade(obj));
    }

    /// The work left for after the lock (see [`Deferred`]).
    pub fn take_deferred(&mut self) -> Deferred {
        Deferred(core::mem::take(&mut self.deferred), self.pageout.take())
    }

    /// This space's areas over pages `[first, last)` of `obj`: the address
    /// range of each, whether it is private, and its lock state.
    fn object_ranges(&self, obj: &MemObject, first: u64, last: u64) -> Vec<(u64, u64, bool, Mapping)> {
        self.vmas
            .iter()
            .filter(|v| v.backing.object().is_some_and(|o| core::ptr::eq(Arc::as_ptr(o), obj)))
            .filter_map(|v| {
                let lo = v.pgoff.max(first);
                let hi = v.pgoff.saturating_add(v.pages()).min(last);
                let addr = |pg: u64| v.start + ((pg - v.pgoff) << PAGE_SHIFT);
                let private = !v.flags.contains(VmFlags::SHARED);
                (lo < hi).then(|| (addr(lo), addr(hi), private, Mapping::of(v)))
            })
            .collect()
    }

    /// Unmap pages `[first, last)` of `obj` from this space (Linux's
    /// unmap_mapping_range on one mm). Shared areas lose every page there;
    /// private areas lose the object's pages, and with `even_cows` also the
    /// copies they made (so that a truncated end gives SIGBUS to them too).
    pub fn unmap_object_range(&mut self, env: &MmEnv<'_>, obj: &MemObject, first: u64, last: u64, even_cows: bool) {
        for (start, end, private, mapping) in self.object_ranges(obj, first, last) {
            if !private || even_cows {
                self.zap_mapping(env, start, end, mapping);
                continue;
            }
            // Only the leaves whose page is the object's own.
            let me = obj as *const MemObject as u64;
            let mut own = Vec::new();
            self.for_each_leaf(env, start, end, &mut |l| {
                let pfn = Pfn::from_phys(l.phys.as_u64());
                if env.pa.page(pfn).is_some_and(|p| p.mapping.load(Ordering::Relaxed) == me) {
                    own.push(l.va);
                }
            });
            for va in own {
                self.zap_mapping(env, va, va + PAGE_SIZE, mapping);
            }
        }
    }

    /// This space's mappings of `obj`.
    pub fn count_object_mappings(&self, obj: &MemObject) -> MapCounts {
        let mut c = MapCounts::default();
        for v in self.vmas.iter().filter(|v| v.backing.object().is_some_and(|o| core::ptr::eq(Arc::as_ptr(o), obj))) {
            c.vmas += 1;
            if v.flags.contains(VmFlags::SHARED | VmFlags::MAYWRITE) {
                c.writable_shared += 1;
            }
        }
        c
    }
}
