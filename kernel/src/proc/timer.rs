//! A process's timers: the interval timers of alarm(2) and setitimer(2)
//! (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF) and its POSIX timers
//! (timer_create(2) ...), and their expiry on the timer tick (cf.
//! kernel/time/itimer.c, posix-timers.c, posix-cpu-timers.c).
//!
//! ```text
//!   setitimer / timer_settime ──arm──▶ Countdown { expires, interval } on a clock
//!   timer tick ──▶ charge the tick to the running process's CPU clocks
//!              ──▶ every countdown due? ──▶ its signal (SIGALRM, SIGVTALRM,
//!                  SIGPROF, or the sigevent's); a periodic one moves past
//!                  now by whole intervals, a one-shot one disarms
//!   timer signal dequeued ──collect_overrun──▶ si_overrun, timer_getoverrun
//! ```
//!
//! Clocks ([`Clock`]): wall timers count monotonic nanoseconds
//! (`arch::time::uptime_ns`; the caller turns an absolute CLOCK_REALTIME
//! time into a relative one). CPU timers count the CPU time the tick
//! charges to the process, a whole tick ([`TICK_NS`]) at a time: user
//! ticks for ITIMER_VIRTUAL, user and system ticks for ITIMER_PROF and the
//! CPU-time clocks. The tick is the resolution: a timer fires at the first
//! tick at or after its expiry, so requested times round up to ticks.
//!
//! Overruns: a POSIX timer's signal is queued at most once. Expirations
//! while it is queued, and those a tick saw at once, are overruns; when
//! the signal leaves the queue (delivered, taken by sigtimedwait, or
//! dropped because it is ignored or merged), the signal code calls
//! [`collect_overrun`], which gives the count to si_overrun and keeps it
//! for timer_getoverrun.
//!
//! Lifetime, as Linux: a forked child starts with no timers ([`fork_child`]),
//! exec keeps the interval timers and deletes the POSIX timers ([`exec`]),
//! exit deletes all ([`exit`]).
//!
//! Locks: [`TIMERS`] (an IrqLock, so held only with interrupts off)
//! protects every process's timers. It is the innermost lock: taken by
//! system calls, fork, exec and exit, by the tick, and by
//! [`collect_overrun`], which the signal code calls with the target task's
//! `inner` lock held. Nothing is taken while it is held: the tick sends
//! its signals after releasing it.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::{EAGAIN, EINVAL, Errno};
use abi::signal::{
    SI_KERNEL, SIGALRM, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_THREAD_ID, SIGPROF, SIGVTALRM, SigInfo,
};
use abi::time::{DELAYTIMER_MAX, ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL};
use mm::sync::IrqLock;

use super::{Pid, sched};

/// The CPU time one tick charges.
pub const TICK_NS: u64 = 1_000_000_000 / sched::HZ;

/// Most POSIX timers one process may have, and all processes together per
/// task the system allows (`max_tasks`, sized from RAM): EAGAIN past
/// either. Linux bounds them by RLIMIT_SIGPENDING, each holding a
/// preallocated signal; here the total keeps their memory (under 100
/// bytes each) near 1% of RAM.
const MAX_TIMERS: usize = 1024;
const MAX_TIMERS_PER_TASK_SLOT: usize = 8;

/// What a timer counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Monotonic time since boot (CLOCK_MONOTONIC, CLOCK_BOOTTIME,
    /// CLOCK_REALTIME, ITIMER_REAL).
    Wall,
    /// The process's user and system CPU time (ITIMER_PROF,
    /// CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID).
    Cpu,
    /// The process's user CPU time (ITIMER_VIRTUAL).
    User,
}

/// A timer's value and period in nanoseconds, as setitimer and
/// timer_settime take and return them: the value is the time left (0:
/// disarmed), the interval the period that reloads it (0: once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    pub value_ns: u64,
    pub interval_ns: u64,
}

/// When a timer next expires on its clock (None: disarmed), and its
/// period (0: once).
#[derive(Clone, Copy, Debug, Default)]
struct Countdown {
    expires: Option<u64>,
    interval_ns: u64,
}

impl Countdown {
    /// Armed `value_ns` from `now` (disarmed if 0), reloading with
    /// `interval_ns`.
    fn arm(now: u64, value_ns: u64, interval_ns: u64) -> Countdown {
        Countdown { expires: (value_ns != 0).then(|| now.saturating_add(value_ns)), interval_ns }
    }

