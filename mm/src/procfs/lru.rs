//! The LRU-list counts and mapped file pages every view prints
//! (/proc/meminfo, /proc/vmstat, /proc/zoneinfo), from one walk of the
//! page descriptors, so that the views agree.
//!
//! A page on an LRU list (`phys::lru`) carries `LRU`, and its list is a
//! function of its flags (`LruList::of`): unevictable (mlocked), else
//! anonymous or file by `SWAPBACKED` (shmem counts as anonymous, lazily
//! freed anonymous pages as file, as in Linux), active or inactive by
//! `ACTIVE`. Pages isolated by reclaim at the moment of the walk are on
//! no list, as in Linux (which shows them as nr_isolated_*).
//!
//! `mapped` is Linux's NR_FILE_MAPPED (meminfo `Mapped:`, vmstat
//! `nr_mapped`): page-cache and shmem pages mapped by at least one process.

use crate::addr::Pfn;
use crate::phys::lru::LruList;
use crate::phys::page::PageFlags;
use crate::phys::page_alloc::PageAllocator;

/// Pages per LRU list, and mapped file pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LruCounts {
    pub inactive_anon: u64,
    pub active_anon: u64,
    pub inactive_file: u64,
    pub active_file: u64,
    pub unevictable: u64,
    pub mapped: u64,
}

impl LruCounts {
    /// Add one page with flags `f` and map count `mapcount`.
    fn count(&mut self, f: PageFlags, mapcount: i32) {
        if f.contains(PageFlags::LRU) {
            match LruList::of(f) {
                LruList::InactiveAnon => self.inactive_anon += 1,
                LruList::ActiveAnon => self.active_anon += 1,
                LruList::InactiveFile => self.inactive_file += 1,
                LruList::ActiveFile => self.active_file += 1,
                LruList::Unevictable => self.unevictable += 1,
            }
        }
        if f.intersects(PageFlags::FILE | PageFlags::SHMEM) && mapcount > 0 {
            self.mapped += 1;
        }
    }

    /// The pages of `[start, end)`.
    pub fn of_range(pa: &PageAllocator, start: u64, end: u64) -> LruCounts {
        let mut c = LruCounts::default();
        for pfn in start..end {
            if let Some(p) = pa.page(Pfn(pfn)) {
                c.count(p.flags(), p.mapcount());
            }
        }
        c
    }

    /// Every page of the machine.
    pub fn of_all(pa: &PageAllocator) -> LruCounts {
        LruCounts::of_range(pa, 0, pa.memmap.max_pfn())
    }

    /// The pages of one node (its zones' spans).
    pub fn of_node(pa: &PageAllocator, node: u32) -> LruCounts {
        let mut c = LruCounts::default();
        for z in pa.zones().filter(|z| z.node == node) {
            c.add(&LruCounts::of_range(pa, z.start_pfn, z.start_pfn + z.spanned));
        }
        c
    }

