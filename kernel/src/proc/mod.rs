//! Processes and threads (Linux's `task_struct`).
//!
//! A [`Task`] has a kernel stack (vmalloc'd, with a guard page), saved CPU
//! context for the scheduler, and its process state: address space, open
//! files, credentials, limits, signal dispositions, parent and children.
//! Tasks live in the process table until their parent reaps them with
//! wait4(2).
//!
//! A task is one thread; the tasks of one process form a thread group
//! (`thread.rs`), whose process-wide state is kept by its leader.
//!
//! Pid 0 is the boot context: it becomes the idle task and never runs user
//! code. The first user process the kernel starts (init) is pid 1.
//!
//! ```text
//!   mod.rs     Task, the process table, credentials and limits
//!   sched.rs   round-robin preemptive scheduler, sleeping and waking
//!   exec.rs    execve: ELF loading and the initial user stack
//!   fork.rs    fork / vfork / clone
//!   thread.rs  thread groups: what the threads of a process share
//!   robust.rs  robust futex lists walked when a thread exits
//!   futex.rs   futex wait queues keyed by address space or shared object
//!   exit.rs    exit, wait4, kill, the zombie's reaping
//!   signal/    sending, delivery to handlers, frames, stop/continue, fault signals
//!   pgrp.rs    process groups and sessions: members, orphaned groups
//!   timer.rs   alarm, interval timers and POSIX timers, expired by the tick
//!   oom.rs     the OOM killer
//!   waitqueue.rs  sleeping until a condition holds (pipes, the console)
//! ```

pub mod cgroup;
pub mod compact;
pub mod exec;
pub mod exec_args;
pub mod exit;
pub mod fair;
pub mod fork;
pub mod futex;
pub mod khugepaged;
pub mod kthread;
pub mod oom;
pub mod pgrp;
pub mod reclaim;
pub mod robust;
pub mod rq;
pub mod sched;
pub mod signal;
pub mod thread;
pub mod timer;
pub mod waitqueue;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use spin::Mutex;

use abi::resource::{
    RLIM_INFINITY, RLIM_NLIMITS, RLIMIT_AS, RLIMIT_CORE, RLIMIT_DATA, RLIMIT_MEMLOCK, RLIMIT_NOFILE, RLIMIT_NPROC,
    RLIMIT_SIGPENDING, RLIMIT_STACK,
};
use arch::fpu::FpuState;
use mm::sync::IrqLock;
use mm::vm::address_space::Rlimits;

use crate::file::FdTable;
use crate::mem::user::UserMm;
use sched::{CtxCell, TaskCtx};
pub use signal::SignalState;
pub use signals::AltStack;

pub type Pid = u32;

/// Credentials (real, effective, saved user and group ids, and the
/// supplementary groups).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    /// setgroups(2)'s list, sorted and without repeats (as Linux's
    /// `groups_sort`); shared by every task that inherited it.
    pub groups: Arc<[u32]>,
}

impl Creds {
    /// Linux's `in_group_p`: `gid` is the effective group or one of the
    /// supplementary groups (what file and IPC permission checks ask).
    pub fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.binary_search(&gid).is_ok()
    }

    /// Root: the capabilities this kernel checks (CAP_SETUID,
    /// CAP_IPC_LOCK, CAP_SYS_ADMIN, CAP_SYS_RESOURCE, CAP_KILL).
    pub fn is_root(&self) -> bool {
        self.euid == 0
    }
}

/// One resource limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

/// Linux's defaults for init.
pub fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let inf = Rlimit { cur: RLIM_INFINITY, max: RLIM_INFINITY };
    let mut r = [inf; RLIM_NLIMITS];
    r[RLIMIT_STACK] = Rlimit { cur: 8 << 20, max: RLIM_INFINITY };
    r[RLIMIT_CORE] = Rlimit { cur: 0, max: RLIM_INFINITY };
    r[RLIMIT_NOFILE] = Rlimit { cur: 1024, max: 4096 };
    r[RLIMIT_MEMLOCK] = Rlimit { cur: 8 << 20, max: 8 << 20 };
    let nproc = max_tasks() as u64;
    r[RLIMIT_NPROC] = Rlimit { cur: nproc, max: nproc };
    r[RLIMIT_SIGPENDING] = Rlimit { cur: nproc, max: nproc };
    r
}

