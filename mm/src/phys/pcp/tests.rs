//! Per-CPU page list host tests: Linux's sizes, batched refill and drain,
//! exact counts after a drain, and simulated CPUs interleaving.

extern crate std;

use super::*;
use crate::addr::Pfn;
use crate::phys::buddy::NR_ORDERS;
use crate::phys::gfp::{GFP_HIGHUSER_MOVABLE, GFP_KERNEL};
use crate::phys::page_alloc::{FreeError, PageAllocator};
use crate::phys::zone::{Watermark, ZoneType};
use crate::testing::cpus::on_cpu;
use alloc::collections::BTreeMap;
use alloc::vec;

/// A 256 MiB machine: DMA (~16 MiB) and DMA32 (the rest), so order-0
/// `GFP_KERNEL` requests land in DMA32, whose batch is 15.
fn machine() -> &'static PageAllocator {
    crate::testing::page_allocator(256 << 20)
}

fn dma32(pa: &PageAllocator) -> &Zone {
    pa.zone(0, ZoneType::Dma32)
}

fn buddyinfo(pa: &PageAllocator) -> Vec<[u64; NR_ORDERS]> {
    pa.zones()
        .map(|z| {
            let a = z.free.lock();
            core::array::from_fn(|o| a.nr_free(o))
        })
        .collect()
}

#[test]
fn batch_and_high_as_linux_computes_them() {
    // 128 MiB zone: 32768 pages >> 10 = 32, / 4 = 8, 8 + 4 = 12 -> 8 - 1.
    assert_eq!(zone_batchsize(32768), 7);
    // 4 GiB: min(1024, 256) / 4 = 64, 96 -> 64 - 1 = 63 (Linux's usual 63).
    assert_eq!(zone_batchsize(1 << 20), 63);
    // 64 GiB: capped at 1 MiB worth, still 63.
    assert_eq!(zone_batchsize(16 << 20), 63);
    // A tiny zone (DMA, ~4000 pages): 3 / 4 = 0 -> 1, 1 -> 1 - 1 = 0.
    assert_eq!(zone_batchsize(3977), 0);
    assert_eq!(zone_highsize(1000, 63, 1), 1000);
    assert_eq!(zone_highsize(100, 63, 1), 252);
    assert_eq!(zone_highsize(100, 0, 1), 100);
    // The low watermark is split over the CPUs, down to 4 batches.
    assert_eq!(zone_highsize(8000, 63, 4), 2000);
    assert_eq!(zone_highsize(8000, 63, 64), 252);
    // The pageset: a batch of at least 1.
    assert_eq!(pcp_sizes(3977, 5, 1), (5, 1));
    assert_eq!(pcp_sizes(3977, 2, 1), (4, 1));
    assert_eq!(pcp_sizes(1 << 20, 5120, 2), (2560, 63));
}

#[test]
fn every_cpu_of_every_zone_gets_the_zone_sizes() {
    let pa = machine();
    let cpus = crate::percpu::nr_cpus() as u64;
    for z in pa.zones().filter(|z| z.is_populated()) {
        let want = pcp_sizes(z.managed(), z.watermark(Watermark::Low), cpus);
        for cpu in [0, 1, crate::percpu::MAX_CPUS - 1] {
            let (count, high, batch) = z.pcp.stats(cpu);
            assert_eq!((count, high, batch), (0, want.0, want.1), "{} cpu {cpu}", z.name());
        }
    }
    assert_eq!(dma32(pa).pcp.stats(0).2, 15);
}

