//! Page migration (Linux's mm/migrate.c): move a user page's contents and
//! every mapping of it to a new page frame, on another node or elsewhere
//! in a zone; what move_pages(2) does here, and the core that compaction
//! and NUMA placement build on.
//!
//! ```text
//!   move_page(space, va, node)
//!     the page at va: none -> ENOENT; no area, the zero page -> EFAULT;
//!       on `node` already -> done; mapped by others without MOVE_ALL -> EACCES
//!     a compound page, or one being written back -> EBUSY
//!     isolate it from its LRU list (a reference; not on a list -> EBUSY)
//!     a new page on `node` (__GFP_THISNODE; none -> ENOMEM)
//!     anonymous (any number of mappers, swap cache, mlocked):
//!       take every space of its family that maps it (tried, shared;
//!         ours we hold; more than MAX_MAPPERS others -> EBUSY)
//!       every PTE mapping it -> a migration entry (pfn, W, A, D),
//!         its mapcount and reference dropped, TLBs flushed
//!       only the isolation (+ the swap cache) holds it?
//!         yes: copy, pass on flags, owner, mlock count, memcg charge
//!              (and the swap-cache slot, under the area's lock);
//!              every entry -> a PTE of the new page
//!         no:  every entry -> a PTE of the old page again (EBUSY)
//!     page cache, shmem (any number of mappers):
//!       unmap it everywhere (the object's reverse map; other mappers
//!       fault the new page back from the object); only the object and
//!       the isolation hold it? copy, the object's index names the new
//!       page, and it is mapped again at va here
//!     either way the old page is freed by the caller's put; otherwise it
//!     goes back to its list (EBUSY)
//! ```
//!
//! Migration entries (Linux's, `swap/entry.rs`): while an anonymous page
//! moves, each entry that mapped it is a non-present entry naming the old
//! frame and whether the mapping was writable, so that the new page is
//! mapped exactly as the old one was (a copy-on-write page stays
//! read-only in parent and child; the swap cache's pages stay read-only).
//! A fault that meets one waits: it returns at once and the access
//! retries until the entry maps a page again (`migration_entry_wait`);
//! each entry becomes the whole new PTE in one write under the page-table
//! lock, the page's counts taken first, so no fault sees half of it.
//! /proc/PID/pagemap shows the page, mincore counts it as resident, and
//! every swap-entry decoder refuses it (no slot is looked up or freed).
//!
//! Unlike Linux, entries live only while the migrating thread holds the
//! lock of every space that maps the page (shared; the caller's own
//! exclusive): whatever changes page tables with the lock exclusive (zap,
//! munmap, fork, mprotect, mremap, madvise, khugepaged, swapoff's unuse)
//! never meets one, and the restore pass needs no retry. Only faults and
//! readers (/proc, mincore, reclaim's rmap walks, which skip non-present
//! entries and never see the isolated page anyway) run beside them. A
//! family member whose lock is busy makes the move fail (EBUSY; compaction
//! tries another page), as Linux's trylock-based async migration does.
//!
//! Locks: the caller's space lock (exclusive, move_pages) or none
//! (compaction); then every other space of the family, each tried shared,
//! never waited for; inside each, one at a time, its page-table lock, or
//! the object's page index lock; then the swap area's lock (swap cache
//! pages) and the LRU lock (leaves).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::gfp::{GFP_HIGHUSER_MOVABLE, Gfp};
use crate::phys::page::{Page, PageFlags};
use crate::swap::entry::MigrationEntry;
use crate::vm::address_space::{AddressSpace, MmEnv, RssKind};
use crate::vm::file::MemObject;
use crate::vm::page_table::{SOFT_DIRTY, raw};
use crate::vm::rmap::MapperSpace;
use crate::vm::rmap_walk::{PageOwner, PageTarget, page_owner, try_to_unmap};
use crate::vm::tlb::TlbFlush;

