//! The page-fault handler's kernel half (cf. arch/x86/mm/fault.c).
//!
//! ```text
//!   from user mode                -> the process's mm resolves it, or the
//!                                    process gets SIGSEGV / SIGBUS
//!   kernel, user address, inside
//!   a copy helper                 -> resolve like a user fault; if that
//!                                    fails, resume at the helper's fixup (EFAULT)
//!   anything else                 -> oops
//! ```
//!
//! When the mm reports that no page could be allocated, the faulting task
//! reclaims (proc::reclaim: caches, then swap) and retries; after
//! MAX_RECLAIM_RETRIES rounds without progress (each waiting a tick when
//! swap is on, for kswapd and the disk) the OOM killer picks a victim and
//! the fault is retried; if the victim is the faulting process, it dies
//! with SIGKILL. A swapped-out page is read back with no lock held, then
//! the fault is retried; no free page to read it into counts as such a
//! round too.

use arch::trap::TrapFrame;
use mm::vm::address_space::TASK_SIZE;
use mm::vm::fault::{FaultError, FaultKind, SegvCode};

use crate::proc::{self, exit, oom, reclaim, signal};

/// Resolve a fault at `addr` in the current process's address space.
pub fn resolve_user_fault(addr: u64, kind: FaultKind) -> Result<(), FaultError> {
    let mut stalls = 0;
    let mut lost_entries = 0;
    let mut memcg_retry = mm::memcg::ChargeRetry::default();
    proc::cgroup::count_fault(false);
    loop {
        let me = proc::current();
        let Some(mm) = me.mm() else { return Err(FaultError::Segv(mm::vm::fault::SegvCode::MapErr)) };
        let lim = me.mm_limits();
        drop(me);
        let env = crate::mem::user::env();
        // Shared: threads of the process fault on several CPUs at once (the
        // page-table lock orders their installs). Growing a stack changes
        // the VMA tree: only then again with the lock exclusive.
        // (The shared guard is a temporary of its own statement: dropped
        // before the exclusive one is taken.)
        // The read's reference, taken while the entry still holds the slot
        // (a page table's entry, under the address-space lock; a shmem
        // object's may go meanwhile: truncated, or read back by another
        // task: then the fault is simply tried again).
        let read_ref = |r: &Result<_, FaultError>| match r {
            Err(FaultError::SwapIn(e)) => env.swap.dup(*e).is_ok(),
            _ => true,
        };
        let (r, held) = {
            let shared = mm.space.read();
            let r = shared.handle_fault(&env, addr, kind);
            let held = read_ref(&r);
            (r, held)
        };
        let (r, held) = match r {
            Err(FaultError::ExpandStack) => {
                let mut space = mm.space.write();
                let r = space.handle_fault_mut(&env, addr, kind, &lim);
                let held = read_ref(&r);
                (r, held)
            }
            r => (r, held),
        };
        if !held {
            lost_entries += 1;
            if lost_entries > reclaim::MAX_RECLAIM_RETRIES {
                return Err(FaultError::Bus);
            }
            continue;
        }
        if let Ok(done) = r {
            if done == mm::vm::fault::FaultDone::Major {
                proc::cgroup::count_fault(true);
            }
            proc::cgroup::handle_over_high();
        }
        let reclaim_first = match r {
            Ok(mm::vm::fault::FaultDone::Retry) => {
                // A page is moving: let the migrating task run if it waits
                // for this CPU (the kernel is not preemptible, and a
                // kernel-mode access would fault again at once).
                drop(mm);
                proc::sched::cond_resched();
                return Ok(());
            }
            Ok(_) => return Ok(()),
            Err(FaultError::SwapIn(e)) => match reclaim::swap_in(e) {
                Ok(()) => {
                    // A fault that had to read its page is a major fault.
                    mm.space.read().count_major_fault(&env);
                    proc::cgroup::count_fault(true);
                    continue;
                }
                // The disk failed the read: SIGBUS, as Linux's
                // VM_FAULT_SIGBUS for a page that is not up to date.
                Err(abi::errno::EIO) => return Err(FaultError::Bus),
                // No page to read into (swap_in reclaimed already): the
                // same rule as a failed allocation (Linux's VM_FAULT_OOM
                // from do_swap_page), never a silent kill.
                Err(_) => false,
            },
            Err(FaultError::Oom) => {
                // A memory cgroup's limit, not the machine: reclaim from
                // the group, then kill inside it; never the global killer.
                if let Some(over) = proc::cgroup::take_refused() {
                    drop(mm);
                    match proc::cgroup::charge_refused(&over, &mut memcg_retry) {
                        mm::memcg::ChargeNext::Retry => continue,
                        mm::memcg::ChargeNext::Fail => return Err(FaultError::Oom),
                    }
                }
                true
            }
            Err(e) => return Err(e),
        };
        {
            drop(mm);
            // Reclaim first (this task holds no lock now); the OOM
            // killer only after MAX_RECLAIM_RETRIES rounds in a row
            // freed nothing.
            if reclaim_first && reclaim::direct_reclaim() > 0 {
                stalls = 0;
                continue;
            }
            stalls += 1;
            if stalls < reclaim::MAX_RECLAIM_RETRIES && reclaim::can_swap() {
                // Let the reclaimer that holds the address spaces (kswapd,
                // another CPU's direct reclaim: their scans take the
                // space lock with try_write, so ours skipped them) and the
                // disk make progress first (Linux throttles here too,
                // reclaim_throttle).
                proc::sched::sleep_ticks(1);
                continue;
            }
            stalls = 0;
            match oom::out_of_memory("page fault") {
                Some(victim) if victim != proc::current_tgid() => continue,
                _ => return Err(FaultError::Oom),
            }
        }
    }
}

/// Vector 14.
pub fn page_fault(frame: &mut TrapFrame) {
    let addr = arch::cpu::fault_address();
    let kind = FaultKind::from_error_code(frame.error_code);
    let reserved_bit = frame.error_code & 8 != 0;
    if frame.is_user() {
        use abi::signal::{BUS_ADRERR, SEGV_ACCERR, SEGV_MAPERR, SIGBUS, SIGSEGV, SigInfo};
        let r = if reserved_bit { Err(FaultError::Segv(SegvCode::AccErr)) } else { resolve_user_fault(addr, kind) };
        // The signal is delivered on the way back to user mode: a handler
        // that fixes the mapping returns to the faulting instruction.
        let info = match r {
            Ok(()) => return,
            Err(FaultError::Segv(SegvCode::MapErr)) => SigInfo::fault(SIGSEGV, SEGV_MAPERR, addr),
            Err(FaultError::Segv(SegvCode::AccErr)) => SigInfo::fault(SIGSEGV, SEGV_ACCERR, addr),
            Err(FaultError::Bus) => SigInfo::fault(SIGBUS, BUS_ADRERR, addr),
            Err(FaultError::Oom) | Err(FaultError::SwapIn(_)) => {
                exit::do_group_exit(exit::status_signaled(abi::signal::SIGKILL))
            }
            // `resolve_user_fault` retries exclusive; never seen here.
            Err(FaultError::ExpandStack) => SigInfo::fault(SIGSEGV, SEGV_MAPERR, addr),
        };
        signal::force_fault(frame, info);
        return;
    }
    if addr < TASK_SIZE && proc::current_pid() != 0 {
        if let Some(fixup) = arch::usercopy::fixup(frame.rip) {
            if reserved_bit || resolve_user_fault(addr, kind).is_err() {
                frame.rip = fixup;
            }
            return;
        }
    }
    crate::panic::oops(frame);
}
