//! Page descriptors (Linux's `struct page`) and the memory map that holds
//! them (cf. include/linux/mm_types.h, mm/sparse.c).
//!
//! Every 4 KiB frame of RAM has a 64-byte [`Page`]. Descriptors live in
//! per-section arrays, as with Linux's SPARSEMEM: physical memory is cut into
//! 128 MiB sections, and only sections that contain some RAM get an array
//! (32768 descriptors, 2 MiB), allocated from memblock on the node the
//! section belongs to. A hole of unpopulated sections (the PCI hole below
//! 4 GiB, the gap between nodes) therefore costs nothing but one pointer in
//! the section table; frames inside a populated section that are not RAM get
//! a descriptor marked `HOLE | RESERVED` so no allocator ever uses them.
//!
//! ```text
//!   sections[pfn >> 15] --> [Page; 32768]   (None for an empty section)
//!                                ^ index pfn & 0x7fff
//! ```
//!
//! Fields are atomics so a `&'static Page` can be shared freely; all of them
//! are only changed under the lock of whoever owns the page at that moment
//! (the zone lock while it is free, the slab cache lock inside slab, ...),
//! so Relaxed ordering suffices except for the reference count.

use core::sync::atomic::{AtomicI32, AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use bitflags::bitflags;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::phys::memblock::{Memblock, MemblockError, NUMA_NO_NODE};
use crate::phys::zone::ZoneType;
use crate::phys::{PhysMem, place_array};

bitflags! {
    /// Page flags (cf. include/linux/page-flags.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageFlags: u32 {
        /// Not managed by the buddy allocator (firmware, kernel image,
        /// memmap, boot reservations, holes).
        const RESERVED  = 1 << 0;
        /// Head of a free block in the buddy allocator.
        const BUDDY     = 1 << 1;
        /// Part of a slab.
        const SLAB      = 1 << 2;
        /// First page of a multi-page (compound) allocation.
        const HEAD      = 1 << 3;
        /// Later page of a compound allocation (`private` = head pfn).
        const TAIL      = 1 << 4;
        /// A page-table page.
        const PAGETABLE = 1 << 5;
        /// Anonymous user memory.
        const ANON      = 1 << 6;
        /// Page cache (file contents).
        const FILE      = 1 << 7;
        const LRU       = 1 << 8;
        const ACTIVE    = 1 << 9;
        const DIRTY     = 1 << 10;
        /// mlock()ed: never reclaimed.
        const MLOCKED   = 1 << 11;
        /// MADV_FREE: may be dropped under pressure if still clean.
        const LAZYFREE  = 1 << 12;
        const SWAPBACKED = 1 << 13;
        /// A kernel stack page.
        const KSTACK    = 1 << 14;
        /// Backs a vmalloc area.
        const VMALLOC   = 1 << 15;
        /// Kernel image (with RESERVED).
        const KERNEL    = 1 << 16;
        /// Holds page descriptors (with RESERVED).
        const MEMMAP    = 1 << 17;
        /// Inside a populated section but not RAM (with RESERVED).
        const HOLE      = 1 << 18;
        /// Shared anonymous memory (shmem-like).
        const SHMEM     = 1 << 19;
        /// Head of a large kmalloc allocation (Linux's `PGTY_large_kmalloc`):
        /// counted as slab memory, like Linux's NR_SLAB_UNRECLAIMABLE_B.
        const LARGE_KMALLOC = 1 << 20;
        /// In the swap cache (`private` holds its swap entry).
        const SWAPCACHE = 1 << 21;
        /// Being written to swap.
        const WRITEBACK = 1 << 22;
        /// On the unevictable LRU list (mlocked): counted there, linked
        /// nowhere (`prev` holds the mlock count). Changed only under the
        /// node's LRU lock, as `LRU`, `ACTIVE` and `SWAPBACKED` on a page
        /// that is on a list (see `phys::lru`).
        const UNEVICTABLE = 1 << 23;
        /// Seen referenced by one reclaim scan: the next one that finds it
        /// referenced again activates it (Linux's PG_referenced).
        const REFERENCED = 1 << 24;
        /// The head of a huge page of the hugetlb pool (Linux's
        /// PG_hugetlb): never on an LRU list, never migrated here.
        const HUGETLB = 1 << 25;
        /// Part of the working set: was active when reclaim deactivated it
        /// (or came back from swap or a file with a shadow saying so); its
        /// eviction shadow carries the bit, and its refault counts as a
        /// restore (Linux's PG_workingset).
        const WORKINGSET = 1 << 26;
    }
}

