//! /proc/vmstat (mm/vmstat.c): one `name value` line per counter, in
//! Linux's order, gauges (`nr_*`, in pages) first, then event counts.
//!
//! Only counters this kernel really keeps are listed, plus the ones whose
//! true value here is 0 because the mechanism does not exist (swap,
//! writeback) and that tools expect. Two lines are this kernel's own,
//! after Linux's: `cow_fault` (copy-on-write faults that copied a page) and
//! `nr_anon_shared` (anonymous pages mapped by more than one process, as
//! fork leaves them until one side writes).

use core::fmt::{self, Write};
use core::sync::atomic::Ordering;

use super::lru::LruCounts;
use crate::addr::Pfn;
use crate::phys::page::PageFlags;
use crate::phys::page_alloc::PageAllocator;
use crate::phys::zone::ZoneType;

/// Anonymous pages with a map count above one (a walk over the memmap);
/// a transparent huge page fork shares counts its 512.
pub fn nr_anon_shared(pa: &PageAllocator) -> u64 {
    (0..pa.memmap.max_pfn())
        .filter_map(|p| pa.page(Pfn(p)))
        .filter(|pg| pg.has(PageFlags::ANON) && pg.mapcount() > 1)
        .map(|pg| if pg.has(PageFlags::HEAD) && !pg.has(PageFlags::HUGETLB) { 1u64 << pg.order() } else { 1 })
        .sum()
}

