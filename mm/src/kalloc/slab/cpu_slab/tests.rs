//! Per-CPU slab host tests: several simulated CPUs (`testing::cpus::on_cpu`)
//! allocating and freeing in one cache over a simulated 32 MiB machine, and
//! real host threads standing for CPUs running at once.

extern crate std;

use super::super::tests::{bytes, cache, fill, head_of, machine, slab_gauges};
use super::super::{CacheRegistry, SLAB_DEBUG, SlabFlags};
use super::*;
use crate::testing::cpus::on_cpu;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

fn addr(p: NonNull<u8>) -> usize {
    p.as_ptr() as usize
}

#[test]
fn alloc_and_free_on_the_active_slab_stay_off_the_cache_lock() {
    let pa = machine();
    let c = cache(pa, "fast", 64, 8, SlabFlags::empty());
    let first = c.alloc().unwrap();
    let s = c.stats();
    assert_eq!((s.alloc_slowpath, s.free_slowpath), (1, 0), "the first allocation finds the CPU empty");
    for _ in 0..1000 {
        let p = c.alloc().unwrap();
        assert!(core::ptr::eq(head_of(pa, p.as_ptr()), head_of(pa, first.as_ptr())), "served from the active slab");
        c.free(p).unwrap();
    }
    let s = c.stats();
    assert_eq!((s.alloc_slowpath, s.free_slowpath), (1, 0), "1000 pairs, no cache lock taken");
    assert_eq!((s.allocs, s.frees, s.active_objs, s.active_slabs), (1001, 1000, 1, 1));
    c.free(first).unwrap();
    let s = c.stats();
    assert_eq!((s.active_objs, s.active_slabs, s.num_slabs), (0, 0, 1), "an empty active slab is still held");
    c.check_invariants();
}

#[test]
fn a_free_from_another_cpu_goes_to_the_objects_own_slab_and_its_owner_takes_it_back() {
    let pa = machine();
    let c = cache(pa, "remote", 200, 8, SlabFlags::empty());
    let n = c.objects_per_slab as usize;
    let objs: Vec<NonNull<u8>> = on_cpu(0, || (0..n / 2).map(|_| c.alloc().unwrap()).collect());
    let slab = head_of(pa, objs[0].as_ptr());
    on_cpu(1, || objs.iter().for_each(|&p| c.free(p).unwrap()));
    let s = c.stats();
    assert_eq!((s.free_slowpath, s.active_objs, s.active_slabs), (n as u64 / 2, 0, 0));
    assert_eq!(c.freelist_len(slab, slab.mapping.load(Ordering::Relaxed)), n as u64 / 2, "on the slab's own freelist");
    assert!(c.is_frozen(slab), "still CPU 0's slab");
    c.check_invariants();
    // CPU 1 gets a slab of its own, not CPU 0's.
    let other = on_cpu(1, || c.alloc().unwrap());
    assert!(!core::ptr::eq(head_of(pa, other.as_ptr()), slab));
    // CPU 0 hands out its CPU freelist, then the remote frees, before any
    // other slab.
    let again: Vec<NonNull<u8>> = on_cpu(0, || (0..n).map(|_| c.alloc().unwrap()).collect());
    assert!(again.iter().all(|p| core::ptr::eq(head_of(pa, p.as_ptr()), slab)), "all from the same slab");
    let got: BTreeSet<usize> = again.iter().map(|&p| addr(p)).collect();
    assert!(objs.iter().all(|&p| got.contains(&addr(p))), "the remotely freed objects came back");
    assert_eq!(c.stats().num_slabs, 2);
    c.check_invariants();
    on_cpu(2, || again.iter().chain([&other]).for_each(|&p| c.free(p).unwrap()));
    assert_eq!(c.stats().active_objs, 0);
    c.check_invariants();
}

