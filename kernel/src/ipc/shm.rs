//! System V shared memory (cf. ipc/shm.c): shmget, shmat, shmdt, shmctl,
//! and the text of /proc/sysvipc/shm.
//!
//! A segment is a shmem [`MemObject`] named `/SYSV%08x (deleted)` after
//! its key (the name /proc/PID/maps shows), its pages counted as Shmem and
//! committed at creation (ENOMEM if the overcommit policy refuses). An
//! attachment is an ordinary shared file mapping of that object, so fork
//! copies it and exec and exit drop it with the address space. The number
//! of attachments (`shm_nattch`) is the number of VMAs mapping the object,
//! counted through its reverse map (mm's `MemObject::mapping_counts`).
//!
//! ```text
//!   TABLE   index -> Segment { perm, size, times, pids, object }
//!             object: Live(Arc)      the table keeps the segment alive
//!                     Removed(Weak)  after IPC_RMID: only the mappings do;
//!                                    the entry goes once the object died
//! ```
//!
//! IPC_RMID turns the table's reference into a weak one, so the segment
//! dies with its last mapping (at once if there is none), which is
//! Linux's "destroyed at the last detach"; the dead entry is swept from
//! the table at the next look at it (`sweep`), before anything reads the
//! table, so no caller ever sees it.
//!
//! `kernel.shm_rmid_forced` = 1 (Linux's `shm_may_destroy`): every
//! segment dies at its last detach, so an attached one is held weakly too
//! (without SHM_DEST: its key still finds it), and the unattached
//! segments of a process that exits are removed (`exit_shm`). Setting it
//! removes the unattached segments whose creator is gone and weakens the
//! attached ones; clearing it makes the live ones strong again.
//!
//! Locks: `TABLE` (a spin mutex) is a leaf: it is never held while an
//! address space is locked or mapping counts are taken (those take
//! address-space locks); callers copy what they need, drop it, and go on.
//! A segment's object may be dropped under it (its pages freed).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt::Write;

use spin::Mutex;

use abi::errno::*;
use abi::ipc::*;
use abi::mman::{MAP_FIXED, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE};
use abi::resource::RLIMIT_MEMLOCK;
use mm::vm::address_space::TASK_SIZE;
use mm::vm::file::MemObject;
use mm::vm::mmap::{FileMapping, MmapRequest};
use mm::vm::overcommit::OVERCOMMIT_NEVER;

use super::{Perm, SEQ_MAX, SEQ_SHIFT};
use crate::proc::{self, Creds};
use crate::sysctl;
use crate::usercopy::{read_user, write_user};

const PAGE: u64 = 4096;

enum Obj {
    Live(Arc<MemObject>),
    /// After IPC_RMID, or attached under shm_rmid_forced.
    Removed(Weak<MemObject>),
}

impl Obj {
    fn get(&self) -> Option<Arc<MemObject>> {
        match self {
            Obj::Live(o) => Some(o.clone()),
            Obj::Removed(w) => w.upgrade(),
        }
    }

    fn alive(&self) -> bool {
        match self {
            Obj::Live(_) => true,
            Obj::Removed(w) => w.strong_count() > 0,
        }
    }

    fn ptr(&self) -> *const MemObject {
        match self {
            Obj::Live(o) => Arc::as_ptr(o),
            Obj::Removed(w) => w.as_ptr(),
        }
    }
}

/// `struct shmid_kernel`.
struct Segment {
    perm: Perm,
    size: u64,
    atime: i64,
    dtime: i64,
    ctime: i64,
    cpid: u32,
    lpid: u32,
    obj: Obj,
    /// SHM_LOCK: the real uid charged and the pages (user_shm_lock).
    locked: Option<(u32, u64)>,
}

impl Segment {
    fn pages(&self) -> u64 {
        self.size.div_ceil(PAGE)
    }
}

struct Table {
    segs: BTreeMap<u32, Segment>,
    /// `ipc_ids.seq` and `last_idx` of ipc_idr_alloc.
    seq: u32,
    last_idx: i64,
}

static TABLE: Mutex<Table> = Mutex::new(Table { segs: BTreeMap::new(), seq: 0, last_idx: -1 });

impl Table {
    /// Drop the entries of removed segments that died (their last
    /// mapping went).
    fn sweep(&mut self) {
        self.segs.retain(|_, s| s.obj.alive());
        if self.segs.is_empty() {
            // An emptied BTreeMap keeps its root node: give it back, so no
            // segment left means no kernel memory held.
            self.segs = BTreeMap::new();
        }
    }

