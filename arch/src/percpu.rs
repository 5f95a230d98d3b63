//! Per-CPU data reached through the GS segment base: one [`PerCpu`] per CPU
//! in a static array indexed by CPU number (dense, boot CPU = 0).
//!
//! In the kernel, GS base points at the running CPU's [`PerCpu`]; in user
//! space it holds the user's value and the kernel's sits in
//! `IA32_KERNEL_GS_BASE`. `swapgs` on every entry from and exit to ring 3
//! exchanges them (see `trap.rs` and `syscall.rs`). The syscall entry reads
//! the kernel stack from here, because it must not trust (or use) the
//! user's stack pointer.
//!
//! Locking: none. Each CPU writes only its own slot (with interrupts off),
//! except `init`, which the CPU itself runs before anything else reads it.

use core::cell::UnsafeCell;

use mm::percpu::MAX_CPUS;
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
    /// This CPU's number (offset 32).
    pub cpu: u64,
    /// The memory cgroup the running task's kernel allocations are
    /// charged to (0: none): the task's `kmem_memcg`, copied here by the
    /// scheduler at each switch so that the heap reads it with one load.
    pub kmem_memcg: u64,
}

pub const PERCPU_USER_RSP: usize = 8;
pub const PERCPU_KERNEL_RSP: usize = 16;
const PERCPU_CPU: usize = 32;

struct Cell(UnsafeCell<PerCpu>);
// SAFETY: slot N is written only by CPU N (see the module comment).
unsafe impl Sync for Cell {}

static PERCPU: [Cell; MAX_CPUS] = [const {
    Cell(UnsafeCell::new(PerCpu { self_ptr: 0, user_rsp: 0, kernel_rsp: 0, current: 0, cpu: 0, kmem_memcg: 0 }))
}; MAX_CPUS];

/// Point GS at CPU `cpu`'s per-CPU area (run on that CPU, before it takes
/// interrupts); the user GS base starts at 0.
pub fn init(cpu: usize) {
    let p = PERCPU[cpu].0.get();
    // SAFETY: the slot is this CPU's and nothing reads it before GS points
    // at it.
    unsafe {
        (*p).self_ptr = p as u64;
        (*p).cpu = cpu as u64;
    }
    GsBase::write(VirtAddr::new(p as u64));
    KernelGsBase::write(VirtAddr::new(0));
    GS_READY.store(1, core::sync::atomic::Ordering::Release);
}

/// The running CPU's number, read from its per-CPU area. Valid in kernel
/// mode after `init` (GS holds the kernel's base there).
pub fn cpu_id() -> usize {
    if GS_READY.load(core::sync::atomic::Ordering::Acquire) == 0 {
        return 0;
    }
    let cpu: u64;
    // SAFETY: GS points at this CPU's `PerCpu` once `GS_READY` is set;
    // the load reads its `cpu` field.
    unsafe {
        core::arch::asm!("mov {}, gs:[{}]", out(reg) cpu, const PERCPU_CPU, options(nostack, readonly, preserves_flags))
    };
    cpu as usize
}

/// Set once the boot CPU's GS points at its area (APs run `init` before
/// any other kernel code, so from then on every CPU has its own).
static GS_READY: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// The running CPU's number for handlers that may interrupt kernel code
/// before its `swapgs` (NMI, double fault, machine check at the first
/// instruction of the syscall entry, when GS still holds the user's base):
/// finds whichever of GS base and kernel GS base points into the per-CPU
/// array (Linux's "paranoid entry" makes the same check). Reads two MSRs.
pub fn cpu_id_paranoid() -> usize {
    let start = PERCPU.as_ptr() as u64;
    let end = start + core::mem::size_of_val(&PERCPU) as u64;
    [GsBase::read().as_u64(), KernelGsBase::read().as_u64()]
        .into_iter()
        .find(|b| (start..end).contains(b))
        .map_or(0, |b| ((b - start) / core::mem::size_of::<Cell>() as u64) as usize)
}

fn mine() -> *mut PerCpu {
    PERCPU[cpu_id()].0.get()
}

/// Set the kernel stack that syscalls and interrupts from ring 3 use.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: single aligned store into our own slot; entry code reads it
    // only on this CPU while no task switch is in progress (interrupts are
    // off here).
    unsafe { (*mine()).kernel_rsp = top };
    crate::gdt::set_kernel_stack(top);
}

/// Record the current task pointer.
pub fn set_current(task: u64) {
    // SAFETY: as above.
    unsafe { (*mine()).current = task };
}

/// Set this CPU's kernel-memory cgroup (the scheduler at a switch, the
/// running task for itself; interrupts off, so no switch comes between).
pub fn set_kmem_memcg(id: u16) {
    // SAFETY: as above.
    unsafe { (*mine()).kmem_memcg = id as u64 };
}

/// The running task's kernel-memory cgroup id (0: none).
#[inline]
pub fn kmem_memcg() -> u16 {
    if GS_READY.load(core::sync::atomic::Ordering::Acquire) == 0 {
        return 0;
    }
    // SAFETY: a plain read of our own per-CPU slot (a switch right after
    // it leaves the value this task set, which is what it reads).
    unsafe { (*mine()).kmem_memcg as u16 }
}

/// The task pointer CPU `cpu` last published (for reports from NMI
/// context, which reads it without the scheduler's lock).
pub fn current_on(cpu: usize) -> u64 {
    // SAFETY: a plain read of a u64 that its CPU writes with interrupts
    // off; a torn value cannot happen on x86_64 for an aligned word.
    unsafe { (*PERCPU[cpu % MAX_CPUS].0.get()).current }
}

pub fn current() -> u64 {
    // SAFETY: a plain read of our own per-CPU slot.
    unsafe { (*mine()).current }
}