/// The descriptor of one page frame.
#[repr(C)]
pub struct Page {
    flags: AtomicU32,
    /// Buddy order while free (`BUDDY`); compound order on a `HEAD`.
    order: AtomicU8,
    zone: AtomicU8,
    node: AtomicU8,
    /// Migrate type of the pageblock, the same in every page of it
    /// (`buddy::set_pageblock_mt`).
    pageblock_mt: AtomicU8,
    refcount: AtomicI32,
    /// Number of page-table entries mapping this page into user space.
    mapcount: AtomicI32,
    /// The frame number (32 bits: 16 TiB of RAM, checked by `Memmap::build`).
    pfn: AtomicU32,
    /// The memory cgroup the page is charged to (`memcg::MemcgId`, 0: not
    /// charged) and, plus one, what it counts as there (`MemcgStat`; 0:
    /// nothing). Set by the charge, cleared by the free that uncharges.
    memcg: AtomicU16,
    memcg_stat: AtomicU8,
    _pad: u8,
    /// List links (free lists, slab lists, LRU) as pfns; `NIL` ends a list.
    pub next: AtomicU64,
    pub prev: AtomicU64,
    /// Owner-specific: the free list's migrate type while `BUDDY`, the slab
    /// cache while `SLAB`, the head pfn while `TAIL`.
    pub private: AtomicU64,
    /// Owner-specific: slab freelist; file or anon owner.
    pub mapping: AtomicU64,
    /// Owner-specific: slab object counts; page offset in its file.
    pub index: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Page>() <= 64, "page: struct Page must fit in 64 bytes");

/// End-of-list marker for pfn-linked lists.
pub const NIL: u64 = u64::MAX;

impl Page {
    #[inline]
    pub fn flags(&self) -> PageFlags {
        PageFlags::from_bits_retain(self.flags.load(Ordering::Relaxed))
    }

    #[inline]
    pub fn set_flags(&self, f: PageFlags) {
        self.flags.store(f.bits(), Ordering::Relaxed);
    }

    #[inline]
    pub fn insert_flags(&self, f: PageFlags) {
        self.flags.fetch_or(f.bits(), Ordering::Relaxed);
    }

    #[inline]
    pub fn remove_flags(&self, f: PageFlags) {
        self.flags.fetch_and(!f.bits(), Ordering::Relaxed);
    }

    /// The state of a free page (in the buddy or on a CPU's list): no
    /// flags, no reference, order 0, `private`, `mapping` and `index` 0.
    /// Every path that gives pages to the allocator leaves them so, so an
    /// allocation only checks them (`mapcount`, `next`/`prev` and the
    /// pageblock type are not touched).
    #[inline]
    pub fn reset_free(&self) {
        self.set_flags(PageFlags::empty());
        self.set_order(0);
        self.set_refcount(0);
        self.private.store(0, Ordering::Relaxed);
        self.mapping.store(0, Ordering::Relaxed);
        self.index.store(0, Ordering::Relaxed);
    }

    /// [`insert_flags`](Self::insert_flags) with a load and a store, no
    /// locked instruction (Linux's `__SetPageX`): only for a page whose
    /// flags nobody else changes now, a free page under its zone lock or a
    /// block just allocated and not yet handed out.
    #[inline]
    pub fn insert_flags_owned(&self, f: PageFlags) {
        self.flags.store(self.flags.load(Ordering::Relaxed) | f.bits(), Ordering::Relaxed);
    }

    /// [`remove_flags`](Self::remove_flags) likewise (`__ClearPageX`).
    #[inline]
    pub fn remove_flags_owned(&self, f: PageFlags) {
        self.flags.store(self.flags.load(Ordering::Relaxed) & !f.bits(), Ordering::Relaxed);
    }

    /// Locked mappings of a PG_mlocked user page (Linux's
    /// `folio->mlock_count`, kept in the LRU link while the page is
    /// unevictable; here in `prev`, which user pages never use). Only
    /// meaningful while MLOCKED is set.
    pub fn mlock_count(&self) -> u64 {
        self.prev.load(Ordering::Relaxed)
    }

    pub fn set_mlock_count(&self, n: u64) {
        self.prev.store(n, Ordering::Relaxed);
    }

