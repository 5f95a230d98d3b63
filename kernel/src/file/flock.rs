//! BSD file locks (flock(2); the flock part of Linux's fs/locks.c).
//!
//! A lock belongs to an open file description (what open(2) made, shared
//! by dup and fork), is shared or exclusive, and lives on the file: two
//! opens of one file conflict even within one process. It goes with
//! LOCK_UN or when its description's last descriptor closes. Converting a
//! lock removes the old one first (as BSD and Linux do), so a conversion
//! that cannot be granted at once leaves none.
//!
//! Locks: `LOCKS`, a spin lock taken alone (never while sleeping; a
//! blocked flock waits on the syscall layer's queue and retries).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use abi::errno::{EAGAIN, Errno};
use spin::{Mutex, Once};

/// Per file (keyed by its inode's address): the descriptions holding a
/// lock on it, and whether each is exclusive.
static LOCKS: Mutex<BTreeMap<usize, Vec<(usize, bool)>>> = Mutex::new(BTreeMap::new());

/// Called after a lock went away, so that blocked flock calls retry
/// (installed by the syscall layer with its wait queue).
static RELEASED: Once<fn()> = Once::new();

pub fn on_release(f: fn()) {
    RELEASED.call_once(|| f);
}

fn released() {
    if let Some(f) = RELEASED.get() {
        f();
    }
}

/// Remove `file`'s entry; an emptied map gives back its root node too, so
/// no lock held once leaves kernel memory behind.
fn forget(locks: &mut BTreeMap<usize, Vec<(usize, bool)>>, file: usize) {
    locks.remove(&file);
    if locks.is_empty() {
        *locks = BTreeMap::new();
    }
}

/// Take (or convert to) a lock on `file` for description `owner`;
/// EAGAIN (EWOULDBLOCK) if another description's lock conflicts.
pub fn try_lock(file: usize, owner: usize, exclusive: bool) -> Result<(), Errno> {
    let mut locks = LOCKS.lock();
    let holders = locks.entry(file).or_default();
    let had = holders.iter().position(|&(o, _)| o == owner);
    if let Some(i) = had {
        if holders[i].1 == exclusive {
            return Ok(());
        }
        // A conversion drops the old lock first.
        holders.remove(i);
    }
    let conflict = holders.iter().any(|&(_, ex)| ex || exclusive);
    let result = if conflict {
        Err(EAGAIN)
    } else {
        holders.push((owner, exclusive));
        Ok(())
    };
    if holders.is_empty() {
        forget(&mut locks, file);
    }
    drop(locks);
    if had.is_some() {
        released();
    }
    result
}

/// Drop `owner`'s lock on `file`, if it has one.
pub fn unlock(file: usize, owner: usize) {
    let mut locks = LOCKS.lock();
    let Some(holders) = locks.get_mut(&file) else { return };
    let before = holders.len();
    holders.retain(|&(o, _)| o != owner);
    let dropped = holders.len() != before;
    if holders.is_empty() {
        forget(&mut locks, file);
    }
    drop(locks);
    if dropped {
        released();
    }
}
