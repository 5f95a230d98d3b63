//! The harness itself and the arch basics: breakpoints return, panics and
//! fatal traps are caught and named, a kernel stack overflow reaches the
//! double-fault handler on its IST stack, the firmware map is sane; NMIs
//! are reported and resumed, a machine check ends in a named panic, and
//! the IST stacks have unmapped guard pages below them.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::{BootInfo, entry_point};
use kernel::ktest;
use kernel::traps::{BREAKPOINTS, NMIS, STACK_OVERFLOWS};

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
            ktest!(nmi_is_reported_and_resumed),
            ktest!(machine_check_panics_with_a_clear_message, should_trap),
            ktest!(ist_stacks_have_guard_pages),
            ktest!(interrupt_inside_uaccess_window_runs_with_ac_clear),
            ktest!(nmi_stack_overflow_hits_its_guard_page, should_trap),
            ktest!(nmi_stack_overflow_was_reported_as_such),
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
    assert_eq!(STACK_OVERFLOWS.load(Ordering::Relaxed), 2, "the two guard-page cases");
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

fn nmi_is_reported_and_resumed() {
    let before = NMIS.load(Ordering::Relaxed);
    // SAFETY: `int 2` runs the NMI gate's handler, which only logs and
    // returns.
    unsafe {
        core::arch::asm!("int 2");
        core::arch::asm!("int 2");
    }
    assert_eq!(NMIS.load(Ordering::Relaxed), before + 2);
}

fn machine_check_panics_with_a_clear_message() {
    // SAFETY: `int 18` runs the #MC handler, which reports and recovers
    // into the harness.
    unsafe { core::arch::asm!("int 18") };
}

fn ist_stacks_have_guard_pages() {
    let root = mm::addr::PhysAddr::new(arch::mmu::current_root());
    let phys = kernel::mem::direct_map();
    let mapped = |va: u64| mm::vm::page_table::translate(phys, root, mm::addr::VirtAddr::new(va)).is_some();
    for ist in [arch::gdt::IST_DOUBLE_FAULT, arch::gdt::IST_NMI, arch::gdt::IST_MACHINE_CHECK] {
        let (bottom, top) = arch::gdt::ist_stack_range(ist);
        assert!(mapped(bottom) && mapped(top - 8), "IST{ist} stack {bottom:#x}..{top:#x} not mapped");
        assert!(!mapped(bottom - 4096), "IST{ist}: the page below {bottom:#x} is mapped");
    }
}

/// RFLAGS as the test vector's handler saw it (bit 63: it ran).
static SEEN_RFLAGS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn record_rflags(_frame: &mut arch::trap::TrapFrame) {
    let f = x86_64::registers::rflags::read_raw();
    SEEN_RFLAGS.store(f | 1 << 63, Ordering::Relaxed);
}

fn interrupt_inside_uaccess_window_runs_with_ac_clear() {
    if !arch::cpu::smap_enabled() {
        return; // No SMAP: `stac` would be #UD and AC means nothing.
    }
    const VECTOR: u8 = 0xf0;
    const AC: u64 = 1 << 18;
    arch::trap::set_handler(VECTOR, record_rflags);
    let after: u64;
    // SAFETY: stac/clac only toggle AC; `int 0xf0` runs `record_rflags`.
    unsafe {
        core::arch::asm!("stac", "int 0xf0", "pushfq", "pop {0}", "clac", out(reg) after);
    }
    arch::trap::clear_handler(VECTOR);
    let seen = SEEN_RFLAGS.load(Ordering::Relaxed);
    assert!(seen & 1 << 63 != 0, "the handler did not run");
    assert_eq!(seen & AC, 0, "a handler entered from a uaccess window ran with AC set (SMAP off)");
    assert_ne!(after & AC, 0, "iretq did not give the interrupted window its AC back");
}

fn overflow_handler(_frame: &mut arch::trap::TrapFrame) {
    core::hint::black_box(recurse(0));
}

fn nmi_stack_overflow_hits_its_guard_page() {
    // Recurse on the NMI's IST stack: the guard page below it turns the
    // overflow into a page fault that cannot be delivered, so a double
    // fault on its own IST stack reports it.
    arch::trap::set_handler(2, overflow_handler);
    // SAFETY: runs `overflow_handler` on the NMI stack; the double-fault
    // handler recovers into the harness.
    unsafe { core::arch::asm!("int 2") };
}

fn nmi_stack_overflow_was_reported_as_such() {
    kernel::traps::install();
    assert_eq!(STACK_OVERFLOWS.load(Ordering::Relaxed), 2);
}