#[test]
fn remote_frees_move_a_slab_no_cpu_owns_between_the_lists() {
    let pa = machine();
    let c = cache(pa, "lists", 1000, 8, SlabFlags::empty());
    let n = c.objects_per_slab as usize;
    let k = CPU_PARTIAL_SLABS as usize;
    // k + 1 full slabs given back to the cache's full list, and CPU 0's
    // active slab. CPU 1 fills its partial list with the first k.
    let objs: Vec<NonNull<u8>> = on_cpu(0, || (0..(k + 2) * n).map(|_| c.alloc().unwrap()).collect());
    on_cpu(1, || (0..k).for_each(|i| c.free(objs[i * n]).unwrap()));
    let lens = || {
        let l = c.lists.lock();
        (l.partial.len(), l.full.len(), l.free.len())
    };
    let last = &objs[k * n..(k + 1) * n];
    assert!(!c.is_frozen(head_of(pa, last[0].as_ptr())));
    assert_eq!(lens(), (0, 1, 0));
    on_cpu(1, || c.free(last[0]).unwrap());
    assert_eq!(lens(), (1, 0, 0), "full -> partial");
    on_cpu(1, || last[1..].iter().for_each(|&p| c.free(p).unwrap()));
    assert_eq!(lens(), (0, 0, 1), "partial -> free");
    c.check_invariants();
    on_cpu(0, || {
        objs.iter().enumerate().filter(|(i, _)| i % n != 0 && *i < k * n).for_each(|(_, &p)| c.free(p).unwrap())
    });
    on_cpu(2, || objs[(k + 1) * n..].iter().for_each(|&p| c.free(p).unwrap()));
    assert_eq!(c.stats().active_objs, 0);
    c.check_invariants();
}

#[test]
fn a_free_opening_a_full_slab_puts_it_on_the_freeing_cpus_partial_list_while_there_is_room() {
    let pa = machine();
    let c = cache(pa, "partial", 1000, 8, SlabFlags::empty());
    let n = c.objects_per_slab as usize;
    let full = CPU_PARTIAL_SLABS as usize + 2;
    // `full` slabs given back full, and CPU 0's active slab.
    let objs: Vec<NonNull<u8>> = on_cpu(0, || (0..(full + 1) * n).map(|_| c.alloc().unwrap()).collect());
    assert_eq!(c.lists.lock().full.len(), full as u64);
    // CPU 1 opens a hole in each full slab: the first CPU_PARTIAL_SLABS go
    // onto its partial list, the rest onto the cache's.
    on_cpu(1, || (0..full).for_each(|i| c.free(objs[i * n]).unwrap()));
    assert_eq!(c.cpus[1].slow.lock().partial.len(), CPU_PARTIAL_SLABS);
    assert_eq!(c.lists.lock().partial.len(), 2);
    c.check_invariants();
    // CPU 1 fills the newest hole first, then the others, with no new slab;
    // each used-up slab costs one refill.
    let slow = c.stats().alloc_slowpath;
    let got: Vec<usize> = on_cpu(1, || (0..full).map(|_| addr(c.alloc().unwrap())).collect());
    let want: Vec<usize> =
        (0..CPU_PARTIAL_SLABS as usize).rev().chain([full - 1, full - 2]).map(|i| addr(objs[i * n])).collect();
    assert_eq!(got, want);
    assert_eq!(c.stats().num_slabs, full as u64 + 1);
    assert_eq!(c.stats().alloc_slowpath, slow + full as u64);
    c.check_invariants();
}

#[test]
fn an_emptied_active_slab_goes_back_when_a_used_slab_on_the_cpus_partial_list_has_room() {
    let pa = machine();
    let c = cache(pa, "refill-cpu", 1000, 8, SlabFlags::empty());
    let n = c.objects_per_slab as usize;
    // Slab A full (on the cache's full list), slab B active with one object.
    let objs: Vec<NonNull<u8>> = on_cpu(0, || (0..n + 1).map(|_| c.alloc().unwrap()).collect());
    let (a, b) = (head_of(pa, objs[0].as_ptr()), head_of(pa, objs[n].as_ptr()));
    // A hole in A puts A on CPU 0's partial list; emptying B gives B back.
    on_cpu(0, || c.free(objs[0]).unwrap());
    assert_eq!(c.cpus[0].slow.lock().partial.len(), 1);
    on_cpu(0, || c.free(objs[n]).unwrap());
    assert!(c.cpus[0].slab().is_none(), "the empty active slab is given back");
    assert_eq!(c.lists.lock().free.len(), 1);
    assert!(!c.is_frozen(b));
    c.check_invariants();
    // The next allocation fills A's hole, and shrink frees B.
    let p = on_cpu(0, || c.alloc().unwrap());
    assert_eq!(p, objs[0]);
    assert!(core::ptr::eq(head_of(pa, p.as_ptr()), a));
    assert_eq!(c.shrink(), c.slab_pages());
    assert_eq!(c.stats().num_slabs, 1);
    c.check_invariants();
}

