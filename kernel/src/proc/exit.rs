//! Leaving: exit(2), the zombie state, wait4(2) and reaping (cf.
//! kernel/exit.c).
//!
//! An exiting task gives up its files and address space at once (every
//! page and page table goes back to the buddy allocator), hands its
//! children to init, becomes a zombie holding only its wait status, and
//! wakes its parent. The parent's wait4 reaps it: the kernel stack and the
//! task structure are freed then.
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
use abi::wait::{WALL, WCLONE, WCONTINUED, WNOHANG, WNOTHREAD, WUNTRACED};

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

/// Release what a dying task holds; returns its parent's pid.
fn release_resources(me: &Task, status: i32) -> Pid {
    mm_release(me);
    super::timer::exit(me.pid);
    let (mm, parent, children, vfork_parent, files) = {
        let mut i = me.inner.lock();
        i.exit_status = status;
        let files = core::mem::take(&mut i.files);
        // The fault counts and peak RSS live in the address space, which
        // goes now: keep them for the parent's wait4.
        if let Some(m) = &i.mm {
            let c = m.space.lock().counters;
            i.exit_usage = super::Usage {
                utime: 0,
                stime: 0,
                min_flt: c.min_flt,
                maj_flt: c.maj_flt,
                maxrss_kb: c.hiwater_rss.max(c.rss()).saturating_mul(4),
            };
        }
        (i.mm.take(), i.ppid, core::mem::take(&mut i.children), i.vfork_parent.take(), files)
    };
    drop(files);
    // Leave the address space before destroying it: CR3 must never point
    // at a freed PML4.
    me.set_root(0);
    crate::mem::user::activate_kernel_root();
    drop(mm);
    if let Some(p) = vfork_parent {
        vfork_release(p);
    }
    // Orphans go to init (pid 1), or to the kernel (pid 0) if init is gone.
    // The kernel never waits for them: it reaps them itself once they are
    // zombies (now, or in `reap_orphans`), as Linux's init would.
    let reaper = if me.pid != 1 && super::task(1).is_some() { 1 } else { 0 };
    let mut wake_reaper = false;
    for c in children {
        if let Some(ct) = super::task(c) {
            let pdeathsig = {
                let mut ci = ct.inner.lock();
                ci.ppid = reaper;
                ci.orphan = reaper == 0;
                ci.pdeathsig
            };
            if ct.state() == ZOMBIE && reaper == 0 {
                drop(ct);
                reap(c);
                continue;
            }
            if ct.state() == ZOMBIE {
                wake_reaper = true;
            } else if pdeathsig != 0 {
                // PR_SET_PDEATHSIG: the child learns its parent died
                // (Linux's `reparent_leader`).
                super::signal::send(c, pdeathsig);
            }
            if let Some(r) = super::task(reaper) {
                r.inner.lock().children.push(c);
            }
        }
    }
    if wake_reaper {
        sched::wake(reaper);
    }
    parent
}

/// CLONE_CHILD_CLEARTID / set_tid_address: tell whoever shares the
/// memory that this task is gone by storing 0 at `clear_child_tid`
/// (Linux's `mm_release`; the futex wake has nobody to wake here, there
/// are no futexes). Only when the address space outlives us (a vfork
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
    if addr != 0 && shared {
        let _ = crate::usercopy::write_user(addr, &0u32);
    }
}

/// Wake a vfork parent: its child exec'd or exited.
pub fn vfork_release(parent: Pid) {
    if let Some(p) = super::task(parent) {
        p.inner.lock().vfork_child = None;
        sched::wake(parent);
    }
}

/// End the current task with wait status `status`. Never returns.
pub fn do_exit(status: i32) -> ! {
    let (pid, parent) = {
        let me = current();
        let parent = release_resources(&me, status);
        me.set_state(ZOMBIE);
        (me.pid, parent)
    };
    if pid == 1 {
        let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
        log::info!("kernel: init exited with status {}", code);
        if let Some(h) = INIT_EXIT_HOOK.get() {
            h(code);
        }
    }
    sched::wake(parent);
    // No Arc of ours stays on this stack: the zombie is freed at reaping.
    sched::schedule();
    panic!("exit: a zombie was scheduled again (pid {})", pid);
}

