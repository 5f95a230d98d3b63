//! Leaving: exit(2), the zombie state, wait4(2) and reaping (cf.
//! kernel/exit.c).
//!
//! An exiting thread gives up its robust futexes, its clear_child_tid
//! word, and its references to the address space and descriptor table.
//! The last thread of a process to exit also ends the process: the files
//! and the address space go (every page and page table back to the buddy
//! allocator, unless a vfork parent or another process shares them), the
//! children go to init, and the leader becomes a zombie holding only the
//! wait status, and the parent is woken. The parent's wait4 reaps it: the
//! kernel stack and the task structure are freed then. Threads other
//! than the leader are reaped by the kernel (`reap_orphans`) as soon as
//! they have exited; the leader waits as a zombie for the last thread.
//!
//! Wait status encoding (Linux, `<sys/wait.h>`):
//!
//! ```text
//!   exited:             (code & 0xff) << 8       WIFEXITED, WEXITSTATUS
//!   killed by signal:   sig | 0x80 if core dump  WIFSIGNALED, WTERMSIG
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::wait::{WALL, WCLONE, WCONTINUED, WEXITED, WNOHANG, WNOTHREAD, WNOWAIT, WSTOPPED, WUNTRACED};

use super::{Pid, SLEEPING, Task, ZOMBIE, current, sched};

