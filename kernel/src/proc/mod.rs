//! Processes (Linux's `task_struct`, one thread each).
//!
//! A [`Task`] has a kernel stack (vmalloc'd, with a guard page), saved CPU
//! context for the scheduler, and its process state: address space, open
//! files, credentials, limits, signal dispositions, parent and children.
//! Tasks live in the process table until their parent reaps them with
//! wait4(2).
//!
//! Pid 0 is the boot context: it becomes the idle task and never runs user
//! code. The first user process the kernel starts (init) is pid 1.
//!
//! ```text
//!   mod.rs     Task, the process table, credentials and limits
//!   sched.rs   round-robin preemptive scheduler, sleeping and waking
//!   exec.rs    execve: ELF loading and the initial user stack
//!   fork.rs    fork / vfork / clone
//!   exit.rs    exit, wait4, kill, the zombie's reaping
//!   signal.rs  signal numbers, dispositions, fatal delivery, segfault reports
//!   oom.rs     the OOM killer
//!   waitqueue.rs  sleeping until a condition holds (pipes, the console)
//! ```

pub mod exec;
pub mod exec_args;
pub mod exit;
pub mod fork;
pub mod oom;
pub mod sched;
pub mod signal;
pub mod waitqueue;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use spin::Mutex;

use arch::fpu::FpuState;
use mm::address_space::{AddressSpace, Rlimits};
use mm::sync::IrqLock;

use crate::vfs::FdTable;

pub type Pid = u32;

/// Credentials (real, effective, saved user and group ids).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
}

impl Creds {
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

pub const RLIM_INFINITY: u64 = u64::MAX;
pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_CORE: usize = 4;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_MEMLOCK: usize = 8;
pub const RLIMIT_AS: usize = 9;
pub const RLIM_NLIMITS: usize = 16;

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
    r
}

/// Most tasks the system allows (`kernel.threads-max`): memory / 64 KiB
/// per task, as Linux sizes it from RAM.
pub fn max_tasks() -> usize {
    let pages = crate::mem::try_page_alloc().map(|p| p.nr_managed_pages()).unwrap_or(32768) as usize;
    (pages / 16).clamp(64, 32768)
}

/// A user address space, shared by a vfork child and its parent. The last
/// reference destroys it (Linux's `mmput`): whoever drops it last, be it
/// the exiting task or a reader of /proc that held a reference a moment
/// longer, every page and page table goes back. Drop it only with CR3 on
/// another root.
pub struct UserMm {
    pub space: ManuallyDrop<IrqLock<AddressSpace>>,
    /// The PML4 (fixed for the address space's life), for CR3 switches.
    pub root: u64,
}

impl UserMm {
    pub fn new(space: AddressSpace) -> Arc<UserMm> {
        let root = space.root.as_u64();
        Arc::new(UserMm { space: ManuallyDrop::new(IrqLock::new(space)), root })
    }
}

impl Drop for UserMm {
    fn drop(&mut self) {
        // SAFETY: `space` is taken once, here, and never used afterwards.
        let space = unsafe { ManuallyDrop::take(&mut self.space) }.into_inner();
        space.destroy(&crate::mem::user::env());
    }
}

/// Scheduler-private CPU context.
pub struct TaskCtx {
    pub saved_rsp: u64,
    pub fpu: FpuState,
    pub fs_base: u64,
    /// Page-table root to load when switching to the task (0: kernel's).
    pub cr3: u64,
}

/// Run state.
pub const RUNNABLE: u8 = 0;
pub const SLEEPING: u8 = 1;
pub const ZOMBIE: u8 = 2;

/// Signal dispositions and masks.
#[derive(Clone)]
pub struct SignalState {
    /// (handler, flags, restorer, mask) per signal 1..=64.
    pub actions: [[u64; 4]; 64],
    pub blocked: u64,
    pub pending: u64,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState { actions: [[0; 4]; 64], blocked: 0, pending: 0 }
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
    pub children: Vec<Pid>,
    /// Wait status once a zombie.
    pub exit_status: i32,
    pub mm: Option<Arc<UserMm>>,
    pub files: FdTable,
    pub cwd: String,
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
    /// Faults counted for children already reaped (for rusage / stat).
    pub cmin_flt: u64,
}