    /// Set `f`; whether it was clear before (Linux's `TestSetPage*`). The
    /// test and the set are one atomic step, so of two tasks marking the
    /// same shared page only one sees it clear and counts it.
    #[inline]
    pub fn test_and_set_flag(&self, f: PageFlags) -> bool {
        self.flags.fetch_or(f.bits(), Ordering::Relaxed) & f.bits() == 0
    }

    /// Clear `f`; whether it was set before (Linux's `TestClearPage*`).
    #[inline]
    pub fn test_and_clear_flag(&self, f: PageFlags) -> bool {
        self.flags.fetch_and(!f.bits(), Ordering::Relaxed) & f.bits() != 0
    }

    #[inline]
    pub fn has(&self, f: PageFlags) -> bool {
        self.flags().contains(f)
    }

    #[inline]
    pub fn pfn(&self) -> Pfn {
        Pfn(self.pfn.load(Ordering::Relaxed) as u64)
    }

    #[inline]
    pub fn phys(&self) -> PhysAddr {
        PhysAddr::new(self.pfn().phys())
    }

    #[inline]
    pub fn order(&self) -> u32 {
        self.order.load(Ordering::Relaxed) as u32
    }

    #[inline]
    pub fn set_order(&self, order: u32) {
        self.order.store(order as u8, Ordering::Relaxed);
    }

    #[inline]
    pub fn zone_type(&self) -> ZoneType {
        ZoneType::from_index(self.zone.load(Ordering::Relaxed) as usize)
    }

    #[inline]
    pub fn node(&self) -> u32 {
        self.node.load(Ordering::Relaxed) as u32
    }