/// Why a page was not moved (move_pages's per-page status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateError {
    /// No page is mapped there (ENOENT).
    NotPresent,
    /// No area there, or the shared zero page (EFAULT).
    Fault,
    /// Mapped by other processes too, and MPOL_MF_MOVE_ALL not given
    /// (EACCES).
    Shared,
    /// Held by someone else, or a kind this kernel does not move (EBUSY).
    Busy,
    /// No free page on the target node (ENOMEM).
    NoMemory,
}

/// Flags a moved page keeps (what it is and what reclaim knew of it).
const KEPT: PageFlags = PageFlags::ANON
    .union(PageFlags::FILE)
    .union(PageFlags::SHMEM)
    .union(PageFlags::SWAPBACKED)
    .union(PageFlags::DIRTY)
    .union(PageFlags::LAZYFREE)
    .union(PageFlags::REFERENCED)
    .union(PageFlags::MLOCKED)
    .union(PageFlags::UNEVICTABLE);

/// Give `new` the identity of `old` (its kind, owner and place in it),
/// which loses it: freeing `old` then counts nothing down, `new` counts
/// what `old` did.
pub(crate) fn transfer(old: &Page, new: &Page) {
    new.insert_flags(old.flags() & KEPT);
    // The charge goes with the contents (Linux's mem_cgroup_migrate).
    if let Some((id, stat)) = old.take_memcg() {
        new.set_memcg(id, stat);
    }
    new.mapping.store(old.mapping.load(Ordering::Relaxed), Ordering::Relaxed);
    new.index.store(old.index.load(Ordering::Relaxed), Ordering::Relaxed);
    if old.has(PageFlags::MLOCKED) {
        // Compaction moves mlocked pages (vm.compact_unevictable_allowed):
        // the count of locked mappings goes with them.
        new.set_mlock_count(old.mlock_count());
    }
    old.remove_flags(KEPT);
    old.mapping.store(0, Ordering::Relaxed);
}

impl AddressSpace {
    /// The node of the page mapped at `va` (move_pages without nodes).
    pub fn page_node(&self, env: &MmEnv<'_>, va: u64) -> Result<u32, MigrateError> {
        self.vmas.containing(va).ok_or(MigrateError::Fault)?;
        let (pfn, _) = self.lookup(env, va).ok_or(MigrateError::NotPresent)?;
        if pfn == env.zero_page {
            return Err(MigrateError::Fault);
        }
        env.pa.page(pfn).map(|p| p.node()).ok_or(MigrateError::Fault)
    }

    /// Move the page mapped at `va` to node `nid` (move_pages, with this
    /// space's lock held exclusively). `move_all`: also a page other
    /// processes map (MPOL_MF_MOVE_ALL). Returns the node it is on.
    pub fn move_page(&mut self, env: &MmEnv<'_>, va: u64, nid: u32, move_all: bool) -> Result<u32, MigrateError> {
        let va = va & !(PAGE_SIZE - 1);
        let on = self.page_node(env, va)?;
        if on == nid {
            return Ok(nid);
        }
        let (pfn, _) = self.lookup(env, va).ok_or(MigrateError::NotPresent)?;
        let old = env.pa.page(pfn).ok_or(MigrateError::Fault)?;
        if old.mapcount() > 1 && !move_all {
            return Err(MigrateError::Shared);
        }
        let f = old.flags();
        if f.intersects(PageFlags::HEAD | PageFlags::TAIL | PageFlags::WRITEBACK) {
            return Err(MigrateError::Busy);
        }
        let lru = env.pa.lruvec(old);
        if !lru.isolate_page(&env.pa.memmap, old) {
            return Err(MigrateError::Busy);
        }
        let moved = match env.pa.alloc_pages_node(nid, GFP_HIGHUSER_MOVABLE | Gfp::THISNODE | Gfp::NOWARN, 0) {
            None => Err(MigrateError::NoMemory),
            Some(new) => {
                let r = if f.contains(PageFlags::ANON) {
                    migrate_anon(old, new, Some((&*self, env)))
                } else {
                    self.migrate_object_page(env, va, old, new)
                };
                if r.is_err() {
                    env.pa.put_user_page(new);
                }
                r.map(|()| new)
            }
        };
        match moved {
            Ok(_) => env.pa.vmstat.pgmigrate_success.inc(),
            Err(_) => {
                lru.putback(&env.pa.memmap, old, PageFlags::empty(), PageFlags::empty());
                env.pa.vmstat.pgmigrate_fail.inc();
            }
        }
        // The isolation's reference: the last one if the page moved.
        env.pa.put_user_page(pfn);
        moved.map(|new| env.pa.page(new).map_or(nid, |p| p.node()))
    }

