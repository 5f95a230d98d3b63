//! The two mmap layouts (arch/x86/mm/mmap.c): top-down below the stack
//! gap, and the legacy one, bottom-up from a third of the address space
//! (personality ADDR_COMPAT_LAYOUT, vm.legacy_va_layout).

use abi::mman::*;

use super::tests::{lim, machine, req};
use super::*;
use crate::vm::mmap::MmapRequest;

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const PRIV: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

fn space(legacy: bool) -> (&'static MmEnv<'static>, AddressSpace) {
    let (env, _cpu) = machine(64);
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.legacy = legacy;
    mm.layout.mmap_base = if legacy { TASK_UNMAPPED_BASE } else { AddressSpace::mmap_base_for(8 << 20) };
    (env, mm)
}

#[test]
fn legacy_layout_goes_up_from_a_third_and_fills_the_lowest_hole() {
    let (env, mut mm) = space(true);
    assert_eq!(TASK_UNMAPPED_BASE % P, 0);
    assert!(TASK_UNMAPPED_BASE >= TASK_SIZE / 3 && TASK_UNMAPPED_BASE < TASK_SIZE / 3 + P);
    let a = mm.mmap(env, &req(0, 2, RW, PRIV), &lim()).unwrap();
    let b = mm.mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    let c = mm.mmap(env, &req(0, 3, RW, PRIV), &lim()).unwrap();
    assert_eq!((a, b, c), (TASK_UNMAPPED_BASE, TASK_UNMAPPED_BASE + 2 * P, TASK_UNMAPPED_BASE + 3 * P));
    // A hole left by munmap is the first one a fitting request gets.
    mm.munmap(env, a, 2 * P).unwrap();
    assert_eq!(mm.mmap(env, &req(0, 1, RW, PRIV), &lim()), Ok(a));
    assert_eq!(mm.mmap(env, &req(0, 2, RW, PRIV), &lim()), Ok(c + 3 * P), "too big for the one page left");
    // A hint below the base is still honoured when free.
    let low = 0x1000_0000;
    assert_eq!(mm.mmap(env, &req(low, 1, RW, PRIV), &lim()), Ok(low));
    mm.check_invariants(env);
}

#[test]
fn legacy_layout_keeps_the_stack_guard_gap_and_top_down_goes_down() {
    let (env, mut mm) = space(true);
    // A growing-down area right above the base: the next mapping must
    // leave its guard gap free, so it goes above the stack.
    let stack = TASK_UNMAPPED_BASE + STACK_GUARD_GAP + P;
    mm.mmap(env, &req(stack, 1, RW, PRIV | MAP_FIXED | MAP_GROWSDOWN), &lim()).unwrap();
    let big = STACK_GUARD_GAP + 2 * P;
    let r = MmapRequest { len: big, ..req(0, 1, RW, PRIV) };
    assert_eq!(mm.mmap(env, &r, &lim()), Ok(stack + P));
    let small = mm.mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    assert_eq!(small, TASK_UNMAPPED_BASE, "one page fits below the gap");
    mm.check_invariants(env);

    let (env, mut mm) = space(false);
    let a = mm.mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    let b = mm.mmap(env, &req(0, 1, RW, PRIV), &lim()).unwrap();
    assert!(b < a && a < mm.layout.mmap_base && a > TASK_UNMAPPED_BASE, "top-down: {a:#x} then {b:#x}");
}