    #[inline]
    pub fn pageblock_mt(&self) -> u8 {
        self.pageblock_mt.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn set_pageblock_mt(&self, mt: u8) {
        self.pageblock_mt.store(mt, Ordering::Relaxed);
    }

    #[inline]
    pub fn refcount(&self) -> i32 {
        self.refcount.load(Ordering::Acquire)
    }

    #[inline]
    pub fn set_refcount(&self, v: i32) {
        self.refcount.store(v, Ordering::Release);
    }

    /// Take a reference (`get_page`).
    #[inline]
    pub fn get(&self) {
        self.refcount.fetch_add(1, Ordering::AcqRel);
    }

    /// Take a reference unless the count is zero (the page is being
    /// freed): `folio_try_get`, for finding a page without holding one.
    #[inline]
    pub fn get_unless_zero(&self) -> bool {
        let mut c = self.refcount.load(Ordering::Acquire);
        while c > 0 {
            match self.refcount.compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Drop a reference; returns the new count (`put_page_testzero`).
    #[inline]
    pub fn put(&self) -> i32 {
        self.refcount.fetch_sub(1, Ordering::AcqRel) - 1
    }

    #[inline]
    pub fn mapcount(&self) -> i32 {
        self.mapcount.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn set_mapcount(&self, v: i32) {
        self.mapcount.store(v, Ordering::Relaxed);
    }

    #[inline]
    pub fn inc_mapcount(&self) -> i32 {
        self.mapcount.fetch_add(1, Ordering::Relaxed) + 1
    }

    #[inline]
    pub fn dec_mapcount(&self) -> i32 {
        self.mapcount.fetch_sub(1, Ordering::Relaxed) - 1
    }

    /// The memory cgroup this page is charged to, if any.
    #[inline]
    pub fn memcg(&self) -> Option<crate::memcg::MemcgId> {
        match self.memcg.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    /// Record the charge of this page to group `id` as `stat`.
    #[inline]
    pub fn set_memcg(&self, id: crate::memcg::MemcgId, stat: Option<crate::memcg::MemcgStat>) {
        self.memcg_stat.store(stat.map_or(0, |s| s as u8 + 1), Ordering::Relaxed);
        self.memcg.store(id, Ordering::Relaxed);
    }

    /// The charge record, left in place: the group and what the page
    /// counts as there.
    #[inline]
    pub fn memcg_record(&self) -> Option<(crate::memcg::MemcgId, Option<crate::memcg::MemcgStat>)> {
        let id = self.memcg.load(Ordering::Relaxed);
        let stat = self.memcg_stat.load(Ordering::Relaxed);
        (id != 0).then(|| (id, stat.checked_sub(1).and_then(crate::memcg::MemcgStat::from_index)))
    }

    /// Take the charge record away (the free path uncharges it; migration
    /// moves it to the new page): the group and what the page counted as.
    #[inline]
    pub fn take_memcg(&self) -> Option<(crate::memcg::MemcgId, Option<crate::memcg::MemcgStat>)> {
        // Most pages were never charged: a load, and no locked exchange
        // (the free path's cost) unless there is a record to take.
        if self.memcg.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let id = self.memcg.swap(0, Ordering::Relaxed);
        let stat = self.memcg_stat.swap(0, Ordering::Relaxed);
        (id != 0).then(|| (id, stat.checked_sub(1).and_then(crate::memcg::MemcgStat::from_index)))
    }

    /// The descriptor of a freshly initialised frame with `flags`.
    fn new(pfn: u64, zone: ZoneType, nid: u32, flags: PageFlags) -> Page {
        Page {
            flags: AtomicU32::new(flags.bits()),
            order: AtomicU8::new(0),
            zone: AtomicU8::new(zone as u8),
            node: AtomicU8::new(nid as u8),
            // Every pageblock starts movable, as in Linux's memmap_init.
            pageblock_mt: AtomicU8::new(crate::phys::buddy::MigrateType::Movable as u8),
            refcount: AtomicI32::new(0),
            mapcount: AtomicI32::new(0),
            pfn: AtomicU32::new(pfn as u32),
            memcg: AtomicU16::new(0),
            memcg_stat: AtomicU8::new(0),
            _pad: 0,
            next: AtomicU64::new(NIL),
            prev: AtomicU64::new(NIL),
            private: AtomicU64::new(0),
            mapping: AtomicU64::new(0),
            index: AtomicU64::new(0),
        }
    }
}

/// log2 of the section size (128 MiB, as x86_64 Linux).
pub const SECTION_SIZE_BITS: u32 = 27;
pub const PAGES_PER_SECTION: u64 = 1 << (SECTION_SIZE_BITS - PAGE_SHIFT);

/// The memory map: section table and the descriptor arrays.
pub struct Memmap {
    /// One entry per section: its descriptors, `None` when it has no RAM.
    sections: &'static [Option<&'static [Page]>],
    /// The descriptors of the first sections when they are one array from
    /// pfn 0 on (a run of sections with RAM on one node, allocated
    /// together, as Linux's vmemmap is one array): a lookup there is an
    /// index, without the section table (kfree and free_pages look up a
    /// descriptor every time). Empty otherwise.
    flat: &'static [Page],
    max_pfn: u64,
    /// Bytes of descriptors allocated.
    pub memmap_bytes: u64,
    pub populated_sections: u64,
}

impl Memmap {
    /// Build the memory map for every RAM range in `mb`: allocate the
    /// section table and, for each section holding RAM, its descriptor
    /// array on the section's node. Every descriptor starts `RESERVED`; the
    /// hand-off to the buddy allocator clears that for free pages.
    pub fn build(mb: &mut Memblock, phys: &'static dyn PhysMem) -> Result<Memmap, MemblockError> {
        let max_pfn = (mb.end_of_ram() >> PAGE_SHIFT).min(u32::MAX as u64);
        let nr_sections = (max_pfn.div_ceil(PAGES_PER_SECTION)) as usize;
        let table_bytes =
            ((nr_sections.max(1) * core::mem::size_of::<Option<&[Page]>>()) as u64).next_multiple_of(PAGE_SIZE);
        let table_pa = mb.alloc(table_bytes, PAGE_SIZE, "memmap (section table)")?;
        // SAFETY: memory just reserved for the section table alone, never
        // freed.
        let sections = unsafe { place_array(phys, PhysAddr::new(table_pa), nr_sections, |_| None) }
            .ok_or(MemblockError::NoMemory)?;
        let (mut memmap_bytes, mut populated_sections) = (0, 0);
        let array_bytes = PAGES_PER_SECTION * core::mem::size_of::<Page>() as u64;
        // The node of the first RAM in each section (None: no RAM).
        let nodes: alloc::vec::Vec<Option<u32>> = (0..nr_sections as u64)
            .map(|sec| {
                let (start, end) = (sec * PAGES_PER_SECTION * PAGE_SIZE, (sec + 1) * PAGES_PER_SECTION * PAGE_SIZE);
                let nid = mb.memory.regions().iter().find(|r| r.base < end && r.end() > start).map(|r| r.nid)?;
                Some(if nid == NUMA_NO_NODE { 0 } else { nid })
            })
            .collect();
        let node_of_section = |sec: u64| nodes[sec as usize];
        let mut flat: &'static [Page] = &[];
        let mut sec = 0;
        while sec < nr_sections as u64 {
            let Some(nid) = node_of_section(sec) else {
                sec += 1;
                continue;
            };
            // A run of sections with RAM on the same node: one array if
            // memblock has room for it, else one per section.
            let mut run = 1;
            while sec + run < nr_sections as u64 && node_of_section(sec + run) == Some(nid) {
                run += 1;
            }
            let pa = match mb.alloc_range_nid(run * array_bytes, PAGE_SIZE, 0, u64::MAX, nid, false, "memmap") {
                Ok(pa) => pa,
                Err(_) => {
                    run = 1;
                    mb.alloc_range_nid(array_bytes, PAGE_SIZE, 0, u64::MAX, nid, false, "memmap")?
                }
            };
            let first_pfn = sec * PAGES_PER_SECTION;
            let descriptor = |i: usize| {
                let pfn = first_pfn + i as u64;
                let (flags, node) = match mb.nid_of(pfn << PAGE_SHIFT) {
                    Some(n) => (PageFlags::RESERVED, if n == NUMA_NO_NODE { 0 } else { n }),
                    None => (PageFlags::RESERVED | PageFlags::HOLE, nid),
                };
                Page::new(pfn, ZoneType::of_pfn(pfn), node, flags)
            };
            // SAFETY: memory just reserved for these sections' descriptors
            // alone, never freed.
            let array = unsafe { place_array(phys, PhysAddr::new(pa), (run * PAGES_PER_SECTION) as usize, descriptor) }
                .ok_or(MemblockError::NoMemory)?;
            let array: &'static [Page] = array;
            if sec == 0 {
                flat = array;
            }
            for (k, chunk) in array.chunks(PAGES_PER_SECTION as usize).enumerate() {
                sections[sec as usize + k] = Some(chunk);
            }
            memmap_bytes += run * array_bytes;
            populated_sections += run;
            sec += run;
        }
        let mm = Memmap { sections, flat, max_pfn, memmap_bytes, populated_sections };
        // Descriptors of the memmap's own pages say so.
        let arrays: alloc::vec::Vec<(u64, u64)> =
            mb.reserved.regions().iter().filter(|r| r.name.starts_with("memmap")).map(|r| (r.base, r.end())).collect();
        for (s, e) in arrays {
            for pfn in s >> PAGE_SHIFT..e.div_ceil(PAGE_SIZE) {
                if let Some(p) = mm.page(Pfn(pfn)) {
                    p.insert_flags(PageFlags::MEMMAP);
                }
            }
        }
        Ok(mm)
    }

    /// The descriptor of `pfn`, or `None` for a frame without one.
    #[inline(always)]
    pub fn page(&self, pfn: Pfn) -> Option<&'static Page> {
        match self.flat.get(pfn.0 as usize) {
            Some(p) => Some(p),
            None => self.page_in_section(pfn),
        }
    }

    /// [`page`](Self::page) through the section table.
    #[inline(never)]
    pub(crate) fn page_in_section(&self, pfn: Pfn) -> Option<&'static Page> {
        let section = (*self.sections.get((pfn.0 / PAGES_PER_SECTION) as usize)?)?;
        section.get((pfn.0 % PAGES_PER_SECTION) as usize)
    }

    /// The descriptors of the naturally aligned block of `2^order` pages
    /// at `pfn`, one slice (a block never crosses a section: sections are
    /// aligned and larger than the largest block), or `None` when `pfn`
    /// has no descriptor.
    #[inline]
    pub fn block(&self, pfn: Pfn, order: u32) -> Option<&'static [Page]> {
        let section = (*self.sections.get((pfn.0 / PAGES_PER_SECTION) as usize)?)?;
        let i = (pfn.0 % PAGES_PER_SECTION) as usize;
        section.get(i..i + (1usize << order))
    }

    /// Pages the flat run covers, from pfn 0.
    pub fn flat_pages(&self) -> u64 {
        self.flat.len() as u64
    }

    /// One past the highest pfn with RAM.
    pub fn max_pfn(&self) -> u64 {
        self.max_pfn
    }

    /// Whether `pfn` has a descriptor and is RAM.
    pub fn is_ram(&self, pfn: Pfn) -> bool {
        self.page(pfn).is_some_and(|p| !p.has(PageFlags::HOLE))
    }

    /// Descriptor of the page containing physical address `pa`.
    #[inline]
    pub fn page_of_phys(&self, pa: u64) -> Option<&'static Page> {
        self.page(Pfn::from_phys(pa))
    }

