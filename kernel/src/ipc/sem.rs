//! System V semaphores (cf. ipc/sem.c): semget, semop/semtimedop, semctl
//! and /proc/sysvipc/sem.
//!
//! ```text
//!   set id -> [sem 0: value, last pid] [sem 1] ...      (at most SEMMSL)
//!   semop(ops): all or nothing -- every op applies at once, or the
//!               caller sleeps (IPC_NOWAIT: EAGAIN) until a change to the
//!               set lets them all through
//!   SEM_UNDO:   the opposite of the op is kept per process and set, and
//!               applied when the process exits (clamped at 0, as Linux)
//! ```
//!
//! Errors as Linux: semget EEXIST, ENOENT, EACCES, EINVAL (nsems outside
//! 1..=SEMMSL, or more than an existing set has), ENOSPC (SEMMNI sets or
//! SEMMNS semaphores); semop EINVAL (nsops < 1, bad id), E2BIG (more than
//! SEMOPM ops), EFBIG (sem_num out of range), EACCES, ERANGE (a value past
//! SEMVMX or an undo past SEMAEM), EAGAIN (IPC_NOWAIT or the timeout),
//! EINTR, EIDRM (the set went away while waiting).
//!
//! Locks: `TABLE`, a spin lock taken alone and never while sleeping;
//! blocked semop calls wait on `CHANGED` and look again.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::*;
use abi::ipc::{IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT};
use spin::Mutex;

use super::ids::{HasPerm, Ids};
use super::{Perm, SEQ_SHIFT, me, now};
use crate::proc::waitqueue::WaitQueue;
use crate::proc::{self, Creds};
use crate::usercopy::{copy_from_user, copy_to_user, read_user};

/// Linux's defaults (kernel.sem: SEMMSL SEMMNS SEMOPM SEMMNI).
pub const SEMMSL: usize = 32000;
pub const SEMMNS: usize = 1_024_000_000;
pub const SEMOPM: usize = 500;
pub const SEMMNI: u32 = 32000;
pub const SEMVMX: i32 = 32767;
pub const SEMAEM: i32 = SEMVMX;

const SEM_UNDO: i16 = 0x1000;

// semctl commands
const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;

#[derive(Clone, Copy, Default)]
struct Sem {
    val: i32,
    /// The last process that changed it (GETPID).
    pid: u32,
}

struct SemSet {
    perm: Perm,
    sems: Vec<Sem>,
    otime: i64,
    ctime: i64,
    /// Tasks asleep in semop: (waiting for an increase, waiting for zero)
    /// per semaphore (GETNCNT, GETZCNT).
    waiting: Vec<(u32, u32)>,
}

impl HasPerm for SemSet {
    fn perm(&self) -> &Perm {
        &self.perm
    }
}

struct Table {
    sets: Ids<SemSet>,
    /// Per (process, set id): the adjustment to apply at exit, per
    /// semaphore.
    undo: BTreeMap<(u32, i32), Vec<i32>>,
}

static TABLE: Mutex<Table> = Mutex::new(Table { sets: Ids::new(), undo: BTreeMap::new() });
/// Woken whenever a set changes or goes.
static CHANGED: WaitQueue = WaitQueue::new();

impl Table {
    fn total_sems(&self) -> usize {
        self.sets.objs.values().map(|s| s.sems.len()).sum()
    }

    /// Forget `id`'s undo entries (the set went away).
    fn drop_undo(&mut self, id: i32) {
        self.undo.retain(|&(_, set), _| set != id);
        if self.undo.is_empty() {
            self.undo = BTreeMap::new();
        }
    }
}

/// semget(2).
pub fn semget(key: i32, nsems: i32, flags: u32) -> Result<u64, Errno> {
    if !(0..=SEMMSL as i32).contains(&nsems) {
        return Err(EINVAL);
    }
    let (creds, _) = me();
    let mut t = TABLE.lock();
    if key != IPC_PRIVATE {
        if let Some(s) = t.sets.by_key(key) {
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(EEXIST);
            }
            s.perm.check(&creds, flags)?;
            if nsems as usize > s.sems.len() {
                return Err(EINVAL);
            }
            return Ok(s.perm.id as u64);
        }
        if flags & IPC_CREAT == 0 {
            return Err(ENOENT);
        }
    }
    if nsems == 0 {
        return Err(EINVAL);
    }
    if t.total_sems() + nsems as usize > SEMMNS {
        return Err(ENOSPC);
    }
    let (idx, seq, id) = t.sets.alloc_id(SEMMNI)?;
    let n = nsems as usize;
    let set = SemSet {
        perm: Perm::new(key, id, seq, flags, &creds),
        sems: alloc::vec![Sem::default(); n],
        otime: 0,
        ctime: now(),
        waiting: alloc::vec![(0, 0); n],
    };
    t.sets.objs.insert(idx, set);
    Ok(id as u64)
}

