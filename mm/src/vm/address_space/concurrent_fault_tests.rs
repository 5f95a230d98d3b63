//! Faults of several threads on one address space at once, through the
//! shared path (`handle_fault(&self)`, what the kernel runs with the
//! address-space lock shared): std threads, each on its own simulated CPU
//! (`testing::cpus::on_cpu`, so the page allocator's per-CPU lists are
//! used as in the kernel), released together by a barrier and faulting the
//! same pages in different orders, many rounds, so that installs, table
//! allocations and copy-on-write replacements really race. Every test
//! checks the outcome (one page per address, the losers' pages and tables
//! given back: the free-page count returns to its baseline after teardown)
//! and the counters against a recount.

extern crate std;

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::vec::Vec;

use abi::mman::*;

use super::*;

static NO_SWAP: crate::swap::space::SwapSpace = crate::swap::space::SwapSpace::new();
use crate::phys::page_alloc::PageAllocator;
use crate::testing::cpus::on_cpu;
use crate::testing::{Flushes, PaTables};
use crate::vm::fault::{FaultDone, FaultError, FaultKind};
use crate::vm::file::MemObject;
use crate::vm::mmap::{FileMapping, MmapRequest};
use crate::vm::overcommit::Overcommit;

const P: u64 = PAGE_SIZE;
const THREADS: usize = 4;
const ROUNDS: usize = 12;
/// Addresses 1 GiB apart: each needs its own PDPT entry's tables, so the
/// first faults race to install intermediate tables too.
const SPREAD: [u64; 4] = [0x1000_0000, 0x4000_0000, 0x8000_0000, 0xc000_0000];
const PAGES: u64 = 128;

/// What a thread needs to build its own [`MmEnv`] (the environment holds
/// trait objects that are not `Sync`; these parts are).
#[derive(Clone, Copy)]
struct Machine {
    pa: &'static PageAllocator,
    commit: &'static Overcommit,
    kernel_root: PhysAddr,
    zero_page: Pfn,
}

impl Machine {
    fn new() -> Machine {
        let pa = crate::testing::page_allocator(16 << 20);
        let tables = PaTables(pa);
        Machine {
            pa,
            commit: std::boxed::Box::leak(std::boxed::Box::new(Overcommit::new())),
            kernel_root: tables.alloc_table().unwrap(),
            zero_page: pa.alloc_pages(crate::phys::gfp::Gfp::ZERO, 0).unwrap(),
        }
    }

    /// Run `f` with an environment of this machine (no swap area).
    fn with_env<R>(&self, f: impl FnOnce(&MmEnv<'_>) -> R) -> R {
        let tables = PaTables(self.pa);
        let tlb = Flushes::default();
        let env = MmEnv {
            pa: self.pa,
            tables: &tables,
            tlb: &tlb,
            commit: self.commit,
            kernel_root: self.kernel_root,
            zero_page: self.zero_page,
            max_map_count: DEFAULT_MAX_MAP_COUNT,
            mmap_min_addr: MMAP_MIN_ADDR,
            swap: &NO_SWAP,
            policy: None,
        };
        f(&env)
    }

    fn free(&self) -> u64 {
        self.pa.drained_free_pages()
    }
}

fn map(mm: &mut AddressSpace, env: &MmEnv<'_>, req: MmapRequest) -> u64 {
    mm.mmap(env, &req, &Rlimits::default()).unwrap()
}

fn anon(addr: u64, flags: u32) -> MmapRequest {
    MmapRequest { addr, len: PAGES * P, prot: PROT_READ | PROT_WRITE, flags, file: None, offset: 0 }
}

/// Every page address of the test areas, in an order that depends on `t`
/// (threads meet on the same pages at different times).
fn order(bases: &[u64], t: usize) -> Vec<u64> {
    let mut v: Vec<u64> = bases.iter().flat_map(|&b| (0..PAGES).map(move |i| b + i * P)).collect();
    let n = v.len();
    match t % 4 {
        0 => {}
        1 => v.reverse(),
        2 => v.rotate_left(n / 2),
        _ => v = (0..n).map(|i| v[(i * 7) % n]).collect(),
    }
    v
}

/// Run `body(thread, env)` on `THREADS` threads at once, each on its own
/// CPU, started together.
fn race(m: Machine, body: impl Fn(usize, &MmEnv<'_>) + Sync) {
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (start, body) = (&start, &body);
            s.spawn(move || {
                on_cpu(t, || {
                    m.with_env(|env| {
                        start.wait();
                        body(t, env);
                    })
                })
            });
        }
    });
}

