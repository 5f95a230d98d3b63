//! Host benchmark: mm's buddy page allocator against a peer buddy allocator
//! (first table), then mm's object allocators, slab and kmalloc, against
//! four peer heaps (second table), then the per-CPU paths of both with two
//! threads at once (third table).
//!
//! # First table: frames
//!
//! What is measured: the cost of one allocation plus its free ("one op") in
//! `mm::phys::page_alloc::PageAllocator` (`alloc_pages(GFP_KERNEL, order)` and
//! `free_pages`, the full entry points: watermark check of the first zone
//! of the zonelist (the whole walk only when it fails), descriptor setup
//! and checks, reference count; orders 0 and 3 go through the running
//! CPU's per-CPU list, which reaches the zone lock, split and coalesce only
//! once per batch (15 pages in this machine's DMA32 zone), so "pair" costs
//! a list pop and push while the batches pay for the refills and bulk
//! frees) and in
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
//! # Second table: objects
//!
//! What is measured: ns per object alloc+free pair in
//!
//! - mm's slab cache (`KmemCache::alloc`/`free`, a 64-byte cache named
//!   `bench-64`) and mm's kmalloc (`Kmalloc::alloc(size, 8, false)`/`free`:
//!   13 size-class caches up to 8 KiB, compound pages from the buddy
//!   allocator above that), both on the same simulated machine as the first
//!   table, against
//! - `talc` (`Talc<Manual>`, `claim` + `allocate`/`deallocate`),
//!   `linked_list_allocator::Heap` (`allocate_first_fit`/`deallocate`),
//!   `buddy_system_allocator::Heap<32>` (`alloc`/`dealloc`), each over its
//!   own host arena as large as mm's managed memory (2 MiB aligned, like the
//!   simulated RAM), and the host's `std::alloc::System` (glibc malloc).
//!
//! Every allocator gets the same request sequence, with `align` 8. The peers
//! are told the layout again on free (the `GlobalAlloc` contract); mm is
//! given only the pointer. Rows:
//!
//! ```text
//! slab alloc/free 64 B           64-byte objects
//! kmalloc mixed sizes            4096 sizes from a fixed-seed xorshift: 80% log-uniform
//!                                in 8..=512 B, 17% uniform in 1..=8 KiB, 3% uniform in
//!                                16..=64 KiB (mm: a kmalloc-N class, or compound pages)
//!
//! pair                           alloc, free, alloc, free, ... (cycling through the sizes)
//! batch 4096 scrambled           4096 live objects, then freed in the first table's
//!                                xorshift-shuffled order
//! ```
//!
//! mm's numbers include its safety checks, which the peers do not have: every
//! free checks that the pointer is one of the cache's objects, by its
//! address inside the CPU's active slab when it is there (slab rows), else
//! through the page descriptors (`phys_of -> pfn -> memmap -> compound
//! head`, then the cache id in the head; kfree does this once, takes the
//! class from the tag in the head and hands the head to the cache), checks
//! that it is an object's first byte (a divisibility test by one
//! multiplication), and refuses the double free of the object freed last
//! (the hardened-freelist check). Every operation also asks the CPU hook
//! which CPU it runs on (a thread-local here, GS in the kernel) and turns
//! interrupts off in the kernel (not here: the host has no interrupt
//! hooks); it then pops or pushes its CPU's freelist with plain loads and
//! stores, no lock and no atomic read-modify-write (see
//! `mm::kalloc::slab::cpu_slab`).
//! Peers trust the pointer and layout they are handed. Reading ratios:
//! `mm/x` above 1 means mm is slower.
//!
//! `linked_list_allocator` keeps one address-ordered list of holes, so with
//! thousands of live blocks each free walks a long list: it is slow on the
//! batch rows by design, and the calibration below gives it fewer operations
//! per round (at least one batch) so the run still ends in time. The same
//! goes for `buddy_system_allocator::Heap`, whose free searches a singly
//! linked free list for the buddy to merge with.
//!
//! After each row every mm cache must have no live objects, pass its
//! invariant check, and, once shrunk, mm must have exactly its starting free
//! pages (and no slab pages accounted); the peers that can say so must have
//! nothing allocated. A broken allocator panics instead of printing a row.
//!
//! # Third table: two threads
//!
//! The per-CPU paths with two threads at once (`alloc/threads.rs`).
//!
//! Run: `make bench`, or `cargo bench -p mm --features sim --bench alloc`;
//! an extra argument filters rows by substring (`... --bench alloc -- pair`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use buddy_system_allocator::FrameAllocator;
use mm::addr::{PAGE_SIZE, Pfn};
use mm::kalloc::kmalloc::Kmalloc;
use mm::kalloc::slab::{CacheRegistry, KmemCache, SlabFlags};
use mm::phys::buddy::NR_ORDERS;
use mm::phys::gfp::GFP_KERNEL;
use mm::phys::memblock::{Memblock, NUMA_NO_NODE};
use mm::phys::numa::Topology;
use mm::phys::page_alloc::PageAllocator;
use mm::testing::SimRam;
use talc::DefaultBinning;
use talc::base::Talc;
use talc::source::Manual;

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

