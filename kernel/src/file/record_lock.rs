//! POSIX record locks and open file description locks (fcntl F_SETLK,
//! F_SETLKW, F_GETLK and their F_OFD_ forms; the posix part of Linux's
//! fs/locks.c).
//!
//! ```text
//!   file (inode) -> [ (owner, pid, [start, end), read|write) ... ]
//!   owner: Posix(descriptor table)  -- every thread sharing the table;
//!                                      released by any close of the file
//!                                      through the table, and at exit
//!          Ofd(open file description) -- shared by dup and fork;
//!                                      released at the description's
//!                                      last close
//! ```
//!
//! Ranges are byte ranges, `end` exclusive, `u64::MAX` meaning "to the end
//! of the file, whatever it becomes". Two locks conflict when their owners
//! differ, their ranges overlap and one of them is a write lock (a POSIX
//! lock and an OFD lock of the same process are different owners). Setting
//! a lock replaces whatever the owner held in that range, and the owner's
//! locks of one type that touch or overlap merge into one, as Linux's
//! `posix_lock_inode` keeps them.
//!
//! A blocked F_SETLKW of a POSIX owner records whom it waits for, so a
//! request that would close a cycle of POSIX owners waiting for each other
//! fails with EDEADLK (OFD locks are not checked, as on Linux).
//!
//! Locks: `LOCKS` and `WAITING`, spin locks taken one at a time and never
//! while sleeping; a blocked request waits on the syscall layer's queue and
//! retries.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use abi::errno::{EAGAIN, EDEADLK, Errno};
use spin::{Mutex, Once};

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A descriptor table (its address): a process's POSIX locks.
    Posix(usize),
    /// An open file description (its address).
    Ofd(usize),
}

/// One lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rec {
    pub owner: Owner,
    /// The process that set it (F_GETLK's l_pid; -1 for OFD locks).
    pub pid: i32,
    pub start: u64,
    /// Exclusive; `u64::MAX`: to the end of the file.
    pub end: u64,
    pub write: bool,
}

impl Rec {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }
}

static LOCKS: Mutex<BTreeMap<usize, Vec<Rec>>> = Mutex::new(BTreeMap::new());
/// POSIX owners blocked in F_SETLKW, and the owner they wait for.
static WAITING: Mutex<BTreeMap<Owner, Owner>> = Mutex::new(BTreeMap::new());

/// Called after locks went away or shrank, so that blocked requests retry
/// (the syscall layer installs its wait queue's wake-up).
static RELEASED: Once<fn()> = Once::new();

pub fn on_release(f: fn()) {
    RELEASED.call_once(|| f);
}

fn released() {
    if let Some(f) = RELEASED.get() {
        f();
    }
}

/// Give back an emptied map's nodes, so that no lock held once leaves
/// kernel memory behind.
fn tidy<K: Ord, V>(map: &mut BTreeMap<K, V>) {
    if map.is_empty() {
        *map = BTreeMap::new();
    }
}

/// The first lock of another owner on `file` that conflicts with a lock
/// of `write` type on `[start, end)` (F_GETLK's answer).
pub fn test(file: usize, owner: Owner, start: u64, end: u64, write: bool) -> Option<Rec> {
    let locks = LOCKS.lock();
    let recs = locks.get(&file)?;
    recs.iter().find(|r| r.owner != owner && r.overlaps(start, end) && (r.write || write)).copied()
}

/// Remove `[start, end)` from `owner`'s locks in `recs`, splitting those
/// that straddle it. Returns whether anything changed.
fn carve(recs: &mut Vec<Rec>, owner: Owner, start: u64, end: u64) -> bool {
    let mut changed = false;
    let mut out = Vec::with_capacity(recs.len() + 1);
    for r in recs.drain(..) {
        if r.owner != owner || !r.overlaps(start, end) {
            out.push(r);
            continue;
        }
        changed = true;
        if r.start < start {
            out.push(Rec { end: start, ..r });
        }
        if r.end > end {
            out.push(Rec { start: end, ..r });
        }
    }
    *recs = out;
    changed
}

