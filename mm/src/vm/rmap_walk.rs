//! From one page to every page-table entry that maps it: what reclaim
//! needs to age a page (`folio_referenced`) and to take it away from its
//! mappers (`try_to_unmap`).
//!
//! ```text
//!   anonymous page: mapping = AnonFamily address | 1, index = linear index
//!     AnonFamily.rmap ── the address spaces of one fork tree
//!       each: private areas with pgoff <= index < pgoff + pages
//!             va = start + (index - pgoff) * 4K; the PTE must map the page
//!   page-cache page: mapping = MemObject address, index = page offset
//!     MemObject.rmap ── the address spaces mapping the file
//!       each: areas of the object over that offset, same formula
//! ```
//!
//! Anonymous memory: Linux chains an `anon_vma` to each area; here a
//! *family* is shared by an address space and every space forked from it
//! (exec starts a new one), as Linux's early object-based anonymous rmap
//! ("anonmm") did. A page created in the family records it with the page's
//! linear index (`Vma::pgoff_of`: an anonymous area's `pgoff` is its first
//! address / 4K, kept by mremap, split and merge exactly as for a file),
//! so the page is found in every space that inherited it, wherever mremap
//! moved it. The walk visits each space of the family and only the areas
//! whose offsets cover the index, and checks that the entry maps this very
//! page: a private area of another mapping that happens to cover the same
//! index is looked at and passed over. The cost per page is the family's
//! spaces times their areas, against Linux's areas sharing the anon_vma.
//!
//! Families and objects are reached from a page through registries keyed
//! by address that hold weak references: a page never keeps its family or
//! file alive, and a stale address (the family died; a new one may live at
//! the same address) finds no entry mapping the page, so it does no harm.
//!
//! Locks: a walk takes the registry lock (a leaf) only to look up, then
//! each space's own lock through [`MapperSpace`] (tried: a busy space is
//! skipped and the page kept), and inside it the page-table lock.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::Ordering;

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::phys::page::{Page, PageFlags};
use crate::swap::entry::SwapEntry;
use crate::sync::IrqLock;
use crate::vm::address_space::{AddressSpace, MmEnv, RssKind};
use crate::vm::file::MemObject;
use crate::vm::page_table::{set_swap, test_and_clear_young};
use crate::vm::rmap::{MapperSpace, Rmap};
use crate::vm::tlb::TlbFlush;
use crate::vm::vma::{VmFlags, Vma};

/// Live objects by address, held weakly.
pub struct Registry<T> {
    map: IrqLock<BTreeMap<u64, Weak<T>>>,
}

impl<T> Registry<T> {
    pub const fn new() -> Registry<T> {
        Registry { map: IrqLock::new(BTreeMap::new()) }
    }

    pub fn insert(&self, a: &Arc<T>) {
        self.map.lock().insert(Arc::as_ptr(a) as u64, Arc::downgrade(a));
    }

    /// Forget the object at `addr` (its last reference is going).
    pub fn remove(&self, addr: u64) {
        self.map.lock().remove(&addr);
    }

    pub fn get(&self, addr: u64) -> Option<Arc<T>> {
        self.map.lock().get(&addr)?.upgrade()
    }

    /// Every live object (swapoff's walk), or None if the list cannot be
    /// allocated.
    pub fn live(&self) -> Option<alloc::vec::Vec<Arc<T>>> {
        let map = self.map.lock();
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(map.len()).ok()?;
        v.extend(map.values().filter_map(Weak::upgrade));
        Some(v)
    }
}

impl<T> Default for Registry<T> {
    fn default() -> Registry<T> {
        Registry::new()
    }
}

/// The address spaces that may map one fork tree's anonymous pages.
pub struct AnonFamily {
    pub rmap: Rmap,
}

static FAMILIES: Registry<AnonFamily> = Registry::new();

/// Objects whose pages reclaim may take: read-only files (dropped) and
/// shmem (written to swap).
pub static FILES: Registry<MemObject> = Registry::new();