#[test]
fn refill_takes_a_used_slab_before_an_empty_one() {
    let pa = machine();
    let c = cache(pa, "refill-cache", 64, 8, SlabFlags::empty());
    // Two slabs with one object each, on the cache's partial list.
    let a = on_cpu(0, || c.alloc().unwrap());
    let b = on_cpu(1, || c.alloc().unwrap());
    assert_eq!(c.shrink(), 0);
    assert_eq!(c.lists.lock().partial.len(), 2);
    // CPU 0 takes one of them, uses it and empties it: it goes back, and
    // the next allocation fills the other one instead of the empty one.
    let x = on_cpu(0, || c.alloc().unwrap());
    let first = head_of(pa, x.as_ptr());
    let (mine, other) = if core::ptr::eq(first, head_of(pa, a.as_ptr())) { (a, b) } else { (b, a) };
    on_cpu(0, || [x, mine].into_iter().for_each(|p| c.free(p).unwrap()));
    assert!(c.cpus[0].slab().is_none());
    let lens = {
        let l = c.lists.lock();
        (l.partial.len(), l.free.len())
    };
    assert_eq!(lens, (1, 1));
    let y = on_cpu(0, || c.alloc().unwrap());
    assert!(core::ptr::eq(head_of(pa, y.as_ptr()), head_of(pa, other.as_ptr())), "the used slab, not the empty one");
    c.check_invariants();
    // Alone in the cache, an emptied active slab stays with its CPU.
    assert_eq!(c.shrink(), c.slab_pages());
    let z = on_cpu(0, || c.alloc().unwrap());
    on_cpu(0, || [y, other, z].into_iter().for_each(|p| c.free(p).unwrap()));
    assert!(c.cpus[0].slab().is_some());
    c.check_invariants();
    assert_eq!(c.shrink(), c.slab_pages());
    assert_eq!(c.stats().num_slabs, 0);
}

#[test]
fn refill_gives_slabs_emptied_by_remote_frees_back_and_takes_a_used_one() {
    let pa = machine();
    let c = cache(pa, "refill-remote", 1000, 8, SlabFlags::empty());
    let n = c.objects_per_slab as usize;
    // Slabs A and B full, C active on CPU 0. CPU 0 opens a hole in each of
    // A and B (its partial list: B, A), then CPU 1 empties B.
    let objs: Vec<NonNull<u8>> = on_cpu(0, || (0..2 * n + 1).map(|_| c.alloc().unwrap()).collect());
    on_cpu(0, || [objs[0], objs[n]].into_iter().for_each(|p| c.free(p).unwrap()));
    on_cpu(1, || objs[n + 1..2 * n].iter().for_each(|&p| c.free(p).unwrap()));
    let b = head_of(pa, objs[n].as_ptr());
    assert_eq!(inuse(b), 0);
    assert!(c.is_frozen(b), "still on CPU 0's partial list");
    c.check_invariants();
    // Using up C, CPU 0 skips empty B for A's hole; B goes back and shrink frees it.
    let got: Vec<NonNull<u8>> = on_cpu(0, || (0..n).map(|_| c.alloc().unwrap()).collect());
    assert_eq!(*got.last().unwrap(), objs[0]);
    assert!(!c.is_frozen(b));
    assert_eq!(c.lists.lock().free.len(), 1);
    c.check_invariants();
    assert_eq!(c.shrink(), c.slab_pages());
    c.check_invariants();
}

#[test]
fn shrink_flushes_every_cpu_and_gives_every_empty_slab_back() {
    let pa = machine();
    let free_before = pa.drained_free_pages();
    let c = cache(pa, "flush", 96, 8, SlabFlags::empty());
    let reg = CacheRegistry::new();
    reg.register(c);
    for round in 0..2 {
        for cpu in 0..4 {
            on_cpu(cpu, || {
                let objs: Vec<NonNull<u8>> = (0..3 * c.objects_per_slab).map(|_| c.alloc().unwrap()).collect();
                objs.into_iter().rev().for_each(|p| c.free(p).unwrap());
            });
        }
        let s = c.stats();
        assert_eq!((s.active_objs, s.active_slabs), (0, 0));
        assert!(c.cpus[..4].iter().all(|s| s.slab().is_some()), "each CPU holds an empty slab");
        c.check_invariants();
        let held = c.pages();
        // Round 0: kmem_cache_shrink; round 1: reclaim's walk over the registry.
        let freed = if round == 0 { c.shrink() } else { reg.shrink_all() };
        assert_eq!(freed, held);
        assert!(c.cpus.iter().all(|s| s.slab().is_none()));
        assert_eq!((c.pages(), c.stats().num_objs), (0, 0));
        assert_eq!(pa.drained_free_pages(), free_before);
        assert_eq!(slab_gauges(pa), (0, 0));
        c.check_invariants();
    }
}