/// Most tasks the system allows (`kernel.threads-max`): memory / 64 KiB
/// per task, as Linux sizes it from RAM.
pub fn max_tasks() -> usize {
    let pages = crate::mem::try_page_alloc().map(|p| p.nr_managed_pages()).unwrap_or(32768) as usize;
    (pages / 16).clamp(64, 32768)
}

/// Run state.
pub const RUNNABLE: u8 = 0;
pub const SLEEPING: u8 = 1;
pub const ZOMBIE: u8 = 2;
/// Stopped by a job-control signal until SIGCONT or SIGKILL.
pub const STOPPED: u8 = 3;

/// Resource usage as getrusage(2) and wait4(2) report it (the fields this
/// kernel counts): CPU ticks, faults, peak RSS in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub utime: u64,
    pub stime: u64,
    pub min_flt: u64,
    pub maj_flt: u64,
    pub maxrss_kb: u64,
}

impl Usage {
    /// Add a reaped child's usage, as Linux's `wait_task_zombie` sums
    /// `cutime`, `cmin_flt` ... and takes the larger `cmaxrss`.
    pub fn add(&mut self, o: &Usage) {
        self.utime = self.utime.saturating_add(o.utime);
        self.stime = self.stime.saturating_add(o.stime);
        self.min_flt = self.min_flt.saturating_add(o.min_flt);
        self.maj_flt = self.maj_flt.saturating_add(o.maj_flt);
        self.maxrss_kb = self.maxrss_kb.max(o.maxrss_kb);
    }
}

impl Usage {
    /// `struct rusage` as 18 longs: ru_utime, ru_stime (timevals), then
    /// ru_maxrss (KiB), ru_ixrss, ru_idrss, ru_isrss, ru_minflt, ru_majflt ...
    pub fn to_rusage(&self) -> [u64; 18] {
        let tick_us = 1_000_000 / sched::HZ;
        let (ut, st) = (self.utime.saturating_mul(tick_us), self.stime.saturating_mul(tick_us));
        let mut r = [0u64; 18];
        r[0] = ut / 1_000_000;
        r[1] = ut % 1_000_000;
        r[2] = st / 1_000_000;
        r[3] = st % 1_000_000;
        r[4] = self.maxrss_kb;
        r[8] = self.min_flt;
        r[9] = self.maj_flt;
        r
    }
}

/// Linux's `ptrace_may_access` for reading another task's memory views
/// (/proc/PID/maps, exe, get_robust_list): the same process, root
/// (CAP_SYS_PTRACE), or, for a dumpable target, a caller whose ids (`fs` ones when `fscreds`, that
/// is the effective ones here, else the real ones) equal the target's
/// real, effective and saved uids and gids. Every task counts as dumpable.
pub fn ptrace_may_read(caller: &Task, target: &Task, fscreds: bool) -> bool {
    if caller.pid() == target.pid() {
        return true;
    }
    let me = caller.inner.lock().creds.clone();
    if me.is_root() {
        return true;
    }
    let (t, dumpable) = {
        let i = target.inner.lock();
        (i.creds.clone(), i.dumpable)
    };
    let (uid, gid) = if fscreds { (me.euid, me.egid) } else { (me.uid, me.gid) };
    dumpable && uid == t.uid && uid == t.euid && uid == t.suid && gid == t.gid && gid == t.egid && gid == t.sgid
}

impl TaskInner {
    /// Linux's `commit_creds`: a change of effective ids makes the process
    /// non-dumpable (`suid_dumpable` is 0).
    pub fn commit_creds(&mut self, new: Creds) {
        if new.euid != self.creds.euid || new.egid != self.creds.egid {
            self.dumpable = false;
        }
        self.creds = new;
    }
}