/// Status of a normal exit.
pub fn status_exited(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// Status of a death by signal (no core dumps: RLIMIT_CORE is 0).
pub fn status_signaled(sig: u32) -> i32 {
    sig as i32 & 0x7f
}

/// Called once when init (pid 1) exits.
static INIT_EXIT_HOOK: spin::Once<fn(i32)> = spin::Once::new();

pub fn on_init_exit(f: fn(i32)) {
    INIT_EXIT_HOOK.call_once(|| f);
}

/// Called when a session leader exits, with its session: the terminal it
/// controls is hung up (the console registers it; proc cannot see vfs).
static SESSION_EXIT_HOOK: spin::Once<fn(Pid)> = spin::Once::new();

pub fn on_session_leader_exit(f: fn(Pid)) {
    SESSION_EXIT_HOOK.call_once(|| f);
}

/// Called when a process ends, after its address space is gone, with its
/// pid: System V shared memory's `exit_shm` (ipc registers it).
static PROCESS_EXIT_HOOK: spin::Once<fn(Pid)> = spin::Once::new();

pub fn on_process_exit(f: fn(Pid)) {
    PROCESS_EXIT_HOOK.call_once(|| f);
}

/// Release what a dying thread holds of its own: robust futexes, the
/// clear_child_tid word, its handles on the address space and the
/// descriptor table (the last handle frees them). With `usage_to`, the
/// process ends with this thread: the address space's fault counts and
/// peak RSS are kept in that task (the leader) for the parent's wait4.
fn release_thread(me: &Task, usage_to: Option<&Task>) {
    super::robust::exit_robust_list(me);
    mm_release(me);
    let (mm, vfork_parent, files) = {
        let mut i = me.inner.lock();
        let files = core::mem::take(&mut i.files);
        (i.mm.take(), i.vfork_parent.take(), files)
    };
    if let (Some(to), Some(m)) = (usage_to, &mm) {
        let c = m.space.read().counters();
        to.inner.lock().exit_usage = super::Usage {
            utime: 0,
            stime: 0,
            min_flt: c.min_flt,
            maj_flt: c.maj_flt,
            maxrss_kb: c.hiwater_rss.max(c.rss()).saturating_mul(4),
        };
    }
    drop(files);
    // Leave the address space before destroying it: CR3 must never point
    // at a freed PML4.
    me.set_root(0);
    crate::mem::user::activate_kernel_root();
    if let Some(m) = mm {
        crate::mem::user::UserMm::release(m);
    }
    if let Some(p) = vfork_parent {
        vfork_release(p);
    }
}

/// Release what the process of leader `me` holds (its last thread is
/// exiting): timers, children (to init), its job-control links; store
/// the wait status. Returns the parent's pid.
fn release_process(me: &Task, status: i32) -> Pid {
    super::timer::exit(me.pid());
    if let Some(h) = PROCESS_EXIT_HOOK.get() {
        h(me.pid());
    }
    let (parent, children) = {
        let mut i = me.inner.lock();
        i.exit_status = status;
        (i.ppid, core::mem::take(&mut i.children))
    };
    // Orphans go to init (pid 1), or to the kernel (pid 0) if init is gone.
    // The kernel never waits for them: it reaps them itself once they are
    // zombies (now, or in `reap_orphans`), as Linux's init would.
    let reaper = if me.pid() != 1 && super::task(1).is_some() { 1 } else { 0 };
    let mut wake_reaper = false;
    let mut reparented = Vec::new();
    for c in children {
        if let Some(ct) = super::task(c) {
            let pdeathsig = {
                let mut ci = ct.inner.lock();
                ci.ppid = reaper;
                ci.orphan = reaper == 0;
                ci.pdeathsig
            };
            if ct.is_dead() && reaper == 0 {
                drop(ct);
                reap(c);
                continue;
            }
            if ct.is_dead() {
                wake_reaper = true;
            } else if pdeathsig != 0 {
                // PR_SET_PDEATHSIG: the child learns its parent died
                // (Linux's `reparent_leader`).
                super::signal::send(c, pdeathsig);
            }
            if let Some(r) = super::task(reaper) {
                r.inner.lock().children.push(c);
            }
            reparented.push(c);
        }
    }
    if wake_reaper {
        super::wake_process(reaper);
    }
    orphan_checks(me, parent, &reparented);
    let sid = me.inner.lock().sid;
    if sid == me.pid() {
        if let Some(hang_up) = SESSION_EXIT_HOOK.get() {
            hang_up(sid);
        }
    }
    parent
}

/// POSIX job control at exit (Linux's `kill_orphaned_pgrp`): our own group
/// and each child's group may lose their last link to a shell; a group
/// orphaned that way with a stopped member gets SIGHUP and SIGCONT.
fn orphan_checks(me: &Task, parent: Pid, children: &[Pid]) {
    let ids = |t: &Task| {
        let i = t.inner.lock();
        (i.pgid, i.sid)
    };
    let (pgid, sid) = ids(me);
    if let Some(p) = super::task(parent) {
        let (ppgid, psid) = ids(&p);
        if ppgid != pgid && psid == sid {
            super::pgrp::orphan_check(pgid, Some(me.pid()));
        }
    }
    for &c in children {
        if let Some(ct) = super::task(c) {
            let (cpgid, csid) = ids(&ct);
            if cpgid != pgid && csid == sid {
                super::pgrp::orphan_check(cpgid, None);
            }
        }
    }
}

/// CLONE_CHILD_CLEARTID / set_tid_address: tell whoever shares the
/// memory that this task is gone by storing 0 at `clear_child_tid` and
/// waking one futex waiter there (Linux's `mm_release`). Only when the address space outlives us (a vfork
/// child): otherwise nobody could see the store. Through uaccess in our
/// own, still current, address space; a bad pointer is ignored. Exit and
/// exec (for the old image) call it.
pub(crate) fn mm_release(me: &Task) {
    let (addr, mm) = {
        let mut i = me.inner.lock();
        (core::mem::take(&mut i.clear_child_tid), i.mm.clone())
    };
    // Two references: ours just now and the task's own; more means shared.
    let shared = mm.as_ref().is_some_and(|m| Arc::strong_count(m) > 2);
    drop(mm);
    if addr != 0 && shared && crate::usercopy::write_user(addr, &0u32).is_ok() {
        // Wake a joiner waiting on the tid word (Linux's mm_release).
        if let Ok((key, _)) = super::futex::key_of(addr, false) {
            super::futex::wake(key, 1, abi::futex::FUTEX_BITSET_MATCH_ANY);
        }
    }
}

/// Wake a vfork parent: its child exec'd or exited.
pub fn vfork_release(parent: Pid) {
    if let Some(p) = super::task(parent) {
        p.inner.lock().vfork_child = None;
        sched::wake(parent);
    }
}

/// exit_group(2), and death by a signal: every thread of the process
/// ends, and the process with `status` (the first such status wins).
pub fn do_group_exit(status: i32) -> ! {
    {
        let me = current();
        super::thread::zap_others(&me.group, me.pid(), status);
    }
    do_exit(status)
}

/// End the current thread (exit(2)); if it is the last of its process,
/// the process ends with wait status `status`, or the one exit_group set.
/// Never returns.
pub fn do_exit(status: i32) -> ! {
    let me = current();
    // The thread's CPU time moves to the process before the thread leaves
    // the group's list (and before CHILD_CLEARTID wakes a joiner): a reader
    // of the process clock never misses it (ticks that still land on this
    // thread before it leaves the list count there too).
    if !me.is_leader() {
        fold_usage(&me, &me.leader());
    }
    let left = super::thread::leave(&me.group, me.pid());
    if left > 0 {
        exit_thread(me);
    }
    let status = me.group.exiting().unwrap_or(status);
    let leader = me.leader();
    let (pid, parent) = {
        release_thread(&me, Some(&leader));
        let parent = release_process(&leader, status);
        // A parent that ignores SIGCHLD never sees the zombie: it leaves
        // the parent's children before it is one, or a wait4 on another
        // CPU could reap it in between.
        if super::signal::parent_autoreaps(parent) {
            autoreap(&leader, parent);
        }
        leader.set_state(ZOMBIE);
        leader.group.ended.store(true, core::sync::atomic::Ordering::Release);
        // pidfds of this process become readable.
        super::waitqueue::TASK_EXIT.wake_all();
        super::signal::notify_parent_exit(&leader, parent, status);
        (leader.pid(), parent)
    };
    drop(leader);
    if !me.is_leader() {
        hand_to_kernel(&me);
        me.set_state(ZOMBIE);
    }
    drop(me);
    if pid == 1 {
        let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
        log::info!("kernel: init exited with status {}", code);
        if let Some(h) = INIT_EXIT_HOOK.get() {
            h(code);
        }
    }
    super::wake_process(parent);
    // No Arc of ours stays on this stack: the zombie is freed at reaping.
    sched::schedule();
    panic!("exit: a zombie was scheduled again (pid {})", pid);
}

/// A thread that is not the last of its process ends: the process goes on.
fn exit_thread(me: alloc::sync::Arc<Task>) -> ! {
    release_thread(&me, None);
    if !me.is_leader() {
        hand_to_kernel(&me);
    }
    // The leader stays a zombie, not yet reported: its process lives on.
    me.set_state(ZOMBIE);
    let pid = me.pid();
    drop(me);
    sched::schedule();
    panic!("exit: an exited thread was scheduled again (tid {})", pid);
}

/// Move an exiting thread's CPU time to its process's (the leader's).
fn fold_usage(me: &Task, leader: &Task) {
    let (u, s) = {
        let mut i = me.inner.lock();
        (core::mem::take(&mut i.utime), core::mem::take(&mut i.stime))
    };
    let ns = super::fair::take_cpu_time_ns(&me.sched);
    let mut l = leader.inner.lock();
    l.exited_threads.0 += u;
    l.exited_threads.1 += s;
    l.exited_ns += ns;
}

/// An exited thread other than the leader is the kernel's to reap, as an
/// orphan is (`reap_orphans`): nobody waits for it.
fn hand_to_kernel(me: &Task) {
    {
        let mut i = me.inner.lock();
        i.ppid = 0;
        i.orphan = true;
    }
    if let Some(k) = super::task(0) {
        k.inner.lock().children.push(me.pid());
    }
}

/// The parent ignores SIGCHLD (or set SA_NOCLDWAIT): it will never wait
/// for us, so the kernel reaps us instead, as it does orphans.
fn autoreap(me: &Task, parent: Pid) {
    if let Some(p) = super::task(parent) {
        p.inner.lock().children.retain(|&c| c != me.pid());
    }
    {
        let mut i = me.inner.lock();
        i.ppid = 0;
        i.orphan = true;
    }
    if let Some(k) = super::task(0) {
        k.inner.lock().children.push(me.pid());
    }
}

/// Free a zombie for good (its parent waited for it). Returns its status.
pub fn reap(pid: Pid) -> Option<i32> {
    reap_with_usage(pid).map(|(s, _)| s)
}

/// Free a zombie; returns its status and its usage including that of its
/// own reaped children (what wait4's rusage reports, Linux's RUSAGE_BOTH).
pub fn reap_with_usage(pid: Pid) -> Option<(i32, super::Usage)> {
    let t = super::remove(pid)?;
    free_task(&t);
    let (status, usage) = {
        let i = t.inner.lock();
        let (ut, st) = (i.utime + i.exited_threads.0, i.stime + i.exited_threads.1);
        let mut u = super::Usage { utime: ut, stime: st, ..i.exit_usage };
        u.add(&i.cusage);
        (i.exit_status, u)
    };
    Some((status, usage))
}

/// Free what a task that will never run again still holds: its kernel
/// stack (the task structure goes with its last reference).
pub(crate) fn free_task(t: &Task) {
    // Another CPU may still be switching away from the dead task, on its
    // stack: wait until it is done.
    while t.on_cpu() {
        core::hint::spin_loop();
    }
    if t.kstack.0 != 0 {
        if let Err(e) = crate::mem::kvm::free_kernel_stack(t.kstack.0) {
            log::error!("exit: cannot free the kernel stack of pid {}: {:?}", t.pid(), e);
        }
    }
}

/// Which children a wait is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    Any,
    Pid(Pid),
    Group(Pid),
}