/// A byte as a user store would write it: through the page the address
/// maps now (which the fault just made writable).
fn store(mm: &AddressSpace, env: &MmEnv<'_>, va: u64, byte: u8) {
    let (pfn, f) = mm.lookup(env, va).expect("mapped after the fault");
    assert!(f.contains(F::WRITABLE), "writable after a write fault");
    env.pa.phys().write(PhysAddr::new(pfn.phys() + (va & (P - 1))), &[byte]).unwrap();
}

fn load(mm: &AddressSpace, env: &MmEnv<'_>, va: u64) -> u8 {
    let mut b = [0u8];
    assert_eq!(mm.read_bytes(env, va, &mut b), 1, "mapped at {va:#x}");
    b[0]
}

/// An access as the CPU makes it: a walk, and a fault (with what the walk
/// saw) while the entry does not allow it. Another CPU may resolve it
/// between walk and fault (the fault is spurious), or install something
/// else first (a zero page where this write wanted a new page: the fault
/// returns and the retried access faults again). Counts the faults taken.
fn access(mm: &AddressSpace, env: &MmEnv<'_>, va: u64, write: bool, faults: &AtomicU64) {
    for _ in 0..3 {
        let now = mm.lookup(env, va);
        if now.is_some_and(|(_, f)| !write || f.contains(F::WRITABLE)) {
            return;
        }
        let kind = FaultKind { present: now.is_some(), write, exec: false };
        let done = mm.handle_fault(env, va, kind).unwrap();
        assert!(done == FaultDone::Minor || done == FaultDone::Major);
        faults.fetch_add(1, Ordering::Relaxed);
    }
    // Missing -> read-only (another CPU's zero page) -> writable: never
    // more than two faults, since nothing here takes permission away.
    panic!("an access to {va:#x} still faults after 3 faults");
}

#[test]
fn threads_faulting_the_same_anonymous_pages_install_one_page_each() {
    let m = Machine::new();
    let base = m.free();
    for round in 0..ROUNDS {
        let mm = m.with_env(|env| {
            let mut mm = AddressSpace::new(env).unwrap();
            for &b in &SPREAD {
                map(&mut mm, env, anon(b, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED));
            }
            mm
        });
        let (shared, faults) = (&mm, AtomicU64::new(0));
        // Thread t writes byte t of every page (after its own write fault),
        // half of the threads read first (zero page, then COW from it).
        race(m, |t, env| {
            for va in order(&SPREAD, t + round) {
                if t % 2 == 1 {
                    access(shared, env, va, false, &faults);
                    assert_eq!(load(shared, env, va + t as u64), 0, "a new page reads zero");
                }
                access(shared, env, va, true, &faults);
                store(shared, env, va + t as u64, 0x10 + t as u8);
            }
        });
        m.with_env(|env| {
            let c = mm.counters();
            let n = SPREAD.len() as u64 * PAGES;
            assert_eq!(c.rss_anon, n, "one page per address");
            assert_eq!(env.pa.vmstat.anon_pages.get(), n, "the losers' pages went back");
            for va in order(&SPREAD, 0) {
                let (pfn, _) = mm.lookup(env, va).unwrap();
                assert!(pfn != env.zero_page);
                let p = env.pa.page(pfn).unwrap();
                assert_eq!((p.refcount(), p.mapcount()), (1, 1), "page at {va:#x}");
                for t in 0..THREADS {
                    assert_eq!(load(&mm, env, va + t as u64), 0x10 + t as u8, "every thread's write is in the page");
                }
            }
            // Every fault is counted, once (lost races are minor).
            assert_eq!((c.min_flt, c.maj_flt), (faults.load(Ordering::Relaxed), 0));
            assert!(c.min_flt >= n);
            assert_eq!(c.hiwater_rss, n);
            // Exactly the tables a serial run makes: 4 PDPT slots' PDPT,
            // PD and PT each (the losers' tables were freed).
            assert_eq!(mm.page_table_pages(env), 1 + 3 * SPREAD.len() as u64 - 3);
            mm.check_invariants(env);
            mm.destroy(env);
        });
        assert_eq!(m.free(), base, "round {round}: every page and table back");
    }
}