/// Process state behind the task's lock.
pub struct TaskInner {
    /// `comm`: the executable's name, at most 15 bytes.
    pub name: String,
    /// Path of the executable.
    pub exe: String,
    pub ppid: Pid,
    pub pgid: Pid,
    /// Session id (setsid(2)); /proc/PID/stat's `session`.
    pub sid: Pid,
    pub children: Vec<Pid>,
    /// Wait status once a zombie.
    pub exit_status: i32,
    pub mm: Option<Arc<UserMm>>,
    /// Shared with CLONE_FILES tasks (see `FdTable::share`).
    pub files: FdTable,
    /// The working directory, shared with CLONE_FS tasks.
    pub cwd: Arc<Mutex<String>>,
    /// The file mode creation mask (umask(2)), shared with CLONE_FS tasks
    /// as Linux keeps it in fs_struct.
    pub umask: Arc<AtomicU32>,
    pub creds: Creds,
    pub rlimits: [Rlimit; RLIM_NLIMITS],
    pub sig: SignalState,
    pub clear_child_tid: u64,
    /// CLONE_CHILD_SETTID: where the new task stores its tid when it first
    /// runs (0: nowhere).
    pub set_child_tid: u64,
    /// In a vfork child: the parent waiting for our exec or exit.
    pub vfork_parent: Option<Pid>,
    /// In a vfork parent: the child we wait for.
    pub vfork_child: Option<Pid>,
    pub oom_score_adj: i32,
    /// Ticks at creation, and user/system ticks used.
    pub start_ticks: u64,
    pub utime: u64,
    pub stime: u64,
    /// In a leader: (user, system) ticks of the process's threads that
    /// have exited.
    pub exited_threads: (u64, u64),
    /// In a leader: CPU time of the process's threads that have exited,
    /// ns (the process CPU clock's share of them).
    pub exited_ns: u64,
    /// Usage of children already reaped (RUSAGE_CHILDREN, /proc/PID/stat's
    /// cutime, cstime, cmin_flt, cmaj_flt).
    pub cusage: Usage,
    /// The task's own fault counts and peak RSS, kept at exit when the
    /// address space goes (for the parent's wait4).
    pub exit_usage: Usage,
    /// PR_SET_PDEATHSIG: signal sent to this task when its parent exits.
    pub pdeathsig: u32,
    pub altstack: AltStack,
    /// set_robust_list(2): head and length, returned by get_robust_list
    /// and walked when the thread exits (`robust.rs`).
    pub robust_list: (u64, u64),
    /// Linux's `oom_score_adj_min`: the lowest value a process may set
    /// without CAP_SYS_RESOURCE (the last value root set; inherited).
    pub oom_score_adj_min: i32,
    /// The mm's dumpable flag (PR_GET_DUMPABLE): cleared when the
    /// effective ids change, set again by an exec with matching ids. A
    /// non-dumpable task's /proc files belong to root and are closed to
    /// ptrace-read access from other users (Linux's `task_dump_owner`).
    pub dumpable: bool,
    /// sched_setaffinity's mask of CPUs the task may run on (inherited;
    /// one bit per CPU, CPUs below `mm::percpu::nr_cpus()`).
    pub cpu_mask: u64,
    /// personality(2)'s persona (PER_LINUX 0 and flags such as
    /// READ_IMPLIES_EXEC and ADDR_COMPAT_LAYOUT): inherited by fork, kept
    /// by exec, which takes its layout from it.
    pub personality: u32,
    /// The process has called execve since it was forked (Linux's
    /// PF_FORKNOEXEC cleared): its parent may no longer move it to
    /// another group (setpgid's EACCES).
    pub did_exec: bool,
    /// Handed to the kernel (pid 0) when its parent died: reaped by the
    /// kernel once a zombie (`exit::reap_orphans`).
    pub orphan: bool,
    /// A kernel thread (`kthread.rs`): no user memory, never returns to
    /// user mode, not a target of kill(-1).
    pub kthread: bool,
}

