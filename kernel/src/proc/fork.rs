//! fork(2), vfork(2) and clone(2): new processes and threads (cf.
//! kernel/fork.c `copy_process`).
//!
//! The child gets a copy of the parent's address space (copy-on-write, see
//! `mm::vm::fork`), a new kernel stack, the parent's open files (sharing their
//! offsets, as Linux does), credentials, limits and signal dispositions,
//! and the parent's registers with rax = 0. vfork shares the address space
//! instead and puts the parent to sleep until the child execs or exits.
//! clone's flags choose what is shared instead of copied: CLONE_VM (the
//! address space), CLONE_FILES (the descriptor table), CLONE_FS (the
//! working directory), CLONE_SIGHAND (the dispositions), CLONE_THREAD (the
//! thread group: the new task is a thread of the caller's process, not a
//! child of it).

use alloc::sync::Arc;

use spin::Mutex;

use abi::errno::*;
use abi::resource::RLIMIT_NPROC;
use abi::sched::{CLONE_FILES, CLONE_FS, CLONE_PARENT, CLONE_SIGHAND, CLONE_THREAD, CLONE_VFORK, CLONE_VM};
use arch::fpu::FpuState;
use arch::trap::TrapFrame;

use super::{Pid, Task, TaskInner, current, sched};
use crate::mem::user::UserMm;

/// How the child shares memory with the parent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ForkKind {
    /// Copy-on-write copy of the address space.
    Fork,
    /// Same address space, parent sleeps until exec or exit.
    Vfork,
}

/// Create a child of the current task returning to user space with the
/// registers of `frame` (rax = 0). Returns the child's pid.
pub fn fork(frame: &TrapFrame, kind: ForkKind) -> Result<Pid, Errno> {
    let flags = match kind {
        ForkKind::Fork => 0,
        ForkKind::Vfork => CLONE_VM | CLONE_VFORK,
    };
    fork_with(frame, flags, &CloneExtras::default())
}

/// What clone(2) adds to a fork: where to store the child's tid, and its
/// TLS base. The parent's tid store happens in `fork_with`; the child's
/// in [`schedule_tail`], when it first runs.
#[derive(Clone, Copy, Default)]
pub struct CloneExtras {
    /// CLONE_CHILD_SETTID: store the tid here in the child's memory (by the
    /// child, in its own address space, through uaccess).
    pub child_settid: Option<u64>,
    /// CLONE_CHILD_CLEARTID: the child's clear_child_tid.
    pub child_cleartid: Option<u64>,
    /// CLONE_PARENT_SETTID: store the tid here in the parent's memory.
    pub parent_settid: Option<u64>,
    /// CLONE_SETTLS: the child's FS base.
    pub tls: Option<u64>,
}

