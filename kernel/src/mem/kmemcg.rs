//! Kernel memory charged to memory cgroups (cf. mm/memcontrol.c's kmem
//! accounting, `GFP_KERNEL_ACCOUNT`, `SLAB_ACCOUNT`).
//!
//! ```text
//!   task in group g runs mmap(2) ──> Scope: task.kmem_memcg = g
//!     Box::new(vma) ──> heap ──> g's kmalloc-192(g) ──> new slab
//!                                 charged to g as slab_unreclaimable
//!   munmap, exit ──> kfree ──> g's cache ──> empty slab back to the buddy
//!                                 allocator ──> uncharged from g
//! ```
//!
//! Which objects: those a process makes the kernel keep for it, allocated
//! by the system calls Linux charges (its `SLAB_ACCOUNT` caches and
//! `GFP_KERNEL_ACCOUNT` allocations): areas of the address space (mmap,
//! mprotect, mremap, brk, madvise, mlock, mbind), whole processes and their
//! tables (fork, clone, execve), open files and pipes, pipe buffers written,
//! epoll, eventfd, timerfd, signalfd, memfd, System V objects, and
//! directories and files made in tmpfs. `proc::cgroup::KmemScope` marks
//! such a call (see [`charges_kernel_memory`]); the heap then allocates from the group's own
//! copy of the kmalloc caches ([`caches_of`]), whose slabs, and large
//! allocations, are charged to the group, so memory.current and
//! memory.stat's `slab` count them and memory.max bounds them.
//!
//! A group gets a set of caches when its directory is made (mkdir). rmdir
//! shrinks them, so that an empty group's id can be retired; slabs with
//! live objects keep the group as a zombie until the last object is freed
//! and a shrink returns the slab. When the id is retired the set goes to a
//! pool of spare sets, and the next mkdir takes it from there and gives it
//! the new group's id (no slab is left in it then: every slab is charged
//! to the id, and an id is retired only when nothing is charged to it).
//! Sets are never freed, so a lookup never meets a dangling one; their
//! number is the most groups (zombies included) alive at once.
//!
//! Kernel memory cannot wait for reclaim where it is allocated (the heap
//! cannot fail a `Box::new`), so it is charged over the limit; when the
//! call ends, a group left over memory.max reclaims and then runs its OOM
//! killer, as a refused charge would have (Linux's kmem charge does the
//! same before it gives up with ENOMEM).
//!
//! Locks: the table of cache sets is written under `MAKE` (mkdir) or by
//! atomic swaps (retirement) and read lock-free; `Task::kmem_memcg` is
//! written only by its own task, with interrupts off together with the
//! per-CPU copy the heap reads (`arch::percpu::kmem_memcg`).

use core::sync::atomic::{AtomicPtr, Ordering};

use mm::kalloc::kmalloc::KmallocCaches;
use mm::memcg::{MAX_MEMCG_ID, MemcgId, MemcgStat, ROOT_MEMCG_ID};

/// Each group's cache set, by group id (null: none yet).
static SETS: [AtomicPtr<KmallocCaches>; MAX_MEMCG_ID] = [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_MEMCG_ID];

/// Spare sets of retired groups (null: empty slot).
static SPARE: [AtomicPtr<KmallocCaches>; MAX_MEMCG_ID] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_MEMCG_ID];

/// Serialises the making of cache sets.
static MAKE: spin::Mutex<()> = spin::Mutex::new(());

/// Group `id` was retired (mm's `MemcgTable` tells, under its lock and
/// possibly from the page free path: no lock, no allocation here), or
/// removed with no slab left: its set becomes spare.
pub fn retired(id: MemcgId) {
    let Some(slot) = SETS.get(id as usize) else { return };
    let p = slot.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if p.is_null() {
        return;
    }
    // There are as many spare slots as ids: one is free.
    for s in &SPARE {
        if s.compare_exchange(core::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            return;
        }
    }
}