#[test]
fn threads_racing_copy_on_write_after_fork_each_see_their_data_and_the_parent_is_unchanged() {
    let m = Machine::new();
    let base = m.free();
    let a = SPREAD[0];
    for round in 0..ROUNDS {
        let (parent, mut child) = m.with_env(|env| {
            let mut parent = AddressSpace::new(env).unwrap();
            map(&mut parent, env, anon(a, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED));
            for i in 0..PAGES {
                parent.handle_fault_mut(env, a + i * P, FaultKind::WRITE, &Rlimits::default()).unwrap();
                let pfn = parent.lookup(env, a + i * P).unwrap().0;
                env.pa.phys().fill(PhysAddr::new(pfn.phys()), 0x80 | (i as u8 & 0x3f), P as usize).unwrap();
            }
            let child = parent.fork(env, &Rlimits::default()).unwrap();
            (parent, child)
        });
        // The last page: the parent's mapping is the only one left, so its
        // write fault reuses the page, racing the child's threads' copies
        // of the other pages.
        m.with_env(|env| child.munmap(env, a + (PAGES - 1) * P, P).unwrap());
        let (kid, faults) = (&child, AtomicU64::new(0));
        race(m, |t, env| {
            for va in order(&[a], t + round).into_iter().filter(|&va| va != a + (PAGES - 1) * P) {
                access(kid, env, va, true, &faults);
                store(kid, env, va + t as u64, 0x50 + t as u8);
            }
        });
        m.with_env(|env| {
            for i in 0..PAGES - 1 {
                let va = a + i * P;
                for t in 0..THREADS {
                    assert_eq!(load(&child, env, va + t as u64), 0x50 + t as u8, "thread {t}'s write");
                    assert_eq!(
                        load(&parent, env, va + t as u64),
                        0x80 | (i as u8 & 0x3f),
                        "the parent's page is unchanged"
                    );
                }
                assert_eq!(load(&child, env, va + 100), 0x80 | (i as u8 & 0x3f), "the copy has the parent's bytes");
                let (pp, cp) = (parent.lookup(env, va).unwrap().0, child.lookup(env, va).unwrap().0);
                assert!(pp != cp, "the child has its own copy");
                let (p, c) = (env.pa.page(pp).unwrap(), env.pa.page(cp).unwrap());
                assert_eq!((p.refcount(), p.mapcount(), c.refcount(), c.mapcount()), (1, 1, 1, 1));
            }
            let c = child.counters();
            assert_eq!(c.rss_anon, PAGES - 1);
            assert_eq!(c.min_flt, faults.load(Ordering::Relaxed));
            assert!(c.min_flt >= PAGES - 1);
            assert_eq!(env.pa.vmstat.anon_pages.get(), 2 * PAGES - 1, "one copy per page, losers freed");
            // The parent alone maps its last page now: a write reuses it.
            let last = a + (PAGES - 1) * P;
            let before = parent.lookup(env, last).unwrap().0;
            access(&parent, env, last, true, &AtomicU64::new(0));
            assert_eq!(parent.lookup(env, last).unwrap().0, before, "reused, not copied");
            parent.check_invariants(env);
            child.check_invariants(env);
            child.destroy(env);
            parent.destroy(env);
        });
        assert_eq!(m.free(), base, "round {round}: every page and table back");
    }
}