/// Free a zombie for good (its parent waited for it). Returns its status.
pub fn reap(pid: Pid) -> Option<i32> {
    reap_with_usage(pid).map(|(s, _)| s)
}

/// Free a zombie; returns its status and its usage including that of its
/// own reaped children (what wait4's rusage reports, Linux's RUSAGE_BOTH).
pub fn reap_with_usage(pid: Pid) -> Option<(i32, super::Usage)> {
    let t = super::remove(pid)?;
    let (status, usage) = {
        let i = t.inner.lock();
        let mut u = super::Usage { utime: i.utime, stime: i.stime, ..i.exit_usage };
        u.add(&i.cusage);
        (i.exit_status, u)
    };
    if t.kstack.0 != 0 {
        if let Err(e) = crate::mem::kvm::free_kernel_stack(t.kstack.0) {
            log::error!("exit: cannot free the kernel stack of pid {}: {:?}", pid, e);
        }
    }
    Some((status, usage))
}

/// Does `child` match wait4's `pid` argument for a parent in group `pgid`?
fn matches(sel: i64, child: &Task, pgid: Pid) -> bool {
    match sel {
        -1 => true,
        0 => child.inner.lock().pgid == pgid,
        p if p > 0 => child.pid == p as Pid,
        p => child.inner.lock().pgid == (-p) as Pid,
    }
}

/// wait4(2) for the current task: returns (pid, status, the child's
/// usage), or pid 0 with WNOHANG when no child has exited yet. The
/// child's usage joins the caller's children totals.
pub fn wait(sel: i64, options: u32) -> Result<(Pid, i32, super::Usage), Errno> {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(EINVAL);
    }
    loop {
        let me = current();
        let (children, pgid) = {
            let i = me.inner.lock();
            (i.children.clone(), i.pgid)
        };
        let candidates: Vec<Arc<Task>> =
            children.iter().filter_map(|&c| super::task(c)).filter(|c| matches(sel, c, pgid)).collect();
        if candidates.is_empty() {
            return Err(ECHILD);
        }
        if let Some(z) = candidates.iter().find(|c| c.state() == ZOMBIE) {
            let pid = z.pid;
            drop(candidates);
            me.inner.lock().children.retain(|&c| c != pid);
            let (status, usage) = reap_with_usage(pid).unwrap_or_default();
            me.inner.lock().cusage.add(&usage);
            return Ok((pid, status, usage));
        }
        if options & WNOHANG != 0 {
            return Ok((0, 0, super::Usage::default()));
        }
        drop(candidates);
        // Sleep until a child exits (it wakes us). A fatal signal ends the
        // wait (the process dies on the way out).
        me.set_state(SLEEPING);
        drop(me);
        sched::schedule();
        if super::signal::pending_fatal().is_some() {
            return Err(EINTR);
        }
    }
}

/// Wait from kernel code (the idle task) for a process it started.
pub fn wait_from_kernel(pid: Pid) -> Option<i32> {
    sched::idle_until(|| super::task(pid).is_none_or(|t| t.state() == ZOMBIE));
    super::task(0).inspect(|k| k.inner.lock().children.retain(|&c| c != pid));
    reap_orphans();
    reap(pid)
}

/// Reap the orphans handed to the kernel (pid 0) that have died since.
/// Only from the idle task: never on a dying task's own stack.
pub fn reap_orphans() {
    let dead: Vec<Pid> = super::all_tasks()
        .iter()
        .filter(|t| {
            t.state() == ZOMBIE && {
                let i = t.inner.lock();
                i.orphan && i.ppid == 0
            }
        })
        .map(|t| t.pid)
        .collect();
    for pid in dead {
        super::task(0).inspect(|k| k.inner.lock().children.retain(|&c| c != pid));
        reap(pid);
    }
}