    /// The segment with id `id` (EINVAL if none: a free index or another
    /// sequence number, as `ipc_obtain_object_check`).
    fn by_id(&mut self, id: i32) -> Result<&mut Segment, Errno> {
        if id < 0 {
            return Err(EINVAL);
        }
        let idx = (id as u32) & ((1 << SEQ_SHIFT) - 1);
        self.segs.get_mut(&idx).filter(|s| s.perm.id == id).ok_or(EINVAL)
    }

    fn by_key(&mut self, key: i32) -> Option<&mut Segment> {
        self.segs.values_mut().find(|s| s.perm.key == key)
    }

    /// Pages of all segments (`shm_tot`).
    fn total_pages(&self) -> u64 {
        self.segs.values().map(Segment::pages).sum()
    }

    /// `ipc_get_maxidx`: the highest index in use, or -1.
    fn max_idx(&self) -> i64 {
        self.segs.keys().next_back().map_or(-1, |&i| i as i64)
    }

    /// `ipc_idr_alloc`: the lowest free index below `shmmni` and the
    /// sequence number for it (ENOSPC when all are in use).
    fn alloc_id(&mut self) -> Result<(u32, u16, i32), Errno> {
        let max = sysctl::shmmni().min(sysctl::IPCMNI) as u32;
        if self.segs.len() as u32 >= max {
            return Err(ENOSPC);
        }
        let idx = (0..max).find(|i| !self.segs.contains_key(i)).ok_or(ENOSPC)?;
        if idx as i64 <= self.last_idx {
            self.seq += 1;
            if self.seq >= SEQ_MAX {
                self.seq = 0;
            }
        }
        self.last_idx = idx as i64;
        Ok((idx, self.seq as u16, ((self.seq << SEQ_SHIFT) | idx) as i32))
    }
}

fn now() -> i64 {
    (crate::platform::clock::realtime_ns() / 1_000_000_000) as i64
}

fn me() -> (Creds, u32) {
    let t = proc::current();
    let c = t.inner.lock().creds;
    (c, t.tgid())
}

/// shmget(2).
pub fn shmget(key: i32, size: u64, flags: u32) -> Result<u64, Errno> {
    let (creds, tgid) = me();
    let mut t = TABLE.lock();
    t.sweep();
    if key != IPC_PRIVATE {
        if let Some(s) = t.by_key(key) {
            // ipcget_public: EEXIST, then ipcperms, then shm_more_checks.
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(EEXIST);
            }
            s.perm.check(&creds, flags)?;
            if s.size < size {
                return Err(EINVAL);
            }
            return Ok(s.perm.id as u64);
        }
        if flags & IPC_CREAT == 0 {
            return Err(ENOENT);
        }
    }
    newseg(&mut t, key, size, flags, &creds, tgid)
}

/// `newseg`: EINVAL for a size outside [SHMMIN, shmmax], ENOSPC past
/// shmall or shmmni, ENOMEM if the commit is refused.
fn newseg(t: &mut Table, key: i32, size: u64, flags: u32, c: &Creds, tgid: u32) -> Result<u64, Errno> {
    if size < SHMMIN || size > sysctl::shmmax() {
        return Err(EINVAL);
    }
    // No hugetlbfs here (memfd_create's MFD_HUGETLB answers the same).
    if flags & SHM_HUGETLB != 0 {
        return Err(EINVAL);
    }
    let pages = size.div_ceil(PAGE);
    let total = t.total_pages();
    if total.checked_add(pages).is_none_or(|n| n > sysctl::shmall()) {
        return Err(ENOSPC);
    }
    let (idx, seq, id) = t.alloc_id()?;
    let env = crate::mem::user::env();
    // SHM_NORESERVE skips the commit unless overcommit is strict (Linux
    // then charges the pages as they are allocated; here not at all).
    let charged = if flags & SHM_NORESERVE == 0 || env.commit.mode() == OVERCOMMIT_NEVER {
        env.commit.account_for(env.pa, pages, c.is_root(), 0).map_err(|_| ENOMEM)?;
        pages
    } else {
        0
    };
    let name = format!("/SYSV{:08x} (deleted)", key as u32);
    // The segment's inode number is its id, as Linux's newseg sets it.
    let obj = MemObject::shmem_named(&name, size, id as u64, env.pa, env.commit, charged);
    let seg = Segment {
        perm: Perm::new(key, id, seq, flags, c),
        size,
        atime: 0,
        dtime: 0,
        ctime: now(),
        cpid: tgid,
        lpid: 0,
        obj: Obj::Live(obj),
        locked: None,
    };
    t.segs.insert(idx, seg);
    Ok(id as u64)
}

