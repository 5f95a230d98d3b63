//! Host tests of hugetlb mappings (vm/hugetlb.rs) on the simulated
//! machine: MAP_HUGETLB areas are 2 MiB aligned and mapped by directory
//! entries, promise their pages at mmap, share or copy them across fork,
//! refuse to be cut inside a huge page, and give every page and promise
//! back to the pool.

use abi::mman::*;

use super::tests::{lim, machine, req};
use super::*;
use crate::phys::hugetlb::{HPAGE_SIZE, PoolCounts};
use crate::testing::cpu::Cpu;
use crate::vm::fault::FaultError;
use crate::vm::page_table::MapSize;

const H: u64 = HPAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const HPRIV: u32 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
const HSHARED: u32 = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB;

fn setup(pool: u64) -> (&'static MmEnv<'static>, AddressSpace, Cpu) {
    let (env, cpu) = machine(64);
    assert_eq!(env.pa.hugetlb.set_persistent(env.pa, None, pool), pool);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    (env, mm, cpu)
}

fn hmap(mm: &mut AddressSpace, env: &MmEnv<'_>, huge_pages: u64, flags: u32) -> Result<u64, MmError> {
    let mut r = req(0, 1, RW, flags);
    r.len = huge_pages * H - 4096; // rounded up to whole huge pages
    mm.mmap(env, &r, &lim())
}

fn counts(env: &MmEnv<'_>) -> PoolCounts {
    env.pa.hugetlb.counts()
}

#[test]
fn a_private_mapping_is_aligned_promised_and_mapped_by_2m_entries() {
    let (env, mut mm, mut cpu) = setup(4);
    let a = hmap(&mut mm, env, 2, HPRIV).unwrap();
    assert_eq!(a % H, 0, "aligned to 2 MiB");
    assert_eq!(mm.vmas.containing(a).unwrap().len(), 2 * H, "length rounded up");
    assert_eq!((counts(env).free, counts(env).resv), (4, 2), "both pages promised at mmap");
    cpu.store(&mut mm, a + H + 12345, b"huge").unwrap();
    let leaves = mm.leaves(env, a, a + 2 * H);
    assert_eq!(leaves.len(), 1);
    assert_eq!((leaves[0].va, leaves[0].size), (a + H, MapSize::Size2M));
    assert_eq!((counts(env).free, counts(env).resv), (3, 1), "the fault used its promise");
    let mut b = [0u8; 4];
    cpu.load(&mut mm, a + H + 12345, &mut b).unwrap();
    assert_eq!(&b, b"huge");
    assert_eq!(cpu.load_u8(&mut mm, a + 2 * H - 1).unwrap(), 0, "the rest of the page is zero");
    assert_eq!(mm.counters().hugetlb, 512);
    assert_eq!(mm.counters().rss(), 0, "hugetlb pages are not RSS");
    mm.check_invariants(env);
    mm.munmap(env, a, 2 * H).unwrap();
    assert_eq!(counts(env), PoolCounts { nr: 4, free: 4, persistent: 4, ..Default::default() });
    mm.destroy(env);
}

#[test]
fn without_pages_mmap_is_enomem_and_a_noreserve_fault_is_sigbus() {
    let (env, mut mm, mut cpu) = setup(1);
    assert_eq!(hmap(&mut mm, env, 2, HPRIV), Err(MmError::NoMemory));
    let a = hmap(&mut mm, env, 2, HPRIV | MAP_NORESERVE).unwrap();
    assert_eq!(counts(env).resv, 0);
    cpu.store(&mut mm, a, &[1]).unwrap();
    assert_eq!(cpu.store(&mut mm, a + H, &[1]), Err(FaultError::Bus), "the pool is empty");
    assert_eq!(hmap(&mut mm, env, 1, HPRIV), Err(MmError::NoMemory));
    mm.destroy(env);
    assert_eq!(counts(env).free, 1);
}

#[test]
fn bad_sizes_and_addresses_are_einval() {
    let (env, mut mm, _cpu) = setup(2);
    let mut r = req(0x4000_0000 + 4096, 1, RW, HPRIV | MAP_FIXED);
    assert_eq!(mm.mmap(env, &r, &lim()), Err(MmError::Invalid), "MAP_FIXED not 2 MiB aligned");
    r = req(0, 1, RW, HPRIV | MAP_HUGE_1GB);
    assert_eq!(mm.mmap(env, &r, &lim()), Err(MmError::Invalid), "no 1 GiB pool");
    r = req(0, 1, RW, HPRIV | MAP_HUGE_2MB);
    let a = mm.mmap(env, &r, &lim()).unwrap();
    assert_eq!(mm.munmap(env, a + 4096, 4096), Err(MmError::Invalid), "cutting inside a huge page");
    assert_eq!(mm.mprotect(env, a, 4096, PROT_READ), Err(MmError::Invalid));
    assert_eq!(mm.madvise(env, a + 4096, 4096, MADV_DONTNEED, &lim()), Err(MmError::Invalid));
    assert_eq!(mm.madvise(env, a, H, MADV_FREE, &lim()), Err(MmError::Invalid));
    mm.munmap(env, a, H).unwrap();
    mm.destroy(env);
    assert_eq!(counts(env).resv, 0);
}