/// One `struct sembuf`.
#[derive(Clone, Copy)]
struct Op {
    num: u16,
    op: i16,
    flg: i16,
}

enum Try {
    Done,
    /// Blocked on semaphore `num`: for zero, or for an increase.
    Blocked {
        num: u16,
        zero: bool,
    },
}

/// Apply `ops` to set `id` at once if they all can go (Linux's
/// `perform_atomic_semop`), recording undo entries for SEM_UNDO ops.
fn try_ops(t: &mut Table, id: i32, ops: &[Op], tgid: u32, creds: &Creds, alter: bool) -> Result<Try, Errno> {
    let s = t.sets.by_id(id)?;
    if ops.iter().any(|o| o.num as usize >= s.sems.len()) {
        return Err(EFBIG);
    }
    s.perm.check(creds, if alter { 0o222 } else { 0o444 })?;
    let mut vals: Vec<i32> = s.sems.iter().map(|x| x.val).collect();
    for o in ops {
        let v = &mut vals[o.num as usize];
        let op = o.op as i32;
        if op == 0 {
            if *v != 0 {
                return Ok(Try::Blocked { num: o.num, zero: true });
            }
        } else if *v + op < 0 {
            return Ok(Try::Blocked { num: o.num, zero: false });
        } else if *v + op > SEMVMX {
            return Err(ERANGE);
        } else {
            *v += op;
        }
    }
    // Undo adjustments must stay within SEMAEM.
    let n = s.sems.len();
    let mut undo = t.undo.get(&(tgid, id)).cloned().unwrap_or_else(|| alloc::vec![0; n]);
    for o in ops.iter().filter(|o| o.flg & SEM_UNDO != 0 && o.op != 0) {
        let u = &mut undo[o.num as usize];
        *u -= o.op as i32;
        if !(-(SEMAEM + 1)..=SEMAEM).contains(u) {
            return Err(ERANGE);
        }
    }
    let s = t.sets.by_id(id)?;
    for (i, v) in vals.into_iter().enumerate() {
        if s.sems[i].val != v {
            s.sems[i] = Sem { val: v, pid: tgid };
        }
    }
    for o in ops {
        s.sems[o.num as usize].pid = tgid;
    }
    s.otime = now();
    if ops.iter().any(|o| o.flg & SEM_UNDO != 0) {
        if undo.iter().all(|&u| u == 0) {
            t.undo.remove(&(tgid, id));
        } else {
            t.undo.insert((tgid, id), undo);
        }
    }
    Ok(Try::Done)
}

