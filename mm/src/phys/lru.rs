//! The LRU lists of one node (Linux's `struct lruvec`): every user page
//! (anonymous, shmem, page cache) is on exactly one of them from the
//! moment it is first mapped or cached until it is freed, except while
//! reclaim has it *isolated* (taken off to be looked at).
//!
//! ```text
//!                 new page ─────────┐
//!                                   v
//!   anon (SWAPBACKED):   inactive anon  <──deactivate──  active anon
//!   file, lazyfree:      inactive file  <──deactivate──  active file
//!                             │  ^ referenced once: keep       ^
//!                             │  └─────────────────────────────┤ twice: activate
//!                             └── isolate (tail) ── reclaim ───┘
//!   mlocked:             unevictable (counted, not linked)
//! ```
//!
//! The list a page is on is a function of its flags: `UNEVICTABLE` ->
//! unevictable, else `SWAPBACKED` picks anon or file and `ACTIVE` picks the
//! half ([`LruList::of`]). `LRU` says the page is on a list. These four
//! flags change only under the node's LRU lock while `LRU` is set, so the
//! list a page is on can always be recomputed to unlink it. New pages go to
//! the head of the inactive list (Linux since 5.9 for anonymous pages
//! too); reclaim takes from the tail. Unevictable pages are only counted:
//! their `prev` link holds the mlock count (`Page::mlock_count`), as in
//! Linux, and the mlock count changes under this lock too
//! ([`Lruvec::mlock`], [`Lruvec::munlock`]).
//!
//! References: being on a list holds none. Isolation takes one with
//! `get_unless_zero` (a page whose count already reached zero is being
//! freed: it stays for its freer, who unlinks it under this lock); the
//! isolator puts the page back (or frees it) and drops that reference.
//! The allocator's free path unlinks a page that still has `LRU` set
//! ([`Lruvec::del_freed`]).
//!
//! Lock: `lists` (an IrqLock) is a leaf: nothing else is taken under it
//! and no page is freed under it. It nests inside the page-table lock (a
//! fault adds its new page after installing it) and inside an address
//! space's lock.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::addr::Pfn;
use crate::phys::page::{Memmap, Page, PageFlags, PageList};
use crate::sync::IrqLock;

/// The lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LruList {
    InactiveAnon = 0,
    ActiveAnon = 1,
    InactiveFile = 2,
    ActiveFile = 3,
    Unevictable = 4,
}

/// The evictable lists, which are linked.
pub const EVICTABLE: [LruList; 4] =
    [LruList::InactiveAnon, LruList::ActiveAnon, LruList::InactiveFile, LruList::ActiveFile];

/// The flags that decide a page's list.
pub const LIST_FLAGS: PageFlags =
    PageFlags::UNEVICTABLE.union(PageFlags::SWAPBACKED).union(PageFlags::ACTIVE).union(PageFlags::LRU);

impl LruList {
    /// The list a page with flags `f` belongs on.
    pub fn of(f: PageFlags) -> LruList {
        if f.contains(PageFlags::UNEVICTABLE) {
            return LruList::Unevictable;
        }
        match (f.contains(PageFlags::SWAPBACKED), f.contains(PageFlags::ACTIVE)) {
            (true, false) => LruList::InactiveAnon,
            (true, true) => LruList::ActiveAnon,
            (false, false) => LruList::InactiveFile,
            (false, true) => LruList::ActiveFile,
        }
    }

    pub fn is_file(self) -> bool {
        matches!(self, LruList::InactiveFile | LruList::ActiveFile)
    }

    pub fn is_active(self) -> bool {
        matches!(self, LruList::ActiveAnon | LruList::ActiveFile)
    }

    /// The other half of the same kind (active <-> inactive).
    pub fn other_half(self) -> LruList {
        match self {
            LruList::InactiveAnon => LruList::ActiveAnon,
            LruList::ActiveAnon => LruList::InactiveAnon,
            LruList::InactiveFile => LruList::ActiveFile,
            LruList::ActiveFile => LruList::InactiveFile,
            LruList::Unevictable => LruList::Unevictable,
        }
    }
}

struct Lists {
    linked: [PageList; 4],
    unevictable: u64,
}

impl Lists {
    fn link(&mut self, mm: &Memmap, p: &Page) {
        match LruList::of(p.flags()) {
            LruList::Unevictable => self.unevictable += 1,
            l => self.linked[l as usize].push_front(mm, p),
        }
    }

    fn unlink(&mut self, mm: &Memmap, p: &Page) {
        match LruList::of(p.flags()) {
            LruList::Unevictable => self.unevictable -= 1,
            l => self.linked[l as usize].remove(mm, p),
        }
    }
}

/// One node's lists.
pub struct Lruvec {
    lists: IrqLock<Lists>,
    /// Evictions and activations so far (Linux's `nonresident_age`): the
    /// clock of refault distances (the shadow entries of `workingset`).
    nonresident_age: AtomicU64,
}

impl Default for Lruvec {
    fn default() -> Lruvec {
        Lruvec::new()
    }
}

impl Lruvec {
    pub const fn new() -> Lruvec {
        Lruvec {
            lists: IrqLock::new(Lists { linked: [PageList::new(); 4], unevictable: 0 }),
            nonresident_age: AtomicU64::new(0),
        }
    }

