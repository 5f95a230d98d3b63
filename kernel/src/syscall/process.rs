//! Process system calls: fork, vfork, clone, execve, exit, wait4,
//! getppid/getpgid/setpgid, setsid/getsid, arch_prctl, set_tid_address,
//! set/get_robust_list, sched_yield. Signals are in signal.rs.

use abi::errno::*;
use abi::prctl::{ARCH_GET_FS, ARCH_GET_GS, ARCH_SET_FS, ARCH_SET_GS};
use abi::sched::{
    CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_DETACHED, CLONE_FILES, CLONE_FS, CLONE_IO, CLONE_NAMESPACES,
    CLONE_PARENT, CLONE_PARENT_SETTID, CLONE_PIDFD, CLONE_PTRACE, CLONE_SETTLS, CLONE_SIGHAND, CLONE_SYSVSEM,
    CLONE_THREAD, CLONE_UNTRACED, CLONE_VFORK, CLONE_VM, CSIGNAL,
};
use arch::trap::TrapFrame;

use super::SysResult;
use crate::proc::exit::{self, do_exit, status_exited};
use crate::proc::fork::ForkKind;
use crate::proc::{self, current, sched};
use crate::usercopy::{read_user_cstr, write_user};

pub fn fork(frame: &mut TrapFrame) -> SysResult {
    proc::fork::fork(frame, ForkKind::Fork).map(|p| p as u64)
}

pub fn vfork(frame: &mut TrapFrame) -> SysResult {
    proc::fork::fork(frame, ForkKind::Vfork).map(|p| p as u64)
}

/// clone(2): a new process (fork, vfork, posix_spawn's CLONE_VM|CLONE_VFORK)
/// or a new thread (pthread_create's CLONE_VM|CLONE_FS|CLONE_FILES|
/// CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|
/// CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID), with Linux's checks.
/// Namespaces do not exist: their flags are EINVAL.
pub fn clone(frame: &mut TrapFrame, flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> SysResult {
    // clone() passes CLONE_PIDFD's fd through parent_tid, so the two
    // cannot be combined (Linux: EINVAL).
    if flags & CLONE_PIDFD != 0 && flags & CLONE_PARENT_SETTID != 0 {
        return Err(EINVAL);
    }
    let args = CloneArgs {
        flags: flags & !CSIGNAL,
        pidfd: parent_tid,
        child_tid,
        parent_tid,
        exit_signal: flags & CSIGNAL,
        stack,
        tls,
    };
    do_clone(frame, &args)
}

/// What clone and clone3 ask for.
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    /// The child's stack pointer (0: the caller's).
    stack: u64,
    tls: u64,
}

/// clone3(2): `struct clone_args` of `size` bytes (VER0 64 .. VER2 88;
/// a larger struct is accepted if its extra bytes are zero). set_tid and
/// cgroup are refused (EINVAL): no pid namespaces and no cgroups here.
pub fn clone3(frame: &mut TrapFrame, uargs: u64, size: u64) -> SysResult {
    use abi::sched::{CLONE_ARGS_SIZE_VER0, CLONE_ARGS_SIZE_VER2};
    let size = size as usize;
    if size < CLONE_ARGS_SIZE_VER0 || size > 4096 {
        return Err(EINVAL);
    }
    let mut raw = [0u8; 4096];
    crate::usercopy::copy_from_user(&mut raw[..size], uargs)?;
    if size > CLONE_ARGS_SIZE_VER2 && raw[CLONE_ARGS_SIZE_VER2..size].iter().any(|&b| b != 0) {
        return Err(E2BIG);
    }
    let f = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (flags, pidfd, child_tid, parent_tid, exit_signal) = (f(0), f(1), f(2), f(3), f(4));
    let (stack, stack_size, tls, set_tid, set_tid_size, cgroup) = (f(5), f(6), f(7), f(8), f(9), f(10));
    // Linux's clone3_args_valid.
    if flags & !(KNOWN_CLONE_FLAGS | abi::sched::CLONE_INTO_CGROUP | 0x80 | CSIGNAL) != 0
        || flags & CSIGNAL != 0
        || exit_signal & !CSIGNAL != 0
        || exit_signal > abi::signal::NSIG as u64
        || (stack == 0) != (stack_size == 0)
        || set_tid != 0
        || set_tid_size != 0
        || cgroup != 0
        || flags & (abi::sched::CLONE_INTO_CGROUP | 0x80) != 0
    {
        return Err(EINVAL);
    }
    let args = CloneArgs {
        flags,
        pidfd,
        child_tid,
        parent_tid,
        exit_signal,
        // The stack grows down from stack + stack_size.
        stack: if stack == 0 { 0 } else { stack.checked_add(stack_size).ok_or(EINVAL)? },
        tls,
    };
    do_clone(frame, &args)
}

