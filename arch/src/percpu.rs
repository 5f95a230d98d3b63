//! Per-CPU data reached through the GS segment base (one CPU here).
//!
//! In the kernel, GS base points at [`PerCpu`]; in user space it holds the
//! user's value and the kernel's sits in `IA32_KERNEL_GS_BASE`. `swapgs` on
//! every entry from and exit to ring 3 exchanges them (see `trap.rs` and
//! `syscall.rs`). The syscall entry reads the kernel stack from here,
//! because it must not trust (or use) the user's stack pointer.

use core::cell::UnsafeCell;

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{GsBase, KernelGsBase};

/// Layout shared with the assembly entry code (offsets are fixed).
#[repr(C)]
pub struct PerCpu {
    /// Address of this structure (offset 0).
    pub self_ptr: u64,
    /// Scratch slot for the user's rsp during syscall entry (offset 8).
    pub user_rsp: u64,
    /// Top of the current task's kernel stack (offset 16).
    pub kernel_rsp: u64,
    /// Opaque pointer to the current task (offset 24).
    pub current: u64,
}

pub const PERCPU_USER_RSP: usize = 8;
pub const PERCPU_KERNEL_RSP: usize = 16;

struct Cell(UnsafeCell<PerCpu>);
// SAFETY: one CPU; fields are written with interrupts off by the scheduler
// and read by entry code on the same CPU.
unsafe impl Sync for Cell {}

static PERCPU: Cell = Cell(UnsafeCell::new(PerCpu { self_ptr: 0, user_rsp: 0, kernel_rsp: 0, current: 0 }));

/// Point GS at the per-CPU area; the user GS base starts at 0.
pub fn init() {
    let p = PERCPU.0.get();
    // SAFETY: early boot, single CPU, nothing else uses the area yet.
    unsafe { (*p).self_ptr = p as u64 };
    GsBase::write(VirtAddr::new(p as u64));
    KernelGsBase::write(VirtAddr::new(0));
}

/// Set the kernel stack that syscalls and interrupts from ring 3 use.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: single aligned store; entry code reads it only on this CPU
    // while no task switch is in progress (interrupts are off here).
    unsafe { (*PERCPU.0.get()).kernel_rsp = top };
    crate::gdt::set_kernel_stack(top);
}

/// Record the current task pointer.
pub fn set_current(task: u64) {
    // SAFETY: as above.
    unsafe { (*PERCPU.0.get()).current = task };
}

pub fn current() -> u64 {
    // SAFETY: a plain read of our own per-CPU slot.
    unsafe { (*PERCPU.0.get()).current }
}
