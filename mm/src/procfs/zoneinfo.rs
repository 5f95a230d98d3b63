//! /proc/zoneinfo (mm/vmstat.c, `zoneinfo_show_print`): per zone its free
//! pages, watermarks, span/present/managed counts, lowmem protection and
//! counters, for every zone of every node (empty ones too, as Linux does).
//!
//! ```text
//! Node 0, zone    DMA32
//!   pages free     25213
//!         boost    0
//!         min      345
//!         ...
//!         protection: (0, 0, 0)
//!       nr_free_pages 25213
//!       ...
//!   start_pfn:           4096
//! ```
//!
//! The LRU counts (`nr_inactive_anon`... per node, `nr_zone_inactive_anon`...
//! per zone) and `nr_mapped` come from the same walk as /proc/meminfo's and
//! /proc/vmstat's (see `lru`). The `pagesets` block shows each possible
//! CPU's per-CPU page lists (`count` pages on them, `high`, `batch`, see
//! `phys::pcp`); `pages free` excludes those pages, as Linux's does. The
//! counters are exact, so the `vm stats threshold` is 0.
//!
//! After Linux's zone counters come `nr_free_order_N` lines, one per order:
//! this kernel's addition, so that the per-order free lists of a zone can be
//! read in the same file (Linux shows them only in /proc/buddyinfo).

use core::fmt;
use core::sync::atomic::Ordering;

use super::lru::LruCounts;
use crate::phys::buddy::NR_ORDERS;
use crate::phys::page_alloc::PageAllocator;
use crate::phys::zone::Watermark;

/// Extra per-node statistics supplied by the layers above the page
/// allocator (LRU lists, anon/file pages...), printed under
/// "per-node stats" of each node's first populated zone.
pub type NodeStats<'a> = &'a dyn Fn(u32) -> alloc::vec::Vec<(&'static str, u64)>;

pub fn render(pa: &PageAllocator, node_stats: Option<NodeStats<'_>>, w: &mut dyn fmt::Write) -> fmt::Result {
    for node in &pa.nodes {
        let first_populated = node.zones.iter().position(|z| z.is_populated());
        for (i, z) in node.zones.iter().enumerate() {
            write!(w, "Node {}, zone {:>8}", z.node, z.name())?;
            if Some(i) == first_populated {
                write!(w, "\n  per-node stats")?;
                let n = LruCounts::of_node(pa, node.id);
                let node_lru: [(&str, u64); 6] = [
                    ("nr_inactive_anon", n.inactive_anon),
                    ("nr_active_anon", n.active_anon),
                    ("nr_inactive_file", n.inactive_file),
                    ("nr_active_file", n.active_file),
                    ("nr_unevictable", n.unevictable),
                    ("nr_mapped", n.mapped),
                ];
                for (name, v) in node_lru {
                    write!(w, "\n      {name:<12} {v}")?;
                }
                if let Some(f) = node_stats {
                    for (name, v) in f(node.id) {
                        write!(w, "\n      {name:<12} {v}")?;
                    }
                }
            }
            let (free, per_order) = {
                let a = z.free.lock();
                (a.free_pages, core::array::from_fn::<u64, NR_ORDERS, _>(|o| a.nr_free(o)))
            };
            write!(
                w,
                "\n  pages free     {}\n        boost    {}\n        min      {}\n        low      {}\n        high     {}\n        promo    {}\n        spanned  {}\n        present  {}\n        managed  {}\n        cma      {}",
                free,
                0,
                z.watermark(Watermark::Min),
                z.watermark(Watermark::Low),
                z.watermark(Watermark::High),
                z.watermark(Watermark::High) + (z.watermark(Watermark::High) - z.watermark(Watermark::Low)),
                z.spanned,
                z.present,
                z.managed(),
                0
            )?;
            let r = z.lowmem_reserves();
            write!(w, "\n        protection: ({}", r[0])?;
            for v in &r[1..] {
                write!(w, ", {v}")?;
            }
            write!(w, ")")?;
            if !z.is_populated() {
                writeln!(w)?;
                continue;
            }
            let c = &z.counters;
            let zl = LruCounts::of_range(pa, z.start_pfn, z.start_pfn + z.spanned);
            let stats: [(&str, u64); 13] = [
                ("nr_free_pages", free),
                ("nr_zone_inactive_anon", zl.inactive_anon),
                ("nr_zone_active_anon", zl.active_anon),
                ("nr_zone_inactive_file", zl.inactive_file),
                ("nr_zone_active_file", zl.active_file),
                ("nr_zone_unevictable", zl.unevictable),
                ("nr_zone_write_pending", 0),
                // Only mlocked pages are unevictable here.
                ("nr_mlock", zl.unevictable),
                ("numa_hit", z.numa_hit()),
                ("numa_miss", c.numa_miss.load(Ordering::Relaxed)),
                ("numa_foreign", c.numa_foreign.load(Ordering::Relaxed)),
                ("numa_local", z.numa_local()),
                ("numa_other", c.numa_other.load(Ordering::Relaxed)),
            ];
            for (name, v) in stats {
                write!(w, "\n      {name:<12} {v}")?;
            }
            for (o, n) in per_order.iter().enumerate() {
                write!(w, "\n      nr_free_order_{o} {n}")?;
            }
            write!(w, "\n  pagesets")?;
            for cpu in 0..crate::percpu::nr_cpus() {
                let (count, high, batch) = z.pcp.stats(cpu);
                write!(
                    w,
                    "\n    cpu: {cpu}\n              count: {count}\n              high:  {high}\n              batch: {batch}"
                )?;
            }
            write!(w, "\n  vm stats threshold: 0")?;
            write!(w, "\n  node_unreclaimable:  0\n  start_pfn:           {}", z.start_pfn)?;
            writeln!(w)?;
        }
    }
    Ok(())
}