/// mm's allocator is leaked: the second table's slab caches need it `'static`.
struct Mm(&'static PageAllocator);

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
    let pa: &'static PageAllocator = Box::leak(Box::new(pa));
    let mut peer = peer_machine(&ranges, pa.nr_managed_pages());
    let mut mm = Mm(pa);
    let free_at_start = mm.0.drained_free_pages();
    let perm = scrambled(BATCH);
    let mut held = Vec::with_capacity(BATCH);

    println!("mm host benchmarks (median of {ROUNDS} rounds, ns per alloc+free pair)");
    println!("note: machines are shared and noisy; compare the ratios, not the absolute numbers");
    println!("{:<36}{:>11}{:>25}{:>8}", "benchmark", "mm::phys::buddy", "buddy_system_allocator", "ratio");
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
            assert_eq!(mm.0.drained_free_pages(), free_at_start, "mm: pages leaked by {name}");
        }
    }
    mm.0.check_invariants();
    println!("(total {:.1} s)", started.elapsed().as_secs_f64());

    object_table(pa, free_at_start, &filter, &perm);
    threads::table(pa, peer_machine(&ranges, pa.nr_managed_pages()).0, free_at_start, &filter);
    pa.check_invariants();
}

#[path = "alloc/threads.rs"]
mod threads;

// ---------------------------------------------------------------------------
// Second table: object allocators.

/// Alignment of every object request (kmalloc's minimum, a typical struct's).
const OBJ_ALIGN: usize = 8;
/// Object size of the slab rows.
const SLAB_OBJ: usize = 64;

const _: () = assert!(BATCH.is_power_of_two());

/// The object allocators behind one interface. `free` gets the size back, as
/// `GlobalAlloc::dealloc` does; mm ignores it.
trait Objects {
    fn alloc(&mut self, size: usize) -> NonNull<u8>;
    fn free(&mut self, p: NonNull<u8>, size: usize);
}

#[inline]
fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, OBJ_ALIGN).expect("bad layout")
}

struct MmSlab(&'static KmemCache);

impl Objects for MmSlab {
    #[inline]
    fn alloc(&mut self, _size: usize) -> NonNull<u8> {
        self.0.alloc().expect("mm slab: allocation failed")
    }

    #[inline]
    fn free(&mut self, p: NonNull<u8>, _size: usize) {
        self.0.free(p).expect("mm slab: free refused");
    }
}

struct MmKmalloc(Kmalloc);

impl Objects for MmKmalloc {
    #[inline]
    fn alloc(&mut self, size: usize) -> NonNull<u8> {
        self.0.alloc(size, OBJ_ALIGN, false).expect("mm kmalloc: allocation failed")
    }

    #[inline]
    fn free(&mut self, p: NonNull<u8>, _size: usize) {
        self.0.free(p).expect("mm kmalloc: free refused");
    }
}

struct TalcPeer(Talc<Manual, DefaultBinning>);

impl Objects for TalcPeer {
    #[inline]
    fn alloc(&mut self, size: usize) -> NonNull<u8> {
        // SAFETY: non-zero size.
        unsafe { self.0.allocate(layout(size)) }.expect("talc: allocation failed")
    }

    #[inline]
    fn free(&mut self, p: NonNull<u8>, size: usize) {
        // SAFETY: `p` came from `allocate` with this layout and is freed once.
        unsafe { self.0.deallocate(p.as_ptr(), layout(size)) }
    }
}

struct Llist(linked_list_allocator::Heap);

impl Objects for Llist {
    #[inline]
    fn alloc(&mut self, size: usize) -> NonNull<u8> {
        self.0.allocate_first_fit(layout(size)).expect("linked_list_allocator: allocation failed")
    }

    #[inline]
    fn free(&mut self, p: NonNull<u8>, size: usize) {
        // SAFETY: `p` came from `allocate_first_fit` with this layout, freed once.
        unsafe { self.0.deallocate(p, layout(size)) }
    }
}

struct BuddySys(buddy_system_allocator::Heap<32>);

impl Objects for BuddySys {
    #[inline]
    fn alloc(&mut self, size: usize) -> NonNull<u8> {
        self.0.alloc(layout(size)).expect("buddy_system_allocator: allocation failed")
    }

    #[inline]
    fn free(&mut self, p: NonNull<u8>, size: usize) {
        // SAFETY: `p` came from `alloc` with this layout and is freed once.
        unsafe { self.0.dealloc(p, layout(size)) }
    }
}

struct Sys;

impl Objects for Sys {
    #[inline]
    fn alloc(&mut self, size: usize) -> NonNull<u8> {
        // SAFETY: non-zero size.
        NonNull::new(unsafe { System.alloc(layout(size)) }).expect("system: allocation failed")
    }

    #[inline]
    fn free(&mut self, p: NonNull<u8>, size: usize) {
        // SAFETY: `p` came from `System.alloc` with this layout, freed once.
        unsafe { System.dealloc(p.as_ptr(), layout(size)) }
    }
}

#[derive(Clone, Copy)]
enum ObjPattern {
    Pair,
    Batch,
}

impl ObjPattern {
    fn name(self) -> &'static str {
        match self {
            ObjPattern::Pair => "pair",
            ObjPattern::Batch => "batch 4096 scrambled",
        }
    }
}

