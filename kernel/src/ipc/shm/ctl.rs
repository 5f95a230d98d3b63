//! shmctl(2) (cf. ipc/shm.c `shmctl_stat`, `shmctl_down`, `do_shm_rmid`,
//! `shmctl_do_lock`), kernel.shm_rmid_forced (`shm_may_destroy`,
//! `exit_shm`, `shm_destroy_orphaned`) and /proc/sysvipc/shm.
//!
//! Locks: as mod.rs: `TABLE` is taken alone; mapping counts are taken
//! after it is dropped, and references it gave up are dropped after it.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::*;
use abi::ipc::*;
use abi::resource::RLIMIT_MEMLOCK;

use super::{Mem, Obj, PAGE, Segment, TABLE, WeakMem, me, now};
use crate::ipc::{Perm, SEQ_SHIFT};
use crate::proc;
use crate::sysctl;
use crate::usercopy::{read_user, write_user};

/// What IPC_STAT and friends copy out, taken under the table lock.
struct Snapshot {
    perm: Perm,
    size: u64,
    times: (i64, i64, i64),
    pids: (u32, u32),
    /// The segment's memory, and the references to it the table and
    /// this copy hold.
    obj: Option<(Mem, usize)>,
}

impl Snapshot {
    fn of(s: &Segment) -> Snapshot {
        Snapshot {
            perm: s.perm,
            size: s.size,
            times: (s.atime, s.dtime, s.ctime),
            pids: (s.cpid, s.lpid),
            obj: s.obj.get_held(),
        }
    }

    /// (nattch, resident pages), counted with no lock held.
    fn counts(&self) -> (u64, u64) {
        self.obj.as_ref().map_or((0, 0), |(o, held)| (o.nattch(*held), o.resident()))
    }

    fn to_abi(&self) -> ShmidDs {
        ShmidDs {
            shm_perm: self.perm.to_abi(),
            shm_segsz: self.size,
            shm_atime: self.times.0,
            shm_dtime: self.times.1,
            shm_ctime: self.times.2,
            shm_cpid: self.pids.0 as i32,
            shm_lpid: self.pids.1 as i32,
            shm_nattch: self.counts().0,
            ..ShmidDs::default()
        }
    }
}