    /// A page-cache or shmem page, wherever it is mapped: unmapped from
    /// every mapper, moved in its object, and mapped again at `va` here
    /// (other mappers fault it back from the object).
    fn migrate_object_page(
        &mut self,
        env: &MmEnv<'_>,
        va: u64,
        old: &'static Page,
        new: Pfn,
    ) -> Result<(), MigrateError> {
        let Some((PageOwner::File(obj), t)) = page_owner(old) else { return Err(MigrateError::Busy) };
        let ours = {
            let _ptl = self.ptl.lock();
            match self.mapper(env).pte(va, false) {
                Ok(Some(pte)) if Pfn::from_phys(pte.addr().as_u64()) == old.pfn() => Some(pte.flags()),
                _ => None,
            }
        };
        // Here first (this space's lock is ours, so the walk below skips
        // it), then every other mapper.
        self.try_unmap_page(env, &t, None);
        if !try_to_unmap(old, None) {
            return Err(MigrateError::Busy);
        }
        if !obj.migrate_page(t.index, old, new, 1) {
            return Err(MigrateError::Busy);
        }
        let (Some(flags), Some(np)) = (ours, env.pa.page(new)) else { return Ok(()) };
        let mut st = self.ptl.lock();
        if let Ok(Some(pte)) = self.mapper(env).pte(va, false) {
            if pte.is_unused() {
                // A mapping's reference and count, as a fault takes them.
                np.get();
                np.inc_mapcount();
                pte.set_addr(crate::addr::PhysAddr::new(new.phys()), flags);
                st.rss_add(Self::rss_kind(env, new), 1);
            }
        }
        Ok(())
    }
}

impl MemObject {
    /// Replace the object's page `old` at `pgoff` by a copy in `new`, if
    /// nothing maps `old` and only the object and `held` references of the
    /// caller hold it. The object's reference moves to `new` (its
    /// allocation's).
    pub fn migrate_page(&self, pgoff: u64, old: &'static Page, new: Pfn, held: i32) -> bool {
        let Some(np) = self.pa.page(new) else { return false };
        let mut pages = self.pages.lock();
        let idle = old.mapcount() == 0
            && old.refcount() == 1 + held
            && !old.flags().intersects(PageFlags::SWAPCACHE | PageFlags::WRITEBACK);
        if pages.get(&pgoff) != Some(&old.pfn().0) || !idle {
            return false;
        }
        let _ = self.pa.phys().copy_page(new, old.pfn());
        transfer(old, np);
        // On its list before the index names it (a truncate may free it
        // as soon as the lock goes).
        self.pa.lru_add_as(new, old.has(PageFlags::ACTIVE));
        pages.insert(pgoff, new.0);
        drop(pages);
        self.pa.put_user_page(old.pfn());
        true
    }
}

impl AddressSpace {
    /// Move every page of this space on a node `to[node]` names to that
    /// node (migrate_pages(2); with the lock held exclusively). Returns
    /// the pages left where they were (shared without `move_all`, busy,
    /// no memory on the target).
    pub fn migrate_nodes(&mut self, env: &MmEnv<'_>, to: &[Option<u32>], move_all: bool) -> u64 {
        let mut pages = alloc::vec::Vec::new();
        let ranges: alloc::vec::Vec<(u64, u64)> = self.vmas.iter().map(|v| (v.start, v.end)).collect();
        for (start, end) in ranges {
            self.for_each_leaf(env, start, end, &mut |leaf| {
                // hugetlb pages are not migrated, locked or moved here.
                if leaf.size != crate::vm::page_table::MapSize::Size4K {
                    return;
                }
                let pfn = Pfn::from_phys(leaf.phys.as_u64());
                let node = env.pa.page(pfn).map(|p| p.node() as usize);
                if pfn != env.zero_page && node.and_then(|n| to.get(n).copied().flatten()).is_some() {
                    pages.push(leaf.va);
                }
            });
        }
        let mut left = 0;
        for va in pages {
            let Ok(on) = self.page_node(env, va) else { continue };
            let Some(&Some(dest)) = to.get(on as usize) else { continue };
            match self.move_page(env, va, dest, move_all) {
                Ok(_) | Err(MigrateError::NotPresent) | Err(MigrateError::Fault) => {}
                Err(_) => left += 1,
            }
        }
        left
    }
}