/// semop(2) and semtimedop(2) (`timeout`: a `struct timespec` address, 0
/// for none).
pub fn semtimedop(id: i32, sops: u64, nsops: u64, timeout: u64) -> Result<u64, Errno> {
    if nsops < 1 || id < 0 {
        return Err(EINVAL);
    }
    if nsops as usize > SEMOPM {
        return Err(E2BIG);
    }
    let mut raw = alloc::vec![0u8; nsops as usize * 6];
    copy_from_user(&mut raw, sops)?;
    let ops: Vec<Op> = raw
        .chunks_exact(6)
        .map(|c| Op {
            num: u16::from_le_bytes([c[0], c[1]]),
            op: i16::from_le_bytes([c[2], c[3]]),
            flg: i16::from_le_bytes([c[4], c[5]]),
        })
        .collect();
    let deadline = if timeout != 0 {
        let ts: [i64; 2] = read_user(timeout)?;
        if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
            return Err(EINVAL);
        }
        let ns = (ts[0] as u64).saturating_mul(1_000_000_000).saturating_add(ts[1] as u64);
        Some(proc::sched::ticks() + ns.div_ceil(1_000_000_000 / proc::sched::HZ))
    } else {
        None
    };
    let alter = ops.iter().any(|o| o.op != 0);
    let nowait = ops.iter().any(|o| o.flg & IPC_NOWAIT as i16 != 0);
    let (creds, tgid) = me();
    let first = {
        let mut t = TABLE.lock();
        try_ops(&mut t, id, &ops, tgid, &creds, alter)?
    };
    let (num, zero) = match first {
        Try::Done => {
            CHANGED.wake_all();
            return Ok(0);
        }
        Try::Blocked { .. } if nowait => return Err(EAGAIN),
        Try::Blocked { num, zero } => (num, zero),
    };
    let count = |t: &mut Table, d: i32| {
        if let Ok(s) = t.sets.by_id(id) {
            let w = &mut s.waiting[num as usize];
            let c = if zero { &mut w.1 } else { &mut w.0 };
            *c = (*c as i32 + d).max(0) as u32;
        }
    };
    count(&mut TABLE.lock(), 1);
    let r = CHANGED.wait_until(deadline, || {
        let mut t = TABLE.lock();
        match try_ops(&mut t, id, &ops, tgid, &creds, alter) {
            Ok(Try::Done) => Some(Ok(())),
            Ok(Try::Blocked { .. }) => None,
            // The set went away (or its id now names another): EIDRM.
            Err(EINVAL) => Some(Err(EIDRM)),
            Err(e) => Some(Err(e)),
        }
    });
    count(&mut TABLE.lock(), -1);
    match r {
        Ok(Some(Ok(()))) => {
            CHANGED.wake_all();
            Ok(0)
        }
        Ok(Some(Err(e))) => Err(e),
        Ok(None) => Err(EAGAIN),
        Err(e) => Err(e),
    }
}

/// `struct semid64_ds` as x86_64 lays it out (104 bytes).
fn semid_ds(s: &SemSet) -> [u8; 104] {
    let mut b = [0u8; 104];
    let p = s.perm.to_abi();
    b[..48].copy_from_slice(abi::pod::Pod::as_bytes(&p));
    b[48..56].copy_from_slice(&s.otime.to_le_bytes());
    b[64..72].copy_from_slice(&s.ctime.to_le_bytes());
    b[80..88].copy_from_slice(&(s.sems.len() as u64).to_le_bytes());
    b
}

/// `struct seminfo` (10 ints); SEM_INFO puts the sets in use in semusz
/// and the semaphores in semaem, as Linux does.
fn seminfo(t: &Table, live: bool) -> [u8; 40] {
    let v: [i32; 10] = [
        SEMMNI as i32,                                               // semmap
        SEMMNI as i32,                                               // semmni
        SEMMNS as i32,                                               // semmns
        if live { t.sets.objs.len() as i32 } else { SEMMNS as i32 }, // semmnu
        SEMMSL as i32,                                               // semmsl
        SEMOPM as i32,                                               // semopm
        SEMOPM as i32,                                               // semume
        if live { t.sets.objs.len() as i32 } else { 20 },            // semusz
        SEMVMX,                                                      // semvmx
        if live { t.total_sems() as i32 } else { SEMAEM },           // semaem
    ];
    let mut b = [0u8; 40];
    for (i, x) in v.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    b
}