#[test]
fn shared_pages_are_shared_with_a_child_and_private_ones_copied() {
    let (env, mut mm, mut cpu) = setup(4);
    let s = hmap(&mut mm, env, 1, HSHARED).unwrap();
    let p = hmap(&mut mm, env, 1, HPRIV).unwrap();
    cpu.store(&mut mm, s, b"S0").unwrap();
    cpu.store(&mut mm, p, b"P0").unwrap();
    let mut child = mm.fork(env, &lim()).unwrap();
    child.check_invariants(env);
    cpu.store(&mut child, s, b"S1").unwrap();
    cpu.store(&mut child, p, b"P1").unwrap();
    let mut b = [0u8; 2];
    cpu.load(&mut mm, s, &mut b).unwrap();
    assert_eq!(&b, b"S1", "the child's write to shared memory is seen");
    cpu.load(&mut mm, p, &mut b).unwrap();
    assert_eq!(&b, b"P0", "the child's private write is its own");
    // 2 pages mapped by the parent, the child's copy: 3 in use, 1 free.
    assert_eq!(counts(env).free, 1);
    // The parent's private page is its own again: reused on write.
    cpu.store(&mut mm, p, b"P2").unwrap();
    assert_eq!(counts(env).free, 1, "reused, not copied");
    child.destroy(env);
    mm.check_invariants(env);
    mm.mprotect(env, s, H, PROT_READ).unwrap();
    assert!(matches!(cpu.store(&mut mm, s, b"x"), Err(FaultError::Segv(_))));
    cpu.load(&mut mm, s, &mut b).unwrap();
    assert_eq!(&b, b"S1");
    mm.destroy(env);
    assert_eq!(counts(env), PoolCounts { nr: 4, free: 4, persistent: 4, ..Default::default() });
}

#[test]
fn dontneed_gives_the_page_back_and_the_next_touch_reads_zero() {
    let (env, mut mm, mut cpu) = setup(2);
    let a = hmap(&mut mm, env, 2, HPRIV).unwrap();
    cpu.store(&mut mm, a, &[7]).unwrap();
    cpu.store(&mut mm, a + H, &[8]).unwrap();
    assert_eq!(counts(env).free, 0);
    // The end is rounded down: only the first page goes.
    mm.madvise(env, a, H + 4096, MADV_DONTNEED, &lim()).unwrap();
    assert_eq!(counts(env).free, 1);
    assert_eq!(cpu.load_u8(&mut mm, a + H).unwrap(), 8);
    assert_eq!(cpu.load_u8(&mut mm, a).unwrap(), 0, "a new zeroed page (no promise left: a free one)");
    mm.destroy(env);
    assert_eq!(counts(env).free, 2);
}

#[test]
fn surplus_pages_follow_overcommit_and_leave_with_the_mapping() {
    let (env, mut mm, mut cpu) = setup(0);
    let free = env.pa.drained_free_pages();
    assert_eq!(hmap(&mut mm, env, 1, HPRIV), Err(MmError::NoMemory));
    assert!(env.pa.hugetlb.set_overcommit(2));
    let a = hmap(&mut mm, env, 2, HPRIV).unwrap();
    assert_eq!(counts(env).surplus, 2);
    cpu.store(&mut mm, a, &[1]).unwrap();
    mm.munmap(env, a, 2 * H).unwrap();
    assert_eq!(counts(env).nr, 0, "surplus pages went back");
    mm.destroy(env);
    assert!(env.pa.hugetlb.set_overcommit(0));
    assert!(env.pa.drained_free_pages() + 8 >= free);
}

/// A hugetlbfs mount's `min_size=` (Linux's subpool minimum): the pool
/// promises it at mount, a file's promises and pages inside it take no
/// other promise, pages given back return to the mount, and its end
/// returns the promises to the pool.
///
/// ```text
///   pool 4   mount min 2: resv 2 | file reserve 3: resv 3 (1 more)
///   fault idx 0..3: resv 0      | truncate: resv 2 (the mount's again)
///   mount gone: resv 0
/// ```
#[test]
fn a_mounts_minimum_is_promised_by_the_pool_until_it_goes() {
    use crate::vm::hugetlb::{HugeObject, HugeQuota};
    let (env, _mm, _cpu) = setup(4);
    assert!(HugeQuota::new(env.pa, None, 5).is_none(), "more than the pool can promise");
    assert_eq!(counts(env).resv, 0, "a refused minimum promises nothing");
    let q = HugeQuota::new(env.pa, Some(3), 2).unwrap();
    assert_eq!(counts(env).resv, 2);
    let f = HugeObject::file(env.pa, "/f", 1, Some(q.clone()));
    f.set_size(3 * H);
    assert!(f.reserve(0, 3));
    assert_eq!((counts(env).resv, q.used()), (3, 3), "two promises were the mount's");
    assert!(!f.reserve(3, 4), "size=3 pages");
    for i in 0..3 {
        let pfn = f.get_page(i, 0).expect("a promised page");
        env.pa.hugetlb.put(env.pa, pfn);
    }
    assert_eq!((counts(env).resv, counts(env).free), (0, 1));
    f.set_size(0);
    assert_eq!((counts(env).resv, counts(env).free, q.used()), (2, 4, 0), "the mount keeps its minimum");
    drop(f);
    drop(q);
    assert_eq!((counts(env).resv, counts(env).free), (0, 4));
}

