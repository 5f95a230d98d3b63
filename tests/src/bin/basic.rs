//! The harness itself and the arch basics: breakpoints return, panics and
//! fatal traps are caught and named, a kernel stack overflow reaches the
//! double-fault handler on its IST stack, the firmware map is sane.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::{BootInfo, entry_point};
use kernel::ktest;
use kernel::traps::{BREAKPOINTS, STACK_OVERFLOWS};

entry_point!(main, config = &kernel::BOOT_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    ktest::run(
        "basic",
        &[
            ktest!(breakpoint_returns),
            ktest!(panic_is_caught_by_harness, should_panic),
            ktest!(kernel_stack_overflow_hits_guard_page, should_trap),
            ktest!(stack_overflow_was_reported_as_such),
            ktest!(null_dereference_oopses, should_trap),
            ktest!(heap_allocations_work),
            ktest!(e820_is_sorted_and_has_ram),
            ktest!(harness_continues_after_faults),
        ],
    )
}

/// What the faulting cases got to: each counts its start, and the code
/// after the fault counts in `PAST_FAULT` (which must stay 0).
static FAULT_CASES_STARTED: AtomicU64 = AtomicU64::new(0);
static PAST_FAULT: AtomicU64 = AtomicU64::new(0);

/// Runs last: the three faulting cases (panic, stack overflow, null
/// dereference) all started, none went on past its fault, and the harness
/// got here.
fn harness_continues_after_faults() {
    assert_eq!(FAULT_CASES_STARTED.load(Ordering::Relaxed), 3, "faulting cases that ran");
    assert_eq!(PAST_FAULT.load(Ordering::Relaxed), 0, "a faulting case went on past its fault");
    assert_eq!(STACK_OVERFLOWS.load(Ordering::Relaxed), 1);
}

fn breakpoint_returns() {
    let before = BREAKPOINTS.load(Ordering::Relaxed);
    x86_64::instructions::interrupts::int3();
    assert_eq!(BREAKPOINTS.load(Ordering::Relaxed), before + 1);
}

fn panic_is_caught_by_harness() {
    FAULT_CASES_STARTED.fetch_add(1, Ordering::Relaxed);
    if core::hint::black_box(true) {
        panic!("this panic is expected");
    }
    PAST_FAULT.fetch_add(1, Ordering::Relaxed);
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    // A large frame that the optimiser cannot drop or turn into a loop.
    let mut pad = [0u8; 512];
    pad[depth as usize % 512] = depth as u8;
    let pad = core::hint::black_box(pad);
    recurse(depth + 1) + pad[7] as u64
}

fn kernel_stack_overflow_hits_guard_page() {
    FAULT_CASES_STARTED.fetch_add(1, Ordering::Relaxed);
    core::hint::black_box(recurse(0));
    PAST_FAULT.fetch_add(1, Ordering::Relaxed);
}

fn stack_overflow_was_reported_as_such() {
    assert_eq!(STACK_OVERFLOWS.load(Ordering::Relaxed), 1);
}

fn null_dereference_oopses() {
    FAULT_CASES_STARTED.fetch_add(1, Ordering::Relaxed);
    let p = core::hint::black_box(0x10 as *const u64);
    // SAFETY: deliberately invalid; the test expects the page fault.
    let v = unsafe { core::ptr::read_volatile(p) };
    core::hint::black_box(v);
    PAST_FAULT.fetch_add(1, Ordering::Relaxed);
}

fn heap_allocations_work() {
    let v: Vec<u64> = (0..10_000).collect();
    assert_eq!(v.iter().sum::<u64>(), 10_000 * 9_999 / 2);
}

fn e820_is_sorted_and_has_ram() {
    let t = kernel::init::e820();
    assert!(t.total_ram() >= 64 << 20, "less than 64 MiB of RAM reported");
    for pair in t.entries().windows(2) {
        assert!(pair[0].end <= pair[1].start, "e820 entries overlap or are unsorted");
    }
}