    /// Head page of the compound page `p` belongs to (itself if none).
    #[inline]
    pub fn compound_head(&self, p: &'static Page) -> &'static Page {
        if !p.has(PageFlags::TAIL) {
            return p;
        }
        let (pfn, head) = (p.pfn().0, p.private.load(Ordering::Relaxed));
        let back = pfn.wrapping_sub(head);
        if back <= pfn % PAGES_PER_SECTION {
            // SAFETY: a section's descriptors are one slice (`sections`),
            // `p` is in it at index `pfn % PAGES_PER_SECTION`, and the head
            // `back` places before it is in the same slice (a compound
            // block never crosses a section): no lookup needed.
            return unsafe { &*(p as *const Page).sub(back as usize) };
        }
        self.page(Pfn(head)).unwrap_or(p)
    }
}

/// An intrusive doubly linked list of pages through their `next`/`prev`
/// fields (slab lists, LRU lists, per-CPU page lists). The owner's lock
/// protects it.
#[derive(Clone, Copy, Debug)]
pub struct PageList {
    head: u64,
    tail: u64,
    len: u64,
}

impl Default for PageList {
    fn default() -> Self {
        Self::new()
    }
}

impl PageList {
    pub const fn new() -> Self {
        PageList { head: NIL, tail: NIL, len: 0 }
    }

    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn front(&self) -> Option<Pfn> {
        (self.head != NIL).then_some(Pfn(self.head))
    }

