//! Process system calls: fork, vfork, clone, execve, exit, wait4, kill,
//! getppid/getpgid/setpgid, arch_prctl, set_tid_address, rt_sigaction,
//! rt_sigprocmask, sched_yield.

use arch::trap::TrapFrame;
use x86_64::registers::model_specific::FsBase;

use super::SysResult;
use crate::errno::*;
use crate::proc::exit::{self, do_exit, status_exited};
use crate::proc::fork::{CLONE_VFORK, CLONE_VM, CSIGNAL, ForkKind};
use crate::proc::signal::{self, NSIG, SIGKILL, SIGSTOP};
use crate::proc::{self, current, sched};
use crate::usercopy::{read_user, read_user_cstr, write_user};

pub fn fork(frame: &mut TrapFrame) -> SysResult {
    proc::fork::fork(frame, ForkKind::Fork).map(|p| p as u64)
}

pub fn vfork(frame: &mut TrapFrame) -> SysResult {
    proc::fork::fork(frame, ForkKind::Vfork).map(|p| p as u64)
}

const CLONE_SETTLS: u64 = 0x0008_0000;
const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
const CLONE_CHILD_SETTID: u64 = 0x0100_0000;

/// clone(2) for the process forms: a fork (glibc's fork is clone with
/// CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD) or CLONE_VM|CLONE_VFORK
/// (posix_spawn), with the tid and TLS options. Threads (CLONE_VM without
/// CLONE_VFORK, CLONE_THREAD, namespaces ...) are not supported: EINVAL.
pub fn clone(frame: &mut TrapFrame, flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> SysResult {
    let extras = proc::fork::CloneExtras {
        child_settid: (flags & CLONE_CHILD_SETTID != 0).then_some(child_tid),
        child_cleartid: (flags & CLONE_CHILD_CLEARTID != 0).then_some(child_tid),
        parent_settid: (flags & CLONE_PARENT_SETTID != 0).then_some(parent_tid),
        tls: (flags & CLONE_SETTLS != 0).then_some(tls),
    };
    let rest = flags & !(CSIGNAL | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID);
    let kind = match rest {
        0 => ForkKind::Fork,
        r if r == CLONE_VM | CLONE_VFORK => ForkKind::Vfork,
        _ => return Err(EINVAL),
    };
    // copy_thread -> do_arch_prctl_64(ARCH_SET_FS): a TLS base at or above
    // TASK_SIZE_MAX (kernel half or non-canonical) is EPERM.
    if flags & CLONE_SETTLS != 0 && tls >= mm::address_space::TASK_SIZE {
        return Err(EPERM);
    }
    let mut f = *frame;
    if stack != 0 {
        f.rsp = stack;
    }
    proc::fork::fork_with(&f, kind, &extras).map(|p| p as u64)
}

pub fn execve(frame: &mut TrapFrame, path: u64, argv: u64, envp: u64) -> SysResult {
    let path = read_user_cstr(path, 4095)?;
    let rlim_stack = current().inner.lock().rlimits[proc::RLIMIT_STACK].cur;
    let args = proc::exec_args::copy_args(path.len(), argv, envp, rlim_stack)?;
    proc::exec::execve(frame, &path, &args.argv, &args.envp)?;
    Ok(0)
}

pub fn exit(code: i32) -> SysResult {
    do_exit(status_exited(code))
}

pub fn exit_group(code: i32) -> SysResult {
    do_exit(status_exited(code))
}

pub fn wait4(pid: i32, status: u64, options: u32, rusage: u64) -> SysResult {
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let (child, st) = exit::wait(pid as i64, options)?;
    if child != 0 {
        if status != 0 {
            write_user(status, &st)?;
        }
        if rusage != 0 {
            write_user(rusage, &[0u64; 18])?;
        }
    }
    Ok(child as u64)
}

pub fn kill(pid: i32, sig: i32) -> SysResult {
    if !(0..=NSIG as i32).contains(&sig) {
        return Err(EINVAL);
    }
    let me = current();
    let (my_uid, root, my_pgid) = {
        let i = me.inner.lock();
        (i.creds.uid, i.creds.is_root(), i.pgid)
    };
    let targets: alloc::vec::Vec<proc::Pid> = match pid {
        p if p > 0 => alloc::vec![p as u32],
        0 => proc::all_tasks().iter().filter(|t| t.pid != 0 && t.inner.lock().pgid == my_pgid).map(|t| t.pid).collect(),
        -1 => proc::all_tasks().iter().filter(|t| t.pid > 1 && t.pid != me.pid).map(|t| t.pid).collect(),
        p => proc::all_tasks().iter().filter(|t| t.pid != 0 && t.inner.lock().pgid == (-p) as u32).map(|t| t.pid).collect(),
    };
    drop(me);
    let mut found = false;
    let mut allowed = false;
    for t in targets {
        let Some(task) = proc::task(t) else { continue };
        if t == 0 || task.state() == proc::ZOMBIE && sig != 0 {
            found = true;
            allowed = true;
            continue;
        }
        found = true;
        let uid = task.inner.lock().creds.uid;
        if !root && uid != my_uid {
            continue;
        }
        allowed = true;
        if sig != 0 {
            signal::send(t, sig as u32);
        }
    }
    if !found {
        return Err(ESRCH);
    }
    if !allowed {
        return Err(EPERM);
    }
    Ok(0)
}

pub fn tgkill(tgid: i32, tid: i32, sig: i32) -> SysResult {
    if tgid <= 0 || tid <= 0 {
        return Err(EINVAL);
    }
    if tgid != tid {
        return Err(ESRCH);
    }
    kill(tid, sig)
}

pub fn getppid() -> SysResult {
    Ok(current().inner.lock().ppid as u64)
}

pub fn getpgid(pid: i32) -> SysResult {
    let t = if pid == 0 { current() } else { proc::task(pid as u32).ok_or(ESRCH)? };
    let g = t.inner.lock().pgid;
    Ok(g as u64)
}

pub fn setpgid(pid: i32, pgid: i32) -> SysResult {
    if pgid < 0 {
        return Err(EINVAL);
    }
    let me = current();
    let t = if pid == 0 || pid as u32 == me.pid { me.clone() } else { proc::task(pid as u32).ok_or(ESRCH)? };
    if t.pid != me.pid && t.inner.lock().ppid != me.pid {
        return Err(ESRCH);
    }
    t.inner.lock().pgid = if pgid == 0 { t.pid } else { pgid as u32 };
    Ok(0)
}

const ARCH_SET_GS: u32 = 0x1001;
const ARCH_SET_FS: u32 = 0x1002;
const ARCH_GET_FS: u32 = 0x1003;
const ARCH_GET_GS: u32 = 0x1004;

pub fn arch_prctl(code: u32, addr: u64) -> SysResult {
    match code {
        ARCH_SET_FS => {
            if addr >= mm::address_space::TASK_SIZE {
                return Err(EPERM);
            }
            current().set_fs_base(addr);
            FsBase::write(x86_64::VirtAddr::new(addr));
            Ok(0)
        }
        ARCH_GET_FS => {
            write_user(addr, &FsBase::read().as_u64())?;
            Ok(0)
        }
        ARCH_SET_GS | ARCH_GET_GS => Err(EINVAL),
        _ => Err(EINVAL),
    }
}

pub fn set_tid_address(addr: u64) -> SysResult {
    let me = current();
    me.inner.lock().clear_child_tid = addr;
    Ok(me.pid as u64)
}

pub fn sched_yield() -> SysResult {
    sched::yield_now();
    Ok(0)
}

/// `struct k_sigaction` as the kernel ABI has it: handler, flags,
/// restorer, mask.
pub fn rt_sigaction(sig: u32, act: u64, oact: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    if sig == 0 || sig > NSIG {
        return Err(EINVAL);
    }
    let new: Option<[u64; 4]> = if act != 0 { Some(read_user(act)?) } else { None };
    if new.is_some() && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(EINVAL);
    }
    let me = current();
    let old = {
        let mut i = me.inner.lock();
        let old = i.sig.actions[(sig - 1) as usize];
        if let Some(n) = new {
            i.sig.actions[(sig - 1) as usize] = n;
        }
        old
    };
    drop(me);
    if oact != 0 {
        write_user(oact, &old)?;
    }
    Ok(0)
}

pub fn rt_sigprocmask(how: u32, set: u64, oset: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let new: Option<u64> = if set != 0 { Some(read_user(set)?) } else { None };
    if new.is_some() && how > 2 {
        return Err(EINVAL);
    }
    let me = current();
    let old = {
        let mut i = me.inner.lock();
        let old = i.sig.blocked;
        if let Some(n) = new {
            // SIGKILL and SIGSTOP can never be blocked.
            let n = n & !((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1)));
            i.sig.blocked = match how {
                0 => old | n,
                1 => old & !n,
                _ => n,
            };
        }
        old
    };
    drop(me);
    if oset != 0 {
        write_user(oset, &old)?;
    }
    Ok(0)
}