    /// Advance the refault clock by one (an eviction or an activation);
    /// returns the new time.
    pub fn age_nonresident(&self) -> u64 {
        self.nonresident_age.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn nonresident_age(&self) -> u64 {
        self.nonresident_age.load(Ordering::Relaxed)
    }

    /// Pages on `list`.
    pub fn len(&self, list: LruList) -> u64 {
        let l = self.lists.lock();
        match list {
            LruList::Unevictable => l.unevictable,
            _ => l.linked[list as usize].len(),
        }
    }

    /// Put a new page (on no list, never isolated) at the head of its
    /// inactive list (`active`: its active list: a refault of the
    /// working set), or count it unevictable (`lru_cache_add`).
    pub fn add(&self, mm: &Memmap, p: &Page, active: bool) {
        let mut l = self.lists.lock();
        if p.has(PageFlags::LRU) {
            return;
        }
        p.remove_flags(PageFlags::ACTIVE | PageFlags::REFERENCED);
        p.insert_flags(if active { PageFlags::LRU | PageFlags::ACTIVE } else { PageFlags::LRU });
        l.link(mm, p);
    }

    /// The last reference to `p` went: take it off its list if it is on
    /// one (`__page_cache_release`).
    pub fn del_freed(&self, mm: &Memmap, p: &Page) {
        let mut l = self.lists.lock();
        if p.has(PageFlags::LRU) {
            l.unlink(mm, p);
            p.remove_flags(PageFlags::LRU);
        }
    }

    /// Change list-deciding flags of `p` (set `set`, clear `clear`),
    /// moving it to the head of its new list if it is on one (MADV_FREE,
    /// MADV_COLD, a lazyfree page written again).
    pub fn update(&self, mm: &Memmap, p: &Page, set: PageFlags, clear: PageFlags) {
        let mut l = self.lists.lock();
        if p.has(PageFlags::LRU) {
            l.unlink(mm, p);
            p.remove_flags(clear);
            p.insert_flags(set);
            l.link(mm, p);
        } else {
            p.remove_flags(clear);
            p.insert_flags(set);
        }
    }

    /// A locked mapping of `p` appeared (`mlock_folio`): the first one
    /// makes it unevictable. Returns whether it was the first.
    pub fn mlock(&self, mm: &Memmap, p: &Page) -> bool {
        let mut l = self.lists.lock();
        if p.has(PageFlags::MLOCKED) {
            p.set_mlock_count(p.mlock_count() + 1);
            return false;
        }
        let on = p.has(PageFlags::LRU);
        if on {
            l.unlink(mm, p);
        }
        p.insert_flags(PageFlags::MLOCKED | PageFlags::UNEVICTABLE);
        p.remove_flags(PageFlags::ACTIVE);
        if on {
            l.link(mm, p);
        }
        p.set_mlock_count(1);
        true
    }

    /// A locked mapping of `p` went (`munlock_folio`): the last one puts
    /// it back on the inactive list. Returns whether it was the last.
    /// `all`: every locked mapping went at once (no mapping is left).
    pub fn munlock(&self, mm: &Memmap, p: &Page, all: bool) -> bool {
        let mut l = self.lists.lock();
        if !p.has(PageFlags::MLOCKED) {
            return false;
        }
        let left = if all { 0 } else { p.mlock_count().saturating_sub(1) };
        p.set_mlock_count(left);
        if left > 0 {
            return false;
        }
        let on = p.has(PageFlags::LRU);
        if on {
            l.unlink(mm, p);
        }
        p.remove_flags(PageFlags::MLOCKED | PageFlags::UNEVICTABLE);
        if on {
            l.link(mm, p);
        } else {
            p.set_mlock_count(0);
        }
        true
    }

    /// Take up to `nr` pages from the tail of `list` (the coldest), each
    /// with a reference, into `out`; returns the pages looked at (Linux's
    /// `isolate_lru_folios`). A page being freed is moved to the head and
    /// left to its freer.
    pub fn isolate(&self, mm: &Memmap, list: LruList, nr: usize, out: &mut alloc::vec::Vec<Pfn>) -> u64 {
        if list == LruList::Unevictable {
            return 0;
        }
        let mut l = self.lists.lock();
        let mut scanned = 0;
        let len = l.linked[list as usize].len();
        while out.len() < nr && scanned < len {
            let Some(p) = l.linked[list as usize].pop_back(mm) else { break };
            scanned += 1;
            if !p.get_unless_zero() {
                l.linked[list as usize].push_front(mm, p);
                continue;
            }
            p.remove_flags(PageFlags::LRU);
            out.push(p.pfn());
        }
        scanned
    }

    /// Take `p` itself off its list with a reference (migration's
    /// `folio_isolate_lru`): false if it is on none (isolated already,
    /// being freed, not a user page).
    pub fn isolate_page(&self, mm: &Memmap, p: &Page) -> bool {
        let mut l = self.lists.lock();
        if !p.has(PageFlags::LRU) || !p.get_unless_zero() {
            return false;
        }
        l.unlink(mm, p);
        p.remove_flags(PageFlags::LRU);
        true
    }

    /// The pfns on linked list `list`, head first (for tests and views).
    pub fn order(&self, mm: &Memmap, list: LruList) -> alloc::vec::Vec<Pfn> {
        let l = self.lists.lock();
        match list {
            LruList::Unevictable => alloc::vec::Vec::new(),
            _ => l.linked[list as usize].iter(mm).map(|p| p.pfn()).collect(),
        }
    }

    /// Return an isolated page to the head of the list its flags name,
    /// after setting `set` and clearing `clear` (`move_folios_to_lru`);
    /// the caller then drops its reference.
    pub fn putback(&self, mm: &Memmap, p: &Page, set: PageFlags, clear: PageFlags) {
        let mut l = self.lists.lock();
        p.remove_flags(clear);
        p.insert_flags(set | PageFlags::LRU);
        l.link(mm, p);
    }
}

pub mod workingset;

#[cfg(test)]
mod tests;