impl WaitFor {
    /// wait4's `pid` argument, for a caller in group `pgid`.
    pub fn from_wait4(sel: i64, pgid: Pid) -> WaitFor {
        match sel {
            -1 => WaitFor::Any,
            0 => WaitFor::Group(pgid),
            p if p > 0 => WaitFor::Pid(p as Pid),
            p => WaitFor::Group((-p) as Pid),
        }
    }

    fn matches(self, child: &Task) -> bool {
        match self {
            WaitFor::Any => true,
            WaitFor::Pid(p) => child.pid() == p,
            WaitFor::Group(g) => child.inner.lock().pgid == g,
        }
    }
}

/// A state change a wait reports (what wait4's status and waitid's
/// siginfo say).
#[derive(Clone, Copy, Debug, Default)]
pub struct WaitEvent {
    pub pid: Pid,
    pub uid: u32,
    /// wait4's status word.
    pub status: i32,
    /// CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED or CLD_CONTINUED.
    pub code: i32,
    /// Exit code, or the signal that killed, stopped or continued.
    pub si_status: i32,
    pub usage: super::Usage,
}

/// Look at one child for what `options` asks (WEXITED, WSTOPPED,
/// WCONTINUED, WNOWAIT); consume the event unless WNOWAIT.
fn child_event(me: &Task, c: &Task, options: u32) -> Option<WaitEvent> {
    use abi::signal::{CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SIGCONT};
    let keep = options & WNOWAIT != 0;
    if c.is_dead() {
        if options & WEXITED == 0 {
            return None;
        }
        let (status, uid) = {
            let i = c.inner.lock();
            (i.exit_status, i.creds.uid)
        };
        let (code, si_status) = match status & 0x7f {
            0 => (CLD_EXITED, (status >> 8) & 0xff),
            s if status & 0x80 != 0 => (CLD_DUMPED, s),
            s => (CLD_KILLED, s),
        };
        let usage = if keep {
            let i = c.inner.lock();
            let (ut, st) = (i.utime + i.exited_threads.0, i.stime + i.exited_threads.1);
            let mut u = super::Usage { utime: ut, stime: st, ..i.exit_usage };
            u.add(&i.cusage);
            u
        } else {
            me.inner.lock().children.retain(|&p| p != c.pid());
            let (_, usage) = reap_with_usage(c.pid()).unwrap_or_default();
            me.inner.lock().cusage.add(&usage);
            usage
        };
        return Some(WaitEvent { pid: c.pid(), uid, status, code, si_status, usage });
    }
    let mut i = c.inner.lock();
    let uid = i.creds.uid;
    if options & WSTOPPED != 0 && c.state() == super::STOPPED {
        if let Some(sig) = i.sig.job.stopped {
            if !keep {
                i.sig.job.stopped = None;
            }
            let status = ((sig as i32) << 8) | 0x7f;
            return Some(WaitEvent {
                pid: c.pid(),
                uid,
                status,
                code: CLD_STOPPED,
                si_status: sig as i32,
                ..Default::default()
            });
        }
    }
    if options & WCONTINUED != 0 && i.sig.job.continued {
        if !keep {
            i.sig.job.continued = false;
        }
        return Some(WaitEvent {
            pid: c.pid(),
            uid,
            status: 0xffff,
            code: CLD_CONTINUED,
            si_status: SIGCONT as i32,
            ..Default::default()
        });
    }
    None
}