    /// How many times the countdown expired by `now` (0: not due). A
    /// periodic one moves to its first expiry after `now` (Linux's
    /// `hrtimer_forward`), a one-shot one disarms.
    fn expire(&mut self, now: u64) -> u64 {
        let Some(at) = self.expires else { return 0 };
        if now < at {
            return 0;
        }
        if self.interval_ns == 0 {
            self.expires = None;
            return 1;
        }
        let n = (now - at) / self.interval_ns + 1;
        self.expires = Some(at.saturating_add(n.saturating_mul(self.interval_ns)));
        n
    }

    /// Time left at `now`: None if disarmed, 0 if due and not yet seen by
    /// a tick.
    fn left(&self, now: u64) -> Option<u64> {
        self.expires.map(|at| at.saturating_sub(now))
    }
}

/// How a POSIX timer reports its expiry: its `struct sigevent`, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// SIGEV_SIGNAL, SIGEV_THREAD (to the kernel the same; the C library
    /// builds its threads on it), SIGEV_THREAD_ID, or SIGEV_NONE: no
    /// signal, timer_gettime shows the countdown.
    pub notify: i32,
    /// The signal (1..=64 unless SIGEV_NONE) and its si_value.
    pub signo: i32,
    pub value: u64,
    /// The task signalled: the creator, or SIGEV_THREAD_ID's thread.
    pub tid: Pid,
}

impl Event {
    fn signals(&self) -> bool {
        self.notify != SIGEV_NONE
    }
}

/// One POSIX timer.
struct PosixTimer {
    clock: Clock,
    /// The clock id it was created on (timer_settime's TIMER_ABSTIME
    /// reads that clock).
    clock_id: i32,
    event: Event,
    countdown: Countdown,
    /// Its signal is queued and has not left the queue yet.
    is_queued: bool,
    /// Expirations not signalled since the queued signal was sent.
    overrun: i32,
    /// What the last signal to leave the queue reported (timer_getoverrun).
    overrun_last: i32,
}

impl PosixTimer {
    /// timer_gettime at `now` on its clock (Linux's `common_timer_get`):
    /// a due timer shows 1 ns left until a tick signals it, except a
    /// SIGEV_NONE one: 0 once a one-shot one expired, the time to the next
    /// period's end for a periodic one.
    fn setting(&self, now: u64) -> Setting {
        let value_ns = match self.countdown.left(now) {
            // A periodic SIGEV_NONE timer that no tick has moved on yet
            // shows the time to its next expiry after now, never 0
            // (Linux's `common_timer_get` forwards it first).
            Some(0) if !self.event.signals() && self.countdown.interval_ns != 0 => {
                let mut next = self.countdown;
                next.expire(now);
                next.left(now).unwrap_or(0)
            }
            Some(0) if !self.event.signals() => 0,
            Some(left) => left.max(1),
            None => 0,
        };
        Setting { value_ns, interval_ns: self.countdown.interval_ns }
    }
}

/// The signals of ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF, by `which`.
const ITIMER_SIGNALS: [u32; 3] = [SIGALRM, SIGVTALRM, SIGPROF];
/// Their clocks.
const ITIMER_CLOCKS: [Clock; 3] = [Clock::Wall, Clock::User, Clock::Cpu];

/// The timers of one process.
#[derive(Default)]
struct ProcTimers {
    itimers: [Countdown; 3],
    posix: BTreeMap<i32, PosixTimer>,
    /// The id the next timer_create tries first (ids count up from 0 per
    /// process, as Linux's `next_posix_timer_id`).
    next_id: i32,
    /// CPU time the tick charged to the process since this entry was made
    /// (the CPU clocks count from here), and its user part.
    cpu_ns: u64,
    user_ns: u64,
}

/// The time on each clock of one process at one moment.
#[derive(Clone, Copy)]
struct Now {
    wall_ns: u64,
    cpu_ns: u64,
    user_ns: u64,
}

impl Now {
    fn on(&self, clock: Clock) -> u64 {
        match clock {
            Clock::Wall => self.wall_ns,
            Clock::Cpu => self.cpu_ns,
            Clock::User => self.user_ns,
        }
    }
}