/// Move the user page `old`, isolated from its LRU list by the caller
/// (whose reference that is), into the free page `new` (reference count
/// 1, nothing else): compaction's `migrate_pages` for one page, found
/// from its frame, not from an address. Its mappers are reached through
/// the reverse map: an anonymous page mapped once, in a space whose lock
/// is free at once; a page-cache or shmem page wherever it is mapped
/// (outside locked areas). On success `new` has taken `old`'s place,
/// references and counts; `old` keeps only the caller's reference. On
/// failure neither changed.
pub fn migrate_isolated(old: &'static Page, new: Pfn) -> Result<(), MigrateError> {
    if old.flags().intersects(PageFlags::HEAD | PageFlags::TAIL | PageFlags::WRITEBACK) {
        return Err(MigrateError::Busy);
    }
    match page_owner(old).ok_or(MigrateError::Busy)? {
        (PageOwner::Anon(_), _) => migrate_anon(old, new, None),
        (PageOwner::File(obj), t) => {
            if !try_to_unmap(old, None) {
                return Err(MigrateError::Busy);
            }
            if obj.migrate_page(t.index, old, new, 1) { Ok(()) } else { Err(MigrateError::Busy) }
        }
    }
}

/// Other processes that may map an anonymous page being moved: their
/// locks are held one stack frame each (32 KiB kernel stacks), so a page
/// more widely shared stays (EBUSY).
const MAX_MAPPERS: usize = 16;

/// The address spaces of a page's family, each with its lock held shared
/// (or, for the caller's own, exclusive) for as long as the page moves:
/// a list on the stack, one link per space, built as the locks are taken.
struct Held<'a> {
    space: &'a AddressSpace,
    env: &'a MmEnv<'a>,
    up: Option<&'a Held<'a>>,
}

impl<'a> Held<'a> {
    fn iter(&'a self) -> impl Iterator<Item = &'a Held<'a>> + 'a {
        core::iter::successors(Some(self), |h| h.up)
    }
}

/// Take the lock of every space in `spaces` (tried, shared), then run
/// `body` with them all held, `up` being those held already. False, and
/// `body` not run, if one was busy.
fn with_held(spaces: &[Arc<dyn MapperSpace>], up: Option<&Held<'_>>, body: &mut dyn FnMut(&Held<'_>)) -> bool {
    let Some((first, rest)) = spaces.split_first() else {
        return match up {
            Some(h) => {
                body(h);
                true
            }
            None => false,
        };
    };
    let mut all = false;
    let taken = first.try_with_space(&mut |space, env| {
        let h = Held { space, env, up };
        all = with_held(rest, Some(&h), body);
    });
    taken && all
}

