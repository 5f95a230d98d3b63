//! membarrier(2) (kernel/sched/membarrier.c): a memory barrier on other
//! CPUs, so that a thread can make its fast path barrier-free and let a
//! rare slow path pay for both.
//!
//! Each command makes every CPU concerned execute a full barrier before
//! the call returns: an interrupt (the call-function IPI, whose handler
//! and `iretq` serialise the CPU) on each other online CPU that runs this
//! address space (the private commands: CPUs whose loaded page-table root
//! is ours) or on every other CPU (the global ones, which Linux limits to
//! registered processes or reaches through an RCU grace period: a
//! superset here). The SYNC_CORE variants are covered by the same
//! `iretq`. Registrations are kept per address space, copied by fork and
//! cleared by exec, as Linux's `mm->membarrier_state`. The rseq commands
//! are not offered (no rseq).

use core::sync::atomic::Ordering;

use abi::errno::*;

use super::SysResult;

const QUERY: i32 = 0;
const GLOBAL: i32 = 1;
const GLOBAL_EXPEDITED: i32 = 1 << 1;
const REGISTER_GLOBAL_EXPEDITED: i32 = 1 << 2;
const PRIVATE_EXPEDITED: i32 = 1 << 3;
const REGISTER_PRIVATE_EXPEDITED: i32 = 1 << 4;
const PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 5;
const REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 6;
const GET_REGISTRATIONS: i32 = 1 << 9;

/// What QUERY answers.
const SUPPORTED: i32 = GLOBAL
    | GLOBAL_EXPEDITED
    | REGISTER_GLOBAL_EXPEDITED
    | PRIVATE_EXPEDITED
    | REGISTER_PRIVATE_EXPEDITED
    | PRIVATE_EXPEDITED_SYNC_CORE
    | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
    | GET_REGISTRATIONS;

fn barrier(_: u64) -> u64 {
    core::sync::atomic::fence(Ordering::SeqCst);
    0
}

/// A full barrier here and on every other online CPU `wanted` picks.
fn barrier_on(wanted: impl Fn(usize) -> bool) {
    core::sync::atomic::fence(Ordering::SeqCst);
    let me = arch::percpu::cpu_id();
    for cpu in 0..arch::smp::online() {
        if cpu != me && wanted(cpu) {
            arch::ipi::call_on(cpu, barrier, 0);
        }
    }
}

pub fn membarrier(cmd: i32, flags: u32, _cpu_id: i32) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let mm = crate::proc::current().mm().ok_or(EINVAL)?;
    let state = &mm.membarrier;
    match cmd {
        QUERY => Ok(SUPPORTED as u64),
        GLOBAL | GLOBAL_EXPEDITED => {
            barrier_on(|_| true);
            Ok(0)
        }
        PRIVATE_EXPEDITED | PRIVATE_EXPEDITED_SYNC_CORE => {
            let needs = if cmd == PRIVATE_EXPEDITED {
                REGISTER_PRIVATE_EXPEDITED
            } else {
                REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
            };
            if state.load(Ordering::Acquire) & needs as u32 == 0 {
                return Err(EPERM);
            }
            let root = mm.root;
            barrier_on(|cpu| arch::mmu::loaded_root(cpu) == root);
            Ok(0)
        }
        REGISTER_GLOBAL_EXPEDITED | REGISTER_PRIVATE_EXPEDITED | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            state.fetch_or(cmd as u32, Ordering::AcqRel);
            Ok(0)
        }
        GET_REGISTRATIONS => Ok(state.load(Ordering::Acquire) as u64),
        _ => Err(EINVAL),
    }
}
