//! System V shared memory (cf. ipc/shm.c): the segment table, shmget,
//! shmat and shmdt here; shmctl, shm_rmid_forced and the text of
//! /proc/sysvipc/shm in ctl.rs.
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

use alloc::format;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use spin::Mutex;

use abi::errno::*;
use abi::ipc::*;
use abi::mman::{MAP_FIXED, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE};
use mm::vm::address_space::TASK_SIZE;
use mm::vm::file::MemObject;
use mm::vm::mmap::{FileMapping, MmapRequest};
use mm::vm::overcommit::OVERCOMMIT_NEVER;

mod ctl;

use ctl::weaken;
pub use ctl::{init, render, rmid_forced_off, rmid_forced_on, shmctl};

use super::{Perm, me, now};
use crate::proc::{self, Creds};
use crate::sysctl;

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

impl super::ids::HasPerm for Segment {
    fn perm(&self) -> &Perm {
        &self.perm
    }
}

struct Table {
    segs: super::ids::Ids<Segment>,
}

static TABLE: Mutex<Table> = Mutex::new(Table { segs: super::ids::Ids::new() });

impl Table {
    /// Drop the entries of removed segments that died (their last
    /// mapping went).
    fn sweep(&mut self) {
        self.segs.objs.retain(|_, s| s.obj.alive());
        self.segs.tidy();
    }

    fn by_id(&mut self, id: i32) -> Result<&mut Segment, Errno> {
        self.segs.by_id(id)
    }

    fn by_key(&mut self, key: i32) -> Option<&mut Segment> {
        self.segs.by_key(key)
    }

    /// Pages of all segments (`shm_tot`).
    fn total_pages(&self) -> u64 {
        self.segs.objs.values().map(Segment::pages).sum()
    }

    fn max_idx(&self) -> i64 {
        self.segs.max_idx()
    }

    /// An index and id below `shmmni` (ENOSPC when all are in use).
    fn alloc_id(&mut self) -> Result<(u32, u16, i32), Errno> {
        self.segs.alloc_id(sysctl::shmmni().min(sysctl::IPCMNI) as u32)
    }
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
    let obj = MemObject::shmem_named(&name, size, id as u64, env.pa, env.swap, env.commit, charged);
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
    t.segs.objs.insert(idx, seg);
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
        let mut space = mm.space.write();
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
        t.segs.objs.values().map(|s| (s.obj.ptr() as usize, s.perm.id)).collect()
    };
    let seg_of = |o: &Arc<MemObject>| objs.iter().find(|(p, _)| *p == Arc::as_ptr(o) as usize).map(|(_, id)| *id);
    let mm = proc::current().mm().ok_or(EINVAL)?;
    let env = crate::mem::user::env();
    let detached = {
        let mut space = mm.space.write();
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