#[test]
fn threads_faulting_a_shared_file_page_map_the_one_page_cache_page() {
    let m = Machine::new();
    let base = m.free();
    let data: &'static [u8] =
        std::boxed::Box::leak((0..PAGES * P).map(|i| (i % 251) as u8 + 1).collect::<Vec<u8>>().into_boxed_slice());
    for round in 0..ROUNDS {
        let obj = MemObject::file("/bin/x", data, 1, m.pa);
        let (mm, a, b) = m.with_env(|env| {
            let mut mm = AddressSpace::new(env).unwrap();
            let file = |flags| MmapRequest {
                addr: 0,
                len: PAGES * P,
                prot: PROT_READ | PROT_WRITE,
                flags,
                file: Some(FileMapping { object: obj.clone(), readable: true, writable: true }),
                offset: 0,
            };
            mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
            let a = map(&mut mm, env, file(MAP_SHARED));
            let b = map(&mut mm, env, file(MAP_PRIVATE));
            (mm, a, b)
        });
        let (shared, faults) = (&mm, AtomicU64::new(0));
        // Shared area: reads and writes; private area: reads only (they
        // map the cache page read-only too).
        race(m, |t, env| {
            for va in order(&[a, b], t + round) {
                let write = (a..a + PAGES * P).contains(&va) && t % 2 == 0;
                access(shared, env, va, write, &faults);
            }
        });
        m.with_env(|env| {
            assert_eq!(obj.nr_pages(), PAGES, "one page-cache page per file page");
            for i in 0..PAGES {
                let cache = obj.find_page(i).unwrap();
                let (pa_, fa) = mm.lookup(env, a + i * P).unwrap();
                let (pb, fb) = mm.lookup(env, b + i * P).unwrap();
                assert_eq!((pa_, pb), (cache, cache), "both areas map the cache page");
                assert!(fa.contains(F::WRITABLE) && !fb.contains(F::WRITABLE));
                let p = env.pa.page(cache).unwrap();
                assert_eq!((p.mapcount(), p.refcount()), (2, 3), "two mappings and the cache's reference");
                assert_eq!(load(&mm, env, b + i * P + 7), data[(i * P + 7) as usize]);
            }
            let c = mm.counters();
            assert_eq!(c.rss_file, 2 * PAGES);
            assert_eq!(c.min_flt + c.maj_flt, faults.load(Ordering::Relaxed));
            // A fault that read the page in counts major unless another
            // CPU installed it first (in each of the two areas).
            assert!(c.maj_flt <= 2 * PAGES);
            mm.check_invariants(env);
            mm.destroy(env);
        });
        drop(obj);
        assert_eq!(m.free(), base, "round {round}: every page and table back");
    }
}

#[test]
fn a_fault_below_a_stack_asks_for_the_exclusive_path_which_grows_it() {
    let m = Machine::new();
    m.with_env(|env| {
        let mut mm = AddressSpace::new(env).unwrap();
        let s = SPREAD[1];
        map(&mut mm, env, stack_req(s));
        let below = s - 2 * P + 8;
        // The shared path never changes the VMA tree, nor counts the fault.
        let pgfault = env.pa.vmstat.pgfault.get();
        assert_eq!(mm.handle_fault(env, below, FaultKind::WRITE), Err(FaultError::ExpandStack));
        assert_eq!((mm.vmas.containing(s).unwrap().start, env.pa.vmstat.pgfault.get()), (s, pgfault));
        assert_eq!(mm.handle_fault_mut(env, below, FaultKind::WRITE, &Rlimits::default()), Ok(FaultDone::Minor));
        assert_eq!(mm.vmas.containing(s).unwrap().start, s - 2 * P);
        assert_eq!(env.pa.vmstat.pgfault.get(), pgfault + 1, "counted once");
        assert_eq!(mm.counters().min_flt, 1);
        // Inside the grown area now: the shared path resolves it.
        assert_eq!(mm.handle_fault(env, s - P, FaultKind::WRITE), Ok(FaultDone::Minor));
        mm.check_invariants(env);
        mm.destroy(env);
    });
}