/// Move the isolated anonymous page `old` (the caller's reference) into
/// the free page `new` (its allocation's reference, nothing else), with
/// migration entries in every space that maps it (Linux's
/// `migrate_folio_unmap` + `migrate_folio_move`). `own`: the caller's
/// space, whose lock it holds exclusively. On success `new` has `old`'s
/// place, mappings and references (the allocation's one went to the swap
/// cache or was put); on failure every entry maps `old` again and `new`
/// is untouched.
fn migrate_anon(old: &'static Page, new: Pfn, own: Option<(&AddressSpace, &MmEnv<'_>)>) -> Result<(), MigrateError> {
    let Some((PageOwner::Anon(family), t)) = page_owner(old) else { return Err(MigrateError::Busy) };
    let own_id = own.and_then(|(s, _)| s.rmap_owner.as_ref()).map(|w| w.as_ptr().cast::<u8>());
    // Only the spaces that map it (a busy one counts as mapping: the move
    // then fails), each held on the stack: at most MAX_MAPPERS.
    let maps = |s: &Arc<dyn MapperSpace>| {
        let mut m = true;
        s.try_with_space(&mut |space, env| m = space.maps_page(env, &t));
        m
    };
    let others: Vec<Arc<dyn MapperSpace>> =
        family.rmap.live().into_iter().filter(|s| Some(Arc::as_ptr(s).cast::<u8>()) != own_id && maps(s)).collect();
    if others.len() > MAX_MAPPERS {
        return Err(MigrateError::Busy);
    }
    let root = own.map(|(space, env)| Held { space, env, up: None });
    let mut r = Err(MigrateError::Busy);
    with_held(&others, root.as_ref(), &mut |held| r = migrate_anon_held(held, &t, old, new));
    r
}

/// [`migrate_anon`] with every space of the family held.
fn migrate_anon_held(held: &Held<'_>, t: &PageTarget, old: &'static Page, new: Pfn) -> Result<(), MigrateError> {
    let env = held.env;
    let Some(np) = env.pa.page(new) else { return Err(MigrateError::NoMemory) };
    // Every mapping becomes a migration entry (the TLBs flushed): no CPU
    // reads or writes `old` through a page table from here on, and a
    // fault on an entry waits (retries) until it maps a page again.
    for h in held.iter() {
        h.space.migration_unmap(h.env, t);
    }
    let copy = || {
        let _ = env.pa.phys().copy_page(new, old.pfn());
        transfer(old, np);
    };
    // Only the isolation (and the swap cache) may hold it now: a pinned
    // page, or one a fault of another process is about to map from the
    // swap cache, stays (Linux's folio_ref_freeze on the expected count).
    let moved = if old.mapcount() != 0 {
        false
    } else if old.has(PageFlags::SWAPCACHE) {
        let e = crate::swap::entry::SwapEntry::from_raw(old.private.load(Ordering::Relaxed));
        env.swap.migrate_cached(env.pa, e, old.pfn(), new, 1, copy)
    } else if old.refcount() == 1 {
        copy();
        true
    } else {
        false
    };
    let to = if moved {
        // On its list before anyone can reach it: once mapped and the
        // locks dropped, its process may free it at once.
        env.pa.lru_add_as(new, old.has(PageFlags::ACTIVE));
        t.pfn_moved(new)
    } else {
        *t
    };
    for h in held.iter() {
        h.space.remove_migration_ptes(h.env, t, to.pfn);
    }
    if !moved {
        return Err(MigrateError::Busy);
    }
    if np.has(PageFlags::SWAPCACHE) {
        // The cache's reference to `old`; `new`'s allocation is the cache's now.
        env.pa.put_user_page(old.pfn());
    } else {
        // Each mapping took its own reference.
        env.pa.put_user_page(new);
    }
    Ok(())
}

impl PageTarget {
    /// The same place, holding the page at `pfn`.
    fn pfn_moved(&self, pfn: Pfn) -> PageTarget {
        PageTarget { pfn, ..*self }
    }
}

