//! Kernel threads: tasks that run a kernel function on their own kernel
//! stack and never enter user mode (Linux's `kthread_run`).
//!
//! ```text
//!   new kernel stack: [switch frame][TrapFrame: rip = entry, cs = kernel]
//!   first switch -> schedule_tail -> trap_return -> iretq to entry (CPL 0,
//!                   its stack right below the spent frames, interrupts on)
//! ```
//!
//! A kernel thread has no address space (CR3 stays the kernel's), no
//! parent that waits for it, and is not a target of kill(-1); it shows in
//! /proc like any task, named as Linux names it (`kswapd0`). Its function
//! never returns: it sleeps on a wait queue between rounds of work. The
//! kernel does not preempt kernel code, so a thread with a long loop
//! yields between steps itself.

use abi::errno::Errno;
use arch::trap::TrapFrame;

use super::{Pid, sched};

/// Start a kernel thread named `name` running `entry`.
pub fn spawn(name: &str, entry: extern "C" fn() -> !) -> Result<Pid, Errno> {
    let sel = arch::gdt::selectors();
    // The entry runs on the same stack as its frames, just below them:
    // they are spent by then. `rsp` is set once the stack exists.
    let mut frame = TrapFrame {
        rip: entry as usize as u64,
        rflags: 0x202,
        cs: sel.kernel_code.0 as u64,
        ss: sel.kernel_data.0 as u64,
        ..TrapFrame::default()
    };
    let (kstack, rsp) = sched::new_task_stack_with("kthread", &mut frame, |top| {
        // A call's alignment: rsp + 8 a multiple of 16 at the entry.
        ((top - core::mem::size_of::<TrapFrame>() as u64 - 64) & !0xf) - 8
    })?;
    let pid = super::alloc_kthread_pid();
    let mut inner = super::init_inner(name);
    inner.kthread = true;
    let task = super::new_task(pid, kstack, rsp, arch::fpu::FpuState::clean(), 0, inner, None);
    super::insert(task.clone());
    sched::add(task);
    Ok(pid)
}
