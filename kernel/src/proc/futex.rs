//! Fast user-space mutexes (cf. kernel/futex/): tasks sleep on a 32-bit
//! word of user memory until another task wakes that word.
//!
//! ```text
//!   FUTEX_WAIT(uaddr, val):  queue ourselves under key(uaddr); *uaddr != val? -> EAGAIN
//!                            else sleep until woken, a signal, or the timeout
//!   FUTEX_WAKE(uaddr, n):    wake up to n waiters queued under key(uaddr)
//! ```
//!
//! The waiter is queued before it reads the word, so a waker that changes
//! the word and then wakes cannot slip between the read and the sleep.
//!
//! Keys, as Linux's `get_futex_key`: with FUTEX_PRIVATE_FLAG, or in private
//! memory, the address space and the address; in a shared mapping
//! (MAP_SHARED anonymous memory or a shared file mapping), the backing
//! object and the offset in it, so that every process mapping it finds the
//! same futex wherever it mapped it. A waiter keeps the object or address
//! space alive, so a key's pointer is never reused while it waits.
//!
//! Locks: `FUTEXES` (an IrqLock, the hash table of Linux reduced to one
//! ordered map) is taken alone; the address space's lock only while a key is
//! computed, before it. User memory is never touched with `FUTEXES` held.
//! FUTEX_WAKE_OP's read-modify-write of `*uaddr2` is a locked
//! compare-and-exchange loop on user memory (`usercopy::update_user_u32`).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::errno::{EAGAIN, EFAULT, EINVAL, ETIMEDOUT, Errno};
use mm::sync::IrqLock;
use mm::vm::vma::VmFlags;

use super::current;
use super::waitqueue::Poller;

/// What identifies a futex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// (address space, address).
    Private(usize, u64),
    /// (backing object, byte offset in it).
    Shared(usize, u64),
}

/// One sleeping task.
struct Waiter {
    poller: Arc<Poller>,
    bitset: u32,
    woken: AtomicBool,
    /// The address space or object the key points into, kept alive.
    _pin: Arc<dyn Any + Send + Sync>,
}

static FUTEXES: IrqLock<BTreeMap<Key, VecDeque<Arc<Waiter>>>> = IrqLock::new(BTreeMap::new());

/// The key of `uaddr` for the current task (EINVAL if not 4-byte
/// aligned, EFAULT outside any mapping), with what it pins.
pub fn key_of(uaddr: u64, private: bool) -> Result<(Key, Arc<dyn Any + Send + Sync>), Errno> {
    if uaddr % 4 != 0 {
        return Err(EINVAL);
    }
    let mm = current().mm().ok_or(EFAULT)?;
    let mm_id = Arc::as_ptr(&mm) as usize;
    if private {
        return Ok((Key::Private(mm_id, uaddr), mm));
    }
    let shared = {
        let space = mm.space.read();
        let vma = space.vmas.containing(uaddr).ok_or(EFAULT)?;
        match vma.backing.object() {
            Some(obj) if vma.flags.contains(VmFlags::SHARED) => {
                let off = (vma.pgoff_of(uaddr) << 12) | (uaddr & 0xfff);
                Some((Key::Shared(Arc::as_ptr(obj) as usize, off), obj.clone()))
            }
            _ => None,
        }
    };
    Ok(match shared {
        Some((key, obj)) => (key, obj),
        None => (Key::Private(mm_id, uaddr), mm),
    })
}

/// Remove `w` from whichever queue holds it (a requeue may have moved it
/// from the key it waited on), if any still does.
fn dequeue(w: &Arc<Waiter>) {
    let mut table = FUTEXES.lock();
    let mut emptied = None;
    for (k, q) in table.iter_mut() {
        let before = q.len();
        q.retain(|x| !Arc::ptr_eq(x, w));
        if q.len() != before {
            if q.is_empty() {
                emptied = Some(*k);
            }
            break;
        }
    }
    if let Some(k) = emptied {
        table.remove(&k);
    }
    release_if_empty(&mut table);
}

