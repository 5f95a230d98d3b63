//! Slab allocator host tests: caches over a simulated 32 MiB machine.
//! Object pointers are host pointers into the simulated RAM, so the tests
//! write into objects, overflow them and use them after free.

use super::*;
use crate::{addr::PhysAddr, phys::memblock::Memblock, phys::numa::Topology, testing::SimRam};
use alloc::{boxed::Box, collections::BTreeSet, string::String};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64};

const MB: u64 = 1 << 20;
const SIZES: [usize; 7] = [8, 24, 64, 96, 200, 1000, 3000];
const ALIGNS: [usize; 4] = [8, 16, 64, 256];

/// A one-node machine with 32 MiB of RAM; the allocator is leaked.
pub(super) fn machine() -> &'static PageAllocator {
    let ram = SimRam::new(0, 32 * MB);
    let mut mb = Memblock::new();
    mb.set_phys(ram.window);
    mb.add(0, 32 * MB).unwrap();
    mb.reserve(0, PAGE_SIZE, "first page").unwrap();
    let topo = Topology::single_node(32 * MB);
    topo.apply(&mut mb).unwrap();
    let pa: &'static PageAllocator = Box::leak(Box::new(PageAllocator::new(&mut mb, topo, ram.window).unwrap()));
    pa.free_boot_memory(&mb);
    pa.setup_watermarks(None);
    pa
}

/// A cache at its final address (a cache is known by its address).
pub(super) fn cache(
    pa: &'static PageAllocator,
    name: &'static str,
    size: usize,
    align: usize,
    flags: SlabFlags,
) -> &'static KmemCache {
    Box::leak(Box::new(KmemCache::new(name, size, align, flags, None, pa).unwrap()))
}

/// The page holding `p`, and the compound head of that page.
fn page_of(pa: &PageAllocator, p: *const u8) -> &'static Page {
    pa.memmap.page_of_phys(pa.phys().phys_of(p).expect("object outside simulated RAM").as_u64()).unwrap()
}

pub(super) fn head_of(pa: &PageAllocator, p: *const u8) -> &'static Page {
    pa.memmap.compound_head(page_of(pa, p))
}

pub(super) fn slab_gauges(pa: &PageAllocator) -> (u64, u64) {
    (pa.vmstat.slab_unreclaimable.get(), pa.vmstat.slab_reclaimable.get())
}

pub(super) fn fill(p: NonNull<u8>, len: usize, byte: u8) {
    // SAFETY: `p` is a live object of at least `len` bytes.
    unsafe { core::ptr::write_bytes(p.as_ptr(), byte, len) };
}

pub(super) fn bytes(p: NonNull<u8>, len: usize) -> &'static [u8] {
    // SAFETY: `p` lies in leaked simulated RAM; `len` bytes are inside its stride.
    unsafe { core::slice::from_raw_parts(p.as_ptr(), len) }
}

#[test]
fn objects_are_distinct_aligned_writable_and_inside_pages_marked_slab() {
    let pa = machine();
    for flags in [SlabFlags::empty(), SLAB_DEBUG] {
        for size in SIZES {
            for align in ALIGNS {
                let c = cache(pa, "geom", size, align, flags);
                let n = 2 * c.objects_per_slab as usize + 1;
                let objs: Vec<NonNull<u8>> = (0..n).map(|_| c.alloc().unwrap()).collect();
                c.check_invariants();
                let distinct: BTreeSet<usize> = objs.iter().map(|p| p.as_ptr() as usize).collect();
                assert_eq!(distinct.len(), n, "size {size} align {align}: an object was handed out twice");
                for (i, &p) in objs.iter().enumerate() {
                    assert_eq!(p.as_ptr() as usize % align, 0, "size {size} align {align}: {p:?} misaligned");
                    fill(p, size, i as u8 ^ 0x5a);
                }
                for (i, &p) in objs.iter().enumerate() {
                    assert!(
                        bytes(p, size).iter().all(|&b| b == i as u8 ^ 0x5a),
                        "size {size} align {align}: object {i} corrupted by a neighbour"
                    );
                    for q in [p.as_ptr(), p.as_ptr().wrapping_add(size - 1)] {
                        let head = head_of(pa, q);
                        assert!(page_of(pa, q).has(PageFlags::SLAB) && head.has(PageFlags::SLAB));
                        assert_eq!(
                            head.private.load(Ordering::Relaxed),
                            c as *const KmemCache as u64,
                            "slab head names its cache"
                        );
                    }
                    assert!(c.owns(p.as_ptr()));
                }
                objs.into_iter().for_each(|p| c.free(p).unwrap());
                c.check_invariants();
                assert_eq!(c.stats().debug_errors, 0, "writing a whole object is not an overflow");
                assert_eq!(c.destroy(), Ok(()));
            }
        }
    }
}