/// One thread.
pub struct Task {
    /// The thread id (`gettid`); the process id is `group.tgid`. Changes
    /// once at most: a thread other than the leader that calls execve
    /// takes the leader's id (`exec::de_thread`).
    tid: AtomicU32,
    /// The thread group this task belongs to.
    pub group: Arc<thread::ThreadGroup>,
    /// `[bottom, top)` of the kernel stack; (0, 0) for the idle task.
    pub kstack: (u64, u64),
    ctx: CtxCell,
    state: AtomicU8,
    /// Its sleep ignores signals (a disk request's wait): /proc shows
    /// `D (disk sleep)` rather than `S`.
    pub uninterruptible: core::sync::atomic::AtomicBool,
    /// A CPU runs the task, or is still switching away from it (see
    /// `sched`).
    on_cpu: core::sync::atomic::AtomicBool,
    /// The CPUs the task may run on (sched_setaffinity), read by the
    /// scheduler without the task's lock.
    cpus_allowed: core::sync::atomic::AtomicU64,
    /// The task's memory policy (set_mempolicy; None: local allocation),
    /// read by every fault (`mem::user::env`): a leaf lock of its own, so
    /// that a fault taken with the task's `inner` lock held cannot
    /// deadlock on it. Copied by fork and clone, kept by exec.
    pub mempolicy: spin::Mutex<Option<mm::vm::mempolicy::MemPolicy>>,
    /// A memory cgroup charge of this task was refused (the group's id)
    /// or went over memory.high (see `cgroup`): the page fault handler
    /// acts on it with no lock held.
    pub memcg_pending: AtomicU32,
    /// The memory cgroup kernel allocations are charged to while this task
    /// runs a system call that makes objects on its process's behalf
    /// (`mem::kmemcg::Scope`; 0: none). Written only by the task itself,
    /// read by the heap through the per-CPU current-task pointer.
    pub kmem_memcg: core::sync::atomic::AtomicU16,
    /// Scheduling class, read by the scheduler without the task's lock.
    pub sched: sched::SchedParams,
    pub inner: Mutex<TaskInner>,
}

impl Task {
    /// The thread id.
    pub fn pid(&self) -> Pid {
        self.tid.load(Ordering::Relaxed)
    }

    /// Take another id (only `exec::de_thread`, with the task table
    /// locked around the move).
    pub(crate) fn set_pid(&self, pid: Pid) {
        self.tid.store(pid, Ordering::Relaxed);
    }

    pub fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub fn on_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::Acquire)
    }

    pub(crate) fn set_on_cpu(&self, on: bool) {
        self.on_cpu.store(on, Ordering::Release);
    }

    /// Whether the task may run on CPU `cpu`.
    pub fn allowed_on(&self, cpu: usize) -> bool {
        self.cpus_allowed.load(Ordering::Relaxed) & (1u64 << (cpu % 64)) != 0
    }

    /// Set the CPUs the task may run on (with its `cpu_mask` field).
    pub fn set_cpus_allowed(&self, mask: u64) {
        self.cpus_allowed.store(mask, Ordering::Relaxed);
    }

    pub(crate) fn set_state(&self, s: u8) {
        self.state.store(s, Ordering::Release);
    }

    /// Where the task's registers were pushed when it was last switched
    /// out (`arch::backtrace::print_switched_out` reads them).
    pub fn saved_rsp(&self) -> u64 {
        self.ctx.saved_rsp()
    }

    /// The CPU context (the scheduler's).
    pub(crate) fn ctx(&self) -> &CtxCell {
        &self.ctx
    }

    /// The process limits mm checks.
    pub fn mm_limits(&self) -> Rlimits {
        let i = self.inner.lock();
        let root = i.creds.is_root();
        Rlimits {
            as_: i.rlimits[RLIMIT_AS].cur,
            data: i.rlimits[RLIMIT_DATA].cur,
            stack: i.rlimits[RLIMIT_STACK].cur,
            memlock: i.rlimits[RLIMIT_MEMLOCK].cur,
            can_lock: root,
            admin: root,
        }
    }

    /// Record the page-table root the task runs on (exec, exit, fork).
    pub fn set_root(&self, root: u64) {
        self.ctx.update(|c| c.cr3 = root);
    }

    /// The FS base a task will run with (arch_prctl).
    pub fn set_fs_base(&self, base: u64) {
        self.ctx.update(|c| c.fs_base = base);
    }

    pub fn name(&self) -> String {
        self.inner.lock().name.clone()
    }

    pub fn mm(&self) -> Option<Arc<UserMm>> {
        self.inner.lock().mm.clone()
    }

    /// The process has ended: the leader is a zombie and no thread is
    /// left (a leader whose own thread exited first stays a zombie that
    /// nobody may reap until then).
    pub fn is_dead(&self) -> bool {
        self.state() == ZOMBIE && self.group.ended.load(Ordering::Acquire)
    }

    /// The process id (`getpid`).
    pub fn tgid(&self) -> Pid {
        self.group.tgid
    }

    pub fn is_leader(&self) -> bool {
        self.pid() == self.group.tgid
    }

    /// The task that keeps the process-wide state: the group leader, which
    /// stays in the table until the whole group is reaped.
    pub fn leader(self: &Arc<Self>) -> Arc<Task> {
        if self.is_leader() {
            return self.clone();
        }
        task(self.group.tgid).unwrap_or_else(|| self.clone())
    }

    /// (user, system) ticks of this thread alone.
    pub fn thread_times(&self) -> (u64, u64) {
        let i = self.inner.lock();
        (i.utime, i.stime)
    }

    /// The thread's CPU time, ns (CLOCK_THREAD_CPUTIME_ID).
    pub fn thread_cpu_ns(&self) -> u64 {
        fair::cpu_time_ns(&self.sched)
    }

    /// The process's CPU time, ns: its live threads' and its exited
    /// ones' (CLOCK_PROCESS_CPUTIME_ID).
    pub fn process_cpu_ns(self: &Arc<Self>) -> u64 {
        let leader = self.leader();
        let exited = leader.inner.lock().exited_ns;
        let live: u64 = threads_of(self).iter().map(|t| t.thread_cpu_ns()).sum();
        exited + live
    }

    /// (user, system) ticks of the whole process: the leader's, its
    /// exited threads' and its live threads'.
    pub fn process_times(self: &Arc<Self>) -> (u64, u64) {
        let leader = self.leader();
        let (mut u, mut s) = {
            let i = leader.inner.lock();
            (i.utime + i.exited_threads.0, i.stime + i.exited_threads.1)
        };
        for t in threads_of(self).iter().filter(|t| t.pid() != leader.pid()) {
            let (tu, ts) = t.thread_times();
            u += tu;
            s += ts;
        }
        (u, s)
    }

    /// The working directory.
    pub fn cwd(&self) -> String {
        self.inner.lock().cwd.lock().clone()
    }
}