impl ProcTimers {
    /// The process's clocks when the wall clock reads `wall_ns`.
    fn now(&self, wall_ns: u64) -> Now {
        Now { wall_ns, cpu_ns: self.cpu_ns, user_ns: self.user_ns }
    }

    /// getitimer(which) at `now`.
    fn itimer_setting(&self, which: usize, now: Now) -> Setting {
        let c = &self.itimers[which];
        let value_ns = match c.left(now.on(ITIMER_CLOCKS[which])) {
            None => 0,
            // Linux's `itimer_get_remtime`: a due ITIMER_REAL reads 1 µs.
            Some(0) if which == ITIMER_REAL as usize => 1000,
            // `get_cpu_itimer`: a due CPU itimer reads one tick.
            Some(0) => TICK_NS,
            Some(left) => left,
        };
        Setting { value_ns, interval_ns: c.interval_ns }
    }

    /// Expire what is due at `wall_ns`, adding the signals to send (for
    /// `pid`) to `sends`.
    fn expire(&mut self, pid: Pid, wall_ns: u64, sends: &mut Vec<(Pid, SigInfo, bool)>) {
        let now = self.now(wall_ns);
        for (which, c) in self.itimers.iter_mut().enumerate() {
            if c.expire(now.on(ITIMER_CLOCKS[which])) > 0 {
                sends.push((pid, SigInfo::new(ITIMER_SIGNALS[which], SI_KERNEL), false));
            }
        }
        for (&id, t) in self.posix.iter_mut() {
            let n = t.countdown.expire(now.on(t.clock));
            if n == 0 {
                continue;
            }
            if !t.event.signals() {
                continue;
            }
            if t.is_queued {
                t.overrun = add_overruns(t.overrun, n);
            } else {
                t.is_queued = true;
                t.overrun = add_overruns(0, n - 1);
                let to_thread = t.event.notify & SIGEV_THREAD_ID != 0;
                sends.push((t.event.tid, SigInfo::timer(t.event.signo as u32, id, 0, t.event.value), to_thread));
            }
        }
    }
}

/// `overrun + n`, saturating at DELAYTIMER_MAX.
fn add_overruns(overrun: i32, n: u64) -> i32 {
    (overrun as u64).saturating_add(n).min(DELAYTIMER_MAX as u64) as i32
}

/// Every process's timers, by pid (only processes that used a timer).
static TIMERS: IrqLock<BTreeMap<Pid, ProcTimers>> = IrqLock::new(BTreeMap::new());

/// The index of setitimer's `which`, or EINVAL.
fn itimer_index(which: i32) -> Result<usize, Errno> {
    match which {
        ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF => Ok(which as usize),
        _ => Err(EINVAL),
    }
}

/// getitimer(2) for process `pid`.
pub fn get_itimer(pid: Pid, which: i32) -> Result<Setting, Errno> {
    let which = itimer_index(which)?;
    let wall_ns = arch::time::uptime_ns();
    let all = TIMERS.lock();
    Ok(all.get(&pid).map(|p| p.itimer_setting(which, p.now(wall_ns))).unwrap_or_default())
}

/// setitimer(2) for process `pid`: arm (or, with a value of 0, disarm)
/// interval timer `which`; returns the old setting.
///
/// As Linux's `do_setitimer`: disarming ITIMER_REAL clears its interval,
/// while a CPU itimer keeps the interval it is given, and runs one tick
/// longer than asked (`set_cpu_itimer`: the tick in progress is not a
/// whole tick of the process's time).
pub fn set_itimer(pid: Pid, which: i32, new: Setting) -> Result<Setting, Errno> {
    let which = itimer_index(which)?;
    let wall_ns = arch::time::uptime_ns();
    let mut all = TIMERS.lock();
    let p = all.entry(pid).or_default();
    let now = p.now(wall_ns);
    let old = p.itimer_setting(which, now);
    let now = now.on(ITIMER_CLOCKS[which]);
    p.itimers[which] = if which == ITIMER_REAL as usize {
        let interval_ns = if new.value_ns == 0 { 0 } else { new.interval_ns };
        Countdown::arm(now, new.value_ns, interval_ns)
    } else {
        let value_ns = if new.value_ns == 0 { 0 } else { new.value_ns.saturating_add(TICK_NS) };
        Countdown::arm(now, value_ns, new.interval_ns)
    };
    Ok(old)
}