#[test]
fn slab_order_is_the_smallest_that_wastes_at_most_a_sixteenth() {
    let pa = machine();
    for flags in [SlabFlags::empty(), SLAB_DEBUG, SlabFlags::HWCACHE_ALIGN] {
        for size in SIZES {
            for align in ALIGNS {
                let c = KmemCache::new("geom", size, align, flags, None, pa).unwrap();
                let slab = (PAGE_SIZE as usize) << c.order;
                assert!(c.order <= 3 && c.size >= size && c.size % c.align == 0 && c.align >= align);
                assert_eq!(c.objects_per_slab as usize, slab / c.size, "as many objects as fit");
                assert!(c.objects_per_slab as usize * c.size <= slab);
                let bytes_of = |o: u32| (PAGE_SIZE as usize) << o;
                if let Some(best) =
                    (0..=3).find(|&o| bytes_of(o) >= c.size && (bytes_of(o) % c.size) * 16 <= bytes_of(o))
                {
                    assert_eq!(c.order, best, "stride {}: smallest order within 1/16 waste", c.size);
                    assert!((slab % c.size) * 16 <= slab);
                }
            }
        }
    }
    for (size, align) in [(0, 8), (64, 3), (64, 2 * PAGE_SIZE as usize), (40_000, 8)] {
        assert_eq!(
            KmemCache::new("bad", size, align, SlabFlags::empty(), None, pa).err(),
            Some(SlabError::BadGeometry)
        );
    }
}