#[test]
fn refill_takes_a_batch_and_free_gives_a_batch_back_above_high() {
    let pa = machine();
    let z = dma32(pa);
    on_cpu(0, || {
        let (_, high, batch) = z.pcp.stats(0);
        let free0 = pa.nr_free_pages();
        let p = pa.alloc_pages(GFP_KERNEL, 0).unwrap();
        assert_eq!(z.pcp.stats(0).0, batch - 1, "one refill of a batch, one page handed out");
        assert_eq!(pa.nr_free_pages(), free0 - batch, "the batch left the buddy");
        pa.free_pages(p, 0).unwrap();
        assert_eq!(z.pcp.stats(0).0, batch);
        assert_eq!(pa.nr_free_pages(), free0 - batch, "a free stays on the list below high");
        // Hold more than high pages, then give them back one by one.
        let n = high + 2 * batch;
        let held: Vec<Pfn> = (0..n).map(|_| pa.alloc_pages(GFP_KERNEL, 0).unwrap()).collect();
        let mut bulk_frees = 0;
        for p in held {
            let buddy_before = pa.nr_free_pages();
            pa.free_pages(p, 0).unwrap();
            let count = z.pcp.stats(0).0;
            assert!(count < high, "count {count} reached high {high} after a free");
            match pa.nr_free_pages() - buddy_before {
                0 => {}
                d => {
                    assert_eq!(d, batch, "a bulk free gives exactly one batch");
                    bulk_frees += 1;
                }
            }
        }
        assert!(bulk_frees >= 2, "{bulk_frees}");
        pa.check_invariants();
        assert_eq!(pa.nr_free_pages() + pa.nr_pcp_pages(), free0);
        let on_lists = pa.nr_pcp_pages();
        assert_eq!(pa.drain_all_pages(), on_lists);
        assert_eq!(pa.nr_free_pages(), free0);
        assert_eq!(pa.nr_pcp_pages(), 0);
    });
}

#[test]
fn orders_up_to_3_use_the_lists_and_counts_are_exact_after_drain() {
    let pa = machine();
    let (free0, shape0) = (pa.nr_free_pages(), buddyinfo(pa));
    let mut held = Vec::new();
    for round in 0..40u32 {
        let order = round % 6;
        let gfp = if round % 2 == 0 { GFP_KERNEL } else { GFP_HIGHUSER_MOVABLE };
        held.push((pa.alloc_pages(gfp, order).unwrap(), order));
    }
    let on_lists: u64 = pa.zones().map(|z| (0..=PCP_MAX_ORDER).map(|o| z.pcp.blocks(0, o)).sum::<u64>()).sum();
    assert!(on_lists > 0, "refills left blocks on the lists");
    let held_pages: u64 = held.iter().map(|&(_, o)| 1u64 << o).sum();
    assert_eq!(pa.nr_free_pages() + pa.nr_pcp_pages() + held_pages, free0);
    for (p, order) in held {
        pa.free_pages(p, order).unwrap();
    }
    pa.check_invariants();
    assert!(pa.nr_pcp_pages() > 0);
    assert_eq!(pa.nr_free_pages() + pa.nr_pcp_pages(), free0);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), free0);
    assert_eq!(buddyinfo(pa), shape0, "every block merged back as it was");
    assert_eq!(pa.check_invariants(), free0);
}

#[test]
fn a_page_on_a_list_cannot_be_freed_again() {
    let pa = machine();
    let p = pa.alloc_pages(GFP_KERNEL, 0).unwrap();
    pa.free_pages(p, 0).unwrap();
    assert_eq!(pa.free_pages(p, 0), Err(FreeError::NotAllocated));
    pa.check_invariants();
}

#[test]
fn an_allocation_that_would_fail_drains_the_lists_first() {
    let pa = machine();
    // Exhaust memory on CPU 0, give everything back on CPU 1: CPU 1's lists
    // hold up to high pages that CPU 0 can only get through a drain.
    let held: Vec<Pfn> = on_cpu(0, || core::iter::from_fn(|| pa.alloc_pages(GFP_KERNEL, 0)).collect());
    on_cpu(1, || held.iter().for_each(|&p| pa.free_pages(p, 0).unwrap()));
    assert!(pa.zones().any(|z| z.pcp.stats(1).0 > 0));
    let again: Vec<Pfn> = on_cpu(0, || core::iter::from_fn(|| pa.alloc_pages(GFP_KERNEL, 0)).collect());
    assert!(pa.zones().all(|z| z.pcp.stats(1).0 == 0), "the failing allocation drained CPU 1's lists");
    assert!(again.len() >= held.len() * 9 / 10, "{} of {}", again.len(), held.len());
    on_cpu(0, || again.iter().for_each(|&p| pa.free_pages(p, 0).unwrap()));
    pa.check_invariants();
}

/// One operation of the model: on `cpu`, allocate a block of `order`, or
/// free the held block picked by `pick` (possibly allocated on another CPU).
#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc { cpu: usize, order: u32 },
    Free { cpu: usize, pick: usize },
}