impl AddressSpace {
    /// Turn every entry of this space that maps `t` into a migration entry
    /// (Linux's `try_to_migrate_one`; the space's lock held, shared or
    /// exclusive): the mapping's count and reference go, the entry keeps
    /// its write permission and accessed/dirty bits. Locked areas too (an
    /// mlocked page moves). Returns the entries changed; the TLB is
    /// flushed before it returns.
    pub(crate) fn migration_unmap(&self, env: &MmEnv<'_>, t: &PageTarget) -> u32 {
        let Some(p) = env.pa.page(t.pfn) else { return 0 };
        let mut n = 0;
        let mut flush = TlbFlush::none();
        {
            let mut st = self.ptl.lock();
            for (va, _) in self.target_addrs(t) {
                let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { continue };
                let f = pte.flags();
                if !f.contains(F::PRESENT) || Pfn::from_phys(pte.addr().as_u64()) != t.pfn {
                    continue;
                }
                let m = MigrationEntry {
                    pfn: t.pfn.0,
                    writable: f.contains(F::WRITABLE),
                    young: f.contains(F::ACCESSED),
                    dirty: f.contains(F::DIRTY),
                    soft_dirty: f.contains(SOFT_DIRTY),
                };
                let v = m.to_pte();
                pte.set_addr(PhysAddr::new(v & !0xfff), F::from_bits_truncate(v & 0xfff));
                st.rss_add(RssKind::Anon, -1);
                p.dec_mapcount();
                // The mapping's reference (the caller holds its own).
                env.pa.put_user_page(t.pfn);
                flush = flush.merge(TlbFlush::page(va, PAGE_SIZE));
                n += 1;
            }
        }
        flush.flush(env.tlb);
        n
    }

    /// Replace every migration entry of this space for the page `t` names
    /// by a mapping of `to` (Linux's `remove_migration_ptes`: the moved
    /// page, or the old one if it stayed), with the entry's write
    /// permission and bits. Each entry becomes the whole new PTE in one
    /// write under the page-table lock, the page's count and reference
    /// taken first, so a fault never sees half of it. Returns the entries
    /// restored.
    pub(crate) fn remove_migration_ptes(&self, env: &MmEnv<'_>, t: &PageTarget, to: Pfn) -> u32 {
        let Some(p) = env.pa.page(to) else { return 0 };
        let mut n = 0;
        let mut st = self.ptl.lock();
        for (va, vflags) in self.target_addrs(t) {
            let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { continue };
            let Some(m) = MigrationEntry::from_pte(raw(pte)) else { continue };
            if m.pfn != t.pfn.0 {
                continue;
            }
            let mut flags = Self::pte_flags(vflags, m.writable);
            for (on, bit) in [(m.young, F::ACCESSED), (m.dirty, F::DIRTY), (m.soft_dirty, SOFT_DIRTY)] {
                if on {
                    flags |= bit;
                }
            }
            p.get();
            p.inc_mapcount();
            pte.set_addr(PhysAddr::new(to.phys()), flags);
            st.rss_add(RssKind::Anon, 1);
            n += 1;
        }
        n
    }

    /// Whether an entry of this space maps the page `t` names.
    fn maps_page(&self, env: &MmEnv<'_>, t: &PageTarget) -> bool {
        let _ptl = self.ptl.lock();
        self.target_addrs(t).any(|(va, _)| {
            matches!(self.mapper(env).pte(va, false),
                Ok(Some(pte)) if pte.flags().contains(F::PRESENT) && Pfn::from_phys(pte.addr().as_u64()) == t.pfn)
        })
    }

    /// Visit the migration entries in `[start, end)` (pagemap shows the
    /// page a moving one names: it is resident).
    pub fn for_each_migration_entry(
        &self,
        env: &MmEnv<'_>,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, MigrationEntry),
    ) {
        let mut va = start & !(PAGE_SIZE - 1);
        while va < end {
            let block_end = (((va >> 21) + 1) << 21).min(end);
            if let Ok(Some(t)) = self.mapper(env).page_table_at(va, false) {
                for a in (va..block_end).step_by(PAGE_SIZE as usize) {
                    if let Some(m) = MigrationEntry::from_pte(raw(&t[((a >> 12) & 511) as usize])) {
                        f(a, m);
                    }
                }
            }
            va = block_end;
        }
    }

    /// Whether a migration entry is at `va` (a read of the entry; under
    /// the page-table lock for a fault): a fault there waits for the page to land (Linux's
    /// `migration_entry_wait`).
    pub(crate) fn is_migrating(&self, env: &MmEnv<'_>, va: u64) -> bool {
        matches!(self.mapper(env).pte(va, false), Ok(Some(pte)) if MigrationEntry::from_pte(raw(pte)).is_some())
    }
}