#[test]
fn freeing_everything_then_shrinking_gives_every_page_back_to_the_buddy_allocator() {
    for size in [200, 3000] {
        let pa = machine();
        let free_before = pa.drained_free_pages();
        let gauges_before = slab_gauges(pa);
        let c = cache(pa, "shrink", size, 8, SlabFlags::empty());
        let n = 5 * c.objects_per_slab as usize + 3;
        let objs: Vec<NonNull<u8>> = (0..n).map(|_| c.alloc().unwrap()).collect();
        c.check_invariants();
        let s = c.stats();
        assert_eq!((s.active_objs, s.active_slabs, s.num_slabs), (n as u64, 6, 6));
        assert_eq!(c.pages(), 6 << c.order);
        assert_eq!(pa.drained_free_pages(), free_before - c.pages());
        assert_eq!(slab_gauges(pa).0, gauges_before.0 + c.pages());
        // Free evens then odds so slabs go full -> partial -> free.
        for p in objs.iter().step_by(2).chain(objs.iter().skip(1).step_by(2)) {
            assert_eq!(c.free(*p), Ok(()));
            c.check_invariants();
        }
        let s = c.stats();
        assert_eq!((s.active_objs, s.active_slabs, s.allocs, s.frees), (0, 0, n as u64, n as u64));
        assert_eq!(
            pa.drained_free_pages() + c.pages(),
            free_before,
            "empty slabs not yet shrunk are all that is missing"
        );
        let held = c.pages();
        assert!(held > 0, "some empty slabs are kept for reuse");
        assert_eq!(c.shrink(), held);
        c.check_invariants();
        assert_eq!((c.pages(), c.stats().num_objs), (0, 0));
        assert_eq!(pa.drained_free_pages(), free_before);
        assert_eq!(slab_gauges(pa), gauges_before);
        assert!(!c.owns(objs[0].as_ptr()) && !head_of(pa, objs[0].as_ptr()).has(PageFlags::SLAB));
        pa.check_invariants();
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        /// Random alloc/free against a model of live objects: no object is
        /// handed out twice, none overlaps another (each carries a tag over
        /// its whole size), counts agree, and everything comes back.
        #[test]
        fn random_alloc_and_free_match_a_model(
            geom in (0usize..5, 0usize..3, 0usize..3),
            ops in proptest::collection::vec((any::<bool>(), any::<u16>()), 1..300),
        ) {
            let (size, align) = ([8, 24, 96, 200, 1000][geom.0], [8, 64, 256][geom.1]);
            let flags = [SlabFlags::empty(), SLAB_DEBUG, SlabFlags::POISON][geom.2];
            let pa = machine();
            let free_before = pa.drained_free_pages();
            let c = cache(pa, "prop", size, align, flags);
            let mut live: Vec<(NonNull<u8>, u8)> = Vec::new();
            let mut addrs: BTreeSet<usize> = BTreeSet::new();
            for (i, (alloc, pick)) in ops.into_iter().enumerate() {
                if alloc || live.is_empty() {
                    let p = c.alloc().unwrap();
                    prop_assert!(addrs.insert(p.as_ptr() as usize), "{:?} handed out while live", p);
                    prop_assert_eq!(p.as_ptr() as usize % align, 0);
                    fill(p, size, i as u8);
                    live.push((p, i as u8));
                } else {
                    let (p, tag) = live.swap_remove(pick as usize % live.len());
                    prop_assert!(bytes(p, size).iter().all(|&b| b == tag), "object {:?} was overwritten while live", p);
                    prop_assert_eq!(c.free(p), Ok(()));
                    addrs.remove(&(p.as_ptr() as usize));
                }
                c.check_invariants();
                let s = c.stats();
                let slabs: BTreeSet<u64> = live.iter().map(|(p, _)| head_of(pa, p.as_ptr()).pfn().0).collect();
                prop_assert_eq!(s.active_objs, live.len() as u64);
                prop_assert_eq!(s.active_slabs, slabs.len() as u64);
                prop_assert_eq!(s.num_objs, s.num_slabs * c.objects_per_slab as u64);
                prop_assert_eq!(s.debug_errors, 0);
                prop_assert_eq!(pa.drained_free_pages() + c.pages(), free_before);
            }
            for (p, _) in live { prop_assert_eq!(c.free(p), Ok(())); }
            c.shrink();
            c.check_invariants();
            prop_assert_eq!(pa.drained_free_pages(), free_before);
            prop_assert_eq!(slab_gauges(pa), (0, 0));
        }
    }
}

#[test]
fn debug_cache_reports_a_write_just_past_or_before_an_object_as_a_red_zone_overwrite() {
    let pa = machine();
    let c = cache(pa, "rz", 100, 8, SLAB_DEBUG);
    let (a, b) = (c.alloc().unwrap(), c.alloc().unwrap());
    // SAFETY: one byte into a's right red zone, which lies in the slab.
    unsafe { a.as_ptr().add(100).write(0x41) };
    let r = c.free(a);
    assert_eq!(c.last_error(), Some(SlabError::RedZoneOverwritten { offset: 100 }));
    assert_eq!(c.stats().debug_errors, 1);
    assert_eq!(c.stats().active_objs, if r.is_ok() { 1 } else { 2 }, "counts agree with the outcome of the free");
    // SAFETY: one byte into b's left red zone.
    unsafe { b.as_ptr().sub(1).write(0x41) };
    let _ = c.free(b);
    assert_eq!(c.last_error(), Some(SlabError::RedZoneOverwritten { offset: -1 }));
    assert_eq!(c.stats().debug_errors, 2);
    assert_eq!(pa.vmstat.slab_debug_errors.get(), 2);
    c.check_invariants();
    // A clean alloc/free cycle reports nothing new.
    let d = c.alloc().unwrap();
    fill(d, 100, 0x11);
    assert_eq!(c.free(d), Ok(()));
    assert_eq!(c.stats().debug_errors, 2);
}