/// Run `ops` against the allocator and a model of the held blocks: no page
/// is handed out twice, and after freeing everything and draining every
/// CPU the free count is back where it started.
fn run_model(pa: &'static PageAllocator, ops: &[Op]) {
    let free0 = pa.nr_free_pages();
    let mut held: BTreeMap<u64, u32> = BTreeMap::new();
    let mut order_held: Vec<u64> = Vec::new();
    for &op in ops {
        match op {
            Op::Alloc { cpu, order } => {
                let Some(p) = on_cpu(cpu, || pa.alloc_pages(GFP_KERNEL, order)) else { continue };
                let (start, end) = (p.0, p.0 + (1 << order));
                if let Some((&s, &o)) = held.range(..end).next_back() {
                    assert!(s + (1 << o) <= start, "pfn {start:#x} order {order} overlaps held {s:#x} order {o}");
                }
                held.insert(p.0, order);
                order_held.push(p.0);
            }
            Op::Free { cpu, pick } => {
                if order_held.is_empty() {
                    continue;
                }
                let pfn = order_held.swap_remove(pick % order_held.len());
                let order = held.remove(&pfn).unwrap();
                on_cpu(cpu, || pa.free_pages(Pfn(pfn), order)).unwrap();
            }
        }
    }
    pa.check_invariants();
    for (pfn, order) in held {
        pa.free_pages(Pfn(pfn), order).unwrap();
    }
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), free0, "pages lost");
    assert_eq!(pa.check_invariants(), free0);
}

mod model {
    use super::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..4, 0u32..5).prop_map(|(cpu, order)| Op::Alloc { cpu, order }),
            (0usize..4, any::<usize>()).prop_map(|(cpu, pick)| Op::Free { cpu, pick }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Four simulated CPUs interleave allocations and frees, freeing
        /// blocks other CPUs allocated.
        #[test]
        fn interleaved_cpus_never_lose_or_share_a_page(ops in proptest::collection::vec(op(), 1..600)) {
            run_model(crate::testing::page_allocator(64 << 20), &ops);
        }
    }
}

#[test]
fn threads_on_four_cpus_hand_pages_to_each_other() {
    let pa = machine();
    let free0 = pa.nr_free_pages();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u64>>();
    let workers: Vec<_> = (0..4)
        .map(|cpu| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                on_cpu(cpu, || {
                    let mut mine = vec![];
                    for i in 0..4000u64 {
                        let order = (i % 3) as u32 * (i % 2) as u32;
                        mine.push((pa.alloc_pages(GFP_KERNEL, order).unwrap().0, order));
                        if i % 7 == 0 {
                            let (p, o) = mine.swap_remove((i as usize * 31) % mine.len());
                            pa.free_pages(Pfn(p), o).unwrap();
                        }
                    }
                    // Order-0 pages go to another CPU to free; the rest here.
                    let (zero, other): (Vec<_>, Vec<_>) = mine.into_iter().partition(|&(_, o)| o == 0);
                    for (p, o) in other {
                        pa.free_pages(Pfn(p), o).unwrap();
                    }
                    tx.send(zero.into_iter().map(|(p, _)| p).collect()).unwrap();
                })
            })
        })
        .collect();
    drop(tx);
    for w in workers {
        w.join().unwrap();
    }
    let handed: Vec<Vec<u64>> = rx.iter().collect();
    let mut all: Vec<u64> = handed.iter().flatten().copied().collect();
    all.sort_unstable();
    assert!(all.windows(2).all(|w| w[0] != w[1]), "a page was handed out twice");
    let freers: Vec<_> = handed
        .into_iter()
        .enumerate()
        .map(|(i, pages)| {
            std::thread::spawn(move || {
                on_cpu((i + 1) % 4, || pages.into_iter().for_each(|p| pa.free_pages(Pfn(p), 0).unwrap()))
            })
        })
        .collect();
    for f in freers {
        f.join().unwrap();
    }
    pa.check_invariants();
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), free0);
}

