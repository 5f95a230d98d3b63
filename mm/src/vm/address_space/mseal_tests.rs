//! Host tests of mseal(2) (vm/mseal.rs) against Linux 6.10's mm/mseal.c
//! and Documentation/userspace-api/mseal.rst: a sealed area refuses every
//! change of place, size and protection with EPERM and stays as it was.

use abi::mman::*;

use super::tests::{lim, machine, req};
use super::*;
use crate::error::MmError;

const P: u64 = PAGE_SIZE;
const A: u64 = 0x1000_0000;
const RW: u32 = PROT_READ | PROT_WRITE;
const FIXED: u32 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

fn setup() -> (&'static MmEnv<'static>, AddressSpace) {
    let (env, _cpu) = machine(64);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    (env, mm)
}

fn spans(mm: &AddressSpace) -> Vec<(u64, u64, bool)> {
    mm.vmas.iter().map(|v| (v.start, v.end, v.flags.contains(VmFlags::SEALED))).collect()
}

#[test]
fn sealed_area_refuses_every_change_and_stays() {
    let (env, mut mm) = setup();
    mm.mmap(env, &req(A, 4, RW, FIXED), &lim()).unwrap();
    mm.mseal(env, A + P, 2 * P, 0).unwrap();
    let sealed = vec![(A, A + P, false), (A + P, A + 3 * P, true), (A + 3 * P, A + 4 * P, false)];
    assert_eq!(spans(&mm), sealed, "split at the range's ends, the middle sealed");
    // Each change that meets the sealed area fails whole.
    assert_eq!(mm.munmap(env, A, 4 * P), Err(MmError::Perm));
    assert_eq!(mm.mprotect(env, A, 2 * P, PROT_READ), Err(MmError::Perm));
    assert_eq!(mm.mremap(env, A + P, P, 4 * P, MREMAP_MAYMOVE, 0, &lim()), Err(MmError::Perm));
    assert_eq!(mm.mremap(env, A + P, 2 * P, P, 0, 0, &lim()), Err(MmError::Perm), "shrinking too");
    assert_eq!(mm.mmap(env, &req(A + 2 * P, 1, RW, FIXED), &lim()), Err(MmError::Perm));
    // mremap onto it from elsewhere.
    let b = mm.mmap(env, &req(0, 1, RW, MAP_PRIVATE | MAP_ANONYMOUS), &lim()).unwrap();
    assert_eq!(mm.mremap(env, b, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, A + P, &lim()), Err(MmError::Perm));
    assert_eq!(&spans(&mm)[..3], &sealed[..], "nothing changed");
    mm.check_invariants(env);
    // The unsealed neighbours still change; the seal stays.
    mm.munmap(env, A, P).unwrap();
    mm.mprotect(env, A + 3 * P, P, PROT_READ).unwrap();
    assert!(mm.vmas.containing(A + P).unwrap().flags.contains(VmFlags::SEALED));
    // Writable private memory may still be discarded (the caller could
    // have written zeroes there itself).
    mm.madvise(env, A + P, 2 * P, MADV_DONTNEED, &lim()).unwrap();
}

#[test]
fn discarding_read_only_anonymous_sealed_memory_is_eperm() {
    let (env, mut mm) = setup();
    mm.mmap(env, &req(A, 2, PROT_READ, FIXED), &lim()).unwrap();
    mm.mseal(env, A, 2 * P, 0).unwrap();
    for advice in [MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_DONTFORK, MADV_WIPEONFORK] {
        assert_eq!(mm.madvise(env, A, 2 * P, advice, &lim()), Err(MmError::Perm), "advice {advice}");
    }
    // Advice that discards nothing is fine.
    mm.madvise(env, A, 2 * P, MADV_WILLNEED, &lim()).unwrap();
    mm.madvise(env, A, 2 * P, MADV_RANDOM, &lim()).unwrap();
    // Shared read-only memory is not "anonymous" in Linux's sense.
    let s = A + 16 * P;
    mm.mmap(env, &req(s, 2, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED), &lim()).unwrap();
    mm.mseal(env, s, 2 * P, 0).unwrap();
    mm.madvise(env, s, 2 * P, MADV_DONTNEED, &lim()).unwrap();
}

#[test]
fn mseal_checks_arguments_and_holes_before_sealing() {
    let (env, mut mm) = setup();
    mm.mmap(env, &req(A, 1, RW, FIXED), &lim()).unwrap();
    mm.mmap(env, &req(A + 2 * P, 1, RW, FIXED), &lim()).unwrap();
    assert_eq!(mm.mseal(env, A, P, 1), Err(MmError::Invalid), "flags");
    assert_eq!(mm.mseal(env, A + 1, P, 0), Err(MmError::Invalid), "unaligned");
    assert_eq!(mm.mseal(env, A, u64::MAX - 100, 0), Err(MmError::Invalid), "a length that wraps");
    assert_eq!(mm.mseal(env, A, 0, 0), Ok(()), "nothing to seal");
    assert_eq!(mm.mseal(env, A, 3 * P, 0), Err(MmError::NoMemory), "a hole in the range");
    assert!(spans(&mm).iter().all(|s| !s.2), "nothing sealed by the failed call");
    // A length rounds up to whole pages.
    mm.mseal(env, A, 1, 0).unwrap();
    assert_eq!(spans(&mm)[0], (A, A + P, true));
    // Sealing again is harmless; areas sealed alike merge back.
    mm.mseal(env, A, P, 0).unwrap();
    mm.mmap(env, &req(A + P, 1, RW, FIXED), &lim()).unwrap();
    mm.mseal(env, A + P, 2 * P, 0).unwrap();
    assert_eq!(spans(&mm), vec![(A, A + 3 * P, true)], "one sealed area");
}
