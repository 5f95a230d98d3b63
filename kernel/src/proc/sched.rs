//! The scheduler: round-robin over runnable tasks, preempted by the local
//! APIC timer (cf. kernel/sched/core.c `__schedule`, in miniature).
//!
//! ```text
//!   run queue:  [B] [C] [D]        current: A
//!   timer tick in user mode  ->  A to the back, B runs
//!   A sleeps (wait4, nanosleep, read)  ->  A leaves the queue until woken
//!   nothing runnable  ->  the idle task (pid 0) halts until an interrupt
//! ```
//!
//! The kernel is not preemptible: a task in a system call runs until it
//! returns or sleeps; only user mode is preempted, at the timer tick. The
//! switch saves the FPU/SSE registers and FS base, sets the kernel stack in
//! the TSS and per-CPU area, loads the next address space's CR3 and swaps
//! kernel stacks.
//!
//! Each CPU has its own run queue, current task and idle task (rq.rs:
//! where a woken task waits, and the balancing between queues). A task is
//! `on_cpu` from the moment a CPU picks it until that CPU
//! has saved its registers after switching away (`finish_switch`, Linux's
//! `finish_task_switch`): no other CPU runs it, and its kernel stack is not
//! freed, before then. A woken task may sit in the queue while it still
//! runs (it marked itself sleeping, then found its condition true): the
//! pickers pass over it until it is switched out.
//!
//! Locks: a run queue's lock (rq.rs) is taken alone or last: never a
//! task's `inner` lock, nor another queue's, while holding it (what the
//! picker reads of a task, its class and affinity, are atomics in the
//! task). `SLEEPERS` is taken alone.

// The context switch: a task's saved CPU state and kernel stack.
#![allow(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use x86_64::instructions::interrupts;

use mm::percpu::MAX_CPUS;
use mm::sync::IrqLock;

use super::rq::{self, RunQueue};
use super::{Pid, RUNNABLE, SLEEPING, Task};
use arch::fpu::FpuState;
use arch::trap::TrapFrame;

use abi::errno::{ENOMEM, Errno};

/// Timer frequency.
pub const HZ: u64 = 100;

/// (wake-up tick, pid) of sleeping tasks with a deadline.
static SLEEPERS: IrqLock<Vec<(u64, Pid)>> = IrqLock::new(Vec::new());
pub static CONTEXT_SWITCHES: AtomicU64 = AtomicU64::new(0);

/// Per CPU: the task it switched away from, whose `on_cpu` it clears once
/// the switch is over (a raw pointer: the task table or a run queue keeps
/// the task alive until then, see `schedule`).
static PREV: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Ticks each CPU spent in user mode, in the kernel for a task, and idle
/// (/proc/stat's user, system and idle columns).
static CPU_TICKS: [[AtomicU64; 3]; MAX_CPUS] = [const { [const { AtomicU64::new(0) }; 3] }; MAX_CPUS];