#[test]
fn debug_cache_refuses_a_double_free_and_stays_consistent() {
    let pa = machine();
    let c = cache(pa, "df", 64, 8, SLAB_DEBUG);
    let objs: Vec<NonNull<u8>> = (0..3).map(|_| c.alloc().unwrap()).collect();
    assert_eq!(c.free(objs[1]), Ok(()));
    let before = c.stats();
    assert_eq!(c.free(objs[1]), Err(SlabError::DoubleFree));
    assert_eq!(c.last_error(), Some(SlabError::DoubleFree));
    let s = c.stats();
    assert_eq!((s.active_objs, s.frees, s.debug_errors), (before.active_objs, before.frees, before.debug_errors + 1));
    c.check_invariants();
    // The freelist holds objs[1] once: the next allocations are all distinct.
    let more: Vec<NonNull<u8>> = (0..c.objects_per_slab as usize + 2).map(|_| c.alloc().unwrap()).collect();
    let all: BTreeSet<usize> = more.iter().chain([&objs[0], &objs[2]]).map(|p| p.as_ptr() as usize).collect();
    assert_eq!(all.len(), more.len() + 2, "an object was handed out twice after a double free");
    c.check_invariants();
    assert_eq!(c.stats().debug_errors, 1);
}

#[test]
fn debug_cache_reports_a_write_after_free_when_the_object_is_handed_out_again() {
    let pa = machine();
    let c = cache(pa, "uaf", 64, 8, SLAB_DEBUG);
    let _keep_slab_in_use = c.alloc().unwrap();
    let victim = c.alloc().unwrap();
    assert_eq!(c.free(victim), Ok(()));
    // SAFETY: the freed object is still slab memory (the slab is in use).
    unsafe { victim.as_ptr().add(10).write(0x00) };
    let mut got = Vec::new();
    while got.last() != Some(&victim) && got.len() <= c.objects_per_slab as usize {
        got.push(c.alloc().unwrap());
    }
    assert_eq!(got.last(), Some(&victim), "the freed object comes back");
    assert_eq!(c.last_error(), Some(SlabError::UseAfterFree { offset: 10 }));
    assert_eq!(c.stats().debug_errors, 1);
    c.check_invariants();
}

#[test]
fn fresh_debug_object_reads_as_poison_until_written() {
    let pa = machine();
    let c = cache(pa, "poison", 50, 8, SLAB_DEBUG);
    let p = c.alloc().unwrap();
    let mut want = [0x6b; 50];
    want[49] = 0xa5;
    assert_eq!(bytes(p, 50), &want[..]);
    fill(p, 50, 0x77);
    assert_eq!(c.free(p), Ok(()));
    let q = c.alloc().unwrap();
    assert_eq!(q, p, "LIFO reuse");
    assert_eq!(bytes(q, 50), &want[..], "a freed object is poisoned again");
    assert_eq!(c.stats().debug_errors, 0);
    c.check_invariants();
}

#[test]
fn plain_cache_detects_an_immediate_double_free_interior_pointers_and_foreign_objects() {
    let pa = machine();
    let c = cache(pa, "plain", 96, 8, SlabFlags::empty());
    let other = cache(pa, "other", 96, 8, SlabFlags::empty());
    let objs: Vec<NonNull<u8>> = (0..4).map(|_| c.alloc().unwrap()).collect();
    objs[..3].iter().for_each(|p| c.free(*p).unwrap());
    // Without debug mode (as in Linux with FREELIST_HARDENED) the check is
    // cheap: freeing the object at the head of the freelist again, i.e. the
    // one freed last. Debug caches catch the others (see above).
    let before = c.stats();
    assert_eq!(c.free(objs[2]), Err(SlabError::DoubleFree));
    assert_eq!(c.last_error(), Some(SlabError::DoubleFree));
    assert_eq!((c.stats().active_objs, c.stats().frees), (before.active_objs, before.frees));
    c.check_invariants();
    let again: Vec<NonNull<u8>> = (0..3).map(|_| c.alloc().unwrap()).collect();
    let set: BTreeSet<usize> = again.iter().chain([&objs[3]]).map(|p| p.as_ptr() as usize).collect();
    assert_eq!(set.len(), 4, "freelist intact after the refused double free");
    let mid = NonNull::new(objs[3].as_ptr().wrapping_add(40)).unwrap();
    assert_eq!(c.free(mid), Err(SlabError::NotObjectStart));
    assert_eq!(c.last_error(), Some(SlabError::NotObjectStart));
    let foreign = other.alloc().unwrap();
    assert_eq!(c.free(foreign), Err(SlabError::NotOurs));
    assert!(!c.owns(foreign.as_ptr()) && other.owns(foreign.as_ptr()));
    let page = pa.alloc_pages(crate::phys::gfp::GFP_KERNEL, 0).unwrap();
    let raw = pa.phys().ptr(PhysAddr::new(page.phys()), 8).unwrap();
    assert_eq!(c.free(NonNull::new(raw).unwrap()), Err(SlabError::NotOurs), "a page that is not a slab");
    let mut heap = Box::new(0u64);
    assert_eq!(c.free(NonNull::from(&mut *heap).cast()), Err(SlabError::NotOurs), "outside RAM");
    assert_eq!((c.stats().debug_errors, c.stats().active_objs, other.stats().active_objs), (5, 4, 1));
    c.check_invariants();
    other.check_invariants();
}