/// `page.mapping` tag of an anonymous page (bit 0, as Linux's
/// PAGE_MAPPING_ANON; object addresses are aligned).
const ANON_TAG: u64 = 1;

impl AnonFamily {
    pub fn new() -> Arc<AnonFamily> {
        let f = Arc::new(AnonFamily { rmap: Rmap::new() });
        FAMILIES.insert(&f);
        f
    }
}

impl Drop for AnonFamily {
    fn drop(&mut self) {
        FAMILIES.remove(self as *const AnonFamily as u64);
    }
}

/// What a walk looks for: a page and its place in the areas that may map
/// it. `obj`: the object's address for a page-cache page, 0 for an
/// anonymous page (found in private areas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTarget {
    pub pfn: Pfn,
    pub index: u64,
    pub obj: u64,
}

/// What a referenced-walk found in one or more spaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Referenced {
    /// Entries mapping the page with the accessed bit set (now cleared).
    pub young: u32,
    /// Entries mapping the page.
    pub mapped: u32,
    /// One of them is in a VM_LOCKED area.
    pub locked: bool,
    /// A referenced one is in an executable area (program text: Linux
    /// keeps it active).
    pub exec: bool,
    /// A space could not be looked at (its lock was busy).
    pub busy: bool,
}

impl core::ops::AddAssign for Referenced {
    fn add_assign(&mut self, o: Referenced) {
        self.young += o.young;
        self.mapped += o.mapped;
        self.locked |= o.locked;
        self.exec |= o.exec;
        self.busy |= o.busy;
    }
}

/// Where to find the mappers of a page.
pub enum PageOwner {
    Anon(Arc<AnonFamily>),
    File(Arc<MemObject>),
}

impl PageOwner {
    fn rmap(&self) -> &Rmap {
        match self {
            PageOwner::Anon(f) => &f.rmap,
            PageOwner::File(o) => &o.rmap,
        }
    }
}

/// The owner of `p` and the walk target, if it has one that lives.
pub fn page_owner(p: &Page) -> Option<(PageOwner, PageTarget)> {
    let mapping = p.mapping.load(Ordering::Relaxed);
    let index = p.index.load(Ordering::Relaxed);
    if mapping == 0 {
        return None;
    }
    let f = p.flags();
    if f.contains(PageFlags::ANON) && mapping & ANON_TAG != 0 {
        let fam = FAMILIES.get(mapping & !ANON_TAG)?;
        Some((PageOwner::Anon(fam), PageTarget { pfn: p.pfn(), index, obj: 0 }))
    } else if f.intersects(PageFlags::FILE | PageFlags::SHMEM) && mapping & ANON_TAG == 0 {
        let obj = FILES.get(mapping)?;
        Some((PageOwner::File(obj), PageTarget { pfn: p.pfn(), index, obj: mapping }))
    } else {
        None
    }
}

/// Age `p`: clear the accessed bit of every entry that maps it
/// (`folio_referenced`).
pub fn page_referenced(p: &Page) -> Referenced {
    let mut r = Referenced::default();
    let Some((owner, t)) = page_owner(p) else { return r };
    owner.rmap().for_each_space(|s| match s.page_referenced(&t) {
        Some(x) => r += x,
        None => r.busy = true,
    });
    r
}

/// Take `p` away from every mapper (`try_to_unmap`): each entry becomes
/// `swap` (anonymous pages) or none (page cache). Returns whether no
/// mapping is left.
pub fn try_to_unmap(p: &Page, swap: Option<SwapEntry>) -> bool {
    if p.mapcount() == 0 {
        return true;
    }
    let Some((owner, t)) = page_owner(p) else { return false };
    owner.rmap().for_each_space(|s| {
        if p.mapcount() > 0 {
            s.try_unmap_page(&t, swap);
        }
    });
    p.mapcount() == 0
}

impl AddressSpace {
    /// The family of this space's anonymous pages (made when the space
    /// gets its rmap owner, shared with fork children).
    pub(crate) fn anon_tag(&self) -> u64 {
        self.anon.as_ref().map_or(0, |f| Arc::as_ptr(f) as u64 | ANON_TAG)
    }