/// shmat(2): attach segment `id` at `addr` (0: the kernel chooses).
pub fn shmat(id: i32, addr: u64, flags: u32) -> Result<u64, Errno> {
    if id < 0 {
        return Err(EINVAL);
    }
    let mut addr = addr;
    let mut map_flags = MAP_SHARED;
    if addr != 0 {
        if addr % SHMLBA != 0 {
            if flags & SHM_RND == 0 {
                return Err(EINVAL);
            }
            addr &= !(SHMLBA - 1);
            // A round-down to 0 cannot be remapped.
            if addr == 0 && flags & SHM_REMAP != 0 {
                return Err(EINVAL);
            }
        }
        if addr != 0 {
            map_flags |= MAP_FIXED;
        }
    } else if flags & SHM_REMAP != 0 {
        return Err(EINVAL);
    }
    let rdonly = flags & SHM_RDONLY != 0;
    let (mut prot, mut acc) = if rdonly { (PROT_READ, 0o444) } else { (PROT_READ | PROT_WRITE, 0o666) };
    if flags & SHM_EXEC != 0 {
        prot |= PROT_EXEC;
        acc |= 0o111;
    }
    let (creds, tgid) = me();
    let obj = {
        let mut t = TABLE.lock();
        t.sweep();
        let s = t.by_id(id)?;
        s.perm.check(&creds, acc)?;
        s.obj.get().ok_or(EIDRM)?
    };
    let size = obj.size();
    let task = proc::current();
    let lim = task.mm_limits();
    let mm = task.mm().ok_or(EFAULT)?;
    drop(task);
    let env = crate::mem::user::env();
    let at = {
        let mut space = mm.space.lock();
        if map_flags & MAP_FIXED != 0 && flags & SHM_REMAP == 0 {
            let end = addr.checked_add(size).ok_or(EINVAL)?;
            if space.vmas.overlapping(addr..end).next().is_some() {
                return Err(EINVAL);
            }
        }
        let file = FileMapping { object: obj.clone(), readable: true, writable: !rdonly };
        let req = MmapRequest { addr, len: size, prot, flags: map_flags, file: Some(file), offset: 0 };
        space.mmap(&env, &req, &lim).map_err(Errno::from)?
    };
    let strong = {
        let mut t = TABLE.lock();
        match t.by_id(id) {
            Ok(s) => {
                s.atime = now();
                s.lpid = tgid;
                // Under shm_rmid_forced the mappings alone keep it.
                if sysctl::shm_rmid_forced() == 1 { weaken(s) } else { None }
            }
            Err(_) => None,
        }
    };
    drop((strong, obj));
    Ok(at)
}

/// shmdt(2): detach the segment attached at `addr` (Linux's rule: the
/// first segment mapping found at or above `addr` whose place matches its
/// page offset, then the other fragments of that attachment).
pub fn shmdt(addr: u64) -> Result<u64, Errno> {
    if addr % PAGE != 0 {
        return Err(EINVAL);
    }
    let objs: Vec<(usize, i32)> = {
        let mut t = TABLE.lock();
        t.sweep();
        t.segs.values().map(|s| (s.obj.ptr() as usize, s.perm.id)).collect()
    };
    let seg_of = |o: &Arc<MemObject>| objs.iter().find(|(p, _)| *p == Arc::as_ptr(o) as usize).map(|(_, id)| *id);
    let mm = proc::current().mm().ok_or(EINVAL)?;
    let env = crate::mem::user::env();
    let detached = {
        let mut space = mm.space.lock();
        // (start, end, segment id, segment size) of segment mappings above addr.
        let areas: Vec<(u64, u64, i32, u64)> = space
            .vmas
            .overlapping(addr..TASK_SIZE)
            .filter(|v| v.start >= addr && (v.start - addr) / PAGE == v.pgoff)
            .filter_map(|v| {
                let o = v.backing.object()?;
                Some((v.start, v.end, seg_of(o)?, o.size()))
            })
            .collect();
        let Some(&(_, _, id, size)) = areas.first() else { return Err(EINVAL) };
        let limit = size.next_multiple_of(PAGE);
        for (i, &(start, end, sid, _)) in areas.iter().enumerate() {
            if i == 0 || (sid == id && end - addr <= limit) {
                let _ = space.munmap(&env, start, end - start);
            }
        }
        id
    };
    let (_, tgid) = me();
    let mut t = TABLE.lock();
    t.sweep();
    if let Ok(s) = t.by_id(detached) {
        s.dtime = now();
        s.lpid = tgid;
    }
    Ok(0)
}