/// One row's requests: `sizes[i]` is the size of the i-th object of a batch
/// (and of the i-th pair, cyclically).
struct Workload<'a> {
    pattern: ObjPattern,
    sizes: &'a [usize],
    perm: &'a [usize],
}

/// Run about `ops` alloc+free pairs of `w`; returns the ops done.
fn run_objects<A: Objects>(a: &mut A, w: &Workload<'_>, ops: u64, held: &mut Vec<NonNull<u8>>) -> u64 {
    match w.pattern {
        ObjPattern::Pair => {
            for i in 0..ops as usize {
                let size = w.sizes[i & (BATCH - 1)];
                let p = a.alloc(black_box(size));
                a.free(black_box(p), size);
            }
            ops
        }
        ObjPattern::Batch => {
            let reps = ops.div_ceil(BATCH as u64).max(1);
            for _ in 0..reps {
                held.clear();
                for &size in w.sizes {
                    held.push(a.alloc(black_box(size)));
                }
                black_box(&mut *held);
                for &i in w.perm {
                    a.free(held[i], w.sizes[i]);
                }
            }
            reps * BATCH as u64
        }
    }
}

/// One timed round of an object allocator, callable through `dyn` so a row
/// can rotate over all of them; the loop inside is monomorphised per type.
trait ObjRound {
    /// ns per op of a round of about `ops` ops.
    fn round(&mut self, w: &Workload<'_>, ops: u64, held: &mut Vec<NonNull<u8>>) -> f64;
}

impl<A: Objects> ObjRound for A {
    fn round(&mut self, w: &Workload<'_>, ops: u64, held: &mut Vec<NonNull<u8>>) -> f64 {
        let t = Instant::now();
        let done = run_objects(self, w, ops, held);
        t.elapsed().as_nanos() as f64 / done as f64
    }
}

/// Median ns/op of each contender: one calibrating warm-up each, then
/// `ROUNDS` rounds in which who goes first rotates.
fn object_row(contenders: &mut [&mut dyn ObjRound], w: &Workload<'_>, held: &mut Vec<NonNull<u8>>) -> Vec<f64> {
    let ops: Vec<u64> = contenders.iter_mut().map(|c| calibrate(c.round(w, WARMUP_OPS, held))).collect();
    let n = contenders.len();
    let mut times = vec![Vec::with_capacity(ROUNDS); n];
    for round in 0..ROUNDS {
        for k in 0..n {
            let i = (round + k) % n;
            times[i].push(contenders[i].round(w, ops[i], held));
        }
    }
    times.into_iter().map(median).collect()
}

/// The kmalloc rows' sizes (see the module comment), from a fixed seed.
fn mixed_sizes(n: usize) -> Vec<usize> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let (r, v) = (next() % 100, next() as usize);
            if r < 80 {
                // Log-uniform: a power of two 8..=256, then up to twice it.
                let lo = 8 << (v % 6);
                lo + (v >> 8) % (lo + 1)
            } else if r < 97 {
                1024 + v % (7 * 1024 + 1)
            } else {
                16 * 1024 + v % (48 * 1024 + 1)
            }
        })
        .collect()
}

/// A zeroed host region of `bytes` for a peer heap, 2 MiB aligned like the
/// simulated RAM (untouched pages are never faulted in). Leaked.
fn arena(bytes: usize) -> *mut u8 {
    let layout = Layout::from_size_align(bytes, 1 << 21).expect("bad arena layout");
    // SAFETY: non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!p.is_null(), "cannot allocate a {bytes}-byte arena");
    p
}