#[test]
fn reclaim_skips_a_cpu_whose_slot_is_held_and_flushes_the_rest() {
    let pa = machine();
    let c = cache(pa, "busy", 64, 8, SlabFlags::empty());
    for cpu in 0..2 {
        on_cpu(cpu, || {
            let p = c.alloc().unwrap();
            c.free(p).unwrap();
        });
    }
    let held = c.cpus[1].slow.lock();
    assert_eq!(c.try_shrink(), 1, "CPU 0's empty slab");
    drop(held);
    assert_eq!(c.try_shrink(), 1, "then CPU 1's");
    c.check_invariants();
}

#[test]
fn destroy_counts_objects_free_on_cpu_freelists_as_free() {
    let pa = machine();
    let free_before = pa.drained_free_pages();
    let c = cache(pa, "destroy", 64, 8, SlabFlags::empty());
    let a = on_cpu(0, || c.alloc().unwrap());
    let b = on_cpu(1, || c.alloc().unwrap());
    on_cpu(0, || c.free(b).unwrap());
    assert_eq!(c.destroy(), Err(SlabError::StillInUse { objects: 1 }));
    on_cpu(1, || c.free(a).unwrap());
    assert_eq!(c.destroy(), Ok(()));
    assert_eq!(pa.drained_free_pages(), free_before);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        /// Four CPUs interleave allocations and frees (of any live object,
        /// so most frees are remote) against a model of live objects: no
        /// object twice, none overwritten, slabinfo's counts right after
        /// every step, and every page back after a shrink.
        #[test]
        fn cpus_interleaving_alloc_and_free_match_a_model(
            geom in (0usize..4, 0usize..2),
            ops in proptest::collection::vec((0usize..4, any::<bool>(), any::<u16>()), 1..400),
        ) {
            let size = [8, 64, 200, 1000][geom.0];
            let flags = [SlabFlags::empty(), SLAB_DEBUG][geom.1];
            let pa = machine();
            let free_before = pa.drained_free_pages();
            let c = cache(pa, "cpus", size, 8, flags);
            let mut live: Vec<(NonNull<u8>, u8)> = Vec::new();
            for (i, (cpu, alloc, pick)) in ops.into_iter().enumerate() {
                on_cpu(cpu, || {
                    if alloc || live.is_empty() {
                        let p = c.alloc().unwrap();
                        assert!(live.iter().all(|&(q, _)| q != p), "{p:?} handed out while live");
                        fill(p, size, i as u8);
                        live.push((p, i as u8));
                    } else {
                        let (p, tag) = live.swap_remove(pick as usize % live.len());
                        assert!(bytes(p, size).iter().all(|&b| b == tag), "{p:?} overwritten while live");
                        assert_eq!(c.free(p), Ok(()));
                    }
                });
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
    proptest! {
        // 16 cases: each leaks a 32 MiB simulated machine.
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
        /// Four CPUs interleave allocations, frees of their own and of other
        /// CPUs' objects, shrinks (which flush every CPU's slabs, the
        /// caller's own included, from under their owners) and reclaim's
        /// try-shrink: no object is handed out twice or overwritten while
        /// live, slabinfo's numbers (active objects and slabs, slabs and
        /// objects) are right after every step, and a shrink leaves exactly
        /// the slabs with live objects.
        #[test]
        fn cpus_interleaving_alloc_free_remote_free_and_flushes_match_a_model(
            size in prop_oneof![Just(16usize), Just(64), Just(200), Just(700)],
            ops in proptest::collection::vec((0usize..4, 0u8..20, any::<u16>()), 1..500),
        ) {
            let pa = machine();
            let free_before = pa.drained_free_pages();
            let c = cache(pa, "flushes", size, 8, SlabFlags::empty());
            let reg = CacheRegistry::new();
            reg.register(c);
            // Live objects: address, the CPU that allocated it, its tag.
            let mut live: Vec<(NonNull<u8>, usize, u8)> = Vec::new();
            for (i, (cpu, kind, pick)) in ops.into_iter().enumerate() {
                let tag = i as u8;
                let shrunk = on_cpu(cpu, || match kind {
                    0..=8 => {
                        let p = c.alloc().unwrap();
                        assert!(live.iter().all(|&(q, _, _)| q != p), "{p:?} handed out while live");
                        fill(p, size, tag);
                        live.push((p, cpu, tag));
                        false
                    }
                    9..=17 if !live.is_empty() => {
                        // Even picks free one of this CPU's own objects when it has one.
                        let own = live.iter().position(|&(_, owner, _)| owner == cpu);
                        let at = match own {
                            Some(at) if pick % 2 == 0 => at,
                            _ => pick as usize % live.len(),
                        };
                        let (p, _, t) = live.swap_remove(at);
                        assert!(bytes(p, size).iter().all(|&b| b == t), "{p:?} overwritten while live");
                        assert_eq!(c.free(p), Ok(()));
                        false
                    }
                    18 => {
                        c.shrink();
                        true
                    }
                    _ => {
                        reg.shrink_all();
                        true
                    }
                });
                c.check_invariants();
                let s = c.stats();
                let slabs: BTreeSet<u64> = live.iter().map(|(p, _, _)| head_of(pa, p.as_ptr()).pfn().0).collect();
                prop_assert_eq!(s.active_objs, live.len() as u64);
                prop_assert_eq!(s.active_slabs, slabs.len() as u64);
                prop_assert_eq!(s.num_objs, s.num_slabs * c.objects_per_slab as u64);
                prop_assert_eq!(s.debug_errors, 0);
                prop_assert_eq!(pa.drained_free_pages() + c.pages(), free_before);
                if shrunk {
                    prop_assert!(c.cpus.iter().all(|s| s.slab().is_none()), "every CPU flushed");
                    prop_assert_eq!(s.num_slabs, slabs.len() as u64, "only slabs with live objects stay");
                }
            }
            for (p, _, _) in live { prop_assert_eq!(c.free(p), Ok(())); }
            c.shrink();
            c.check_invariants();
            prop_assert_eq!(pa.drained_free_pages(), free_before);
            prop_assert_eq!(slab_gauges(pa), (0, 0));
        }
    }
}

#[test]
fn threads_on_different_cpus_free_each_others_objects_at_the_same_time() {
    let pa = machine();
    let free_before = pa.drained_free_pages();
    let c = cache(pa, "smp", 64, 8, SlabFlags::empty());
    const THREADS: usize = 4;
    const ROUNDS: usize = 2000;
    // Each thread allocates, tags and hands objects to the next thread,
    // which checks the tag and frees them: remote frees racing with the
    // owners' fast paths, refills and flushes.
    let queues: Vec<std::sync::Mutex<Vec<(usize, u8)>>> = (0..THREADS).map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let queues = &queues;
            s.spawn(move || {
                on_cpu(t, || {
                    for i in 0..ROUNDS {
                        let p = c.alloc().unwrap();
                        fill(p, 64, (t * 31 + i) as u8);
                        queues[(t + 1) % THREADS].lock().unwrap().push((addr(p), (t * 31 + i) as u8));
                        let mine: Vec<(usize, u8)> = core::mem::take(&mut *queues[t].lock().unwrap());
                        for (q, tag) in mine {
                            let q = NonNull::new(q as *mut u8).unwrap();
                            assert!(bytes(q, 64).iter().all(|&b| b == tag), "object changed while in flight");
                            c.free(q).unwrap();
                        }
                        if i % 500 == 0 {
                            c.try_shrink();
                        }
                    }
                })
            });
        }
    });
    for q in &queues {
        q.lock().unwrap().drain(..).for_each(|(p, _)| c.free(NonNull::new(p as *mut u8).unwrap()).unwrap());
    }
    c.check_invariants();
    let s = c.stats();
    assert_eq!(
        (s.allocs, s.frees, s.active_objs, s.debug_errors),
        ((THREADS * ROUNDS) as u64, (THREADS * ROUNDS) as u64, 0, 0)
    );
    c.shrink();
    assert_eq!(pa.drained_free_pages(), free_before);
}

