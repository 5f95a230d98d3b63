//! Host benchmark: mm's buddy page allocator against a peer buddy allocator.
//!
//! What is measured: the cost of one allocation plus its free ("one op") in
//! `mm::page_alloc::PageAllocator` (`alloc_pages(GFP_KERNEL, order)` and
//! `free_pages`, the full entry points: zonelist walk, watermark check,
//! descriptor setup and checks, the zone lock, split and coalesce) and in
//! `buddy_system_allocator::FrameAllocator` (frame numbers kept in one
//! `BTreeSet` per order; it never touches the frames), on a simulated 256 MiB
//! single-node machine. Both have the same largest block (order 10, 4 MiB)
//! and start from the same free-list shape, so they do the same splitting
//! and coalescing work per op:
//!
//! - mm gets the whole machine (first page and its memmap reserved). Its
//!   `GFP_KERNEL` (unmovable) requests steal whole order-10 blocks from the
//!   movable pageblocks and never touch the small movable fragments left
//!   around the reservations, so in effect it serves them from 4 MiB blocks.
//! - the peer gets mm's free page ranges trimmed to whole, aligned 4 MiB
//!   blocks (a few MiB fewer frames). Given the fragments too, it would
//!   serve "pair" from the one free order-0 frame at pfn 1 with no split or
//!   merge at all, which measures a different free-list state, not a
//!   different allocator.
//!
//! For order 0 and order 3 (8 frames) there are three patterns:
//!
//! ```text
//! pair             alloc, free, alloc, free, ...       split down and merge back up every op
//! batch rev        4096 allocs, then free newest first  LIFO: each free merges with the last split
//! batch scrambled  4096 allocs, then free in a fixed    coalescing out of order: buddies meet late,
//!                  xorshift-shuffled order              free lists grow fragmented, then merge
//! ```
//!
//! How to read it: each row is ns per alloc+free pair, the median of 5 timed
//! rounds after one warm-up round that also calibrates how many ops a round
//! runs (~100 ms each). mm and the peer alternate round by round so drift on a
//! shared machine hits both. `ratio` is mm / peer: below 1 mm is faster.
//! Machines running this are shared and noisy, so compare ratios, not
//! absolute numbers, and treat differences under ~10% as noise.
//!
//! Run: `make bench`, or `cargo bench -p mm --features sim --bench alloc`;
//! an extra argument filters rows by substring (`... --bench alloc -- pair`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use buddy_system_allocator::FrameAllocator;
use mm::addr::{PAGE_SIZE, Pfn};
use mm::buddy::NR_ORDERS;
use mm::gfp::GFP_KERNEL;
use mm::memblock::{Memblock, NUMA_NO_NODE};
use mm::numa::Topology;
use mm::page_alloc::PageAllocator;
use mm::testing::SimRam;

/// Simulated RAM: a 4096-block order-3 batch needs 128 MiB free at once.
const RAM: u64 = 256 << 20;
/// Blocks held at once by the batch patterns.
const BATCH: usize = 4096;
/// Timed rounds per row (after one warm-up round); the median is reported.
const ROUNDS: usize = 5;
/// Wall time one timed round of one allocator aims for.
const ROUND_TARGET: Duration = Duration::from_millis(100);
/// Ops in the warm-up round, which also calibrates the timed rounds.
const WARMUP_OPS: u64 = 20_000;

/// The two allocators behind one interface, so every pattern is the same
/// monomorphised loop for both.
trait Frames {
    fn alloc(&mut self, order: u32) -> u64;
    fn free(&mut self, pfn: u64, order: u32);
}

struct Mm(PageAllocator);

impl Frames for Mm {
    #[inline]
    fn alloc(&mut self, order: u32) -> u64 {
        self.0.alloc_pages(GFP_KERNEL, order).expect("mm: allocation failed").0
    }

    #[inline]
    fn free(&mut self, pfn: u64, order: u32) {
        self.0.free_pages(Pfn(pfn), order).expect("mm: free refused");
    }
}

/// The peer, with mm's number of orders (0..=10) so its blocks top out at
/// 4 MiB too.
struct Peer(FrameAllocator<NR_ORDERS>);

impl Frames for Peer {
    #[inline]
    fn alloc(&mut self, order: u32) -> u64 {
        self.0.alloc(1 << order).expect("peer: allocation failed") as u64
    }

    #[inline]
    fn free(&mut self, pfn: u64, order: u32) {
        self.0.dealloc(pfn as usize, 1 << order);
    }
}

/// mm's allocator over simulated RAM, set up as the page_alloc tests'
/// `machine()` does, and the pfn ranges `[start, end)` it was handed.
/// Order-10 alignment below is mm's `MAX_ORDER` (`NR_ORDERS - 1`).
fn mm_machine() -> (PageAllocator, Vec<(u64, u64)>) {
    let ram = SimRam::new(0, RAM);
    let mut mb = Memblock::new();
    mb.set_phys(ram.window);
    mb.add(0, RAM).unwrap();
    mb.reserve(0, PAGE_SIZE, "first page").unwrap();
    let topo = Topology::single_node(RAM);
    topo.apply(&mut mb).unwrap();
    let pa = PageAllocator::new(&mut mb, topo, ram.window).unwrap();
    let freed = pa.free_boot_memory(&mb);
    pa.setup_watermarks(None);
    let mut ranges = Vec::new();
    mb.for_each_free_range(NUMA_NO_NODE, |s, e, _| {
        let (s, e) = (s.div_ceil(PAGE_SIZE), e / PAGE_SIZE);
        if s < e {
            ranges.push((s, e));
        }
    });
    assert_eq!(ranges.iter().map(|r| r.1 - r.0).sum::<u64>(), freed, "peer must get exactly mm's frames");
    assert_eq!(freed, pa.nr_managed_pages());
    (pa, ranges)
}