/// semctl(2); `arg` is `union semun` passed by value (an int or an
/// address).
pub fn semctl(id: i32, num: i32, cmd: i32, arg: u64) -> Result<u64, Errno> {
    let (creds, tgid) = me();
    let mut t = TABLE.lock();
    match cmd {
        IPC_INFO | SEM_INFO => {
            let b = seminfo(&t, cmd == SEM_INFO);
            let max = t.sets.max_idx().max(0) as u64;
            drop(t);
            copy_to_user(arg, &b)?;
            return Ok(max);
        }
        SEM_STAT | SEM_STAT_ANY => {
            let idx = id as u32;
            let s = t.sets.objs.get(&idx).ok_or(EINVAL)?;
            if cmd == SEM_STAT {
                s.perm.check(&creds, 0o444)?;
            }
            let (b, sid) = (semid_ds(s), s.perm.id);
            drop(t);
            copy_to_user(arg, &b)?;
            return Ok(sid as u64);
        }
        _ => {}
    }
    let s = t.sets.by_id(id)?;
    let n = s.sems.len();
    let sem_at = |num: i32| if num < 0 || num as usize >= n { Err(EINVAL) } else { Ok(num as usize) };
    match cmd {
        IPC_STAT => {
            s.perm.check(&creds, 0o444)?;
            let b = semid_ds(s);
            drop(t);
            copy_to_user(arg, &b)?;
            Ok(0)
        }
        IPC_SET => {
            if !s.perm.may_change(&creds) {
                return Err(EPERM);
            }
            let mut b = [0u8; 104];
            drop(t);
            copy_from_user(&mut b, arg)?;
            let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            let mut t = TABLE.lock();
            let s = t.sets.by_id(id)?;
            s.perm.uid = word(4);
            s.perm.gid = word(8);
            s.perm.mode = (s.perm.mode & !0o777) | (word(20) & 0o777);
            s.ctime = now();
            Ok(0)
        }
        IPC_RMID => {
            if !s.perm.may_change(&creds) {
                return Err(EPERM);
            }
            let idx = (id as u32) & ((1 << SEQ_SHIFT) - 1);
            t.sets.objs.remove(&idx);
            t.sets.tidy();
            t.drop_undo(id);
            drop(t);
            CHANGED.wake_all();
            Ok(0)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            s.perm.check(&creds, 0o444)?;
            let i = sem_at(num)?;
            Ok(match cmd {
                GETVAL => s.sems[i].val as u64,
                GETPID => s.sems[i].pid as u64,
                GETNCNT => s.waiting[i].0 as u64,
                _ => s.waiting[i].1 as u64,
            })
        }
        GETALL => {
            s.perm.check(&creds, 0o444)?;
            let vals: Vec<u8> = s.sems.iter().flat_map(|x| (x.val as u16).to_le_bytes()).collect();
            drop(t);
            copy_to_user(arg, &vals)?;
            Ok(0)
        }
        SETVAL => {
            s.perm.check(&creds, 0o222)?;
            let i = sem_at(num)?;
            let v = arg as u32 as i32;
            if !(0..=SEMVMX).contains(&v) {
                return Err(ERANGE);
            }
            s.sems[i] = Sem { val: v, pid: tgid };
            s.ctime = now();
            // Every process's undo for this semaphore is cleared.
            for ((_, set), u) in t.undo.iter_mut() {
                if *set == id {
                    u[i] = 0;
                }
            }
            drop(t);
            CHANGED.wake_all();
            Ok(0)
        }
        SETALL => {
            s.perm.check(&creds, 0o222)?;
            drop(t);
            let mut raw = alloc::vec![0u8; n * 2];
            copy_from_user(&mut raw, arg)?;
            let vals: Vec<i32> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i32).collect();
            if vals.iter().any(|&v| v > SEMVMX) {
                return Err(ERANGE);
            }
            let mut t = TABLE.lock();
            let s = t.sets.by_id(id)?;
            for (x, v) in s.sems.iter_mut().zip(vals) {
                *x = Sem { val: v, pid: tgid };
            }
            s.ctime = now();
            t.drop_undo(id);
            drop(t);
            CHANGED.wake_all();
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// `exit_sem`: apply process `tgid`'s undo adjustments, each value
/// clamped at 0, and forget them.
pub fn exit_sem(tgid: u32) {
    let mut t = TABLE.lock();
    let mine: Vec<(i32, Vec<i32>)> =
        t.undo.iter().filter(|((p, _), _)| *p == tgid).map(|(&(_, id), u)| (id, u.clone())).collect();
    if mine.is_empty() {
        return;
    }
    for (id, adj) in &mine {
        t.undo.remove(&(tgid, *id));
        if let Ok(s) = t.sets.by_id(*id) {
            for (x, a) in s.sems.iter_mut().zip(adj) {
                if *a != 0 {
                    x.val = (x.val + a).clamp(0, SEMVMX);
                    x.pid = tgid;
                }
            }
            s.otime = now();
        }
    }
    if t.undo.is_empty() {
        t.undo = BTreeMap::new();
    }
    drop(t);
    CHANGED.wake_all();
}

/// /proc/sysvipc/sem, in Linux's layout.
pub fn render(s: &mut String) -> core::fmt::Result {
    writeln!(s, "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime")?;
    let t = TABLE.lock();
    for set in t.sets.objs.values() {
        let p = &set.perm;
        writeln!(
            s,
            "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}",
            p.key,
            p.id,
            p.mode & 0o777,
            set.sems.len(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            set.otime,
            set.ctime
        )?;
    }
    Ok(())
}
