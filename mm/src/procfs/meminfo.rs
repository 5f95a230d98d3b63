//! /proc/meminfo (fs/proc/meminfo.c): every line `Name:` padded to 16
//! columns, the value in kB right-aligned in 8, as `show_val_kb` prints it.
//!
//! [`MemInfo::from_allocator`] fills in what the page allocator and its
//! counters know; the kernel adds what only it knows (commit accounting,
//! direct-map page sizes, vmalloc) before rendering. No line is invented:
//! where this kernel has no such memory (buffers, transparent huge
//! pages) the value is a true 0.

use core::fmt;

use super::lru::LruCounts;
use crate::phys::page_alloc::PageAllocator;
use crate::phys::zone::Watermark;

/// Values in pages unless the name says kB.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemInfo {
    pub mem_total: u64,
    pub mem_free: u64,
    pub mem_available: u64,
    pub buffers: u64,
    pub cached: u64,
    pub swap_cached: u64,
    pub active_anon: u64,
    pub inactive_anon: u64,
    pub active_file: u64,
    pub inactive_file: u64,
    pub unevictable: u64,
    pub mlocked: u64,
    pub swap_total: u64,
    pub swap_free: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub anon_pages: u64,
    pub mapped: u64,
    pub shmem: u64,
    pub slab_reclaimable: u64,
    pub slab_unreclaimable: u64,
    pub kernel_stack_kb: u64,
    pub page_tables: u64,
    pub commit_limit: u64,
    pub committed_as: u64,
    pub vmalloc_total_kb: u64,
    pub vmalloc_used: u64,
    pub direct_map_4k_kb: u64,
    pub direct_map_2m_kb: u64,
    pub direct_map_1g_kb: u64,
    /// The default size's hugetlb pool (huge pages, not 4 KiB ones).
    pub huge: crate::phys::hugetlb::PoolCounts,
    /// The default huge page size in KiB (0: 2 MiB).
    pub huge_size_kb: u64,
    /// KiB in the pools of every size (`Hugetlb:`).
    pub hugetlb_kb: u64,
    /// Transparent huge pages mapped.
    pub anon_thp: u64,
}

/// Marks a line's value as a count (no "kB").
const COUNT: u64 = 1 << 63;

impl MemInfo {
    /// What the page allocator knows; `si_mem_available` for MemAvailable.
    pub fn from_allocator(pa: &PageAllocator) -> MemInfo {
        let v = &pa.vmstat;
        let free = pa.nr_free_pages();
        let total_reserve: u64 = pa
            .zones()
            .map(|z| z.lowmem_reserves().into_iter().max().unwrap_or(0) + z.watermark(Watermark::High))
            .sum::<u64>()
            .min(pa.nr_managed_pages());
        let wmark_low: u64 = pa.zones().map(|z| z.watermark(Watermark::Low)).sum();
        let file = v.file_pages.get();
        let pagecache = file - (file / 2).min(wmark_low);
        let reclaimable = v.slab_reclaimable.get() + v.lazyfree_pages.get();
        let reclaimable = reclaimable - (reclaimable / 2).min(wmark_low);
        let available = (free as i64 - total_reserve as i64 + pagecache as i64 + reclaimable as i64).max(0) as u64;
        // The LRU split and Mapped: the same walk vmstat and zoneinfo use.
        let l = LruCounts::of_all(pa);
        MemInfo {
            mem_total: pa.nr_managed_pages(),
            mem_free: free,
            mem_available: available,
            cached: file,
            active_anon: l.active_anon,
            inactive_anon: l.inactive_anon,
            active_file: l.active_file,
            inactive_file: l.inactive_file,
            unevictable: l.unevictable,
            mapped: l.mapped,
            anon_pages: v.anon_pages.get(),
            shmem: v.shmem_pages.get(),
            mlocked: v.mlocked_pages.get(),
            slab_reclaimable: v.slab_reclaimable.get(),
            slab_unreclaimable: v.slab_unreclaimable.get(),
            kernel_stack_kb: v.kernel_stack_kb.get(),
            page_tables: v.page_table_pages.get(),
            vmalloc_used: v.vmalloc_pages.get(),
            huge: pa.default_hugetlb().counts(),
            huge_size_kb: pa.default_hugetlb().hpage_size() >> 10,
            hugetlb_kb: pa.hugetlb_pools().map(|p| p.counts().nr * (p.hpage_size() >> 10)).sum(),
            anon_thp: v.anon_thp.get(),
            ..MemInfo::default()
        }
    }

    pub fn slab(&self) -> u64 {
        self.slab_reclaimable + self.slab_unreclaimable
    }