/// The peer over the whole, aligned top-order blocks of `ranges` (see the
/// module comment for why not the fragments around them).
fn peer_machine(ranges: &[(u64, u64)], managed: u64) -> Peer {
    let top = 1u64 << (NR_ORDERS - 1);
    let mut fa = FrameAllocator::<NR_ORDERS>::new();
    let mut frames = 0;
    for &(s, e) in ranges {
        let (s, e) = (s.next_multiple_of(top), e / top * top);
        if s < e {
            fa.add_frame(s as usize, e as usize);
            frames += e - s;
        }
    }
    assert!(frames <= managed && managed - frames <= 4 * top, "peer: {frames} frames, mm manages {managed}");
    Peer(fa)
}

#[derive(Clone, Copy)]
enum Pattern {
    Pair,
    BatchRev,
    BatchScrambled,
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::Pair => "pair",
            Pattern::BatchRev => "batch 4096 rev",
            Pattern::BatchScrambled => "batch 4096 scrambled",
        }
    }
}

/// A fixed permutation of `0..n` (Fisher-Yates driven by xorshift64).
fn scrambled(n: usize) -> Vec<usize> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// Run about `ops` alloc+free pairs of `pattern`; returns the ops done.
fn run<A: Frames>(a: &mut A, pattern: Pattern, order: u32, ops: u64, held: &mut Vec<u64>, perm: &[usize]) -> u64 {
    match pattern {
        Pattern::Pair => {
            for _ in 0..ops {
                let p = a.alloc(black_box(order));
                a.free(black_box(p), order);
            }
            ops
        }
        Pattern::BatchRev | Pattern::BatchScrambled => {
            let reps = ops.div_ceil(BATCH as u64).max(1);
            for _ in 0..reps {
                held.clear();
                for _ in 0..BATCH {
                    held.push(a.alloc(black_box(order)));
                }
                black_box(&mut *held);
                if let Pattern::BatchRev = pattern {
                    for &p in held.iter().rev() {
                        a.free(p, order);
                    }
                } else {
                    for &i in perm {
                        a.free(held[i], order);
                    }
                }
            }
            reps * BATCH as u64
        }
    }
}

/// ns per op of one round.
fn timed<A: Frames>(a: &mut A, pattern: Pattern, order: u32, ops: u64, held: &mut Vec<u64>, perm: &[usize]) -> f64 {
    let t = Instant::now();
    let done = run(a, pattern, order, ops, held, perm);
    t.elapsed().as_nanos() as f64 / done as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Ops a round should run to take about `ROUND_TARGET`, from a warm-up's ns/op.
fn calibrate(ns_per_op: f64) -> u64 {
    ((ROUND_TARGET.as_nanos() as f64 / ns_per_op.max(1.0)) as u64).clamp(BATCH as u64, 20_000_000)
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let (pa, ranges) = mm_machine();
    let mut peer = peer_machine(&ranges, pa.nr_managed_pages());
    let mut mm = Mm(pa);
    let free_at_start = mm.0.nr_free_pages();
    let perm = scrambled(BATCH);
    let mut held = Vec::with_capacity(BATCH);

    println!("mm host benchmarks (median of {ROUNDS} rounds, ns per alloc+free pair)");
    println!("note: machines are shared and noisy; compare the ratios, not the absolute numbers");
    println!("{:<36}{:>11}{:>25}{:>8}", "benchmark", "mm::buddy", "buddy_system_allocator", "ratio");
    let started = Instant::now();
    for order in [0u32, 3] {
        for pattern in [Pattern::Pair, Pattern::BatchRev, Pattern::BatchScrambled] {
            let name = format!("frame order {order}, {}", pattern.name());
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            // Warm-up: caches, branch predictors, free-list shapes; calibrates.
            let mm_ops = calibrate(timed(&mut mm, pattern, order, WARMUP_OPS, &mut held, &perm));
            let peer_ops = calibrate(timed(&mut peer, pattern, order, WARMUP_OPS, &mut held, &perm));
            let (mut m, mut p) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
            for round in 0..ROUNDS {
                // Alternate who goes first, so neither always runs on a warmer machine.
                if round % 2 == 0 {
                    m.push(timed(&mut mm, pattern, order, mm_ops, &mut held, &perm));
                    p.push(timed(&mut peer, pattern, order, peer_ops, &mut held, &perm));
                } else {
                    p.push(timed(&mut peer, pattern, order, peer_ops, &mut held, &perm));
                    m.push(timed(&mut mm, pattern, order, mm_ops, &mut held, &perm));
                }
            }
            let (m, p) = (median(m), median(p));
            println!("{name:<36}{m:>11.1}{p:>25.1}{:>8.2}", m / p);
            // Every pattern gives everything back: mm must be where it started.
            assert_eq!(mm.0.nr_free_pages(), free_at_start, "mm: pages leaked by {name}");
        }
    }
    mm.0.check_invariants();
    println!("(total {:.1} s)", started.elapsed().as_secs_f64());
}