/// The process table.
static TASKS: IrqLock<BTreeMap<Pid, Arc<Task>>> = IrqLock::new(BTreeMap::new());
static NEXT_PID: AtomicU32 = AtomicU32::new(1);
/// Processes created since boot (/proc/stat's `processes`).
static FORKS: AtomicU32 = AtomicU32::new(0);

/// How many processes were created since boot.
pub fn processes_created() -> u32 {
    FORKS.load(Ordering::Relaxed)
}

/// The task with thread id `pid` (any thread, as Linux's `find_task_by_vpid`).
pub fn task(pid: Pid) -> Option<Arc<Task>> {
    TASKS.lock().get(&pid).cloned()
}

/// The process `pid` names: its leader, if `pid` is a process id or the
/// id of any of its threads.
pub fn process(pid: Pid) -> Option<Arc<Task>> {
    task(pid).map(|t| t.leader())
}

/// Every thread of the process `t` belongs to.
pub fn threads_of(t: &Task) -> Vec<Arc<Task>> {
    t.group.threads().into_iter().filter_map(task).collect()
}

/// [`task`] from interrupt context: `None` if the table is locked.
pub fn try_task(pid: Pid) -> Option<Arc<Task>> {
    TASKS.try_lock()?.get(&pid).cloned()
}

/// [`task`] from interrupt context, telling a locked table (`None`) from
/// an unknown pid (`Some(None)`).
pub fn try_lookup(pid: Pid) -> Option<Option<Arc<Task>>> {
    Some(TASKS.try_lock()?.get(&pid).cloned())
}

/// [`all_tasks`] from interrupt context: `None` if the table is locked.
pub fn try_all_tasks() -> Option<Vec<Arc<Task>>> {
    Some(TASKS.try_lock()?.values().filter(|t| t.is_leader()).cloned().collect())
}

/// Call `f` on every task, threads included, from NMI context: nothing is
/// allocated and nothing waited for. False if the table was locked.
pub fn try_for_each_thread(mut f: impl FnMut(&Task)) -> bool {
    let Some(tasks) = TASKS.try_lock() else { return false };
    tasks.values().for_each(|t| f(t));
    true
}