static CTOR_CALLS: AtomicU64 = AtomicU64::new(0);
const CTOR_SIZE: usize = 40;

fn ctor(p: *mut u8) {
    CTOR_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the slab hands the constructor a whole object.
    unsafe { core::ptr::write_bytes(p, 0xc7, CTOR_SIZE) };
}

#[test]
fn constructor_runs_once_per_object_and_freed_objects_keep_their_contents() {
    let pa = machine();
    for flags in [SlabFlags::POISON, SLAB_DEBUG] {
        let c: &'static KmemCache =
            Box::leak(Box::new(KmemCache::new("ctor", CTOR_SIZE, 8, flags, Some(ctor), pa).unwrap()));
        assert!(!c.flags.contains(SlabFlags::POISON), "poison would undo the constructor");
        let calls = CTOR_CALLS.load(Ordering::Relaxed);
        let objs: Vec<NonNull<u8>> = (0..=c.objects_per_slab).map(|_| c.alloc().unwrap()).collect();
        assert_eq!(
            CTOR_CALLS.load(Ordering::Relaxed) - calls,
            c.stats().num_objs,
            "every object of every slab constructed"
        );
        for &p in &objs {
            assert!(bytes(p, CTOR_SIZE).iter().all(|&b| b == 0xc7), "constructed when first handed out");
        }
        // The newest object: its slab is the one allocations take from
        // (the CPU's active slab, or the front of the partial list).
        let last = *objs.last().unwrap();
        fill(last, CTOR_SIZE, 0x11);
        assert_eq!(c.free(last), Ok(()));
        assert!(bytes(last, CTOR_SIZE).iter().all(|&b| b == 0x11), "free leaves the object alone");
        let calls = CTOR_CALLS.load(Ordering::Relaxed);
        assert_eq!(c.alloc(), Some(last), "LIFO reuse, contents kept");
        assert!(bytes(last, CTOR_SIZE).iter().all(|&b| b == 0x11));
        assert_eq!(CTOR_CALLS.load(Ordering::Relaxed), calls, "no reconstruction on reuse");
        assert_eq!(c.stats().debug_errors, 0);
        c.check_invariants();
    }
}

#[test]
fn destroy_refuses_while_objects_live_then_returns_the_pages() {
    let pa = machine();
    let free_before = pa.drained_free_pages();
    let c = cache(pa, "destroy", 1000, 64, SlabFlags::empty());
    let objs: Vec<NonNull<u8>> = (0..10).map(|_| c.alloc().unwrap()).collect();
    assert_eq!(c.destroy(), Err(SlabError::StillInUse { objects: 10 }));
    assert_eq!(c.stats().active_objs, 10, "nothing was torn down");
    c.check_invariants();
    objs[1..].iter().for_each(|p| c.free(*p).unwrap());
    assert_eq!(c.destroy(), Err(SlabError::StillInUse { objects: 1 }));
    c.free(objs[0]).unwrap();
    assert_eq!(c.destroy(), Ok(()));
    c.check_invariants();
    assert_eq!((c.pages(), c.stats().num_slabs), (0, 0));
    assert_eq!(pa.drained_free_pages(), free_before);
    assert_eq!(slab_gauges(pa), (0, 0));
}