/// The clone flags this kernel implements (CLONE_PTRACE, CLONE_UNTRACED,
/// CLONE_DETACHED, CLONE_IO and CLONE_SYSVSEM change nothing here: no
/// ptrace, no I/O contexts, no System V semaphores).
const KNOWN_CLONE_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_PIDFD
    | CLONE_PTRACE
    | CLONE_VFORK
    | CLONE_PARENT
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_UNTRACED
    | CLONE_CHILD_SETTID
    | CLONE_IO;

/// Linux's `copy_process` checks, then the new task; with CLONE_PIDFD a
/// pidfd for it is stored at `pidfd`.
fn do_clone(frame: &mut TrapFrame, a: &CloneArgs) -> SysResult {
    let flags = a.flags;
    if flags & CLONE_NAMESPACES != 0 || flags & !(KNOWN_CLONE_FLAGS | CLONE_NAMESPACES) != 0 {
        return Err(EINVAL);
    }
    // Threads share signal handlers, which need a shared address space.
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(EINVAL);
    }
    // init's siblings would have no reaper; a thread has no pidfd.
    if flags & CLONE_PARENT != 0 && proc::current_tgid() == 1 {
        return Err(EINVAL);
    }
    if flags & CLONE_PIDFD != 0 && flags & CLONE_THREAD != 0 {
        return Err(EINVAL);
    }
    // copy_thread -> do_arch_prctl_64(ARCH_SET_FS): a TLS base at or above
    // TASK_SIZE_MAX (kernel half or non-canonical) is EPERM.
    if flags & CLONE_SETTLS != 0 && a.tls >= mm::vm::address_space::TASK_SIZE {
        return Err(EPERM);
    }
    let extras = proc::fork::CloneExtras {
        child_settid: (flags & CLONE_CHILD_SETTID != 0).then_some(a.child_tid),
        child_cleartid: (flags & CLONE_CHILD_CLEARTID != 0).then_some(a.child_tid),
        parent_settid: (flags & CLONE_PARENT_SETTID != 0).then_some(a.parent_tid),
        tls: (flags & CLONE_SETTLS != 0).then_some(a.tls),
    };
    let _ = a.exit_signal;
    let mut f = *frame;
    if a.stack != 0 {
        f.rsp = a.stack;
    }
    let tid = proc::fork::fork_with(&f, flags, &extras)?;
    if flags & CLONE_PIDFD != 0 {
        let fd = super::anonfd::pidfd_open(tid as i32, 0)?;
        write_user(a.pidfd, &(fd as i32))?;
    }
    Ok(tid as u64)
}

/// The file an exec runs, the program or its interpreter (Linux's
/// `open_exec`): a file on a noexec mount is EACCES (path_noexec).
fn open_exec(path: &str, cwd: &str) -> Result<alloc::sync::Arc<dyn crate::vfs::Inode>, Errno> {
    let found = crate::vfs::namei::resolve(path, cwd, true)?;
    if crate::vfs::mount::is_noexec(&found.path) && !found.inode.is_dir() {
        return Err(EACCES);
    }
    Ok(found.inode)
}

pub fn execve(frame: &mut TrapFrame, path: u64, argv: u64, envp: u64) -> SysResult {
    let path = read_user_cstr(path, 4095)?;
    let me = current();
    let (rlim_stack, cwd) = {
        let i = me.inner.lock();
        (i.rlimits[abi::resource::RLIMIT_STACK].cur, i.cwd.lock().clone())
    };
    // Linux opens the file (do_open_execat) before it counts the strings.
    let inode = open_exec(&path, &cwd)?;
    // deny_write_access: not while open for writing (ETXTBSY); from now
    // on nobody opens it for writing until the new address space goes.
    // A file that may not run at all is EACCES first (exec's own check).
    let runnable = !inode.is_dir() && inode.stat().st_mode & 0o111 != 0;
    let deny = if runnable { crate::file::write_access::DenyWrite::take(&inode)? } else { None };
    let args = proc::exec_args::copy_args(path.len(), argv, envp, rlim_stack)?;
    let lookup = |p: &str| open_exec(p, &cwd);
    proc::exec::execve(frame, &path, inode, &lookup, &args.argv, &args.envp)?;
    if let (Some(d), Some(mm)) = (deny, current().mm()) {
        *mm.exe_pin.lock() = Some(alloc::boxed::Box::new(d));
    }
    Ok(0)
}