pub fn render(pa: &PageAllocator, w: &mut dyn Write) -> fmt::Result {
    let vs = &pa.vmstat;
    let st = &pa.stats;
    let anon = vs.anon_pages.get();
    let file = vs.file_pages.get();
    // One walk for the LRU split and the mapped file pages, shared in
    // meaning with meminfo and zoneinfo (see `lru`); the zone sums and the
    // node sums are the same pages.
    let l = LruCounts::of_all(pa);
    let gauges: [(&str, u64); 23] = [
        ("nr_free_pages", pa.nr_free_pages()),
        ("nr_zone_inactive_anon", l.inactive_anon),
        ("nr_zone_active_anon", l.active_anon),
        ("nr_zone_inactive_file", l.inactive_file),
        ("nr_zone_active_file", l.active_file),
        ("nr_zone_unevictable", l.unevictable),
        ("nr_mlock", vs.mlocked_pages.get()),
        ("nr_inactive_anon", l.inactive_anon),
        ("nr_active_anon", l.active_anon),
        ("nr_inactive_file", l.inactive_file),
        ("nr_active_file", l.active_file),
        ("nr_unevictable", l.unevictable),
        ("nr_slab_reclaimable", vs.slab_reclaimable.get()),
        ("nr_slab_unreclaimable", vs.slab_unreclaimable.get()),
        ("nr_anon_pages", anon),
        ("nr_mapped", l.mapped),
        ("nr_file_pages", file),
        ("nr_dirty", 0),
        ("nr_writeback", 0),
        ("nr_shmem", vs.shmem_pages.get()),
        ("nr_anon_transparent_hugepages", vs.anon_thp.get()),
        ("nr_kernel_stack", vs.kernel_stack_kb.get()),
        ("nr_page_table_pages", vs.page_table_pages.get()),
    ];
    for (name, v) in gauges {
        writeln!(w, "{name} {v}")?;
    }
    let events: [(&str, u64); 50] = [
        ("pgpgin", 0),
        ("pgpgout", 0),
        ("pswpin", vs.pswpin.get()),
        ("pswpout", vs.pswpout.get()),
        ("pgalloc_dma", pa.pgalloc(ZoneType::Dma)),
        ("pgalloc_dma32", pa.pgalloc(ZoneType::Dma32)),
        ("pgalloc_normal", pa.pgalloc(ZoneType::Normal)),
        ("pgalloc_movable", 0),
        ("allocstall_dma", st.allocstall[0].load(Ordering::Relaxed)),
        ("allocstall_dma32", st.allocstall[1].load(Ordering::Relaxed)),
        ("allocstall_normal", st.allocstall[2].load(Ordering::Relaxed)),
        ("allocstall_movable", st.allocstall[3].load(Ordering::Relaxed)),
        ("pgfree", pa.pgfree()),
        ("pgfault", vs.pgfault.get()),
        ("pgmajfault", vs.pgmajfault.get()),
        ("pglazyfreed", vs.pglazyfreed.get()),
        ("pgreuse", vs.pgreuse.get()),
        ("oom_kill", vs.oom_kill.get()),
        ("pgactivate", vs.pgactivate.get()),
        ("pgdeactivate", vs.pgdeactivate.get()),
        ("pgrefill", vs.pgrefill.get()),
        ("pgscan_kswapd", vs.pgscan_kswapd.get()),
        ("pgscan_direct", vs.pgscan_direct.get()),
        ("pgsteal_kswapd", vs.pgsteal_kswapd.get()),
        ("pgsteal_direct", vs.pgsteal_direct.get()),
        ("kswapd_low_wmark_hit_quickly", vs.kswapd_low_wmark_hit_quickly.get()),
        ("kswapd_high_wmark_hit_quickly", vs.kswapd_high_wmark_hit_quickly.get()),
        ("pageoutrun", vs.pageoutrun.get()),
        ("pgscan_anon", vs.pgscan_anon.get()),
        ("pgscan_file", vs.pgscan_file.get()),
        ("swap_ra", vs.swap_ra.get()),
        ("workingset_refault_anon", vs.workingset_refault_anon.get()),
        ("workingset_refault_file", vs.workingset_refault_file.get()),
        ("workingset_activate_anon", vs.workingset_activate_anon.get()),
        ("workingset_activate_file", vs.workingset_activate_file.get()),
        ("workingset_restore_anon", vs.workingset_restore_anon.get()),
        ("workingset_restore_file", vs.workingset_restore_file.get()),
        ("unevictable_pgs_culled", vs.unevictable_pgs_culled.get()),
        ("unevictable_pgs_rescued", vs.unevictable_pgs_rescued.get()),
        ("pgmigrate_success", vs.pgmigrate_success.get()),
        ("pgmigrate_fail", vs.pgmigrate_fail.get()),
        ("compact_migrate_scanned", vs.compact_migrate_scanned.get()),
        ("compact_free_scanned", vs.compact_free_scanned.get()),
        ("compact_isolated", vs.compact_isolated.get()),
        ("compact_stall", vs.compact_stall.get()),
        ("compact_fail", vs.compact_fail.get()),
        ("compact_success", vs.compact_success.get()),
        ("compact_daemon_wake", vs.compact_daemon_wake.get()),
        ("compact_daemon_migrate_scanned", vs.compact_daemon_migrate_scanned.get()),
        ("compact_daemon_free_scanned", vs.compact_daemon_free_scanned.get()),
    ];
    for (name, v) in events {
        writeln!(w, "{name} {v}")?;
    }
    // The NUMA events, summed over every zone (numastat's columns).
    let sum = |f: &dyn Fn(&crate::phys::zone::Zone) -> u64| pa.zones().map(f).sum::<u64>();
    let numa: [(&str, u64); 6] = [
        ("numa_hit", sum(&|z| z.numa_hit())),
        ("numa_miss", sum(&|z| z.counters.numa_miss.load(Ordering::Relaxed))),
        ("numa_foreign", sum(&|z| z.counters.numa_foreign.load(Ordering::Relaxed))),
        ("numa_interleave", sum(&|z| z.counters.interleave_hit.load(Ordering::Relaxed))),
        ("numa_local", sum(&|z| z.numa_local())),
        ("numa_other", sum(&|z| z.counters.numa_other.load(Ordering::Relaxed))),
    ];
    for (name, v) in numa {
        writeln!(w, "{name} {v}")?;
    }
    writeln!(w, "thp_fault_alloc {}", vs.thp_fault_alloc.get())?;
    writeln!(w, "thp_fault_fallback {}", vs.thp_fault_fallback.get())?;
    writeln!(w, "thp_collapse_alloc {}", vs.thp_collapse_alloc.get())?;
    writeln!(w, "thp_collapse_alloc_failed {}", vs.thp_collapse_alloc_failed.get())?;
    writeln!(w, "thp_split_page {}", vs.thp_split_page.get())?;
    writeln!(w, "thp_split_pmd {}", vs.thp_split_pmd.get())?;
    writeln!(w, "thp_zero_page_alloc {}", vs.thp_zero_page_alloc.get())?;
    writeln!(w, "cow_fault {}", vs.cow_faults.get())?;
    writeln!(w, "nr_anon_shared {}", nr_anon_shared(pa))
}