/// Every process (thread-group leaders), by pid.
pub fn all_tasks() -> Vec<Arc<Task>> {
    TASKS.lock().values().filter(|t| t.is_leader()).cloned().collect()
}

/// Every task, threads included, by tid.
pub fn all_threads() -> Vec<Arc<Task>> {
    TASKS.lock().values().cloned().collect()
}

/// Lazily freed (MADV_FREE) anonymous pages that were not written since:
/// reclaim takes them from every process.
struct LazyFreeShrinker;

impl mm::shrinker::Shrinker for LazyFreeShrinker {
    fn name(&self) -> &'static str {
        "lazyfree"
    }

    fn count(&self) -> u64 {
        crate::mem::page_alloc().vmstat.lazyfree_pages.get()
    }

    /// Visits the tasks in place, allocating nothing, and skips what is
    /// locked: the allocation that started reclaim may hold those locks.
    fn scan(&self, nr_to_scan: u64) -> u64 {
        if crate::mem::user::try_env().is_none() {
            return 0;
        }
        let Some(tasks) = TASKS.try_lock() else { return 0 };
        let mut freed = 0;
        for t in tasks.values() {
            if freed >= nr_to_scan {
                break;
            }
            let Some(inner) = t.inner.try_lock() else { continue };
            let Some(mm) = inner.mm.as_ref() else { continue };
            if let Some(mut s) = mm.space.try_write() {
                // Another process's pages: flush the CPUs that run it.
                let tlb = arch::mm_hooks::RootTlb { root: mm.root };
                freed += s.reclaim_lazyfree(&crate::mem::user::env_for(&tlb));
            }
        }
        freed
    }
}

pub fn nr_tasks() -> usize {
    TASKS.lock().len()
}

pub(crate) fn insert(t: Arc<Task>) {
    TASKS.lock().insert(t.pid(), t);
}

pub(crate) fn remove(pid: Pid) -> Option<Arc<Task>> {
    TASKS.lock().remove(&pid)
}

/// Move task `t` from id `from` to id `to` (execve from a thread), in
/// place of the task there, in one step under the table's lock.
pub(crate) fn swap_tid(t: &Arc<Task>, from: Pid, to: Pid) {
    let mut tasks = TASKS.lock();
    tasks.remove(&from);
    t.set_pid(to);
    tasks.insert(to, t.clone());
}

/// A fresh pid (pid_max is 4194304 on 64-bit Linux; wrap around skipping
/// pids in use).
pub(crate) fn alloc_pid() -> Pid {
    FORKS.fetch_add(1, Ordering::Relaxed);
    loop {
        let p = NEXT_PID.fetch_add(1, Ordering::Relaxed);
        if p >= 4_194_304 {
            NEXT_PID.store(2, Ordering::Relaxed);
            continue;
        }
        if !TASKS.lock().contains_key(&p) {
            return p;
        }
    }
}

/// A pid for a kernel thread: as [`alloc_pid`], but one started before
/// init (swap turned on by the `swapon=` option) leaves pid 1 to init, as
/// Linux's kthreadd is pid 2. Boot runs on one CPU here: the caller
/// inserts the task before anything else allocates.
pub(crate) fn alloc_kthread_pid() -> Pid {
    if NEXT_PID.load(Ordering::Relaxed) > 1 {
        return alloc_pid();
    }
    FORKS.fetch_add(1, Ordering::Relaxed);
    let tasks = TASKS.lock();
    (2..).find(|p| !tasks.contains_key(p)).unwrap_or(2)
}

/// Build a task around a prepared kernel stack.
pub(crate) fn new_task(
    pid: Pid,
    kstack: (u64, u64),
    saved_rsp: u64,
    fpu: FpuState,
    fs_base: u64,
    inner: TaskInner,
    group: Option<Arc<thread::ThreadGroup>>,
) -> Arc<Task> {
    let cr3 = inner.mm.as_ref().map(|m| m.root).unwrap_or(0);
    let cpus_allowed = inner.cpu_mask;
    Arc::new(Task {
        on_cpu: core::sync::atomic::AtomicBool::new(false),
        uninterruptible: core::sync::atomic::AtomicBool::new(false),
        sched: sched::SchedParams::default(),
        cpus_allowed: core::sync::atomic::AtomicU64::new(cpus_allowed),
        mempolicy: spin::Mutex::new(None),
        memcg_pending: AtomicU32::new(0),
        kmem_memcg: core::sync::atomic::AtomicU16::new(0),
        tid: AtomicU32::new(pid),
        group: group.unwrap_or_else(|| thread::ThreadGroup::new(pid)),
        kstack,
        ctx: CtxCell::new(TaskCtx { saved_rsp, fpu, fs_base, cr3 }),
        state: AtomicU8::new(RUNNABLE),
        inner: Mutex::new(inner),
    })
}