/// A spare set, if there is one.
fn take_spare() -> Option<&'static KmallocCaches> {
    for s in &SPARE {
        let p = s.swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: a non-null slot points at a leaked (never freed) set.
        if let Some(set) = unsafe { p.as_ref() } {
            return Some(set);
        }
    }
    None
}

/// Group `id`'s cache set, if it has one.
pub fn caches_of(id: MemcgId) -> Option<&'static KmallocCaches> {
    let p = SETS.get(id as usize)?.load(Ordering::Acquire);
    // SAFETY: a non-null slot points at a leaked (never freed) set.
    unsafe { p.as_ref() }
}

/// Give group `id` its kmalloc caches (mkdir): a spare set, or a new one
/// (the caller suspends its own accounting around this).
pub fn prepare(id: MemcgId) -> Result<(), ()> {
    if id <= ROOT_MEMCG_ID || caches_of(id).is_some() {
        return Ok(());
    }
    let _m = MAKE.lock();
    if caches_of(id).is_some() {
        return Ok(());
    }
    let set: &'static KmallocCaches = match take_spare() {
        Some(set) => set,
        None => {
            let k = super::slab::kmalloc().ok_or(())?;
            let n = NEXT_SET.fetch_add(1, Ordering::Relaxed);
            let set = k.new_memcg_caches(super::slab::registry(), &alloc::format!("(memcg{})", n)).map_err(|_| ())?;
            alloc::boxed::Box::leak(alloc::boxed::Box::new(set))
        }
    };
    for c in set {
        c.set_memcg(id);
    }
    SETS[id as usize].store(set as *const KmallocCaches as *mut KmallocCaches, Ordering::Release);
    Ok(())
}

/// Sets made so far (their names' numbers).
static NEXT_SET: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Group `g` was removed: give back the empty slabs of its caches (those
/// a CPU holds included), so that it can be retired once nothing else is
/// charged to it. If no slab is left, the set is spare at once: a zombie
/// kept by other charges (page cache it read, which the running programs
/// still map) makes no kernel objects any more.
pub fn offline(g: &mm::memcg::MemCgroup) {
    let Some(set) = caches_of(g.id()) else { return };
    for c in set {
        c.shrink();
    }
    if g.stat(MemcgStat::SlabUnreclaimable) + g.stat(MemcgStat::SlabReclaimable) == 0 {
        retired(g.id());
    }
}

/// The cache set the heap allocates from for the running task: its group's
/// while it is inside a kernel-memory scope (`proc::cgroup::KmemScope`,
/// which sets the per-CPU id the scheduler keeps in step), None otherwise.
#[inline]
pub fn current_set() -> Option<&'static KmallocCaches> {
    match arch::percpu::kmem_memcg() {
        0 => None,
        id => caches_of(id),
    }
}

/// The system calls whose kernel objects are charged to the caller's group.
pub fn charges_kernel_memory(nr: u64) -> bool {
    use abi::nr::*;
    matches!(
        nr,
        MMAP | MPROTECT
            | MUNMAP
            | BRK
            | MREMAP
            | MADVISE
            | MLOCK
            | MUNLOCK
            | MLOCK2
            | MLOCKALL
            | MBIND
            | CLONE
            | CLONE3
            | FORK
            | VFORK
            | EXECVE
            | OPEN
            | OPENAT
            | CREAT
            | PIPE
            | PIPE2
            | DUP
            | DUP2
            | DUP3
            | FCNTL
            | WRITE
            | WRITEV
            | PWRITE64
            | EVENTFD
            | EVENTFD2
            | EPOLL_CREATE
            | EPOLL_CREATE1
            | EPOLL_CTL
            | TIMERFD_CREATE
            | SIGNALFD
            | SIGNALFD4
            | MEMFD_CREATE
            | SHMGET
            | SHMAT
            | MSGGET
            | MSGSND
            | SEMGET
            | MKDIR
            | MKDIRAT
            | SYMLINK
            | SYMLINKAT
            | LINK
            | LINKAT
    )
}