/// (user, system, idle) ticks of every CPU together since boot.
pub fn cpu_ticks() -> (u64, u64, u64) {
    (0..mm::percpu::nr_cpus()).map(cpu_ticks_of).fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

/// (user, system, idle) ticks of CPU `cpu` since boot.
pub fn cpu_ticks_of(cpu: usize) -> (u64, u64, u64) {
    let t = |k: usize| CPU_TICKS[cpu % MAX_CPUS][k].load(Ordering::Relaxed);
    (t(0), t(1), t(2))
}

fn cpu() -> usize {
    mm::percpu::this_cpu() % MAX_CPUS
}

/// A task's scheduling class (sched_setscheduler, setpriority), atomics
/// so that the picker reads them under its run queue's lock alone.
///
/// SCHED_FIFO and SCHED_RR tasks (priority 1..99) run before every other
/// task, the highest priority first; a FIFO task keeps the CPU until it
/// sleeps or a higher one is runnable, RR ones of equal priority take
/// turns at the tick. SCHED_OTHER, SCHED_BATCH and SCHED_IDLE tasks share
/// the rest by the weight of their nice value (-20..19; SCHED_IDLE below
/// nice 19), through their virtual runtime (fair.rs).
#[derive(Default)]
pub struct SchedParams {
    policy: core::sync::atomic::AtomicI32,
    rt_prio: core::sync::atomic::AtomicU8,
    nice: core::sync::atomic::AtomicI8,
    reset_on_fork: AtomicBool,
    /// Weighted CPU time, ns (fair.rs).
    pub(super) vruntime: AtomicU64,
    /// When the task last started running or was charged (uptime ns; 0
    /// while it does not run).
    pub(super) exec_start: AtomicU64,
    /// The run queue the task waits in: 0 none, c + 1 CPU c's (rq.rs;
    /// changed under that queue's lock).
    pub(super) queued: AtomicU32,
    /// The CPU the task runs or last ran or waited on (/proc/PID/stat's
    /// `processor`); its virtual runtime is relative to that CPU's queue.
    pub(super) cpu: AtomicU32,
    /// It is a CPU's idle task (never queued).
    idle: AtomicBool,
    /// CPU time used, ns, charged from the monotonic clock at every
    /// switch and tick (Linux's `sum_exec_runtime`: the thread's
    /// CLOCK_THREAD_CPUTIME_ID).
    pub(super) sum_exec: AtomicU64,
}

impl SchedParams {
    pub fn policy(&self) -> i32 {
        self.policy.load(Ordering::Relaxed)
    }

    pub fn rt_prio(&self) -> u8 {
        self.rt_prio.load(Ordering::Relaxed)
    }

    pub fn nice(&self) -> i8 {
        self.nice.load(Ordering::Relaxed)
    }

    /// The CPU the task runs on, or last ran on.
    pub fn cpu(&self) -> u32 {
        self.cpu.load(Ordering::Relaxed)
    }

    fn is_idle(&self) -> bool {
        self.idle.load(Ordering::Relaxed)
    }

    pub fn reset_on_fork(&self) -> bool {
        self.reset_on_fork.load(Ordering::Relaxed)
    }

    pub fn set_policy(&self, policy: i32, rt_prio: u8, reset_on_fork: bool) {
        self.rt_prio.store(rt_prio, Ordering::Relaxed);
        self.policy.store(policy, Ordering::Relaxed);
        self.reset_on_fork.store(reset_on_fork, Ordering::Relaxed);
    }

    pub fn set_nice(&self, nice: i8) {
        self.nice.store(nice, Ordering::Relaxed);
    }

    /// What a fork child starts with: the same, or with
    /// SCHED_RESET_ON_FORK, SCHED_OTHER and a nice value no lower than 0.
    pub fn inherit(&self, child: &SchedParams) {
        child.vruntime.store(self.vruntime.load(Ordering::Relaxed), Ordering::Relaxed);
        child.cpu.store(self.cpu(), Ordering::Relaxed);
        if self.reset_on_fork() {
            child.set_policy(abi::sched::SCHED_OTHER, 0, false);
            child.set_nice(self.nice().max(0));
        } else {
            child.set_policy(self.policy(), self.rt_prio(), false);
            child.set_nice(self.nice());
        }
    }

    /// Real-time priority the picker orders by (0: not real time).
    fn rank(&self) -> u8 {
        self.rt_prio()
    }

    fn is_fifo(&self) -> bool {
        self.policy() == abi::sched::SCHED_FIFO
    }
}

/// What the switch saves of a task that is not running, and loads back.
pub struct TaskCtx {
    pub saved_rsp: u64,
    pub fpu: FpuState,
    pub fs_base: u64,
    /// Page-table root to load when switching to the task (0: kernel's).
    pub cr3: u64,
}

/// A task's [`TaskCtx`], written only with interrupts off on this (the
/// only) CPU: by the switch, and through [`CtxCell::update`].
pub struct CtxCell(UnsafeCell<TaskCtx>);

// SAFETY: a context is touched by the switch (interrupts off, on the CPU
// that owns the task: `on_cpu` keeps every other CPU away) and through
// `update`, which only the task itself, or its creator before the task
// first runs, calls (interrupts off).
unsafe impl Sync for CtxCell {}

impl CtxCell {
    pub fn new(ctx: TaskCtx) -> CtxCell {
        CtxCell(UnsafeCell::new(ctx))
    }

    /// Where the switch last pushed the task's registers (a report may
    /// read it while the task runs: it gets a stale value, never a torn one).
    pub fn saved_rsp(&self) -> u64 {
        // SAFETY: an aligned u64 read; only the switch writes it.
        unsafe { (*self.0.get()).saved_rsp }
    }

    /// Change the context of a task that is not being switched (exec,
    /// arch_prctl, exit).
    pub fn update(&self, f: impl FnOnce(&mut TaskCtx)) {
        interrupts::without_interrupts(|| {
            // SAFETY: interrupts are off, and the task is the caller or
            // not running yet: no switch touches it meanwhile.
            f(unsafe { &mut *self.0.get() })
        });
    }
}

/// A kernel stack for a new task (`caller` names it in vmallocinfo), laid
/// out so that the first switch to it returns to user mode with `frame`.
/// Returns `([bottom, top), stack pointer to switch to)`.
pub fn new_task_stack(caller: &'static str, frame: &TrapFrame) -> Result<((u64, u64), u64), Errno> {
    let (mut frame, sp) = (*frame, frame.rsp);
    new_task_stack_with(caller, &mut frame, |_| sp)
}

/// `new_task_stack` whose frame's stack pointer depends on where the
/// stack is: `rsp(top)` sets it (kernel threads run on their own stack).
pub fn new_task_stack_with(
    caller: &'static str,
    frame: &mut TrapFrame,
    rsp: impl FnOnce(u64) -> u64,
) -> Result<((u64, u64), u64), Errno> {
    let (bottom, top) = crate::mem::kvm::alloc_kernel_stack(caller).map_err(|_| ENOMEM)?;
    frame.rsp = rsp(top);
    // SAFETY: the stack was just allocated and mapped, and nothing else
    // knows it yet.
    let rsp = unsafe { arch::context::prepare_new_stack(top, frame) };
    Ok(((bottom, top), rsp))
}

/// Make the boot context the idle task (pid 0) of the boot CPU.
pub fn init(idle: Arc<Task>) {
    init_cpu(idle);
}

/// Make `idle` (the CPU's boot context) this CPU's idle and current task.
pub fn init_cpu(idle: Arc<Task>) {
    idle.set_on_cpu(true);
    let c = cpu();
    idle.sched.idle.store(true, Ordering::Relaxed);
    idle.sched.cpu.store(c as u32, Ordering::Relaxed);
    let mut q = rq::lock(c);
    q.queue.reserve(64);
    q.current = Some(idle.clone());
    q.idle = Some(idle);
}

/// Ticks (1/HZ s) since boot, read from the monotonic clock rather than
/// counted: when interrupts arrive late or in a burst (a virtual CPU the
/// host did not run for a while), time still never runs fast, so no
/// timeout ends before it is due.
pub fn ticks() -> u64 {
    arch::time::uptime_ns() / (1_000_000_000 / HZ)
}

pub fn current() -> Arc<Task> {
    rq::lock(cpu()).current.clone().expect("sched: no current task")
}

/// Call `f` on the task this CPU ran when an NMI interrupted it, without
/// the run queue's lock (the NMI may have interrupted its holder).
pub fn with_interrupted_task(cpu: usize, f: impl FnOnce(&Task)) {
    let p = arch::percpu::current_on(cpu);
    if p != 0 {
        // SAFETY: the switch publishes a task here only while the task
        // runs on this CPU; the CPU is in the NMI, so the task lives on.
        f(unsafe { &*(p as *const Task) });
    }
}

/// The running task, or None before the first one (boot).
pub fn current_opt() -> Option<Arc<Task>> {
    rq::lock(cpu()).current.clone()
}

/// The current task if the scheduler lock is free (for the allocation
/// failure report, which may run with that lock held).
pub fn try_current() -> Option<Arc<Task>> {
    rq::try_lock(cpu())?.current.clone()
}

pub fn current_pid() -> Pid {
    rq::lock(cpu()).current.as_ref().map(|t| t.pid()).unwrap_or(0)
}

/// Make a runnable task wait in a run queue (once: a task already queued
/// stays where it is), on the CPU rq.rs `select_cpu` chooses, and make
/// that CPU look at it (an IPI to an idle CPU, or a real-time task's
/// preemption). A task that still runs somewhere may be queued: see the
/// module comment.
pub fn add(task: Arc<Task>) {
    task.set_state(RUNNABLE);
    if task.sched.is_idle() {
        return;
    }
    if let Some(c) = rq::enqueue(&task) {
        rq::kick(c, &task);
    }
}

/// Every CPU but this one runs its idle task and nothing waits in the
/// queues: work other CPUs were finishing (an exit's last frees) is done.
pub fn others_idle() -> bool {
    rq::others_idle(cpu())
}

/// Ask CPU `c` to switch at its next chance (the caller sends the IPI).
pub(super) fn need_resched(c: usize) {
    NEED_RESCHED[c % MAX_CPUS].store(true, Ordering::Relaxed);
}

/// What an application processor runs once it is online: its own idle
/// task, its timer, and the idle loop (tasks from its queue, or pulled
/// from a busier one, whenever there are some, `hlt` otherwise).
/// APs that finished their bring-up (their idle task made, their timer
/// started) and entered the scheduler loop.
static APS_SCHEDULING: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Wait (at most a second) until `n` APs are in their scheduler loop:
/// boot goes on only once their own allocations are done, so that what
/// runs next (init, the in-kernel tests counting free pages per node)
/// sees no CPU still setting itself up on its node's memory.
pub fn wait_for_aps(n: usize) {
    let deadline = arch::time::uptime_ns() + 1_000_000_000;
    while APS_SCHEDULING.load(core::sync::atomic::Ordering::Acquire) < n && arch::time::uptime_ns() < deadline {
        core::hint::spin_loop();
    }
}

pub fn ap_main(cpu: usize) -> ! {
    init_cpu(super::new_idle(cpu));
    arch::apic::start_timer(HZ);
    APS_SCHEDULING.fetch_add(1, core::sync::atomic::Ordering::Release);
    loop {
        schedule();
        interrupts::enable_and_hlt();
    }
}

/// Take the task of CPU `c`'s queue (locked as `q`) it should run: the
/// first of the highest real-time priority among those runnable, not
/// still on another CPU and allowed here, or, among the fair tasks, the
/// one with the smallest virtual runtime (tasks no longer runnable leave
/// the queue). None if `prev`, still runnable here, outranks it (a higher
/// priority, a FIFO task of the same one, or a fair task not ahead of it).
fn pick(q: &mut RunQueue, c: usize, prev: &Arc<Task>) -> Option<Arc<Task>> {
    rq::prune_locked(q, c);
    let mut best: Option<(usize, u8, u64)> = None;
    for (i, t) in q.queue.iter().enumerate() {
        if (Arc::ptr_eq(t, prev) || !t.on_cpu()) && t.allowed_on(c) {
            let r = t.sched.rank();
            let v = if r == 0 { super::fair::vruntime(&t.sched) } else { 0 };
            if best.is_none_or(|(_, b, bv)| r > b || (r == 0 && b == 0 && v < bv)) {
                best = Some((i, r, v));
            }
        }
    }
    let (i, r, v) = best?;
    let p = prev.sched.rank();
    // sched_yield (Linux's skip buddy): a fair task gives way to the best
    // other one unless that one is more than a tick of virtual time behind.
    let yielding = YIELDING[c].swap(false, Ordering::Relaxed);
    let prev_ahead = match (p, r) {
        (0, 0) if yielding => super::fair::vruntime(&prev.sched) + super::fair::YIELD_GRAN_NS < v,
        (0, 0) => super::fair::vruntime(&prev.sched) <= v,
        _ => p > r || (p == r && p > 0 && prev.sched.is_fifo()),
    };
    if prev.state() == RUNNABLE && prev.allowed_on(c) && !prev.sched.is_idle() && prev_ahead {
        return None;
    }
    if r == 0 {
        rq::advance_min_vruntime(c, v);
    }
    rq::dequeue_locked(q, c, i)
}

/// Move CPU `c`'s fair clock up to the smallest virtual runtime of the
/// fair tasks it runs or has queued (Linux's `update_min_vruntime`): a
/// task that wakes after others ran alone for long is not placed far
/// behind them.
fn update_min_vruntime(q: &RunQueue, c: usize) {
    let running = q.current.iter().filter(|t| !t.sched.is_idle());
    let fair = running.chain(q.queue.iter()).filter(|t| t.sched.rank() == 0);
    if let Some(v) = fair.map(|t| super::fair::vruntime(&t.sched)).min() {
        rq::advance_min_vruntime(c, v);
    }
}

/// Wake a sleeping task.
pub fn wake(pid: Pid) {
    if let Some(t) = super::task(pid) {
        if t.state() == SLEEPING {
            add(t);
        }
    }
}

/// Before choosing what CPU `c` runs next: a running task no longer
/// allowed here goes to a CPU where it is; a CPU about to idle pulls a
/// task from a busier queue. Takes no lock across the two steps.
fn balance_before_pick(c: usize) {
    let prev = match rq::lock(c).current.clone() {
        Some(p) => p,
        None => return,
    };
    let idle = prev.sched.is_idle();
    let stays = !idle && prev.state() == RUNNABLE;
    if stays && !prev.allowed_on(c) {
        rq::push_away(&prev);
    }
    if rq::nr_queued(c) == 0 && !(stays && prev.allowed_on(c)) {
        rq::pull(c, true);
    }
}

/// Switch to the next runnable task, if any; the current one stays
/// runnable (unless it marked itself sleeping or dead before calling).
pub fn schedule() {
    let was_enabled = interrupts::are_enabled();
    interrupts::disable();
    let c = cpu();
    balance_before_pick(c);
    let (prev, next): (*const Task, *const Task) = {
        let mut q = rq::lock(c);
        let Some(prev) = q.current.clone() else {
            drop(q);
            restore(was_enabled);
            return;
        };
        let prev_idle = prev.sched.is_idle();
        let prev_stays = prev.state() == RUNNABLE && prev.allowed_on(c);
        let next = match pick(&mut q, c, &prev) {
            Some(n) => {
                if prev_stays && !prev_idle && !Arc::ptr_eq(&n, &prev) {
                    rq::enqueue_locked(&mut q, c, &prev);
                }
                n
            }
            None if prev_stays => {
                drop(q);
                restore(was_enabled);
                return;
            }
            None => q.idle.clone().expect("sched: no idle task"),
        };
        if Arc::ptr_eq(&prev, &next) {
            drop(q);
            restore(was_enabled);
            return;
        }
        let p = Arc::as_ptr(&prev);
        let n = Arc::as_ptr(&next);
        let now = arch::time::uptime_ns();
        super::fair::stop(&prev.sched, now);
        super::fair::start(&next.sched, now);
        rq::IDLE_NOW[c].store(next.sched.is_idle(), Ordering::Relaxed);
        rq::CURR_RANK[c].store(next.sched.rank() as u64, Ordering::Relaxed);
        next.sched.cpu.store(c as u32, Ordering::Relaxed);
        next.set_on_cpu(true);
        PREV[c].store(p as u64, Ordering::Relaxed);
        q.current = Some(next);
        // The table, a queue or `q.current` keeps both tasks alive: no Arc
        // may stay on this stack across the switch, or a task that never
        // runs again would never be freed.
        (p, n)
    };
    // SAFETY: both tasks are alive (see above) and interrupts are off.
    unsafe { switch_to(&*prev, &*next) };
    finish_switch();
    restore(was_enabled);
}

/// After a switch, on the new task's stack: the task this CPU left is
/// saved, other CPUs may run it now (Linux's `finish_task_switch`). A new
/// task calls this first (`fork::schedule_tail`).
pub fn finish_switch() {
    let p = PREV[cpu()].swap(0, Ordering::Relaxed);
    if p != 0 {
        // SAFETY: `schedule` stored a pointer to a task that the table or
        // a queue keeps alive while it is on a CPU (a zombie is freed only
        // once `on_cpu` is clear, see `exit::free_task`).
        unsafe { (*(p as *const Task)).set_on_cpu(false) };
    }
}

fn restore(was_enabled: bool) {
    if was_enabled {
        interrupts::enable();
    }
}

/// The CPU-level switch.
///
/// # Safety
/// Interrupts off; both tasks alive; `next` was switched out before or has
/// a prepared stack.
unsafe fn switch_to(prev: &Task, next: &Task) {
    CONTEXT_SWITCHES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: interrupts are off, so nothing else touches either context.
    let (pc, nc) = unsafe { (&mut *prev.ctx().0.get(), &mut *next.ctx().0.get()) };
    pc.fpu.save();
    pc.fs_base = arch::cpu::fs_base();
    nc.fpu.restore();
    arch::cpu::set_fs_base(nc.fs_base);
    if next.kstack.1 != 0 {
        arch::percpu::set_kernel_stack(next.kstack.1);
        arch::backtrace::set_task_stack(next.kstack.0, next.kstack.1);
    }
    arch::percpu::set_current(next as *const Task as u64);
    arch::percpu::set_kmem_memcg(next.kmem_memcg.load(Ordering::Relaxed));
    let root = if nc.cr3 != 0 { nc.cr3 } else { crate::mem::kvm::kernel_root().as_u64() };
    if arch::mmu::current_root() != root {
        // SAFETY: every root maps the kernel half identically.
        unsafe { arch::mmu::load_root(root) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { arch::context::switch(&mut pc.saved_rsp, nc.saved_rsp) };
}

/// Sleep until woken (the caller arranged for someone to wake it).
pub fn block() {
    let me = current();
    if me.sched.is_idle() {
        drop(me);
        interrupts::enable_and_hlt();
        return;
    }
    me.set_state(SLEEPING);
    drop(me);
    schedule();
}

/// Sleep for `n` timer ticks.
pub fn sleep_ticks(n: u64) {
    let deadline = ticks() + n.max(1);
    let me = current();
    let idle = me.sched.is_idle();
    if idle {
        drop(me);
        while ticks() < deadline {
            interrupts::enable_and_hlt();
        }
        return;
    }
    me.set_state(SLEEPING);
    SLEEPERS.lock().push((deadline, me.pid()));
    drop(me);
    schedule();
}

/// Have the timer wake `pid` at tick `deadline` (a bound on a wait that
/// something else may end sooner).
pub fn wake_at(deadline: u64, pid: Pid) {
    let mut s = SLEEPERS.lock();
    if !s.contains(&(deadline, pid)) {
        s.push((deadline, pid));
    }
}

/// The wait [`wake_at`] bounded ended sooner: forget its wake-up (Linux
/// cancels the timer), and give an emptied list's memory back.
pub fn cancel_wake_at(deadline: u64, pid: Pid) {
    let mut s = SLEEPERS.lock();
    s.retain(|&e| e != (deadline, pid));
    if s.is_empty() {
        *s = Vec::new();
    }
}

/// Per CPU: the running task called sched_yield (read by the next pick).
static YIELDING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Give the CPU to another runnable task (sched_yield).
pub fn yield_now() {
    YIELDING[cpu()].store(true, Ordering::Relaxed);
    schedule();
}

/// Set by the timer tick when it found a task running in the kernel: its
/// slice is over, and the next `cond_resched` gives the CPU away (the
/// kernel is not preempted, so long loops must offer it).
static NEED_RESCHED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// On the way back to user mode: switch if a tick asked for it while the
/// task was in the kernel (interrupts may be off here; `schedule` keeps
/// them as they were).
pub fn resched_if_needed() {
    if NEED_RESCHED[cpu()].load(Ordering::Relaxed) && NEED_RESCHED[cpu()].swap(false, Ordering::Relaxed) {
        if super::current_pid() != 0 {
            schedule();
        }
    }
}

/// Linux's `cond_resched`: called between chunks of a long system call
/// (never with a spin lock held), so that other tasks run meanwhile.
pub fn cond_resched() {
    if NEED_RESCHED[cpu()].swap(false, Ordering::Relaxed) && super::current_pid() != 0 {
        schedule();
    }
}

/// The scheduler's part of the timer interrupt (`traps::timer` calls it
/// first): count the tick, wake sleepers whose time came and charge the
/// tick to the running task. Returns the tick count.
pub fn scheduler_tick(frame: &TrapFrame) -> u64 {
    let c = cpu();
    // Every CPU charges its own running task; the boot CPU wakes sleepers.
    let now = ticks();
    let due: Vec<Pid> = {
        let mut s = SLEEPERS.lock();
        let mut due = Vec::new();
        s.retain(|&(t, pid)| {
            if t <= now {
                due.push(pid);
                false
            } else {
                true
            }
        });
        if s.is_empty() && s.capacity() != 0 {
            *s = Vec::new();
        }
        due
    };
    {
        let q = rq::lock(c);
        let column = match q.current.as_ref() {
            Some(t) if !t.sched.is_idle() => (!frame.is_user()) as usize,
            _ => 2,
        };
        CPU_TICKS[c][column].fetch_add(1, Ordering::Relaxed);
        if let Some(t) = q.current.as_ref() {
            // The running task pays for its time so far, so the picker at
            // the end of this interrupt compares up-to-date values.
            super::fair::charge(&t.sched, arch::time::uptime_ns());
            if let Some(mut i) = t.inner.try_lock() {
                if frame.is_user() {
                    i.utime += 1;
                } else {
                    i.stime += 1;
                }
            }
        }
        update_min_vruntime(&q, c);
    }
    for pid in due {
        wake(pid);
    }
    // Periodic balancing: each CPU looks every fourth tick, the CPUs in
    // turn, and pulls a task if the busiest queue runs two more than it.
    if now % 4 == c as u64 % 4 {
        rq::pull(c, false);
    }
    now
}

/// The end of the timer interrupt: a task interrupted in user mode gives
/// the CPU away now (its signals wait for it on the way back, in the trap
/// return hook); one in the kernel is only marked, for its next
/// `cond_resched`.
pub fn preempt_tick(frame: &mut TrapFrame) {
    if frame.is_user() {
        schedule();
    } else {
        NEED_RESCHED[cpu()].store(true, Ordering::Relaxed);
    }
}

/// Wait in the idle task (pid 0) until `done()` holds, letting user tasks
/// run.
pub fn idle_until(mut done: impl FnMut() -> bool) {
    loop {
        if done() {
            return;
        }
        schedule();
        if done() {
            return;
        }
        interrupts::enable_and_hlt();
    }
}