/// The running task.
pub fn current() -> Arc<Task> {
    sched::current()
}

/// Wake every sleeping thread of process `pid` (a child's state changed:
/// whichever thread waits for it may be any of them).
pub fn wake_process(pid: Pid) {
    match task(pid) {
        Some(t) => {
            for tid in t.group.threads() {
                sched::wake(tid);
            }
            sched::wake(pid);
        }
        None => sched::wake(pid),
    }
}

/// [`wake_process`] from interrupt context: only the leader if the
/// group's lock is held.
pub fn wake_process_from_irq(pid: Pid) {
    if let Some(t) = try_task(pid) {
        if let Some(g) = t.group.state.try_lock() {
            for &tid in g.threads.iter() {
                sched::wake(tid);
            }
        }
    }
    sched::wake(pid);
}

/// The running task's thread id.
pub fn current_pid() -> Pid {
    sched::current_pid()
}

/// The running task's process id, from interrupt context: the
/// interrupted code may hold the task table's lock, but the group is
/// reached through the running task itself.
pub fn current_tgid_from_irq() -> Pid {
    sched::try_current().map_or(0, |t| t.tgid())
}

/// The running task's process id.
pub fn current_tgid() -> Pid {
    if current_pid() == 0 { 0 } else { current().tgid() }
}

/// A fresh inner state for a process started by the kernel.
pub fn init_inner(name: &str) -> TaskInner {
    TaskInner {
        name: String::from(name),
        exe: String::new(),
        ppid: 0,
        pgid: 0,
        sid: 0,
        children: Vec::new(),
        exit_status: 0,
        mm: None,
        files: FdTable::default(),
        cwd: Arc::new(Mutex::new(String::from("/"))),
        umask: Arc::new(AtomicU32::new(0o022)),
        creds: Creds::default(),
        rlimits: default_rlimits(),
        sig: SignalState::default(),
        clear_child_tid: 0,
        set_child_tid: 0,
        vfork_parent: None,
        vfork_child: None,
        oom_score_adj: 0,
        start_ticks: sched::ticks(),
        utime: 0,
        stime: 0,
        exited_threads: (0, 0),
        exited_ns: 0,
        cusage: Usage::default(),
        exit_usage: Usage::default(),
        pdeathsig: 0,
        altstack: AltStack::default(),
        robust_list: (0, 0),
        oom_score_adj_min: 0,
        dumpable: true,
        cpu_mask: all_cpus_mask(),
        personality: 0,
        did_exec: false,
        orphan: false,
        kthread: false,
    }
}

/// The mask of every CPU a task can run on: the CPUs online.
pub fn all_cpus_mask() -> u64 {
    arch::ipi::online_mask()
}

/// The idle task of application processor `cpu` ("swapper/N", pid 0 like
/// the boot CPU's, not in the task table: it only ever runs the idle loop).
pub fn new_idle(cpu: usize) -> Arc<Task> {
    let name = alloc::format!("swapper/{cpu}");
    new_task(0, (0, 0), 0, FpuState::clean(), 0, init_inner(&name), None)
}

/// Make the boot context the idle task, pid 0 ("swapper").
pub fn init_idle() {
    let inner = init_inner("swapper/0");
    let t = new_task(0, (0, 0), 0, FpuState::clean(), 0, inner, None);
    insert(t.clone());
    sched::init(t);
    crate::mem::user::set_task_policy_hook(|| sched::try_current().and_then(|t| *t.mempolicy.lock()));
    cgroup::init();
    arch::context::set_start_hook(fork::schedule_tail);
    crate::mem::shrinkers().register(&LazyFreeShrinker);
}