    /// Mark a new anonymous page for `va` of `vma` as this family's.
    pub(crate) fn set_anon_owner(&self, p: &Page, vma: &Vma, va: u64) {
        p.mapping.store(self.anon_tag(), Ordering::Relaxed);
        p.index.store(vma.pgoff_of(va), Ordering::Relaxed);
    }

    /// The addresses at which `t` may be mapped here, with their area's
    /// flags.
    pub(crate) fn target_addrs<'a>(&'a self, t: &'a PageTarget) -> impl Iterator<Item = (u64, VmFlags)> + 'a {
        self.vmas.iter().filter_map(move |v| {
            let ours = if t.obj == 0 {
                !v.flags.contains(VmFlags::SHARED)
            } else {
                v.backing.object().is_some_and(|o| Arc::as_ptr(o) as u64 == t.obj)
            };
            let inside = v.pgoff <= t.index && t.index - v.pgoff < v.pages();
            (ours && inside).then(|| (v.start + ((t.index - v.pgoff) << PAGE_SHIFT), v.flags))
        })
    }

    /// This space's part of [`page_referenced`] (its lock held, shared or
    /// exclusive).
    pub fn page_referenced(&self, env: &MmEnv<'_>, t: &PageTarget) -> Referenced {
        let mut r = Referenced::default();
        let _ptl = self.ptl.lock();
        for (va, flags) in self.target_addrs(t) {
            let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { continue };
            if !pte.flags().contains(F::PRESENT) || Pfn::from_phys(pte.addr().as_u64()) != t.pfn {
                continue;
            }
            r.mapped += 1;
            r.locked |= flags.contains(VmFlags::LOCKED);
            // No TLB flush: a stale entry only delays the next accessed
            // bit (x86's ptep_clear_flush_young does the same).
            if test_and_clear_young(pte) {
                r.young += 1;
                r.exec |= flags.contains(VmFlags::EXEC);
            }
        }
        r
    }

    /// This space's part of [`try_to_unmap`] (its lock held): entries in
    /// locked areas stay. Returns the entries unmapped; the TLB is flushed
    /// before it returns.
    pub fn try_unmap_page(&self, env: &MmEnv<'_>, t: &PageTarget, swap: Option<SwapEntry>) -> u32 {
        let Some(p) = env.pa.page(t.pfn) else { return 0 };
        let mut n = 0;
        let mut flush = TlbFlush::none();
        {
            let mut st = self.ptl.lock();
            for (va, flags) in self.target_addrs(t) {
                if flags.contains(VmFlags::LOCKED) {
                    continue;
                }
                let Ok(Some(pte)) = self.mapper(env).pte(va, false) else { continue };
                if !pte.flags().contains(F::PRESENT) || Pfn::from_phys(pte.addr().as_u64()) != t.pfn {
                    continue;
                }
                match swap {
                    Some(e) => {
                        if env.swap.dup(e).is_err() {
                            break;
                        }
                        set_swap(pte, e);
                        st.rss_add(RssKind::Anon, -1);
                        st.swap_ents += 1;
                    }
                    None => {
                        pte.set_unused();
                        st.rss_add(Self::rss_kind(env, t.pfn), -1);
                    }
                }
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
}

impl Rmap {
    /// Run `f` on every live space of the set, each held for the call and
    /// the set's lock dropped meanwhile (reclaim allocates nothing: one
    /// entry at a time; a space added or removed during the walk may be
    /// missed or seen twice, which reclaim tolerates).
    pub fn for_each_space(&self, mut f: impl FnMut(&dyn MapperSpace)) {
        let mut i = 0;
        loop {
            let s = {
                let spaces = self.spaces.lock();
                let Some(w) = spaces.get(i) else { return };
                w.upgrade()
            };
            if let Some(s) = s {
                f(&*s);
            }
            i += 1;
        }
    }
}
