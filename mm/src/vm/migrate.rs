//! Page migration (Linux's mm/migrate.c): move a user page's contents and
//! every mapping of it to a new page frame, on another node or elsewhere
//! in a zone; what move_pages(2) does here, and the core that compaction
//! and NUMA placement build on.
//!
//! ```text
//!   move_page(space, va, node)
//!     the page at va: none -> ENOENT; no area, the zero page -> EFAULT;
//!       on `node` already -> done; mapped by others without MOVE_ALL -> EACCES
//!     isolate it from its LRU list (a reference; not on a list -> EBUSY)
//!     a new page on `node` (__GFP_THISNODE; none -> ENOMEM)
//!     anonymous, mapped here only:
//!       clear the PTE, flush the TLB; only the mapping and the isolation
//!       hold the page? copy, the PTE now maps the new page (same bits)
//!     page cache, shmem (any number of mappers):
//!       unmap it everywhere (the object's reverse map; other mappers
//!       fault the new page back from the object); only the object and
//!       the isolation hold it? copy, the object's index names the new
//!       page, and it is mapped again at va here
//!     either way the old page is freed by the caller's put; otherwise it
//!     goes back to its list (EBUSY)
//! ```
//!
//! No migration entries: an anonymous page is moved with the address
//! space's lock held exclusively (move_pages takes it for writing), so no
//! fault of this space can run between the cleared PTE and the new one,
//! and reclaim's reverse-map walks only try that lock. So an anonymous page
//! mapped by several processes (shared since fork), one in the swap cache
//! or mlocked, is left where it is (EBUSY), where Linux would move it with
//! migration entries in every mapper's page table. A page-cache or shmem
//! page needs no entry at all: unmapped, its mappers fault it back from
//! the object, where the index lock orders them after the swap.
//!
//! Locks: the space's lock (exclusive), then its page-table lock or the
//! object's page index lock, then the LRU lock (a leaf).

use core::sync::atomic::Ordering;

use crate::addr::{PAGE_SIZE, Pfn};
use crate::phys::gfp::{GFP_HIGHUSER_MOVABLE, Gfp};
use crate::phys::page::{Page, PageFlags};
use crate::vm::address_space::{AddressSpace, MmEnv};
use crate::vm::file::MemObject;
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
fn transfer(old: &Page, new: &Page) {
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
        if f.intersects(PageFlags::MLOCKED | PageFlags::HEAD | PageFlags::SWAPCACHE | PageFlags::WRITEBACK) {
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
                    self.migrate_anon(env, va, old, new)
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

    /// An anonymous page mapped at `va` of this space only.
    fn migrate_anon(&mut self, env: &MmEnv<'_>, va: u64, old: &'static Page, new: Pfn) -> Result<(), MigrateError> {
        if old.mapcount() != 1 {
            return Err(MigrateError::Busy);
        }
        let Some(np) = env.pa.page(new) else { return Err(MigrateError::NoMemory) };
        let flags = {
            let _ptl = self.ptl.lock();
            let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { return Err(MigrateError::Busy) };
            if Pfn::from_phys(pte.addr().as_u64()) != old.pfn() {
                return Err(MigrateError::Busy);
            }
            let flags = pte.flags();
            pte.set_unused();
            flags
        };
        // No CPU writes the old page from here on.
        TlbFlush::page(va, PAGE_SIZE).flush(env.tlb);
        let restore = |s: &Self, to: Pfn| {
            let _ptl = s.ptl.lock();
            if let Ok(Some(pte)) = s.mapper(env).pte(va, false) {
                pte.set_addr(crate::addr::PhysAddr::new(to.phys()), flags);
            }
        };
        // The mapping's reference and the isolation's: nobody else (a
        // pinned page, a remote access in flight) may hold it.
        if old.refcount() != 2 {
            restore(self, old.pfn());
            return Err(MigrateError::Busy);
        }
        let _ = env.pa.phys().copy_page(new, old.pfn());
        transfer(old, np);
        np.inc_mapcount();
        // On its list before anyone can reach it: once mapped and the
        // lock dropped, its process may free it at once.
        env.pa.lru_add_as(new, old.has(PageFlags::ACTIVE));
        restore(self, new);
        old.dec_mapcount();
        // The mapping's reference, which the new page's allocation took over.
        env.pa.put_user_page(old.pfn());
        Ok(())
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

impl AddressSpace {
    /// Move the anonymous page `t` names, mapped here only, into `new`
    /// (compaction, through [`MapperSpace::try_migrate_anon`] with this
    /// space's lock held exclusively).
    ///
    /// [`MapperSpace::try_migrate_anon`]: crate::vm::rmap::MapperSpace::try_migrate_anon
    pub fn migrate_anon_target(&mut self, env: &MmEnv<'_>, t: &PageTarget, new: Pfn) -> Result<(), MigrateError> {
        let old = env.pa.page(t.pfn).ok_or(MigrateError::Fault)?;
        let va = {
            let _ptl = self.ptl.lock();
            self.target_addrs(t).map(|(va, _)| va).find(|&va| {
                matches!(self.mapper(env).pte(va, false),
                    Ok(Some(pte)) if !pte.is_unused() && Pfn::from_phys(pte.addr().as_u64()) == t.pfn)
            })
        };
        self.migrate_anon(env, va.ok_or(MigrateError::Busy)?, old, new)
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
    if old.flags().intersects(PageFlags::HEAD | PageFlags::TAIL | PageFlags::SWAPCACHE | PageFlags::WRITEBACK) {
        return Err(MigrateError::Busy);
    }
    match page_owner(old).ok_or(MigrateError::Busy)? {
        (PageOwner::Anon(family), t) => {
            if old.mapcount() != 1 {
                return Err(MigrateError::Busy);
            }
            let mut r = Err(MigrateError::Busy);
            family.rmap.for_each_space(|s| {
                if r.is_err() && old.mapcount() == 1 && old.mapping.load(Ordering::Relaxed) != 0 {
                    if let Some(done) = s.try_migrate_anon(&t, new) {
                        r = done;
                    }
                }
            });
            r
        }
        (PageOwner::File(obj), t) => {
            if !try_to_unmap(old, None) {
                return Err(MigrateError::Busy);
            }
            if obj.migrate_page(t.index, old, new, 1) { Ok(()) } else { Err(MigrateError::Busy) }
        }
    }
}
