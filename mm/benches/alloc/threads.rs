//! Third table: the per-CPU fast paths with two threads at once.
//!
//! The same pair loops as the first two tables (order-0 and order-3 frames
//! through the per-CPU page lists, 64-byte slab objects through the
//! per-CPU slabs) run first on one thread, then on two threads at the same
//! time, each thread a simulated CPU of its own (`mm::testing::cpus::on_cpu`,
//! which is what `percpu::this_cpu()` answers there). Each row gives ns per
//! pair as one thread sees it (wall time of the slower thread / its pairs),
//! and `2t/1t`: about 1 when the two threads do not wait for each other,
//! about 2 when they take turns. The peers show both ends:
//! `buddy_system_allocator`'s frame allocator behind one lock (the way a
//! kernel would share it) serialises; the system allocator (glibc malloc,
//! per-thread arenas and caches) does not.
//!
//! On a machine with fewer than two idle cores the two threads share one
//! core and every row reads about 2: compare it with the peers' rows of the
//! same run.

use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::Instant;

use buddy_system_allocator::FrameAllocator;
use mm::kalloc::slab::{CacheRegistry, KmemCache, SlabFlags};
use mm::phys::buddy::NR_ORDERS;
use mm::phys::page_alloc::PageAllocator;
use mm::testing::cpus::on_cpu;

use super::{Frames, Mm, Objects, ROUNDS, SLAB_OBJ, Sys, WARMUP_OPS, calibrate, median};

/// ns per op of `work(ops)` run by `threads` threads at once, each on its
/// own simulated CPU, as the slowest thread saw it.
fn per_thread_ns(threads: usize, ops: u64, work: &(dyn Fn(u64) + Sync)) -> f64 {
    let start = Barrier::new(threads);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|cpu| {
                let start = &start;
                s.spawn(move || {
                    on_cpu(cpu, || {
                        start.wait();
                        let t = Instant::now();
                        work(ops);
                        t.elapsed().as_nanos() as f64 / ops as f64
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a bench thread panicked")).fold(0.0, f64::max)
    })
}

/// Median ns per op on one thread and on two.
fn row(work: &(dyn Fn(u64) + Sync)) -> (f64, f64) {
    let ops = calibrate(per_thread_ns(1, WARMUP_OPS, work));
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        one.push(per_thread_ns(1, ops, work));
        two.push(per_thread_ns(2, ops, work));
    }
    (median(one), median(two))
}

pub(super) fn table(
    pa: &'static PageAllocator,
    peer: FrameAllocator<NR_ORDERS>,
    free_at_start: u64,
    filter: &[String],
) {
    mm::percpu::set_nr_cpus(2);
    let registry: &'static CacheRegistry = Box::leak(Box::new(CacheRegistry::new()));
    let cache: &'static KmemCache =
        KmemCache::create("bench-64-mt", SLAB_OBJ, 8, SlabFlags::empty(), None, pa).expect("mm: cannot create cache");
    registry.register(cache);
    let peer = Mutex::new(peer);

    let frames = |order: u32| {
        move |ops: u64| {
            let mut mm = Mm(pa);
            for _ in 0..ops {
                let p = mm.alloc(std::hint::black_box(order));
                mm.free(p, order);
            }
        }
    };
    let locked_peer = |ops: u64| {
        for _ in 0..ops {
            let mut fa = peer.lock().expect("peer lock");
            let p = fa.alloc(1).expect("peer: allocation failed");
            fa.dealloc(std::hint::black_box(p), 1);
        }
    };
    let slab = |ops: u64| {
        for _ in 0..ops {
            let p = cache.alloc().expect("mm slab: allocation failed");
            cache.free(std::hint::black_box(p)).expect("mm slab: free refused");
        }
    };
    let system = |ops: u64| {
        let mut sys = Sys;
        for _ in 0..ops {
            let p = sys.alloc(SLAB_OBJ);
            sys.free(std::hint::black_box(p), SLAB_OBJ);
        }
    };
    let (order0, order3) = (frames(0), frames(3));
    let rows: [(&str, &(dyn Fn(u64) + Sync)); 5] = [
        ("mm frame order 0 pair (pcp)", &order0),
        ("mm frame order 3 pair (pcp)", &order3),
        ("buddy_system_allocator order 0, locked", &locked_peer),
        ("mm slab 64 B pair (per-CPU slab)", &slab),
        ("system allocator 64 B pair", &system),
    ];

    println!();
    println!("two threads at once, each its own simulated CPU (median of {ROUNDS} rounds, ns per pair per thread)");
    println!("{:<44}{:>10}{:>11}{:>8}", "benchmark", "1 thread", "2 threads", "2t/1t");
    let started = Instant::now();
    for (name, work) in rows {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str()) || f == "threads") {
            continue;
        }
        let (one, two) = row(work);
        println!("{name:<44}{one:>10.1}{two:>11.1}{:>8.2}", two / one);
    }
    super::assert_mm_clean(pa, registry, free_at_start, "the two-thread table");
    println!("(total {:.1} s)", started.elapsed().as_secs_f64());
}
