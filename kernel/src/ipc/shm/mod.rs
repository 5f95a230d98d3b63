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
//! With SHM_HUGETLB the segment is a hugetlb file's [`HugeObject`] instead
//! (Linux's file on its internal hugetlbfs mount): its size rounded up to
//! its page size (2 MiB, or 1 GiB with SHM_HUGE_1GB), every huge page
//! promised by the pool at shmget (ENOMEM if it cannot, nothing with
//! SHM_NORESERVE), nothing committed, attachments aligned to that size; its attachments are counted by the references the areas
//! hold, SHM_LOCK does nothing, and nothing of it goes to swap.
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
use abi::mman::{
    MAP_FIXED, MAP_HUGE_MASK, MAP_HUGE_SHIFT, MAP_NORESERVE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE,
};
use abi::resource::RLIMIT_MEMLOCK;
use mm::phys::hugetlb::{GPAGE_ORDER, HPAGE_ORDER};
use mm::vm::address_space::TASK_SIZE;
use mm::vm::file::MemObject;
use mm::vm::hugetlb::HugeObject;
use mm::vm::mmap::{FileMapping, HugeFileMapping, MmapRequest};
use mm::vm::overcommit::OVERCOMMIT_NEVER;
use mm::vm::vma::Backing;

mod ctl;

use ctl::weaken;
pub use ctl::{init, render, rmid_forced_off, rmid_forced_on, shmctl};

use super::{Perm, me, now};
use crate::proc::{self, Creds};
use crate::sysctl;

const PAGE: u64 = 4096;

/// A segment's memory: shmem pages, or huge pages of the hugetlb pool
/// (SHM_HUGETLB, Linux's segment on its internal hugetlbfs mount).
#[derive(Clone)]
pub(super) enum Mem {
    Shmem(Arc<MemObject>),
    Huge(Arc<HugeObject>),
}

impl Mem {
    fn addr(&self) -> usize {
        match self {
            Mem::Shmem(o) => Arc::as_ptr(o) as usize,
            Mem::Huge(o) => Arc::as_ptr(o) as usize,
        }
    }

    /// Bytes an attachment maps (a hugetlb segment's size rounded up to
    /// its page size).
    fn size(&self) -> u64 {
        match self {
            Mem::Shmem(o) => o.size(),
            Mem::Huge(o) => o.size(),
        }
    }

    /// Resident 4 KiB pages (`shm_rss`; a huge page counts all of its).
    pub(super) fn resident(&self) -> u64 {
        match self {
            Mem::Shmem(o) => o.nr_pages(),
            Mem::Huge(o) => o.nr_pages() * o.hpage_pages(),
        }
    }

    /// Pages on swap (huge pages never go there).
    pub(super) fn swapped(&self) -> u64 {
        match self {
            Mem::Shmem(o) => o.nr_swapped(),
            Mem::Huge(_) => 0,
        }
    }

    /// Areas mapping the segment (`shm_nattch`). A shmem object counts
    /// them through its reverse map; a hugetlb object has none, but every
    /// area holds one reference to it: its count less the `held` ones the
    /// caller knows of (its own copy, the table's).
    pub(super) fn nattch(&self, held: usize) -> u64 {
        match self {
            Mem::Shmem(o) => o.mapping_counts().vmas,
            Mem::Huge(o) => Arc::strong_count(o).saturating_sub(held) as u64,
        }
    }

    /// SHM_LOCK: reclaim must leave the pages in memory (huge pages are
    /// never reclaimed: nothing to do).
    pub(super) fn set_unevictable(&self, on: bool) {
        if let Mem::Shmem(o) = self {
            o.set_unevictable(on);
        }
    }
}

enum Obj {
    Live(Mem),
    /// After IPC_RMID, or attached under shm_rmid_forced.
    Removed(WeakMem),
}

enum WeakMem {
    Shmem(Weak<MemObject>),
    Huge(Weak<HugeObject>),
}

impl Obj {
    fn get(&self) -> Option<Mem> {
        match self {
            Obj::Live(o) => Some(o.clone()),
            Obj::Removed(WeakMem::Shmem(w)) => w.upgrade().map(Mem::Shmem),
            Obj::Removed(WeakMem::Huge(w)) => w.upgrade().map(Mem::Huge),
        }
    }

    /// The memory and the references the table and that copy hold.
    fn get_held(&self) -> Option<(Mem, usize)> {
        self.get().map(|m| (m, 1 + matches!(self, Obj::Live(_)) as usize))
    }

    fn alive(&self) -> bool {
        match self {
            Obj::Live(_) => true,
            Obj::Removed(WeakMem::Shmem(w)) => w.strong_count() > 0,
            Obj::Removed(WeakMem::Huge(w)) => w.strong_count() > 0,
        }
    }