/// exit(2): the calling thread ends (the process, if it was the last).
pub fn exit(code: i32) -> SysResult {
    do_exit(status_exited(code))
}

/// exit_group(2): every thread of the process ends.
pub fn exit_group(code: i32) -> SysResult {
    exit::do_group_exit(status_exited(code))
}

pub fn wait4(pid: i32, status: u64, options: u32, rusage: u64) -> SysResult {
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let (child, st, usage) = exit::wait(pid as i64, options)?;
    if child != 0 {
        if status != 0 {
            write_user(status, &st)?;
        }
        if rusage != 0 {
            write_user(rusage, &usage.to_rusage())?;
        }
    }
    Ok(child as u64)
}

/// getppid(2): the parent of the caller's process.
pub fn getppid() -> SysResult {
    Ok(current().leader().inner.lock().ppid as u64)
}

/// The task `pid` names (0: the caller); ESRCH for none or a negative pid.
fn task_arg(pid: i32) -> Result<alloc::sync::Arc<proc::Task>, Errno> {
    match pid {
        0 => Ok(current()),
        p if p > 0 => proc::task(p as u32).filter(|t| t.pid() != 0).ok_or(ESRCH),
        _ => Err(ESRCH),
    }
}

/// The process `pid` names (0: the caller's): the leader of the thread
/// group of that thread id.
fn process_arg(pid: i32) -> Result<alloc::sync::Arc<proc::Task>, Errno> {
    task_arg(pid).map(|t| t.leader())
}

pub fn getpgid(pid: i32) -> SysResult {
    let g = process_arg(pid)?.inner.lock().pgid;
    Ok(g as u64)
}

/// getsid(2).
pub fn getsid(pid: i32) -> SysResult {
    let s = process_arg(pid)?.inner.lock().sid;
    Ok(s as u64)
}

/// setsid(2): a new session and process group, both the caller's pid;
/// EPERM if a process group with that id exists (the caller leads one).
pub fn setsid() -> SysResult {
    let me = current().leader();
    let pid = me.pid();
    // Zombies count: they keep their group until reaped.
    let leader = proc::all_tasks().iter().any(|t| t.pid() != 0 && t.inner.lock().pgid == pid);
    if leader {
        return Err(EPERM);
    }
    // Every thread keeps a copy of the process's ids.
    for t in proc::threads_of(&me).iter().chain(core::iter::once(&me)) {
        let mut i = t.inner.lock();
        i.sid = pid;
        i.pgid = pid;
    }
    Ok(pid as u64)
}

/// setpgid(2) with Linux's rules: the caller or one of its children
/// (ESRCH), not a session leader, a child only in the caller's session,
/// and only into a group that exists in that session (EPERM); a child
/// that has exec'd cannot be moved (EACCES).
pub fn setpgid(pid: i32, pgid: i32) -> SysResult {
    if pgid < 0 {
        return Err(EINVAL);
    }
    let me = current().leader();
    let t = if pid == 0 || pid as u32 == me.pid() { me.clone() } else { process_arg(pid)? };
    let my_sid = me.inner.lock().sid;
    let (tppid, tsid, tpid, exec_done) = {
        let i = t.inner.lock();
        (i.ppid, i.sid, t.pid(), i.did_exec)
    };
    if tpid != me.pid() && tppid != me.pid() {
        return Err(ESRCH);
    }
    if tsid != my_sid {
        return Err(EPERM);
    }
    if tpid != me.pid() && exec_done {
        return Err(EACCES);
    }
    if tsid == tpid {
        return Err(EPERM);
    }
    let pgid = if pgid == 0 { tpid } else { pgid as u32 };
    if pgid != tpid {
        // A zombie keeps its group until reaped, as in Linux.
        let exists = proc::all_tasks().iter().any(|x| {
            x.pid() != 0 && {
                let i = x.inner.lock();
                i.pgid == pgid && i.sid == my_sid
            }
        });
        if !exists {
            return Err(EPERM);
        }
    }
    for x in proc::threads_of(&t).iter().chain(core::iter::once(&t)) {
        x.inner.lock().pgid = pgid;
    }
    Ok(0)
}