/// After an mm row: no cache holds an object, every cache is consistent, and
/// once the caches are shrunk mm has all its pages back.
fn assert_mm_clean(pa: &PageAllocator, registry: &CacheRegistry, free_at_start: u64, row: &str) {
    for c in registry.caches() {
        let s = c.stats();
        assert_eq!(s.active_objs, 0, "mm: {} holds {} objects after {row}", c.name, s.active_objs);
        assert_eq!(s.debug_errors, 0, "mm: {} reported errors in {row}", c.name);
        c.check_invariants();
    }
    registry.shrink_all();
    for c in registry.caches() {
        assert_eq!(c.stats().num_slabs, 0, "mm: {} kept slabs after shrink ({row})", c.name);
    }
    assert_eq!(pa.vmstat.slab_unreclaimable.get(), 0, "mm: slab pages still accounted after {row}");
    assert_eq!(pa.drained_free_pages(), free_at_start, "mm: pages leaked by {row}");
}

fn object_table(pa: &'static PageAllocator, free_at_start: u64, filter: &[String], perm: &[usize]) {
    let registry: &'static CacheRegistry = Box::leak(Box::new(CacheRegistry::new()));
    let cache =
        KmemCache::create("bench-64", SLAB_OBJ, 8, SlabFlags::empty(), None, pa).expect("mm: cannot create bench-64");
    registry.register(cache);
    let mut mm_slab = MmSlab(cache);
    let mut mm_kmalloc =
        MmKmalloc(Kmalloc::new(pa, registry, SlabFlags::empty()).expect("mm: cannot create kmalloc caches"));

    // Peers: each its own arena of mm's managed size.
    let bytes = (pa.nr_managed_pages() * PAGE_SIZE) as usize;
    let mut talc = TalcPeer(Talc::new(Manual));
    // SAFETY: the arena is ours, leaked, and used by nothing else.
    unsafe { talc.0.claim(arena(bytes), bytes) }.expect("talc: claim failed");
    // SAFETY: as above.
    let mut llist = Llist(unsafe { linked_list_allocator::Heap::new(arena(bytes), bytes) });
    let mut buddy = BuddySys(buddy_system_allocator::Heap::<32>::new());
    // SAFETY: as above.
    unsafe { buddy.0.init(arena(bytes) as usize, bytes) };
    let mut sys = Sys;

    let slab_sizes = vec![SLAB_OBJ; BATCH];
    let mixed = mixed_sizes(BATCH);
    let mut held = Vec::with_capacity(BATCH);

    let (small, medium) =
        (mixed.iter().filter(|&&s| s <= 512).count(), mixed.iter().filter(|&&s| s > 512 && s <= 8192).count());
    println!();
    println!(
        "object allocators (median of {ROUNDS} rounds, ns per alloc+free pair; align {OBJ_ALIGN}; peer arenas {} MiB each)",
        bytes >> 20
    );
    println!(
        "kmalloc mixed sizes: {} requests, {small} of 8..512 B, {medium} of 1..8 KiB, {} of 16..64 KiB, mean {} B",
        mixed.len(),
        mixed.len() - small - medium,
        mixed.iter().sum::<usize>() / mixed.len()
    );
    println!(
        "{:<44}{:>9}{:>9}{:>9}{:>11}{:>9}{:>9}{:>10}{:>14}{:>11}",
        "benchmark", "mm", "talc", "llist", "buddy_sys", "system", "mm/talc", "mm/llist", "mm/buddy_sys", "mm/system"
    );
    let started = Instant::now();
    for (what, sizes) in [("slab alloc/free 64 B", &slab_sizes), ("kmalloc mixed sizes", &mixed)] {
        for pattern in [ObjPattern::Pair, ObjPattern::Batch] {
            let name = format!("{what}, {}", pattern.name());
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let w = Workload { pattern, sizes, perm };
            let mm: &mut dyn ObjRound = if what.starts_with("slab") { &mut mm_slab } else { &mut mm_kmalloc };
            let t = object_row(&mut [mm, &mut talc, &mut llist, &mut buddy, &mut sys], &w, &mut held);
            assert_mm_clean(pa, registry, free_at_start, &name);
            assert_eq!(llist.0.used(), 0, "linked_list_allocator: bytes still used after {name}");
            assert_eq!(buddy.0.stats_alloc_actual(), 0, "buddy_system_allocator: bytes still allocated after {name}");
            println!(
                "{name:<44}{:>9.1}{:>9.1}{:>9.1}{:>11.1}{:>9.1}{:>9.2}{:>10.2}{:>14.2}{:>11.2}",
                t[0],
                t[1],
                t[2],
                t[3],
                t[4],
                t[0] / t[1],
                t[0] / t[2],
                t[0] / t[3],
                t[0] / t[4]
            );
        }
    }
    println!("(total {:.1} s)", started.elapsed().as_secs_f64());
}