    fn addr(&self) -> usize {
        match self {
            Obj::Live(o) => o.addr(),
            Obj::Removed(WeakMem::Shmem(w)) => w.as_ptr() as usize,
            Obj::Removed(WeakMem::Huge(w)) => w.as_ptr() as usize,
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
    /// Made with SHM_NORESERVE: a hugetlb segment's pages are not
    /// promised, at creation or at attach.
    noreserve: bool,
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

/// `newseg`: EINVAL for a size outside [SHMMIN, shmmax] or a huge page
/// size with no pool, ENOSPC past shmall or shmmni, ENOMEM if the commit
/// (or, with SHM_HUGETLB, the pool's promise of every huge page) is
/// refused, EPERM for SHM_HUGETLB without the right to lock that much.
fn newseg(t: &mut Table, key: i32, size: u64, flags: u32, c: &Creds, tgid: u32) -> Result<u64, Errno> {
    if size < SHMMIN || size > sysctl::shmmax() {
        return Err(EINVAL);
    }
    let pages = size.div_ceil(PAGE);
    let total = t.total_pages();
    if total.checked_add(pages).is_none_or(|n| n > sysctl::shmall()) {
        return Err(ENOSPC);
    }
    let huge = if flags & SHM_HUGETLB != 0 { Some(huge_size(size, flags, c)?) } else { None };
    let (idx, seq, id) = t.alloc_id()?;
    let env = crate::mem::user::env();
    let name = format!("/SYSV{:08x} (deleted)", key as u32);
    let mem = if let Some((order, bytes)) = huge {
        // hugetlb_file_setup: the segment's file, its huge pages promised
        // now unless SHM_NORESERVE; never charged to the commit.
        let obj = HugeObject::file_sized(env.pa, &name, id as u64, None, order);
        obj.set_size(bytes);
        if flags & SHM_NORESERVE == 0 && !obj.reserve(0, bytes >> (order + 12)) {
            return Err(ENOMEM);
        }
        Mem::Huge(obj)
    } else {
        // SHM_NORESERVE skips the commit unless overcommit is strict (Linux
        // then charges the pages as they are allocated; here not at all).
        let charged = if flags & SHM_NORESERVE == 0 || env.commit.mode() == OVERCOMMIT_NEVER {
            env.commit.account_for(env.pa, pages, c.is_root(), 0).map_err(|_| ENOMEM)?;
            pages
        } else {
            0
        };
        // The segment's inode number is its id, as Linux's newseg sets it.
        Mem::Shmem(MemObject::shmem_named(&name, size, id as u64, env.pa, env.swap, env.commit, charged))
    };
    let seg = Segment {
        perm: Perm::new(key, id, seq, flags, c),
        size,
        atime: 0,
        dtime: 0,
        ctime: now(),
        cpid: tgid,
        lpid: 0,
        obj: Obj::Live(mem),
        noreserve: flags & SHM_NORESERVE != 0,
        locked: None,
    };
    t.segs.objs.insert(idx, seg);
    Ok(id as u64)
}

/// SHM_HUGETLB's page order and size: `size` rounded up to the huge page
/// size the flags name (SHM_HUGE_SHIFT, as MAP_HUGE_*: 2 MiB, 1 GiB when
/// that pool exists, 0 for the default one; EINVAL for another). Linux's
/// `can_do_hugetlb_shm`: the
/// caller needs CAP_IPC_LOCK (root here) or membership of group
/// `vm.hugetlb_shm_group` (0), else room for the segment under
/// RLIMIT_MEMLOCK (Linux's deprecated `user_shm_lock` fallback), else
/// EPERM.
fn huge_size(size: u64, flags: u32, c: &Creds) -> Result<(u32, u64), Errno> {
    let pa = crate::mem::page_alloc();
    let order = match (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK {
        0 => pa.default_hugetlb().order(),
        21 => HPAGE_ORDER,
        30 if pa.hugetlb_1g.is_registered() => GPAGE_ORDER,
        _ => return Err(EINVAL),
    };
    let bytes = size.checked_next_multiple_of(PAGE << order).ok_or(EINVAL)?;
    if !c.is_root() && !c.in_group(0) {
        let memlock = proc::current().inner.lock().rlimits[RLIMIT_MEMLOCK].cur;
        if memlock < bytes {
            return Err(EPERM);
        }
    }
    Ok((order, bytes))
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
    let (obj, noreserve) = {
        let mut t = TABLE.lock();
        t.sweep();
        let s = t.by_id(id)?;
        s.perm.check(&creds, acc)?;
        (s.obj.get().ok_or(EIDRM)?, s.noreserve)
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
        match &obj {
            Mem::Shmem(o) => {
                let file = FileMapping { object: o.clone(), readable: true, writable: !rdonly };
                let req = MmapRequest { addr, len: size, prot, flags: map_flags, file: Some(file), offset: 0 };
                space.mmap(&env, &req, &lim).map_err(Errno::from)?
            }
            Mem::Huge(o) => {
                // An address not on a huge page boundary is EINVAL (as
                // mmap of a hugetlbfs file); a SHM_NORESERVE segment's
                // attachments promise nothing either.
                let noreserve = if noreserve { MAP_NORESERVE } else { 0 };
                let hf = HugeFileMapping { object: o.clone(), readable: true, writable: !rdonly };
                let req = MmapRequest { addr, len: size, prot, flags: map_flags | noreserve, file: None, offset: 0 };
                space.mmap_huge_file(&env, &req, hf, &lim).map_err(Errno::from)?
            }
        }
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
        t.segs.objs.values().map(|s| (s.obj.addr(), s.perm.id)).collect()
    };
    let seg_of = |addr: usize| objs.iter().find(|(p, _)| *p == addr).map(|(_, id)| *id);
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
                let (addr, size) = match &v.backing {
                    Backing::Huge(o) => (Arc::as_ptr(o) as usize, o.size()),
                    b => b.object().map(|o| (Arc::as_ptr(o) as usize, o.size()))?,
                };
                Some((v.start, v.end, seg_of(addr)?, size))
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