pub fn arch_prctl(code: u32, addr: u64) -> SysResult {
    match code {
        ARCH_SET_FS => {
            if addr >= mm::vm::address_space::TASK_SIZE {
                return Err(EPERM);
            }
            current().set_fs_base(addr);
            arch::cpu::set_fs_base(addr);
            Ok(0)
        }
        ARCH_GET_FS => {
            write_user(addr, &arch::cpu::fs_base())?;
            Ok(0)
        }
        ARCH_SET_GS | ARCH_GET_GS => Err(EINVAL),
        _ => Err(EINVAL),
    }
}

pub fn set_tid_address(addr: u64) -> SysResult {
    let me = current();
    me.inner.lock().clear_child_tid = addr;
    Ok(me.pid() as u64)
}

pub fn sched_yield() -> SysResult {
    sched::yield_now();
    Ok(0)
}

/// The size of the kernel's CPU mask in bytes (`nr_cpu_ids` bits rounded
/// up to longs): what sched_getaffinity returns and the least it accepts.
const CPUMASK_BYTES: u64 = 8;

/// sched_getaffinity(2): EINVAL for a buffer shorter than the kernel's
/// mask or not a multiple of a long; returns the bytes written.
pub fn sched_getaffinity(pid: i32, len: u64, mask: u64) -> SysResult {
    if len < CPUMASK_BYTES || len % 8 != 0 {
        return Err(EINVAL);
    }
    let m = task_arg(pid)?.inner.lock().cpu_mask & proc::all_cpus_mask();
    write_user(mask, &m)?;
    Ok(CPUMASK_BYTES)
}

/// sched_setaffinity(2): the mask must hold a possible CPU (EINVAL);
/// another user's task needs root (EPERM). Longer masks are read up to
/// the kernel's size, shorter ones are zero-extended.
pub fn sched_setaffinity(pid: i32, len: u64, mask: u64) -> SysResult {
    let t = task_arg(pid)?;
    let mut bytes = [0u8; 8];
    let n = len.min(CPUMASK_BYTES) as usize;
    crate::usercopy::copy_from_user(&mut bytes[..n], mask)?;
    let wanted = u64::from_le_bytes(bytes) & proc::all_cpus_mask();
    if wanted == 0 {
        return Err(EINVAL);
    }
    let me = current();
    if t.pid() != me.pid() {
        let (mine, theirs) = (me.inner.lock().creds.clone(), t.inner.lock().creds.clone());
        if !mine.is_root() && mine.euid != theirs.uid && mine.euid != theirs.euid {
            return Err(EPERM);
        }
    }
    t.inner.lock().cpu_mask = wanted;
    t.set_cpus_allowed(wanted);
    proc::rq::migrate_if_needed(&t);
    if t.pid() == me.pid() && !t.allowed_on(mm::percpu::this_cpu()) {
        // Move now: the scheduler runs us only where we may run.
        drop(t);
        drop(me);
        sched::yield_now();
    }
    Ok(0)
}

/// getcpu(2): the CPU and NUMA node the caller runs on.
pub fn getcpu(cpu: u64, node: u64) -> SysResult {
    let c = mm::percpu::this_cpu() as u32;
    if cpu != 0 {
        write_user(cpu, &c)?;
    }
    if node != 0 {
        let apic_id = arch::cpuinfo::identify().apic_id;
        let n = crate::mem::page_alloc().topology.node_of_cpu(apic_id);
        write_user(node, &n)?;
    }
    Ok(0)
}

/// sizeof(struct robust_list_head).
const ROBUST_LIST_HEAD_LEN: u64 = 24;

/// set_robust_list(2): the calling thread's list of robust futexes,
/// walked when it exits (proc/robust.rs).
pub fn set_robust_list(head: u64, len: u64) -> SysResult {
    if len != ROBUST_LIST_HEAD_LEN {
        return Err(EINVAL);
    }
    current().inner.lock().robust_list = (head, len);
    Ok(0)
}

/// get_robust_list(2): ESRCH for no such task, EPERM without ptrace-read
/// rights over it (real ids, as Linux's PTRACE_MODE_READ_REALCREDS).
pub fn get_robust_list(pid: i32, head_ptr: u64, len_ptr: u64) -> SysResult {
    let t = task_arg(pid)?;
    if !proc::ptrace_may_read(&current(), &t, false) {
        return Err(EPERM);
    }
    let (head, _) = t.inner.lock().robust_list;
    write_user(len_ptr, &ROBUST_LIST_HEAD_LEN)?;
    write_user(head_ptr, &head)?;
    Ok(0)
}