/// An object's 8-byte identity, written at its start while it is live.
fn stamp(p: NonNull<u8>, id: u64) {
    // SAFETY: `p` is a live object of at least 8 bytes, 8-byte aligned.
    unsafe { p.as_ptr().cast::<u64>().write(id) };
}

fn stamp_of(p: NonNull<u8>) -> u64 {
    // SAFETY: as in `stamp`.
    unsafe { p.as_ptr().cast::<u64>().read() }
}

#[test]
fn shrinks_and_stats_from_another_thread_race_the_owners_fast_paths_safely() {
    let pa = machine();
    let free_before = pa.drained_free_pages();
    let c = cache(pa, "race", 32, 8, SlabFlags::empty());
    const WORKERS: usize = 3;
    const ROUNDS: u64 = 200_000;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
    let (done, flushes, allocated) = (AtomicUsize::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let start = std::sync::Barrier::new(WORKERS + 1);
    // Objects handed to the next worker, freed there (remote frees).
    let queues: Vec<std::sync::Mutex<Vec<(usize, u64)>>> = (0..WORKERS).map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for t in 0..WORKERS {
            let (queues, done, flushes, allocated, start) = (&queues, &done, &flushes, &allocated, &start);
            s.spawn(move || {
                on_cpu(t, || {
                    let mut mine: Vec<(NonNull<u8>, u64)> = Vec::new();
                    start.wait();
                    // At least ROUNDS, and until the flusher has run a while.
                    let mut i = 0;
                    while i < ROUNDS || flushes.load(Relaxed) < 5000 {
                        i += 1;
                        let id = ((t as u64) << 40) | i;
                        let p = c.alloc().unwrap();
                        stamp(p, id);
                        match i % 4 {
                            // Alloc+free pairs on the fast path, a few live objects.
                            0 | 1 => mine.push((p, id)),
                            2 => queues[(t + 1) % WORKERS].lock().unwrap().push((addr(p), id)),
                            _ => {
                                assert_eq!(stamp_of(p), id);
                                c.free(p).unwrap();
                            }
                        }
                        if mine.len() > 16 {
                            for (q, id) in mine.drain(..) {
                                assert_eq!(stamp_of(q), id, "object handed out twice");
                                c.free(q).unwrap();
                            }
                        }
                        let theirs: Vec<(usize, u64)> = core::mem::take(&mut *queues[t].lock().unwrap());
                        for (q, id) in theirs {
                            let q = NonNull::new(q as *mut u8).unwrap();
                            assert_eq!(stamp_of(q), id, "object handed out twice");
                            c.free(q).unwrap();
                        }
                    }
                    for (q, id) in mine {
                        assert_eq!(stamp_of(q), id, "object handed out twice");
                        c.free(q).unwrap();
                    }
                    allocated.fetch_add(i, Relaxed);
                });
                done.fetch_add(1, Release);
            });
        }
        // The flusher: CPU 3 takes every CPU's slab from under its owner.
        let (done, flushes, start) = (&done, &flushes, &start);
        s.spawn(move || {
            on_cpu(WORKERS, || {
                start.wait();
                while done.load(Acquire) < WORKERS {
                    let n = flushes.fetch_add(1, Relaxed);
                    if n % 2 == 0 {
                        c.shrink();
                    } else {
                        c.try_shrink();
                    }
                    let st = c.stats();
                    // CPU counters are read one CPU at a time while the owners run,
                    // so only the cache lock's numbers are exact here.
                    assert_eq!(st.num_objs, st.num_slabs * c.objects_per_slab as u64);
                }
            })
        });
    });
    for q in &queues {
        q.lock().unwrap().drain(..).for_each(|(p, _)| c.free(NonNull::new(p as *mut u8).unwrap()).unwrap());
    }
    c.check_invariants();
    let s = c.stats();
    let total = allocated.load(Relaxed);
    assert!(total >= WORKERS as u64 * ROUNDS);
    assert_eq!((s.allocs, s.frees, s.active_objs, s.debug_errors), (total, total, 0, 0));
    c.shrink();
    c.check_invariants();
    assert_eq!(pa.drained_free_pages(), free_before);
}

