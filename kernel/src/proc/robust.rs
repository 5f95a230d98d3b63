//! Robust futexes at thread exit (Linux's `exit_robust_list`,
//! Documentation/locking/robust-futex-ABI.rst).
//!
//! A thread registers with set_robust_list(2) the head of a list, in its
//! own memory, of the mutexes it holds:
//!
//! ```text
//!   head: { next, futex_offset, list_op_pending }
//!   entry: { next }   the futex word is at entry + futex_offset
//!   word:  FUTEX_WAITERS | FUTEX_OWNER_DIED | owner tid (30 bits)
//! ```
//!
//! When the thread exits, every word it still owns gets FUTEX_OWNER_DIED
//! (keeping FUTEX_WAITERS, dropping the tid) and one waiter is woken, so
//! that the next locker sees EOWNERDEAD instead of waiting forever. The
//! walk trusts nothing: a bad pointer ends it, a cycle is cut after
//! `ROBUST_LIST_LIMIT` entries, bit 0 of an entry (a PI futex) is masked.
//!
//! The word changes with a locked compare-and-exchange on user memory, so
//! a locker on another CPU never loses its FUTEX_WAITERS bit.

use abi::futex::FUTEX_BITSET_MATCH_ANY;

use super::Task;
use crate::usercopy::{read_user, update_user_u32};

/// Linux's bound on the entries walked (a loop in user memory must not
/// keep the kernel busy).
const ROBUST_LIST_LIMIT: usize = 2048;

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// Walk the exiting current thread `me`'s robust list (it still runs in
/// its address space).
pub fn exit_robust_list(me: &Task) {
    let (head, _) = core::mem::take(&mut me.inner.lock().robust_list);
    if head == 0 {
        return;
    }
    let tid = me.pid();
    let Ok(first) = read_user::<u64>(head) else { return };
    let Ok(offset) = read_user::<i64>(head + 8) else { return };
    let Ok(pending) = read_user::<u64>(head + 16) else { return };
    let mut entry = first;
    let mut walked = 0;
    while entry != head && walked < ROBUST_LIST_LIMIT {
        // Read the next link first: waking the futex may let another
        // thread reuse this entry's memory.
        let Ok(next) = read_user::<u64>(entry & !1) else { return };
        if entry != pending {
            futex_died(entry & !1, offset, tid, entry & 1 != 0, false);
        }
        entry = next;
        walked += 1;
    }
    if pending != 0 {
        futex_died(pending & !1, offset, tid, pending & 1 != 0, true);
    }
}

/// Mark the futex of list entry `entry` as owned by a dead thread if
/// `tid` owns it, and wake a waiter (Linux's `handle_futex_death`). An
/// entry that was being locked (`pending_op`) with a word still 0 gets a
/// wake-up too: its locker may have died between the two steps.
fn futex_died(entry: u64, offset: i64, tid: u32, pi: bool, pending_op: bool) {
    let Some(uaddr) = entry.checked_add_signed(offset) else { return };
    if uaddr % 4 != 0 {
        return;
    }
    let Ok(val) = read_user::<u32>(uaddr) else { return };
    if pending_op && !pi && val == 0 {
        wake_one(uaddr);
        return;
    }
    // The owner may race with a locker on another CPU that sets
    // FUTEX_WAITERS: exchange atomically, and look again if it changed.
    let Ok(old) =
        update_user_u32(uaddr, |v| (v & FUTEX_TID_MASK == tid).then_some((v & FUTEX_WAITERS) | FUTEX_OWNER_DIED))
    else {
        return;
    };
    if old & FUTEX_TID_MASK != tid {
        return;
    }
    if !pi && old & FUTEX_WAITERS != 0 {
        wake_one(uaddr);
    }
}

fn wake_one(uaddr: u64) {
    if let Ok((key, _)) = super::futex::key_of(uaddr, false) {
        super::futex::wake(key, 1, FUTEX_BITSET_MATCH_ANY);
    }
}
