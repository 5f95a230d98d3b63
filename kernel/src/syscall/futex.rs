//! futex(2) (cf. kernel/futex/syscalls.c): the operations and their
//! arguments; the wait queues are `proc::futex`.
//!
//! FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC); FUTEX_WAIT_BITSET's
//! is absolute, on CLOCK_MONOTONIC or, with FUTEX_CLOCK_REALTIME, on
//! CLOCK_REALTIME. Times round up to the 100 Hz tick. An interrupted wait
//! without a timeout restarts after a handler with SA_RESTART (Linux's
//! ERESTARTSYS); with a timeout it goes on through restart_syscall when no
//! handler ran, and gives EINTR after one. The PI operations and
//! FUTEX_FD are ENOSYS, as on a Linux without PI futexes.

use abi::errno::*;
use abi::futex::*;
use abi::time::{CLOCK_MONOTONIC, CLOCK_REALTIME};

use super::SysResult;
use super::time::{now_ns, read_timespec};
use crate::proc::futex::{self, Key};
use crate::proc::sched;
use crate::usercopy::read_user;

const TICK_NS: u64 = 1_000_000_000 / sched::HZ;

/// The tick at which a wait ends: `timeout` is relative, or absolute on
/// `clock`.
fn deadline(timeout: u64, absolute: bool, clock: i32) -> Result<Option<u64>, Errno> {
    if timeout == 0 {
        return Ok(None);
    }
    let ns = read_timespec(timeout)?;
    let left = if absolute { ns.saturating_sub(now_ns(clock)?) } else { ns };
    // One tick more than the whole ticks in `left`: the current tick has
    // partly gone, and a wait must never be shorter than asked.
    Ok(Some(sched::ticks().saturating_add(left.div_ceil(TICK_NS)).saturating_add(1)))
}

/// Wait, turning a signal into the restart rule above.
fn wait(uaddr: u64, private: bool, val: u32, bitset: u32, deadline: Option<u64>) -> SysResult {
    match futex::wait(uaddr, private, val, bitset, deadline) {
        Err(ERESTARTSYS) if deadline.is_some() => {
            let d = deadline.unwrap_or(0);
            let restart = |a: &[u64; 4]| wait_again(a);
            Err(crate::proc::signal::deliver::restart_with(
                restart,
                [uaddr, private as u64, (val as u64) | ((bitset as u64) << 32), d],
            ))
        }
        r => r,
    }
}

fn wait_again(a: &[u64; 4]) -> SysResult {
    wait(a[0], a[1] != 0, a[2] as u32, (a[2] >> 32) as u32, Some(a[3]))
}

fn key(uaddr: u64, private: bool) -> Result<Key, Errno> {
    futex::key_of(uaddr, private).map(|(k, _)| k)
}

/// futex(uaddr, op, val, timeout or val2, uaddr2, val3).
pub fn futex(uaddr: u64, op: u32, val: u32, timeout: u64, uaddr2: u64, val3: u32) -> SysResult {
    let cmd = op & FUTEX_CMD_MASK;
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && !matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2) {
        return Err(ENOSYS);
    }
    let clock = if realtime { CLOCK_REALTIME } else { CLOCK_MONOTONIC };
    // The count arguments of the requeue operations come in `timeout`.
    let val2 = timeout as u32;
    match cmd {
        FUTEX_WAIT => wait(uaddr, private, val, FUTEX_BITSET_MATCH_ANY, deadline(timeout, false, clock)?),
        FUTEX_WAIT_BITSET => {
            if val3 == 0 {
                return Err(EINVAL);
            }
            wait(uaddr, private, val, val3, deadline(timeout, true, clock)?)
        }
        FUTEX_WAKE => Ok(futex::wake(key(uaddr, private)?, val, FUTEX_BITSET_MATCH_ANY)),
        FUTEX_WAKE_BITSET => {
            if val3 == 0 {
                return Err(EINVAL);
            }
            Ok(futex::wake(key(uaddr, private)?, val, val3))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if (val as i32) < 0 || (val2 as i32) < 0 {
                return Err(EINVAL);
            }
            let (from, to) = (key(uaddr, private)?, key(uaddr2, private)?);
            if cmd == FUTEX_CMP_REQUEUE {
                let now: u32 = read_user(uaddr)?;
                if now != val3 {
                    return Err(EAGAIN);
                }
            }
            // Both return how many waiters were woken or moved (Linux's
            // `task_count`, whatever the man page says of FUTEX_REQUEUE).
            let (woken, moved) = futex::requeue(from, to, val, val2);
            Ok(woken + moved)
        }
        FUTEX_WAKE_OP => {
            let (k1, k2) = (key(uaddr, private)?, key(uaddr2, private)?);
            let wop = WakeOp::decode(val3);
            // Unknown operations or comparisons are ENOSYS before any
            // change (Linux checks the op first).
            let probe: u32 = read_user(uaddr2)?;
            wop.apply(probe).ok_or(ENOSYS)?;
            wop.compare(probe).ok_or(ENOSYS)?;
            // The read-modify-write is atomic against every CPU.
            let old = crate::usercopy::update_user_u32(uaddr2, |v| wop.apply(v))?;
            let hit = wop.compare(old).ok_or(ENOSYS)?;
            let mut n = futex::wake(k1, val, FUTEX_BITSET_MATCH_ANY);
            if hit {
                n += futex::wake(k2, val2, FUTEX_BITSET_MATCH_ANY);
            }
            Ok(n)
        }
        FUTEX_FD
        | FUTEX_LOCK_PI
        | FUTEX_UNLOCK_PI
        | FUTEX_TRYLOCK_PI
        | FUTEX_WAIT_REQUEUE_PI
        | FUTEX_CMP_REQUEUE_PI
        | FUTEX_LOCK_PI2 => Err(ENOSYS),
        _ => Err(ENOSYS),
    }
}