/// wait4(2) and waitid(2) for the current task: the first child of `who`
/// with a state change `options` asks for, or `None` with WNOHANG when
/// there is none yet. ECHILD without such children; ERESTARTSYS when a
/// signal interrupts the wait.
pub fn wait_event(who: WaitFor, options: u32) -> Result<Option<WaitEvent>, Errno> {
    reap_orphans();
    loop {
        let me = current();
        // Marked sleeping before looking, so that a child's change from
        // another CPU after the look still wakes us.
        me.set_state(SLEEPING);
        // The children are the process's, whichever thread waits.
        let proc = me.leader();
        let children: Vec<Arc<Task>> = {
            let i = proc.inner.lock();
            i.children.iter().filter_map(|&c| super::task(c)).collect()
        };
        let candidates: Vec<&Arc<Task>> = children.iter().filter(|c| who.matches(c)).collect();
        if candidates.is_empty() {
            me.set_state(super::RUNNABLE);
            return Err(ECHILD);
        }
        if let Some(ev) = candidates.iter().find_map(|c| child_event(&proc, c, options)) {
            me.set_state(super::RUNNABLE);
            return Ok(Some(ev));
        }
        drop(proc);
        if options & WNOHANG != 0 {
            me.set_state(super::RUNNABLE);
            return Ok(None);
        }
        drop(candidates);
        drop(children);
        // Sleep until a child exits, stops or continues (it wakes us); a
        // signal after the mark wakes us too.
        if super::signal::signal_pending() {
            me.set_state(super::RUNNABLE);
            // The signal may be the SIGCHLD of a child that changed just
            // after the look: report that child rather than EINTR (with
            // another CPU the window between the look and this check is
            // wide enough to hit; the handler still runs on the way out).
            let proc = me.leader();
            let kids: Vec<Arc<Task>> = {
                let i = proc.inner.lock();
                i.children.iter().filter_map(|&c| super::task(c)).collect()
            };
            if let Some(ev) = kids.iter().filter(|c| who.matches(c)).find_map(|c| child_event(&proc, c, options)) {
                return Ok(Some(ev));
            }
            return Err(ERESTARTSYS);
        }
        drop(me);
        sched::schedule();
    }
}