/// What IPC_STAT and friends copy out, taken under the table lock.
struct Snapshot {
    perm: Perm,
    size: u64,
    times: (i64, i64, i64),
    pids: (u32, u32),
    obj: Option<Arc<MemObject>>,
}

impl Snapshot {
    fn of(s: &Segment) -> Snapshot {
        Snapshot {
            perm: s.perm,
            size: s.size,
            times: (s.atime, s.dtime, s.ctime),
            pids: (s.cpid, s.lpid),
            obj: s.obj.get(),
        }
    }

    /// (nattch, resident pages), counted with no lock held.
    fn counts(&self) -> (u64, u64) {
        self.obj.as_ref().map_or((0, 0), |o| (o.mapping_counts().vmas, o.nr_pages()))
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
                (t.segs.values().map(Snapshot::of).collect::<Vec<_>>(), t.max_idx(), t.total_pages())
            };
            let rss: u64 = snaps.iter().map(|s| s.obj.as_ref().map_or(0, |o| o.nr_pages())).sum();
            let info = ShmInfo { used_ids: snaps.len() as i32, shm_tot: tot, shm_rss: rss, ..ShmInfo::default() };
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
                    t.segs.get_mut(&((id as u32) & ((1 << SEQ_SHIFT) - 1))).ok_or(EINVAL)?
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
                t.segs.values().filter_map(|s| s.locked).filter(|(u, _)| *u == creds.uid).map(|(_, p)| p).sum();
            let s = t.by_id(id)?;
            if !creds.is_root() {
                if creds.euid != s.perm.uid && creds.euid != s.perm.cuid {
                    return Err(EPERM);
                }
                if cmd == SHM_LOCK && memlock == 0 {
                    return Err(EPERM);
                }
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
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// `do_shm_rmid`: the key becomes private and the mode shows SHM_DEST; the
/// table's reference becomes weak. Returns that reference, for the caller
/// to drop outside the lock.
fn remove(s: &mut Segment) -> Option<Arc<MemObject>> {
    s.perm.mode |= SHM_DEST;
    s.perm.key = IPC_PRIVATE;
    s.locked = None;
    s.perm.mode &= !SHM_LOCKED;
    weaken(s)
}

/// Hold the segment weakly: it dies with its last mapping. Returns the
/// strong reference the table had, to be dropped outside the lock.
fn weaken(s: &mut Segment) -> Option<Arc<MemObject>> {
    match core::mem::replace(&mut s.obj, Obj::Removed(Weak::new())) {
        Obj::Live(o) => {
            s.obj = Obj::Removed(Arc::downgrade(&o));
            Some(o)
        }
        removed => {
            s.obj = removed;
            None
        }
    }
}

/// Register `exit_shm` with process exit.
pub fn init() {
    proc::exit::on_process_exit(exit_shm);
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
    let snaps: Vec<(i32, u32, Option<Arc<MemObject>>)> = {
        let mut t = TABLE.lock();
        t.sweep();
        t.segs.values().map(|s| (s.perm.id, s.cpid, s.obj.get())).collect()
    };
    let unattached: Vec<i32> = snaps
        .iter()
        .filter(|(_, cpid, o)| creator(*cpid) && o.as_ref().is_none_or(|o| o.mapping_counts().vmas == 0))
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
    for s in t.segs.values_mut() {
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
    let snaps: Vec<(i32, Option<Arc<MemObject>>)> = {
        let mut t = TABLE.lock();
        t.sweep();
        t.segs.values().map(|s| (s.perm.id, s.obj.get())).collect()
    };
    let attached: Vec<i32> = snaps
        .iter()
        .filter(|(_, o)| o.as_ref().is_some_and(|o| o.mapping_counts().vmas > 0))
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
        t.segs.values().map(Snapshot::of).collect()
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