#[test]
fn slabinfo_has_the_linux_header_and_one_line_per_cache_matching_stats() {
    let pa = machine();
    let reg = CacheRegistry::new();
    let a = cache(pa, "test_small", 24, 8, SlabFlags::empty());
    let b = cache(pa, "test_cache_with_a_long_name", 1000, 64, SLAB_DEBUG | SlabFlags::RECLAIM_ACCOUNT);
    [a, b].into_iter().for_each(|c| reg.register(c));
    let held_a: Vec<NonNull<u8>> = (0..200).map(|_| a.alloc().unwrap()).collect();
    let held_b: Vec<NonNull<u8>> = (0..b.objects_per_slab + 1).map(|_| b.alloc().unwrap()).collect();
    a.free(held_a[0]).unwrap();
    b.free(*held_b.last().unwrap()).unwrap();
    assert_eq!((b.stats().active_slabs, b.stats().num_slabs), (1, 2), "b keeps an empty slab");
    let mut out = String::new();
    crate::procfs::slabinfo::render(&reg, &mut out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "slabinfo - version: 2.1");
    assert_eq!(
        lines[1],
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
    );
    for (line, c) in lines[2..].iter().zip([a, b]) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 16, "{line}");
        let s = c.stats();
        let num = |i: usize| f[i].parse::<u64>().unwrap_or_else(|_| panic!("field {i} of {line:?}"));
        assert_eq!(f[0], c.name);
        assert_eq!(
            [num(1), num(2), num(3), num(4), num(5)],
            [s.active_objs, s.num_objs, c.size as u64, c.objects_per_slab as u64, 1 << c.order]
        );
        assert_eq!([f[6], f[7], f[11], f[12]], [":", "tunables", ":", "slabdata"]);
        assert_eq!([num(8), num(9), num(10)], [0, 0, 0]);
        assert_eq!([num(13), num(14), num(15)], [s.active_slabs, s.num_slabs, 0]);
    }
    assert!(lines[2].starts_with("test_small           199 "), "name column is 17 wide: {}", lines[2]);
}

#[test]
fn reclaim_account_caches_count_in_slab_reclaimable_others_in_unreclaimable() {
    let pa = machine();
    let r = cache(pa, "reclaim", 200, 8, SlabFlags::RECLAIM_ACCOUNT);
    let u = cache(pa, "unreclaim", 3000, 8, SlabFlags::empty());
    let objs_r: Vec<NonNull<u8>> = (0..50).map(|_| r.alloc().unwrap()).collect();
    let objs_u: Vec<NonNull<u8>> = (0..7).map(|_| u.alloc().unwrap()).collect();
    assert!(r.pages() > 0 && u.pages() > 0);
    assert_eq!(slab_gauges(pa), (u.pages(), r.pages()));
    let mt = |p: NonNull<u8>| crate::phys::buddy::pageblock_mt(&pa.memmap, head_of(pa, p.as_ptr()).pfn().0);
    assert_eq!(
        mt(objs_r[0]),
        crate::phys::buddy::MigrateType::Reclaimable,
        "reclaimable slabs group in reclaimable pageblocks"
    );
    assert_eq!(mt(objs_u[0]), crate::phys::buddy::MigrateType::Unmovable);
    objs_r.into_iter().for_each(|p| r.free(p).unwrap());
    r.shrink();
    assert_eq!(slab_gauges(pa), (u.pages(), 0));
    objs_u.into_iter().for_each(|p| u.free(p).unwrap());
    u.shrink();
    assert_eq!(slab_gauges(pa), (0, 0));
    r.check_invariants();
    u.check_invariants();
}

static RECLAIM_REG: AtomicPtr<CacheRegistry> = AtomicPtr::new(core::ptr::null_mut());
static RECLAIM_SAW_HELD_LOCK: AtomicBool = AtomicBool::new(false);