/// wait4(2): returns (pid, status, the child's usage), or pid 0 with
/// WNOHANG when no child has changed state yet.
pub fn wait(sel: i64, options: u32) -> Result<(Pid, i32, super::Usage), Errno> {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(EINVAL);
    }
    let pgid = current().leader().inner.lock().pgid;
    let ev = wait_event(WaitFor::from_wait4(sel, pgid), options | WEXITED)?;
    Ok(ev.map(|e| (e.pid, e.status, e.usage)).unwrap_or((0, 0, super::Usage::default())))
}

/// Drop `pid` from the kernel's list of children; an emptied list gives
/// its memory back (every exited thread passes through it, so it grows to
/// the most threads that ever ended at once).
fn forget_child(children: &mut Vec<Pid>, pid: Pid) {
    children.retain(|&c| c != pid);
    if children.is_empty() && children.capacity() != 0 {
        *children = Vec::new();
    }
}

/// Wait from kernel code (the idle task) for a process it started.
pub fn wait_from_kernel(pid: Pid) -> Option<i32> {
    sched::idle_until(|| super::task(pid).is_none_or(|t| t.is_dead()));
    super::task(0).inspect(|k| forget_child(&mut k.inner.lock().children, pid));
    reap_orphans();
    reap(pid)
}

/// Wait from the idle task until the orphans handed to the kernel have
/// all exited (as init waits for whatever is reparented to it), for at
/// most `ticks`; reap them. Returns how many are still running.
pub fn wait_orphans_from_kernel(ticks: u64) -> usize {
    let orphans = || {
        super::all_tasks()
            .iter()
            .filter(|t| {
                t.pid() != 0 && !t.is_dead() && {
                    let i = t.inner.lock();
                    i.orphan && i.ppid == 0
                }
            })
            .count()
    };
    let deadline = sched::ticks() + ticks;
    sched::idle_until(|| orphans() == 0 || sched::ticks() >= deadline);
    reap_orphans();
    orphans()
}

/// Reap the orphans handed to the kernel (pid 0) that have died since.
/// From the idle task, wait and fork: never on a dying task's own stack
/// (a zombie is only reaped by another task).
pub fn reap_orphans() {
    let dead: Vec<Pid> = super::all_threads()
        .iter()
        .filter(|t| {
            (if t.is_leader() { t.is_dead() } else { t.state() == ZOMBIE }) && {
                let i = t.inner.lock();
                i.orphan && i.ppid == 0
            }
        })
        .map(|t| t.pid())
        .collect();
    for pid in dead {
        super::task(0).inspect(|k| forget_child(&mut k.inner.lock().children, pid));
        reap(pid);
    }
}