/// timer_create(2) for process `pid`: a disarmed timer on `clock`
/// (created on clock id `clock_id`) reporting as `event` says, or, if
/// None (a NULL sigevent), with SIGALRM to `pid` carrying the timer's id;
/// returns the id. EAGAIN when the process has too many.
pub fn timer_create(pid: Pid, clock: Clock, clock_id: i32, event: Option<Event>) -> Result<i32, Errno> {
    let system_max = super::max_tasks() * MAX_TIMERS_PER_TASK_SLOT;
    let mut all = TIMERS.lock();
    let total: usize = all.values().map(|p| p.posix.len()).sum();
    let p = all.entry(pid).or_default();
    if p.posix.len() >= MAX_TIMERS || total >= system_max {
        return Err(EAGAIN);
    }
    let mut id = p.next_id;
    while p.posix.contains_key(&id) {
        id = if id == i32::MAX { 0 } else { id + 1 };
    }
    p.next_id = if id == i32::MAX { 0 } else { id + 1 };
    let event = event.unwrap_or(Event { notify: SIGEV_SIGNAL, signo: SIGALRM as i32, value: id as u64, tid: pid });
    let timer = PosixTimer {
        clock,
        clock_id,
        event,
        countdown: Countdown::default(),
        is_queued: false,
        overrun: 0,
        overrun_last: 0,
    };
    p.posix.insert(id, timer);
    Ok(id)
}

/// Apply `f` to POSIX timer `id` of process `pid` (EINVAL if there is
/// none), with the process's clocks at `wall_ns`.
fn with_timer<R>(pid: Pid, id: i32, f: impl FnOnce(&mut PosixTimer, u64) -> R) -> Result<R, Errno> {
    let wall_ns = arch::time::uptime_ns();
    let mut all = TIMERS.lock();
    let p = all.get_mut(&pid).ok_or(EINVAL)?;
    let now = p.now(wall_ns);
    let t = p.posix.get_mut(&id).ok_or(EINVAL)?;
    Ok(f(t, now.on(t.clock)))
}

/// The clock id POSIX timer `id` of `pid` was created on (EINVAL if none):
/// timer_settime reads it to turn an absolute time into a relative one.
pub fn timer_clock_id(pid: Pid, id: i32) -> Result<i32, Errno> {
    with_timer(pid, id, |t, _| t.clock_id)
}

/// timer_settime(2) with a relative value: arm (or, with a value of 0,
/// disarm) POSIX timer `id` of `pid`; returns the old setting. Overruns
/// not yet collected start again from 0.
///
/// As Linux's `common_timer_set`: disarming stops the signals and clears
/// the interval, but a SIGEV_NONE timer keeps its expiry, so
/// timer_gettime still counts down to it (`common_timer_get` reads the
/// expiry of a SIGEV_NONE timer whether armed or not).
pub fn timer_settime(pid: Pid, id: i32, new: Setting) -> Result<Setting, Errno> {
    with_timer(pid, id, |t, now| {
        let old = t.setting(now);
        t.countdown = if new.value_ns != 0 {
            Countdown::arm(now, new.value_ns, new.interval_ns)
        } else if !t.event.signals() {
            Countdown { interval_ns: 0, ..t.countdown }
        } else {
            Countdown::default()
        };
        t.overrun = 0;
        old
    })
}

/// timer_gettime(2): time left and interval of POSIX timer `id` of `pid`.
pub fn timer_gettime(pid: Pid, id: i32) -> Result<Setting, Errno> {
    with_timer(pid, id, |t, now| t.setting(now))
}

/// timer_getoverrun(2): the overrun count the timer's last dequeued signal
/// reported.
pub fn timer_getoverrun(pid: Pid, id: i32) -> Result<i32, Errno> {
    with_timer(pid, id, |t, _| t.overrun_last)
}

/// timer_delete(2). A signal of the timer still queued stays queued.
pub fn timer_delete(pid: Pid, id: i32) -> Result<(), Errno> {
    let mut all = TIMERS.lock();
    all.get_mut(&pid).and_then(|p| p.posix.remove(&id)).map(|_| ()).ok_or(EINVAL)
}