/// One process.
pub struct Task {
    pub pid: Pid,
    /// `[bottom, top)` of the kernel stack; (0, 0) for the idle task.
    pub kstack: (u64, u64),
    ctx: UnsafeCell<TaskCtx>,
    state: AtomicU8,
    pub inner: Mutex<TaskInner>,
}

// SAFETY: `ctx` is touched only by the scheduler with interrupts off on the
// only CPU (switching away from or to this task); everything else is behind
// a lock or atomic.
unsafe impl Sync for Task {}
// SAFETY: as above.
unsafe impl Send for Task {}

impl Task {
    pub fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn set_state(&self, s: u8) {
        self.state.store(s, Ordering::Release);
    }

    /// # Safety
    /// Only the scheduler, with interrupts off.
    pub(crate) unsafe fn ctx(&self) -> *mut TaskCtx {
        self.ctx.get()
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
        x86_64::instructions::interrupts::without_interrupts(|| {
            // SAFETY: interrupts are off, so the scheduler cannot be reading
            // this context concurrently on the only CPU.
            unsafe { (*self.ctx.get()).cr3 = root };
        });
    }

    /// The FS base a task will run with (arch_prctl).
    pub fn set_fs_base(&self, base: u64) {
        x86_64::instructions::interrupts::without_interrupts(|| {
            // SAFETY: as in `set_root`.
            unsafe { (*self.ctx.get()).fs_base = base };
        });
    }

    pub fn name(&self) -> String {
        self.inner.lock().name.clone()
    }

    pub fn mm(&self) -> Option<Arc<UserMm>> {
        self.inner.lock().mm.clone()
    }
}

/// The process table.
static TASKS: IrqLock<BTreeMap<Pid, Arc<Task>>> = IrqLock::new(BTreeMap::new());
static NEXT_PID: AtomicU32 = AtomicU32::new(1);

pub fn task(pid: Pid) -> Option<Arc<Task>> {
    TASKS.lock().get(&pid).cloned()
}

/// Every task, by pid.
pub fn all_tasks() -> Vec<Arc<Task>> {
    TASKS.lock().values().cloned().collect()
}

/// Call `f` on every task with the table locked, allocating nothing (for
/// reclaim). `f` must not take the table's lock or sleep.
pub fn for_each_task(f: &mut dyn FnMut(&Arc<Task>)) {
    for t in TASKS.lock().values() {
        f(t);
    }
}

pub fn nr_tasks() -> usize {
    TASKS.lock().len()
}

pub(crate) fn insert(t: Arc<Task>) {
    TASKS.lock().insert(t.pid, t);
}

pub(crate) fn remove(pid: Pid) -> Option<Arc<Task>> {
    TASKS.lock().remove(&pid)
}

/// A fresh pid (pid_max is 4194304 on 64-bit Linux; wrap around skipping
/// pids in use).
pub(crate) fn alloc_pid() -> Pid {
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

/// Build a task around a prepared kernel stack.
pub(crate) fn new_task(pid: Pid, kstack: (u64, u64), saved_rsp: u64, fpu: FpuState, fs_base: u64, inner: TaskInner) -> Arc<Task> {
    let cr3 = inner.mm.as_ref().map(|m| m.root).unwrap_or(0);
    Arc::new(Task { pid, kstack, ctx: UnsafeCell::new(TaskCtx { saved_rsp, fpu, fs_base, cr3 }), state: AtomicU8::new(RUNNABLE), inner: Mutex::new(inner) })
}

/// The running task.
pub fn current() -> Arc<Task> {
    sched::current()
}

pub fn current_pid() -> Pid {
    sched::current_pid()
}

/// A fresh inner state for a process started by the kernel.
pub fn init_inner(name: &str) -> TaskInner {
    TaskInner {
        name: String::from(name),
        exe: String::new(),
        ppid: 0,
        pgid: 0,
        children: Vec::new(),
        exit_status: 0,
        mm: None,
        files: FdTable::with_console(),
        cwd: String::from("/"),
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
        cmin_flt: 0,
    }
}

/// Make the boot context the idle task, pid 0 ("swapper").
pub fn init_idle() {
    let mut inner = init_inner("swapper/0");
    inner.files = FdTable::default();
    let t = new_task(0, (0, 0), 0, FpuState::clean(), 0, inner);
    insert(t.clone());
    sched::init(t);
    arch::context::set_start_hook(fork::schedule_tail);
}