/// shmctl(2).
pub fn shmctl(id: i32, cmd: i32, buf: u64) -> Result<u64, Errno> {
    if cmd < 0 || id < 0 {
        return Err(EINVAL);
    }
    let (creds, _) = me();
    match cmd {
        IPC_INFO => {
            let max_idx = {
                let mut t = TABLE.lock();
                t.sweep();
                t.max_idx()
            };
            let mni = sysctl::shmmni();
            let info = ShmInfo64 {
                shmmax: sysctl::shmmax(),
                shmmin: SHMMIN,
                shmmni: mni,
                shmseg: mni,
                shmall: sysctl::shmall(),
                ..ShmInfo64::default()
            };
            write_user(buf, &info)?;
            Ok(max_idx.max(0) as u64)
        }
        SHM_INFO => {
            let (snaps, max_idx, tot) = {
                let mut t = TABLE.lock();
                t.sweep();
                (t.segs.objs.values().map(Snapshot::of).collect::<Vec<_>>(), t.max_idx(), t.total_pages())
            };
            let rss: u64 = snaps.iter().map(|s| s.obj.as_ref().map_or(0, |(o, _)| o.resident())).sum();
            let swp: u64 = snaps.iter().map(|s| s.obj.as_ref().map_or(0, |(o, _)| o.swapped())).sum();
            let info = ShmInfo {
                used_ids: snaps.len() as i32,
                shm_tot: tot,
                shm_rss: rss,
                shm_swp: swp,
                ..ShmInfo::default()
            };
            drop(snaps);
            write_user(buf, &info)?;
            Ok(max_idx.max(0) as u64)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let snap = {
                let mut t = TABLE.lock();
                t.sweep();
                // SHM_STAT takes an index (of which ipcid_to_idx keeps the
                // low 15 bits, so a full id works too).
                let s = if cmd == IPC_STAT {
                    t.by_id(id)?
                } else {
                    t.segs.objs.get_mut(&((id as u32) & ((1 << SEQ_SHIFT) - 1))).ok_or(EINVAL)?
                };
                if cmd != SHM_STAT_ANY {
                    s.perm.check(&creds, 0o444)?;
                }
                Snapshot::of(s)
            };
            let ds = snap.to_abi();
            let sid = snap.perm.id;
            drop(snap);
            write_user(buf, &ds)?;
            // SHM_STAT answers with the id of the segment at that index.
            Ok(if cmd == IPC_STAT { 0 } else { sid as u64 })
        }
        IPC_SET => {
            let ds: ShmidDs = read_user(buf)?;
            let mut t = TABLE.lock();
            t.sweep();
            let s = t.by_id(id)?;
            if !s.perm.may_change(&creds) {
                return Err(EPERM);
            }
            // ipc_update_perm: (uid_t)-1 is no user.
            if ds.shm_perm.uid == u32::MAX || ds.shm_perm.gid == u32::MAX {
                return Err(EINVAL);
            }
            s.perm.uid = ds.shm_perm.uid;
            s.perm.gid = ds.shm_perm.gid;
            s.perm.mode = (s.perm.mode & !0o777) | (ds.shm_perm.mode & 0o777);
            s.ctime = now();
            Ok(0)
        }
        IPC_RMID => {
            let dropped = {
                let mut t = TABLE.lock();
                t.sweep();
                let s = t.by_id(id)?;
                if !s.perm.may_change(&creds) {
                    return Err(EPERM);
                }
                remove(s)
            };
            // The last reference may go here, with no lock held.
            drop(dropped);
            TABLE.lock().sweep();
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let memlock = proc::current().inner.lock().rlimits[RLIMIT_MEMLOCK].cur;
            let mut t = TABLE.lock();
            t.sweep();
            let locked_by_user: u64 =
                t.segs.objs.values().filter_map(|s| s.locked).filter(|(u, _)| *u == creds.uid).map(|(_, p)| p).sum();
            let s = t.by_id(id)?;
            if !creds.is_root() {
                if creds.euid != s.perm.uid && creds.euid != s.perm.cuid {
                    return Err(EPERM);
                }
                if cmd == SHM_LOCK && memlock == 0 {
                    return Err(EPERM);
                }
            }
            // A hugetlb segment's pages are never reclaimed: the call
            // succeeds and changes nothing (Linux's shmctl_do_lock).
            if matches!(s.obj.get(), Some(Mem::Huge(_))) {
                return Ok(0);
            }
            if cmd == SHM_LOCK {
                if s.locked.is_none() {
                    // user_shm_lock: the pages every segment this user
                    // locked stay within RLIMIT_MEMLOCK (ENOMEM).
                    let limit = if memlock == u64::MAX { u64::MAX } else { memlock / PAGE };
                    if locked_by_user + s.pages() > limit && !creds.is_root() {
                        return Err(ENOMEM);
                    }
                    s.locked = Some((creds.uid, s.pages()));
                    s.perm.mode |= SHM_LOCKED;
                }
            } else if s.locked.take().is_some() {
                s.perm.mode &= !SHM_LOCKED;
            }
            // Reclaim leaves a locked segment's pages in memory (it sets
            // them aside as unevictable); unlocking gives them back to it.
            let obj = s.obj.get();
            drop(t);
            if let Some(o) = obj {
                o.set_unevictable(cmd == SHM_LOCK);
            }
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// `do_shm_rmid`: the key becomes private and the mode shows SHM_DEST; the
/// table's reference becomes weak. Returns that reference, for the caller
/// to drop outside the lock.
fn remove(s: &mut Segment) -> Option<Mem> {
    s.perm.mode |= SHM_DEST;
    s.perm.key = IPC_PRIVATE;
    if s.locked.take().is_some() {
        if let Some(o) = s.obj.get() {
            o.set_unevictable(false);
        }
    }
    s.perm.mode &= !SHM_LOCKED;
    weaken(s)
}

/// Hold the segment weakly: it dies with its last mapping. Returns the
/// strong reference the table had, to be dropped outside the lock.
pub(super) fn weaken(s: &mut Segment) -> Option<Mem> {
    match core::mem::replace(&mut s.obj, Obj::Removed(WeakMem::Shmem(Weak::new()))) {
        Obj::Live(o) => {
            s.obj = Obj::Removed(match &o {
                Mem::Shmem(m) => WeakMem::Shmem(Arc::downgrade(m)),
                Mem::Huge(m) => WeakMem::Huge(Arc::downgrade(m)),
            });
            Some(o)
        }
        removed => {
            s.obj = removed;
            None
        }
    }
}

/// Register System V IPC's exit work with process exit.
pub fn init() {
    proc::exit::on_process_exit(exit_ipc);
}

/// What System V IPC does when a process ends: its semaphore undo
/// adjustments, then `exit_shm`.
fn exit_ipc(tgid: u32) {
    crate::ipc::sem::exit_sem(tgid);
    exit_shm(tgid);
}

/// `exit_shm`: under shm_rmid_forced, the segments process `tgid` created
/// that nobody maps are removed (attached ones already die at their last
/// detach).
fn exit_shm(tgid: u32) {
    if sysctl::shm_rmid_forced() == 0 {
        return;
    }
    remove_unattached(|cpid| cpid == tgid);
}

/// Remove the segments nobody maps whose creator passes `creator`.
fn remove_unattached(creator: impl Fn(u32) -> bool) {
    let snaps: Vec<(i32, u32, Option<(Mem, usize)>)> = {
        let mut t = TABLE.lock();
        t.sweep();
        t.segs.objs.values().map(|s| (s.perm.id, s.cpid, s.obj.get_held())).collect()
    };
    let unattached: Vec<i32> = snaps
        .iter()
        .filter(|(_, cpid, o)| creator(*cpid) && o.as_ref().is_none_or(|(o, held)| o.nattch(*held) == 0))
        .map(|(id, _, _)| *id)
        .collect();
    drop(snaps);
    let mut dropped = Vec::new();
    {
        let mut t = TABLE.lock();
        for id in unattached {
            if let Ok(s) = t.by_id(id) {
                dropped.push(remove(s));
            }
        }
    }
    drop(dropped);
    TABLE.lock().sweep();
}

/// kernel.shm_rmid_forced was set to 0: the segments held only for it
/// (attached, not removed) are held by the table again.
pub fn rmid_forced_off() {
    let mut t = TABLE.lock();
    t.sweep();
    for s in t.segs.objs.values_mut() {
        if s.perm.mode & SHM_DEST == 0 {
            if let Some(o) = s.obj.get() {
                s.obj = Obj::Live(o);
            }
        }
    }
}

/// kernel.shm_rmid_forced was set to 1: `shm_destroy_orphaned` (the
/// unattached segments whose creating process is gone), and every attached
/// segment now dies at its last detach.
pub fn rmid_forced_on() {
    remove_unattached(|cpid| proc::task(cpid).is_none());
    let snaps: Vec<(i32, Option<(Mem, usize)>)> = {
        let mut t = TABLE.lock();
        t.sweep();
        t.segs.objs.values().map(|s| (s.perm.id, s.obj.get_held())).collect()
    };
    let attached: Vec<i32> = snaps
        .iter()
        .filter(|(_, o)| o.as_ref().is_some_and(|(o, held)| o.nattch(*held) > 0))
        .map(|(id, _)| *id)
        .collect();
    drop(snaps);
    let mut dropped = Vec::new();
    {
        let mut t = TABLE.lock();
        for id in attached {
            if let Ok(s) = t.by_id(id) {
                dropped.push(weaken(s));
            }
        }
    }
    drop(dropped);
    TABLE.lock().sweep();
}

/// /proc/sysvipc/shm, in Linux's format (`sysvipc_shm_proc_show`).
pub fn render(out: &mut String) -> core::fmt::Result {
    out.push_str(
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
    );
    let snaps: Vec<Snapshot> = {
        let mut t = TABLE.lock();
        t.sweep();
        t.segs.objs.values().map(Snapshot::of).collect()
    };
    for s in &snaps {
        let (nattch, rss) = s.counts();
        let p = &s.perm;
        writeln!(
            out,
            "{:>10} {:>10}  {:>4o} {:>21} {:>5} {:>5}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10} {:>21} {:>21}",
            p.key,
            p.id,
            p.mode,
            s.size,
            s.pids.0,
            s.pids.1,
            nattch,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            s.times.0,
            s.times.1,
            s.times.2,
            rss * PAGE,
            0
        )?;
    }
    Ok(())
}