    pub fn add(&mut self, o: &LruCounts) {
        self.inactive_anon += o.inactive_anon;
        self.active_anon += o.active_anon;
        self.inactive_file += o.inactive_file;
        self.active_file += o.active_file;
        self.unevictable += o.unevictable;
        self.mapped += o.mapped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_page_has_one_list() {
        let mut c = LruCounts::default();
        let lru = PageFlags::LRU;
        c.count(lru | PageFlags::ANON | PageFlags::SWAPBACKED, 1);
        c.count(lru | PageFlags::ANON | PageFlags::SWAPBACKED | PageFlags::ACTIVE, 1);
        c.count(lru | PageFlags::ANON | PageFlags::SWAPBACKED | PageFlags::MLOCKED | PageFlags::UNEVICTABLE, 1);
        c.count(lru | PageFlags::ANON | PageFlags::LAZYFREE, 1);
        c.count(lru | PageFlags::FILE, 0);
        c.count(lru | PageFlags::FILE | PageFlags::ACTIVE, 2);
        c.count(lru | PageFlags::SHMEM | PageFlags::SWAPBACKED, 1);
        // Isolated by reclaim: on no list for the moment.
        c.count(PageFlags::ANON | PageFlags::SWAPBACKED, 1);
        c.count(PageFlags::SLAB, 0);
        c.count(PageFlags::PAGETABLE, 0);
        assert_eq!(
            c,
            LruCounts { inactive_anon: 2, active_anon: 1, inactive_file: 2, active_file: 1, unevictable: 1, mapped: 2 }
        );
    }

    #[test]
    fn walk_counts_mapped_file_pages_by_zone_and_node() {
        let pa = crate::testing::page_allocator(64 << 20);
        let a = pa.alloc_pages(crate::phys::gfp::Gfp::ZERO, 0).unwrap();
        let f = pa.alloc_pages(crate::phys::gfp::Gfp::ZERO, 0).unwrap();
        let before = LruCounts::of_all(pa);
        pa.page(a).unwrap().insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED);
        pa.lru_add(a);
        let fp = pa.page(f).unwrap();
        fp.insert_flags(PageFlags::FILE);
        pa.lru_add(f);
        fp.inc_mapcount();
        let c = LruCounts::of_all(pa);
        assert_eq!(c.inactive_anon, before.inactive_anon + 1);
        assert_eq!(c.inactive_file, before.inactive_file + 1);
        assert_eq!(c.mapped, before.mapped + 1);
        assert_eq!(LruCounts::of_node(pa, 0), c);
        let mut zones = LruCounts::default();
        for z in pa.zones() {
            zones.add(&LruCounts::of_range(pa, z.start_pfn, z.start_pfn + z.spanned));
        }
        assert_eq!(zones, c);
        fp.dec_mapcount();
        assert_eq!(LruCounts::of_all(pa).mapped, before.mapped);
    }

    /// The value of `name` in a "name value" or "Name:  value kB" text.
    fn value(text: &str, name: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn meminfo_vmstat_and_zoneinfo_agree() {
        let pa = crate::testing::page_allocator(64 << 20);
        for i in 0..5 {
            let p = pa.alloc_pages(crate::phys::gfp::Gfp::ZERO, 0).unwrap();
            let pg = pa.page(p).unwrap();
            match i {
                0..=2 => pg.insert_flags(PageFlags::ANON | PageFlags::SWAPBACKED),
                _ => {
                    pg.insert_flags(PageFlags::FILE);
                    pg.inc_mapcount();
                }
            }
            pa.lru_add(p);
            if i == 2 {
                pa.lruvec(pg).mlock(&pa.memmap, pg);
            }
        }
        let (mut m, mut v, mut z) =
            (alloc::string::String::new(), alloc::string::String::new(), alloc::string::String::new());
        crate::procfs::meminfo::MemInfo::from_allocator(pa).render(&mut m).unwrap();
        crate::procfs::vmstat::render(pa, &mut v).unwrap();
        crate::procfs::zoneinfo::render(pa, None, &mut z).unwrap();
        assert_eq!(value(&m, "Mapped:"), 8);
        assert_eq!(value(&v, "nr_mapped "), 2);
        assert_eq!(value(&m, "Inactive(anon):"), 4 * value(&v, "nr_inactive_anon "));
        assert_eq!(value(&m, "Inactive(anon):"), 8);
        assert_eq!(value(&m, "Active(anon):"), 0);
        assert_eq!(value(&m, "Inactive(file):"), 4 * value(&v, "nr_zone_inactive_file "));
        assert_eq!(value(&m, "Unevictable:"), 4);
        assert_eq!(value(&v, "nr_zone_unevictable "), 1);
        // zoneinfo: the per-node stats and the sum over zones say the same.
        let zone_sum: u64 = z
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nr_zone_inactive_anon "))
            .map(|n| n.trim().parse::<u64>().unwrap())
            .sum();
        assert_eq!(zone_sum, 2);
        assert_eq!(value(&z.replace("      nr_inactive_anon", "nr_inactive_anon"), "nr_inactive_anon "), 2);
        assert!(!z.contains("high:  0\n"), "{z}");
    }
}