#[test]
fn a_flush_from_another_cpu_waits_for_the_owners_interrupts_off_section() {
    // The owner's fast path runs with interrupts off and no lock: another
    // CPU's flush must not run in the middle of it, only after it.
    use std::sync::atomic::{AtomicBool, Ordering::*};
    let pa = machine();
    let free_before = pa.drained_free_pages();
    let c = cache(pa, "owner", 64, 8, SlabFlags::empty());
    let p = on_cpu(0, || c.alloc().unwrap());
    let (inside, flushed) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        s.spawn(|| {
            on_cpu(0, || {
                let irq = IrqOff::new();
                inside.store(true, Release);
                std::thread::sleep(std::time::Duration::from_millis(100));
                assert!(!flushed.load(Acquire), "a flush ran inside CPU 0's interrupts-off section");
                assert!(c.cpus[0].slab().is_some(), "CPU 0's slab changed under it");
                drop(irq);
            })
        });
        s.spawn(|| {
            on_cpu(1, || {
                while !inside.load(Acquire) {
                    std::thread::yield_now();
                }
                assert_eq!(c.shrink(), 0, "the slab holds p");
                flushed.store(true, Release);
            })
        });
    });
    assert!(c.cpus[0].slab().is_none(), "the flush ran on CPU 0 once it could");
    c.check_invariants();
    on_cpu(1, || c.free(p)).unwrap();
    assert_eq!(c.shrink(), c.slab_pages());
    assert_eq!(pa.drained_free_pages(), free_before);
}