/// A MAP_GROWSDOWN area of one page at `s`.
fn stack_req(s: u64) -> MmapRequest {
    MmapRequest { len: P, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, ..anon(s, 0) }
}

#[test]
fn threads_racing_on_shmem_private_file_writes_and_past_eof_each_get_theirs() {
    // One area of shared anonymous memory, one private writable mapping of
    // a file of PAGES - 2 pages and a half (the last page is past EOF:
    // SIGBUS for everyone), faulted by every thread at once.
    let m = Machine::new();
    let base = m.free();
    let len = (PAGES - 2) * P + P / 2;
    let data: &'static [u8] =
        std::boxed::Box::leak((0..len).map(|i| (i % 239) as u8 + 1).collect::<Vec<u8>>().into_boxed_slice());
    for round in 0..ROUNDS / 2 {
        let file = MemObject::file("/bin/y", data, 2, m.pa);
        let (mm, s, f) = m.with_env(|env| {
            let mut mm = AddressSpace::new(env).unwrap();
            mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
            let s = map(&mut mm, env, anon(0, MAP_SHARED | MAP_ANONYMOUS));
            let req = MmapRequest {
                file: Some(FileMapping { object: file.clone(), readable: true, writable: false }),
                ..anon(0, MAP_PRIVATE)
            };
            let f = map(&mut mm, env, req);
            (mm, s, f)
        });
        let (shared, faults) = (&mm, AtomicU64::new(0));
        race(m, |t, env| {
            for va in order(&[s, f], t + round) {
                if va == f + (PAGES - 1) * P {
                    let kind = FaultKind { present: false, write: t % 2 == 0, exec: false };
                    assert_eq!(shared.handle_fault(env, va, kind), Err(FaultError::Bus), "past EOF");
                    continue;
                }
                access(shared, env, va, true, &faults);
                store(shared, env, va + t as u64, 0x60 + t as u8);
            }
        });
        m.with_env(|env| {
            for i in 0..PAGES {
                for t in 0..THREADS {
                    assert_eq!(load(&mm, env, s + i * P + t as u64), 0x60 + t as u8, "shmem: thread {t}'s write");
                }
                if i < PAGES - 1 {
                    let b = (i * P) as usize;
                    for t in 0..THREADS {
                        assert_eq!(load(&mm, env, f + i * P + t as u64), 0x60 + t as u8, "private copy");
                    }
                    assert_eq!(load(&mm, env, f + i * P + 9), data[b + 9], "the copy has the file's bytes");
                    let p = env.pa.page(mm.lookup(env, f + i * P).unwrap().0).unwrap();
                    assert!(p.has(PageFlags::ANON) && (p.refcount(), p.mapcount()) == (1, 1));
                }
            }
            assert!(mm.lookup(env, f + (PAGES - 1) * P).is_none(), "nothing mapped past EOF");
            let c = mm.counters();
            assert_eq!((c.rss_shmem, c.rss_anon, c.rss_file), (PAGES, PAGES - 1, 0));
            assert_eq!(env.pa.vmstat.anon_pages.get(), PAGES - 1, "one copy per page, losers freed");
            // SIGBUS faults count in neither (as mm_account_fault).
            assert_eq!(c.min_flt + c.maj_flt, faults.load(Ordering::Relaxed));
            mm.check_invariants(env);
            mm.destroy(env);
        });
        drop(file);
        assert_eq!(m.free(), base, "round {round}: every page and table back");
    }
}