    #[inline]
    pub fn push_front(&mut self, mm: &Memmap, page: &Page) {
        page.prev.store(NIL, Ordering::Relaxed);
        page.next.store(self.head, Ordering::Relaxed);
        if let Some(old) = mm.page(Pfn(self.head)).filter(|_| self.head != NIL) {
            old.prev.store(page.pfn().0, Ordering::Relaxed);
        }
        if self.head == NIL {
            self.tail = page.pfn().0;
        }
        self.head = page.pfn().0;
        self.len += 1;
    }

    /// Append `page` behind the last page.
    #[inline]
    pub fn push_back(&mut self, mm: &Memmap, page: &Page) {
        page.next.store(NIL, Ordering::Relaxed);
        page.prev.store(self.tail, Ordering::Relaxed);
        if let Some(old) = mm.page(Pfn(self.tail)).filter(|_| self.tail != NIL) {
            old.next.store(page.pfn().0, Ordering::Relaxed);
        }
        if self.tail == NIL {
            self.head = page.pfn().0;
        }
        self.tail = page.pfn().0;
        self.len += 1;
    }

    /// Unlink `page`, which must be on this list.
    #[inline]
    pub fn remove(&mut self, mm: &Memmap, page: &Page) {
        let (prev, next) = (page.prev.load(Ordering::Relaxed), page.next.load(Ordering::Relaxed));
        if prev == NIL {
            self.head = next;
        } else if let Some(p) = mm.page(Pfn(prev)) {
            p.next.store(next, Ordering::Relaxed);
        }
        if next == NIL {
            self.tail = prev;
        } else if let Some(n) = mm.page(Pfn(next)) {
            n.prev.store(prev, Ordering::Relaxed);
        }
        page.next.store(NIL, Ordering::Relaxed);
        page.prev.store(NIL, Ordering::Relaxed);
        self.len -= 1;
    }

    #[inline]
    pub fn pop_front(&mut self, mm: &Memmap) -> Option<&'static Page> {
        let p = mm.page(self.front()?)?;
        self.remove(mm, p);
        Some(p)
    }

    /// The page pushed longest ago (the coldest, for bulk frees).
    #[inline]
    pub fn pop_back(&mut self, mm: &Memmap) -> Option<&'static Page> {
        if self.tail == NIL {
            return None;
        }
        let p = mm.page(Pfn(self.tail))?;
        self.remove(mm, p);
        Some(p)
    }

    /// Every page on the list, front first.
    pub fn iter<'a>(&self, mm: &'a Memmap) -> impl Iterator<Item = &'static Page> + 'a {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let p = mm.page(Pfn(cur))?;
            cur = p.next.load(Ordering::Relaxed);
            Some(p)
        })
    }
}