/// Merge `owner`'s locks of one type that touch or overlap `new`'s range
/// into it, then add it.
fn insert_merged(recs: &mut Vec<Rec>, mut new: Rec) {
    recs.retain(|r| {
        let touches = r.start <= new.end && new.start <= r.end;
        if r.owner == new.owner && r.write == new.write && touches {
            new.start = new.start.min(r.start);
            new.end = new.end.max(r.end);
            false
        } else {
            true
        }
    });
    let at = recs.iter().position(|r| r.start > new.start).unwrap_or(recs.len());
    recs.insert(at, new);
}

/// What a request asks.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Read,
    Write,
    Unlock,
}

/// Set, change or remove `owner`'s lock on `[start, end)` of `file`:
/// EAGAIN if another owner's lock conflicts (the caller may wait and try
/// again). Returns the conflicting owner's id on EAGAIN through `blocker`.
pub fn set(
    file: usize,
    owner: Owner,
    pid: i32,
    start: u64,
    end: u64,
    kind: Kind,
    blocker: &mut Option<Owner>,
) -> Result<(), Errno> {
    let mut locks = LOCKS.lock();
    let write = match kind {
        Kind::Unlock => {
            let changed = locks.get_mut(&file).is_some_and(|recs| carve(recs, owner, start, end));
            if locks.get(&file).is_some_and(|r| r.is_empty()) {
                locks.remove(&file);
                tidy(&mut locks);
            }
            drop(locks);
            if changed {
                released();
            }
            return Ok(());
        }
        Kind::Read => false,
        Kind::Write => true,
    };
    let recs = locks.entry(file).or_default();
    if let Some(c) = recs.iter().find(|r| r.owner != owner && r.overlaps(start, end) && (r.write || write)) {
        *blocker = Some(c.owner);
        if recs.is_empty() {
            locks.remove(&file);
            tidy(&mut locks);
        }
        return Err(EAGAIN);
    }
    // A write lock turned read (or a range given up) may let others in.
    let shrank = recs.iter().any(|r| r.owner == owner && r.overlaps(start, end) && r.write && !write);
    carve(recs, owner, start, end);
    insert_merged(recs, Rec { owner, pid, start, end, write });
    drop(locks);
    if shrank {
        released();
    }
    Ok(())
}

/// Before a POSIX owner sleeps waiting for `blocker`: EDEADLK if `blocker`
/// (through the owners it waits for) waits for `owner`; else record the
/// wait.
pub fn wait_for(owner: Owner, blocker: Owner) -> Result<(), Errno> {
    let mut w = WAITING.lock();
    let mut at = blocker;
    for _ in 0..=w.len() {
        if at == owner {
            return Err(EDEADLK);
        }
        match w.get(&at) {
            Some(&next) => at = next,
            None => break,
        }
    }
    w.insert(owner, blocker);
    Ok(())
}

/// The owner is no longer waiting.
pub fn done_waiting(owner: Owner) {
    let mut w = WAITING.lock();
    if w.remove(&owner).is_some() {
        tidy(&mut w);
    }
}

/// Drop every lock `owner` holds on `file` (a POSIX owner closing one of
/// its descriptors of the file; an OFD's last close).
pub fn release_file(file: usize, owner: Owner) {
    let mut locks = LOCKS.lock();
    let Some(recs) = locks.get_mut(&file) else { return };
    let before = recs.len();
    recs.retain(|r| r.owner != owner);
    let changed = recs.len() != before;
    if recs.is_empty() {
        locks.remove(&file);
        tidy(&mut locks);
    }
    drop(locks);
    if changed {
        released();
    }
}

/// Drop every lock of `owner` on every file (a descriptor table's end).
pub fn release_owner(owner: Owner) {
    let mut locks = LOCKS.lock();
    let mut changed = false;
    locks.retain(|_, recs| {
        let before = recs.len();
        recs.retain(|r| r.owner != owner);
        changed |= recs.len() != before;
        !recs.is_empty()
    });
    tidy(&mut locks);
    drop(locks);
    if changed {
        released();
    }
}