/// Reclaim hook shrinking every registered cache; a cache whose lock is held
/// is skipped and noted (a real hook would spin on it forever).
fn shrink_caches_hook(_order: u32) -> u64 {
    // SAFETY: null or a leaked registry set by the test below.
    let Some(reg) = (unsafe { RECLAIM_REG.load(Ordering::Acquire).as_ref() }) else { return 0 };
    let shrink = |c: &&KmemCache| {
        if c.lists.is_locked() {
            RECLAIM_SAW_HELD_LOCK.store(true, Ordering::Relaxed);
            0
        } else {
            c.shrink()
        }
    };
    reg.caches().iter().map(shrink).sum()
}

#[test]
fn a_new_slab_under_memory_pressure_can_reclaim_from_every_cache() {
    let pa = machine();
    let reg: &'static CacheRegistry = Box::leak(Box::new(CacheRegistry::new()));
    let donor = cache(pa, "donor", 3000, 8, SlabFlags::empty());
    let needy = cache(pa, "needy", 64, 8, SlabFlags::empty());
    [donor, needy].into_iter().for_each(|c| reg.register(c));
    let objs: Vec<NonNull<u8>> = (0..2 * donor.objects_per_slab as usize).map(|_| donor.alloc().unwrap()).collect();
    objs.into_iter().for_each(|p| donor.free(p).unwrap());
    assert!(donor.pages() > 0, "the donor keeps empty slabs");
    let mut hog = Vec::new();
    while let Some(p) = pa.alloc_pages(crate::phys::gfp::GFP_KERNEL | crate::phys::gfp::Gfp::NOWARN, 0) {
        hog.push(p);
    }
    RECLAIM_REG.store(reg as *const CacheRegistry as *mut CacheRegistry, Ordering::Release);
    pa.set_reclaim_hook(shrink_caches_hook);
    assert!(needy.alloc().is_some(), "reclaiming the donor's empty slabs makes room");
    assert_eq!(donor.pages(), 0);
    assert!(!RECLAIM_SAW_HELD_LOCK.load(Ordering::Relaxed), "reclaim ran with the allocating cache's lock held");
    needy.check_invariants();
    donor.check_invariants();
}

#[test]
fn object_index_by_reciprocal_is_exact() {
    // Every byte of a slab: object starts free, any other byte is refused,
    // for odd strides and red-zoned ones (left red zone: obj_offset > 0).
    let pa = machine();
    for (i, &size) in SIZES.iter().enumerate() {
        for flags in [SlabFlags::empty(), SlabFlags::RED_ZONE] {
            let c = cache(pa, String::leak(format!("recip-{i}-{}", flags.bits())), size, 8, flags);
            let objs: Vec<NonNull<u8>> = (0..c.objects_per_slab).map(|_| c.alloc().unwrap()).collect();
            let starts: BTreeSet<usize> = objs.iter().map(|p| p.as_ptr() as usize).collect();
            for &start in &starts {
                for addr in (start + 1..start + c.size).filter(|&a| !starts.contains(&a) && c.owns(a as *const u8)) {
                    let p = NonNull::new(addr as *mut u8).unwrap();
                    assert_eq!(c.free(p), Err(SlabError::NotObjectStart), "size {size} byte {addr:#x}");
                }
            }
            objs.iter().for_each(|p| c.free(*p).unwrap());
            c.check_invariants();
        }
    }
}

#[test]
fn the_divisibility_test_agrees_with_the_remainder() {
    use super::Divides;
    let mut sizes: Vec<u64> = (1..=520).collect();
    sizes.extend([696, 1024, 1536, 2048, 3072, 4096, 8192, 12288, 1 << 20, (1 << 21) + 8]);
    for d in sizes {
        let t = Divides::new(d);
        let near = |k: u64| [k.wrapping_sub(1), k, k + 1];
        for n in (0..20_000u64).chain((1..64).flat_map(|s| near(d << s.min(40)))).chain([u64::MAX, u64::MAX - d + 1]) {
            assert_eq!(t.divides(n), n % d == 0, "{n} by {d}");
        }
    }
}