#[test]
fn zoneinfo_pagesets_show_each_cpus_true_count_high_and_batch() {
    let pa = machine();
    let p = on_cpu(0, || pa.alloc_pages(GFP_KERNEL, 0).unwrap());
    let mut z = alloc::string::String::new();
    crate::procfs::zoneinfo::render(pa, None, &mut z).unwrap();
    let text = &z[z.find("zone    DMA32").unwrap()..];
    let block = &text[text.find("  pagesets\n").unwrap()..text.find("  vm stats threshold").unwrap()];
    let cpus = crate::percpu::nr_cpus();
    assert_eq!(block.matches("    cpu: ").count(), cpus, "{block}");
    let (count, high, batch) = dma32(pa).pcp.stats(0);
    assert!(count > 0);
    let want = alloc::format!(
        "    cpu: 0\n              count: {count}\n              high:  {high}\n              batch: {batch}\n"
    );
    assert!(block.contains(&want), "{block}\nwanted\n{want}");
    on_cpu(0, || pa.free_pages(p, 0).unwrap());
}

#[test]
fn events_are_counted_on_each_cpus_lists_and_add_up_with_the_zone_counters() {
    // pgalloc, pgfree, numa_hit and numa_local live in each CPU's events
    // (no shared cache line on the fast path), orders above the lists'
    // too; the totals add every CPU's and the zone's atomics together.
    let pa = machine();
    let z = dma32(pa);
    let (alloc0, free0) = (pa.pgalloc(ZoneType::Dma32), pa.pgfree());
    let (hit0, local0) = (z.numa_hit(), z.numa_local());
    let a = on_cpu(0, || pa.alloc_pages(GFP_KERNEL, 0).unwrap());
    let b = on_cpu(1, || pa.alloc_pages(GFP_KERNEL, 3).unwrap());
    let c = on_cpu(1, || pa.alloc_pages(GFP_KERNEL, 4).unwrap());
    assert_eq!(z.pcp.events_of(0).alloc, 1, "CPU 0 counted its page");
    assert_eq!(z.pcp.events_of(1).alloc, 8 + 16, "CPU 1 counted its order-3 block and its order-4 one");
    assert_eq!(pa.pgalloc(ZoneType::Dma32), alloc0 + 1 + 8 + 16, "lists and the zone path add up");
    assert_eq!((z.numa_hit(), z.numa_local()), (hit0 + 3, local0 + 3));
    on_cpu(1, || pa.free_pages(a, 0).unwrap());
    on_cpu(0, || pa.free_pages(b, 3).unwrap());
    on_cpu(0, || pa.free_pages(c, 4).unwrap());
    assert_eq!(pa.pgfree(), free0 + 1 + 8 + 16);
    assert_eq!(z.pcp.events_of(0).free, 8 + 16, "CPU 0 counted the block it gave the buddy");
    pa.drain_all_pages();
    assert_eq!(pa.pgfree(), free0 + 1 + 8 + 16, "draining the lists is no free");
}

#[test]
fn a_drain_from_another_cpu_waits_until_the_owner_leaves_its_lists() {
    // A CPU's lists take no lock: another CPU's drain runs on their CPU,
    // between two of its interrupts-off sections, never inside one.
    use std::sync::atomic::{AtomicBool, Ordering::*};
    let pa = machine();
    let z = dma32(pa);
    let p = on_cpu(0, || pa.alloc_pages(GFP_KERNEL, 0).unwrap());
    on_cpu(0, || pa.free_pages(p, 0).unwrap());
    let on_lists = z.pcp.stats(0).0;
    assert!(on_lists > 0, "CPU 0 keeps pages on its lists");
    let (inside, drained) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        s.spawn(|| {
            on_cpu(0, || {
                let lists = z.pcp.local();
                inside.store(true, Release);
                std::thread::sleep(std::time::Duration::from_millis(100));
                assert!(!drained.load(Acquire), "a drain ran while CPU 0 worked on its lists");
                assert_eq!(lists.count, on_lists, "CPU 0's lists changed under it");
                drop(lists);
            })
        });
        s.spawn(|| {
            on_cpu(1, || {
                while !inside.load(Acquire) {
                    std::thread::yield_now();
                }
                assert!(pa.drain_all_pages() >= on_lists);
                drained.store(true, Release);
            })
        });
    });
    assert_eq!(z.pcp.stats(0).0, 0, "CPU 0 drained its own lists once it could");
    z.pcp.check_invariants(&pa.memmap, z);
}