#[test]
fn a_cpu_spinning_on_a_lock_with_interrupts_off_still_serves_a_flush() {
    // As a CPU spinning on a kernel lock answers TLB shootdowns: a flush
    // of its slab is served while it waits, so shrink never waits for the
    // lock's holder.
    use std::sync::atomic::{AtomicBool, Ordering::*};
    let pa = machine();
    let c = cache(pa, "spinner", 64, 8, SlabFlags::empty());
    let p = on_cpu(0, || c.alloc().unwrap());
    let lock = crate::sync::IrqLock::new(());
    let (spinning, shrunk) = (AtomicBool::new(false), AtomicBool::new(false));
    let held = lock.lock();
    std::thread::scope(|s| {
        s.spawn(|| {
            on_cpu(0, || {
                spinning.store(true, Release);
                drop(lock.lock());
            })
        });
        s.spawn(|| {
            on_cpu(1, || {
                while !spinning.load(Acquire) {
                    std::thread::yield_now();
                }
                c.shrink();
                shrunk.store(true, Release);
            })
        });
        while !shrunk.load(Acquire) {
            std::thread::yield_now();
        }
        assert!(c.cpus[0].slab().is_none(), "CPU 0 flushed its slab while it spun");
        drop(held);
    });
    on_cpu(0, || c.free(p)).unwrap();
    c.check_invariants();
}

#[test]
fn the_active_slab_span_serves_frees_by_address_and_a_flush_empties_it() {
    // kmem_cache_free pushes an object of the active slab found by its
    // address alone; a pointer inside that slab that is no object start,
    // and objects of a slab a flush took, go the descriptor way.
    let pa = machine();
    let c = cache(pa, "span", 200, 8, SlabFlags::empty());
    let (p, q) = on_cpu(0, || (c.alloc().unwrap(), c.alloc().unwrap()));
    let span = c.cpus[0].span(c.strides_len);
    assert_eq!(span.offset_of(p.as_ptr() as u64), Some(p.as_ptr() as u64 - span.start()));
    // SAFETY: inside the 200-byte object `p`.
    let inside = unsafe { NonNull::new_unchecked(p.as_ptr().add(8)) };
    assert_eq!(on_cpu(0, || c.free(inside)), Err(SlabError::NotObjectStart));
    on_cpu(0, || c.free(p)).unwrap();
    assert_eq!(on_cpu(0, || c.free(p)), Err(SlabError::DoubleFree), "the object freed last, again");
    let s = c.stats();
    assert_eq!((s.free_slowpath, s.active_objs), (0, 1), "pushed on the CPU freelist");
    // A flush clears the span: the next free of the slab's object is remote.
    on_cpu(1, || c.shrink());
    assert_eq!(c.cpus[0].span(c.strides_len), crate::phys::WindowSpan::EMPTY);
    on_cpu(0, || c.free(q)).unwrap();
    let s = c.stats();
    assert_eq!((s.free_slowpath, s.active_objs), (1, 0), "a remote free after the flush");
    c.check_invariants();
    // A new active slab gets a span again.
    let r = on_cpu(0, || c.alloc().unwrap());
    assert!(c.cpus[0].span(c.strides_len).offset_of(r.as_ptr() as u64).is_some());
    on_cpu(0, || c.free(r)).unwrap();
    c.check_invariants();
}