/// A new task as clone(2) `flags` say (already checked by the caller
/// against Linux's rules: CLONE_THREAD needs CLONE_SIGHAND, which needs
/// CLONE_VM). Returns its tid.
pub fn fork_with(frame: &TrapFrame, flags: u64, extras: &CloneExtras) -> Result<Pid, Errno> {
    // Children the kernel reaps for their parents (orphans, and those of
    // parents ignoring SIGCHLD) must not fill the table meanwhile.
    super::exit::reap_orphans();
    let parent = current();
    if super::nr_tasks() >= super::max_tasks() {
        return Err(EAGAIN);
    }
    let thread = flags & CLONE_THREAD != 0;
    let kind = if flags & CLONE_VFORK != 0 { ForkKind::Vfork } else { ForkKind::Fork };
    if super::signal::fatal_pending() || (thread && parent.group.exiting().is_some()) {
        return Err(ERESTARTNOINTR);
    }
    {
        let i = parent.inner.lock();
        if !i.creds.is_root() {
            let uid = i.creds.uid;
            let limit = i.rlimits[RLIMIT_NPROC].cur;
            drop(i);
            let same_uid = super::all_threads()
                .iter()
                .filter(|t| t.pid() != 0 && t.state() != super::ZOMBIE && t.inner.lock().creds.uid == uid)
                .count();
            if same_uid as u64 >= limit {
                return Err(EAGAIN);
            }
        }
    }
    let parent_mm = parent.mm().ok_or(EINVAL)?;
    let child_mm = match flags & CLONE_VM != 0 {
        true => parent_mm.add_user(),
        false => {
            let lim = parent.mm_limits();
            let env = crate::mem::user::env();
            let copy = parent_mm.space.write().fork(&env, &lim)?;
            let child = UserMm::new(copy);
            let registered = parent_mm.membarrier.load(core::sync::atomic::Ordering::Relaxed);
            child.membarrier.store(registered, core::sync::atomic::Ordering::Relaxed);
            child
        }
    };
    let mut child_frame = *frame;
    child_frame.rax = 0;
    let (kstack, saved_rsp) = match sched::new_task_stack("fork", &child_frame) {
        Ok(s) => s,
        Err(e) => {
            UserMm::release(child_mm);
            return Err(e);
        }
    };
    let pid = super::alloc_pid();
    if !thread {
        super::timer::fork_child(pid);
    }
    // The child starts with the parent's FPU registers as they are now.
    let mut fpu = FpuState::clean();
    fpu.save();
    let fs_base = extras.tls.unwrap_or_else(arch::cpu::fs_base);
    if let Some(addr) = extras.parent_settid {
        // Linux ignores a bad address here too (put_user's result is not
        // checked); uaccess never lets it reach kernel memory.
        let _ = crate::usercopy::write_user(addr, &(pid as u32));
    }
    // The process the child belongs to, and its parent: a thread joins
    // the caller's process; CLONE_PARENT makes a sibling of the caller's
    // process; otherwise the caller's process is the parent.
    let leader = parent.leader();
    let (lppid, pgid, sid) = {
        let l = leader.inner.lock();
        (l.ppid, l.pgid, l.sid)
    };
    let ppid = if thread || flags & CLONE_PARENT != 0 { lppid } else { leader.pid() };
    let inner = {
        let p = parent.inner.lock();
        TaskInner {
            name: p.name.clone(),
            exe: p.exe.clone(),
            ppid,
            pgid,
            sid,
            children: alloc::vec::Vec::new(),
            exit_status: 0,
            mm: Some(child_mm),
            files: if flags & CLONE_FILES != 0 { p.files.share() } else { p.files.copy() },
            cwd: if flags & CLONE_FS != 0 { p.cwd.clone() } else { Arc::new(Mutex::new(p.cwd.lock().clone())) },
            umask: if flags & CLONE_FS != 0 {
                p.umask.clone()
            } else {
                Arc::new(core::sync::atomic::AtomicU32::new(p.umask.load(core::sync::atomic::Ordering::Relaxed)))
            },
            creds: p.creds.clone(),
            rlimits: p.rlimits,
            sig: p.sig.for_child(flags & CLONE_SIGHAND != 0),
            clear_child_tid: extras.child_cleartid.unwrap_or(0),
            set_child_tid: extras.child_settid.unwrap_or(0),
            vfork_parent: (kind == ForkKind::Vfork).then_some(parent.pid()),
            vfork_child: None,
            oom_score_adj: p.oom_score_adj,
            start_ticks: sched::ticks(),
            utime: 0,
            stime: 0,
            exited_threads: (0, 0),
            exited_ns: 0,
            cusage: super::Usage::default(),
            exit_usage: super::Usage::default(),
            // Linux: the child's pdeathsig and robust list start cleared;
            // the alternate signal stack is inherited.
            pdeathsig: 0,
            altstack: p.altstack,
            robust_list: (0, 0),
            oom_score_adj_min: p.oom_score_adj_min,
            dumpable: p.dumpable,
            cpu_mask: p.cpu_mask,
            personality: p.personality,
            did_exec: false,
            orphan: false,
            kthread: false,
        }
    };
    let group = thread.then(|| parent.group.clone());
    let child: Arc<Task> = super::new_task(pid, kstack, saved_rsp, fpu, fs_base, inner, group);
    parent.sched.inherit(&child.sched);
    *child.mempolicy.lock() = *parent.mempolicy.lock();
    if thread {
        child.group.state.lock().threads.push(pid);
    }
    super::insert(child.clone());
    if !thread {
        // The new process is a child of the caller's process (its leader
        // keeps the list every thread's wait looks at).
        if let Some(p) = super::task(ppid) {
            p.inner.lock().children.push(pid);
        }
    }
    if kind == ForkKind::Vfork {
        parent.inner.lock().vfork_child = Some(pid);
    }
    sched::add(child);
    if kind == ForkKind::Vfork {
        // Sleep until the child execs or exits (it clears vfork_child).
        // Only SIGKILL ends the wait early (Linux's TASK_KILLABLE): the
        // parent then dies on its way out, the child goes on. Marked
        // sleeping before looking: a child that exits on another CPU
        // between the look and the sleep would otherwise find the parent
        // still running, wake nobody, and leave it asleep for good (CI:
        // utest-smp2 hung in t_uaccess with the vfork child a zombie).
        loop {
            parent.set_state(super::SLEEPING);
            if parent.inner.lock().vfork_child.is_none() {
                parent.set_state(super::RUNNABLE);
                break;
            }
            if super::signal::fatal_pending() {
                parent.set_state(super::RUNNABLE);
                parent.inner.lock().vfork_child = None;
                break;
            }
            sched::schedule();
        }
    }
    Ok(pid)
}

/// What a new task does first, on its own kernel stack and in its own
/// address space, before it returns to user mode (Linux's `schedule_tail`):
/// CLONE_CHILD_SETTID stores the tid with put_user. Done here rather than
/// by the parent so that the store goes through the ordinary checked
/// uaccess path of the address space it belongs to (never the direct map).
pub extern "C" fn schedule_tail() {
    sched::finish_switch();
    let me = current();
    let addr = core::mem::take(&mut me.inner.lock().set_child_tid);
    let pid = me.pid();
    drop(me);
    if addr != 0 {
        // A bad address is ignored, as Linux ignores put_user's result.
        let _ = crate::usercopy::write_user(addr, &(pid as u32));
    }
}