/// An emptied table gives its memory back (a `BTreeMap` keeps its last
/// node allocated when its last entry goes).
fn release_if_empty(table: &mut BTreeMap<Key, VecDeque<Arc<Waiter>>>) {
    if table.is_empty() {
        *table = BTreeMap::new();
    }
}

/// FUTEX_WAIT / FUTEX_WAIT_BITSET: sleep while `*uaddr == val`, until a
/// wake whose bitset meets `bitset`, tick `deadline`, or a signal
/// (ERESTARTSYS; the caller chooses its restart). EAGAIN if the word
/// differs, ETIMEDOUT at the deadline.
pub fn wait(uaddr: u64, private: bool, val: u32, bitset: u32, deadline: Option<u64>) -> Result<u64, Errno> {
    let (key, pin) = key_of(uaddr, private)?;
    let w = Arc::new(Waiter { poller: Poller::new(), bitset, woken: AtomicBool::new(false), _pin: pin });
    FUTEXES.lock().entry(key).or_default().push_back(w.clone());
    let now: Result<u32, Errno> = crate::usercopy::read_user(uaddr);
    match now {
        Err(e) => {
            dequeue(&w);
            return Err(e);
        }
        Ok(v) if v != val => {
            dequeue(&w);
            return Err(EAGAIN);
        }
        Ok(_) => {}
    }
    loop {
        if w.woken.load(Ordering::Acquire) {
            return Ok(0);
        }
        if deadline.is_some_and(|d| super::sched::ticks() >= d) {
            dequeue(&w);
            return if w.woken.load(Ordering::Acquire) { Ok(0) } else { Err(ETIMEDOUT) };
        }
        if let Err(e) = w.poller.sleep(deadline) {
            dequeue(&w);
            return if w.woken.load(Ordering::Acquire) { Ok(0) } else { Err(e) };
        }
    }
}

/// Take up to `n` waiters of `key` whose bitset meets `bitset` off the
/// queue (table locked).
fn take(table: &mut BTreeMap<Key, VecDeque<Arc<Waiter>>>, key: Key, n: u32, bitset: u32) -> Vec<Arc<Waiter>> {
    let mut woken = Vec::new();
    if let Some(q) = table.get_mut(&key) {
        q.retain(|w| {
            if woken.len() < n as usize && w.bitset & bitset != 0 {
                woken.push(w.clone());
                false
            } else {
                true
            }
        });
        if q.is_empty() {
            table.remove(&key);
        }
    }
    release_if_empty(table);
    woken
}

fn wake_all(waiters: Vec<Arc<Waiter>>) -> u64 {
    let n = waiters.len() as u64;
    for w in waiters {
        w.woken.store(true, Ordering::Release);
        crate::file::Wake::wake(&*w.poller, 0);
    }
    n
}

/// FUTEX_WAKE / FUTEX_WAKE_BITSET: wake up to `n` waiters of `key`;
/// returns how many.
pub fn wake(key: Key, n: u32, bitset: u32) -> u64 {
    let woken = take(&mut FUTEXES.lock(), key, n, bitset);
    wake_all(woken)
}

/// FUTEX_REQUEUE / FUTEX_CMP_REQUEUE: wake up to `n_wake` waiters of
/// `from`, move up to `n_move` of the others to `to`. Returns (woken,
/// moved).
pub fn requeue(from: Key, to: Key, n_wake: u32, n_move: u32) -> (u64, u64) {
    let (woken, moved) = {
        let mut table = FUTEXES.lock();
        let woken = take(&mut table, from, n_wake, !0);
        let moved = take(&mut table, from, n_move, !0);
        let n = moved.len() as u64;
        if n != 0 {
            table.entry(to).or_default().extend(moved);
        }
        (woken, n)
    };
    (wake_all(woken), moved)
}