#[test]
fn promising_more_than_the_pool_holds_fails_at_once() {
    let (env, _mm, _cpu) = setup(2);
    // A length from user space may name millions of huge pages: refused
    // before anything is listed, and nothing promised.
    let o = crate::vm::hugetlb::HugeObject::file(env.pa, "/f", 1, None);
    assert!(!o.reserve(0, 1 << 40));
    assert!(!o.reserve(0, 3));
    assert_eq!(counts(env).resv, 0);
    assert!(o.reserve(0, 2));
    assert_eq!(counts(env).resv, 2);
    o.truncate(0);
    assert_eq!(counts(env).resv, 0);
}

/// A 3 GiB machine with two 1 GiB pool pages (the gigabytes at 1G and 2G).
fn setup_gigantic() -> (&'static MmEnv<'static>, AddressSpace, Cpu) {
    let (env, cpu) = crate::testing::uniprocessor_gigantic(3 << 30, 2);
    assert_eq!(env.pa.hugetlb_1g.counts().free, 2);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    (env, mm, cpu)
}

#[test]
fn a_1g_mapping_is_one_pud_leaf_copied_on_write_across_fork_and_cut_only_at_1g() {
    const G: u64 = 1 << 30;
    let (env, mut mm, mut cpu) = setup_gigantic();
    let g = |env: &MmEnv<'_>| env.pa.hugetlb_1g.counts();
    let mut r = req(0, 1, RW, HPRIV | MAP_HUGE_1GB);
    r.len = G - 4096;
    let a = mm.mmap(env, &r, &lim()).unwrap();
    assert_eq!(a % G, 0, "1 GiB aligned");
    assert_eq!(mm.vmas.containing(a).unwrap().end, a + G, "rounded up to 1 GiB");
    assert_eq!(g(env).resv, 1, "promised at mmap");
    assert_eq!(counts(env).resv, 0, "not of the 2 MiB pool");
    cpu.store(&mut mm, a, b"first").unwrap();
    cpu.store(&mut mm, a + G - 4, b"last").unwrap();
    let t = mm.mapper(env).translate(x86_64::VirtAddr::new(a + 12345)).unwrap();
    assert_eq!(t.size, MapSize::Size1G, "one PUD leaf");
    assert_eq!(cpu.load_u8(&mut mm, a + G / 2).unwrap(), 0, "zeroed on first fault");
    assert_eq!((g(env).free, g(env).resv), (1, 0));
    assert_eq!(mm.mincore(env, a + G - 8192, 8192).unwrap(), [1, 1], "resident to its end");
    let mut b = [0u8; 5];
    assert_eq!(mm.read_remote(env, a, &mut b), 5, "a remote read follows the PUD leaf");
    assert_eq!(&b, b"first");
    mm.check_invariants(env);
    assert_eq!(mm.munmap(env, a + H, H), Err(MmError::Invalid), "a cut inside the 1 GiB page");
    let mut child = mm.fork(env, &lim()).unwrap();
    child.check_invariants(env);
    cpu.store(&mut child, a, b"child").unwrap();
    assert_eq!(g(env).free, 0, "the child's write copied the page");
    cpu.load(&mut mm, a, &mut b).unwrap();
    assert_eq!(&b, b"first", "the child's write is its own");
    cpu.load(&mut child, a + G - 4, &mut b[..4]).unwrap();
    assert_eq!(&b[..4], b"last", "the copy has every byte");
    let mut r2 = req(0, 1, RW, HPRIV | MAP_HUGE_1GB);
    r2.len = G;
    assert_eq!(mm.mmap(env, &r2, &lim()), Err(MmError::NoMemory), "no page left to promise");
    child.destroy(env);
    assert_eq!(g(env).free, 1);
    mm.munmap(env, a, G).unwrap();
    mm.check_invariants(env);
    assert_eq!(g(env), PoolCounts { nr: 2, free: 2, persistent: 2, ..Default::default() });
    mm.destroy(env);
}