    pub fn render(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let kb = |p: u64| p * 4;
        let huge_kb = if self.huge_size_kb == 0 { crate::phys::hugetlb::HPAGE_SIZE >> 10 } else { self.huge_size_kb };
        let lines: [(&str, u64); 52] = [
            ("MemTotal:", kb(self.mem_total)),
            ("MemFree:", kb(self.mem_free)),
            ("MemAvailable:", kb(self.mem_available)),
            ("Buffers:", kb(self.buffers)),
            ("Cached:", kb(self.cached)),
            ("SwapCached:", kb(self.swap_cached)),
            ("Active:", kb(self.active_anon + self.active_file)),
            ("Inactive:", kb(self.inactive_anon + self.inactive_file)),
            ("Active(anon):", kb(self.active_anon)),
            ("Inactive(anon):", kb(self.inactive_anon)),
            ("Active(file):", kb(self.active_file)),
            ("Inactive(file):", kb(self.inactive_file)),
            ("Unevictable:", kb(self.unevictable)),
            ("Mlocked:", kb(self.mlocked)),
            ("SwapTotal:", kb(self.swap_total)),
            ("SwapFree:", kb(self.swap_free)),
            ("Zswap:", 0),
            ("Zswapped:", 0),
            ("Dirty:", kb(self.dirty)),
            ("Writeback:", kb(self.writeback)),
            ("AnonPages:", kb(self.anon_pages)),
            ("Mapped:", kb(self.mapped)),
            ("Shmem:", kb(self.shmem)),
            ("KReclaimable:", kb(self.slab_reclaimable)),
            ("Slab:", kb(self.slab())),
            ("SReclaimable:", kb(self.slab_reclaimable)),
            ("SUnreclaim:", kb(self.slab_unreclaimable)),
            ("KernelStack:", self.kernel_stack_kb),
            ("PageTables:", kb(self.page_tables)),
            ("SecPageTables:", 0),
            ("NFS_Unstable:", 0),
            ("Bounce:", 0),
            ("WritebackTmp:", 0),
            ("CommitLimit:", kb(self.commit_limit)),
            ("Committed_AS:", kb(self.committed_as)),
            ("VmallocTotal:", self.vmalloc_total_kb),
            ("VmallocUsed:", kb(self.vmalloc_used)),
            ("VmallocChunk:", 0),
            ("Percpu:", 0),
            ("HardwareCorrupted:", 0),
            ("AnonHugePages:", self.anon_thp * (crate::phys::hugetlb::HPAGE_SIZE >> 10)),
            ("ShmemHugePages:", 0),
            ("ShmemPmdMapped:", 0),
            ("FileHugePages:", 0),
            ("FilePmdMapped:", 0),
            ("Unaccepted:", 0),
            ("HugePages_Total:", self.huge.nr | COUNT),
            ("HugePages_Free:", self.huge.free | COUNT),
            ("HugePages_Rsvd:", self.huge.resv | COUNT),
            ("HugePages_Surp:", self.huge.surplus | COUNT),
            ("Hugepagesize:", huge_kb),
            ("Hugetlb:", self.hugetlb_kb),
        ];
        for (name, v) in lines {
            // Labels are padded to 16 columns and values to at least 8; the
            // one longer label ("HardwareCorrupted:") uses " %5lu" as Linux.
            let (v, unit) = if v & COUNT != 0 { (v & !COUNT, "") } else { (v, " kB") };
            if name.len() <= 16 {
                writeln!(w, "{name:<16}{v:>8}{unit}")?;
            } else {
                writeln!(w, "{name} {v:>5}{unit}")?;
            }
        }
        writeln!(w, "{:<16}{:>8} kB", "DirectMap4k:", self.direct_map_4k_kb)?;
        writeln!(w, "{:<16}{:>8} kB", "DirectMap2M:", self.direct_map_2m_kb)?;
        writeln!(w, "{:<16}{:>8} kB", "DirectMap1G:", self.direct_map_1g_kb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn lines_have_linux_widths_and_units() {
        let m = MemInfo { mem_total: 32000, mem_free: 30000, vmalloc_total_kb: 34359738367, ..MemInfo::default() };
        let mut s = String::new();
        m.render(&mut s).unwrap();
        assert!(s.starts_with("MemTotal:         128000 kB\nMemFree:          120000 kB\n"), "{s}");
        assert!(s.contains("\nHugePages_Total:       0\n"), "{s}");
        assert!(s.contains("\nHugepagesize:       2048 kB\n"), "{s}");
        assert!(s.contains("\nHardwareCorrupted:     0 kB\n"), "{s}");
        assert!(s.contains("\nVmallocTotal:   34359738367 kB\n"), "{s}");
        for line in s.lines() {
            let name = line.split_whitespace().next().unwrap();
            assert!(name.ends_with(':'), "{line}");
            let value_end = line.strip_suffix(" kB").unwrap_or(line).len();
            assert!(value_end >= 24, "{line}");
        }
    }
}