/// The signal of POSIX timer `timer_id` of process `pid` left the queue
/// (delivered, taken by rt_sigtimedwait, or not queued after all: ignored
/// or merged): returns the overruns since it was sent, for si_overrun,
/// which timer_getoverrun reports from now on, and lets the timer queue
/// its signal again. 0 for a timer deleted meanwhile.
///
/// The signal code calls it when it dequeues an SI_TIMER signal, possibly
/// with the task's `inner` lock held (this takes only [`TIMERS`]).
pub fn collect_overrun(pid: Pid, timer_id: i32) -> i32 {
    let mut all = TIMERS.lock();
    let Some(t) = all.get_mut(&pid).and_then(|p| p.posix.get_mut(&timer_id)) else { return 0 };
    t.is_queued = false;
    t.overrun_last = core::mem::take(&mut t.overrun);
    t.overrun_last
}

/// /proc/PID/timers: the POSIX timers of `pid`, newest first, as Linux's
/// `show_timer` prints them (the sigevent's signal and value, how it
/// notifies whom, the clock id):
///
/// ```text
/// ID: 0
/// signal: 14/0000000000000000
/// notify: signal/pid.42
/// ClockID: 1
/// ```
pub fn render(pid: Pid, s: &mut String) -> core::fmt::Result {
    let timers: Vec<(i32, Event, i32)> = match TIMERS.lock().get(&pid) {
        Some(p) => p.posix.iter().rev().map(|(&id, t)| (id, t.event, t.clock_id)).collect(),
        None => return Ok(()),
    };
    for (id, ev, clock_id) in timers {
        let how = match ev.notify & !SIGEV_THREAD_ID {
            SIGEV_NONE => "none",
            SIGEV_THREAD => "thread",
            _ => "signal",
        };
        let whose = if ev.notify & SIGEV_THREAD_ID != 0 { "tid" } else { "pid" };
        writeln!(s, "ID: {}", id)?;
        writeln!(s, "signal: {}/{:016x}", ev.signo, ev.value)?;
        writeln!(s, "notify: {}/{}.{}", how, whose, ev.tid)?;
        writeln!(s, "ClockID: {}", clock_id)?;
    }
    Ok(())
}

/// Forget process `pid`'s timers; an emptied table gives its memory back
/// (a `BTreeMap` keeps its last node allocated when its last entry goes).
fn forget(pid: Pid) {
    let mut all = TIMERS.lock();
    all.remove(&pid);
    if all.is_empty() {
        *all = BTreeMap::new();
    }
}

/// A new process `pid` (fork, vfork, clone): it starts with no timers.
pub fn fork_child(pid: Pid) {
    forget(pid);
}

/// Process `pid` executes a new program: its POSIX timers go, its
/// interval timers (alarm included) stay.
pub fn exec(pid: Pid) {
    if let Some(p) = TIMERS.lock().get_mut(&pid) {
        p.posix.clear();
    }
}

/// Process `pid` exits: all its timers go.
pub fn exit(pid: Pid) {
    forget(pid);
}

/// The timers' part of the timer interrupt (`traps::timer`, after the
/// scheduler's tick): charge the tick to the running process's CPU clocks
/// (to its user time too if it was interrupted in user mode), expire
/// every due timer, then send the signals.
///
/// Interrupt context: [`TIMERS`] is only ever held with interrupts off, so
/// on this CPU the tick never finds it taken; the signals go through the
/// interrupt-safe send, which never waits for a task's lock.
pub fn tick(user_mode: bool) {
    let running = super::current_tgid_from_irq();
    let wall_ns = arch::time::uptime_ns();
    let mut sends = Vec::new();
    {
        let mut all = TIMERS.lock();
        for (&pid, p) in all.iter_mut() {
            if pid == running && running != 0 {
                p.cpu_ns += TICK_NS;
                if user_mode {
                    p.user_ns += TICK_NS;
                }
            }
            p.expire(pid, wall_ns, &mut sends);
        }
    }
    for (pid, info, to_thread) in sends {
        // From the timer interrupt: never waiting for a lock the
        // interrupted code may hold.
        if to_thread {
            super::signal::send_thread_info_from_irq(pid, info);
        } else {
            super::signal::send_info_from_irq(pid, info);
        }
    }
}
