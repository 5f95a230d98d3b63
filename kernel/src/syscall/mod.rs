//! The system-call table: Linux x86_64 numbers, arguments in rdi, rsi,
//! rdx, r10, r8, r9, result or `-errno` in rax (cf.
//! arch/x86/entry/syscalls/syscall_64.tbl).
//!
//! Each handler returns `Result<u64, Errno>`. An unknown number gets
//! ENOSYS and one log line naming it. On the way out, a pending fatal
//! signal ends the process, and the entry code is told whether SYSRET may
//! return (only if the frame still describes a normal return to the
//! instruction after `syscall`; otherwise IRETQ does).

mod anonfd;
mod cachestat;
mod epoll;
mod flock;
mod fs;
mod fs_copy;
mod fs_hints;
mod fs_vec;
mod fs_write;
mod futex;
mod mem;
mod membarrier;
mod memfd;
pub mod mempolicy;
pub mod migrate;
mod mount;
mod poll;
mod process;
mod process_mm;
mod process_vm;
mod record_lock;
mod sched;
mod signal;
mod swap;
mod sys;
mod time;
mod timer;
mod xattr;

use arch::trap::TrapFrame;
use mm::vm::address_space::TASK_SIZE;

use abi::errno::*;
use abi::fcntl::{AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CREAT, O_TRUNC, O_WRONLY};
use abi::nr;

/// Result of a handler.
pub type SysResult = Result<u64, Errno>;

/// Syscall arguments.
pub struct Args {
    pub a: [u64; 6],
}

impl Args {
    fn from(frame: &TrapFrame) -> Args {
        Args { a: [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9] }
    }
}

/// Name of a syscall number, for the ENOSYS log line.
fn name_of(nr: u64) -> &'static str {
    match nr {
        nr::SHMGET..=nr::SHMCTL => "shm*",
        nr::DUP => "dup",
        nr::DUP2 => "dup2",
        nr::SOCKET..=nr::GETSOCKOPT => "socket family",
        nr::CLONE => "clone",
        nr::CLONE3 => "clone3",
        nr::PTRACE => "ptrace",
        _ => "?",
    }
}

fn dispatch(nr: u64, a: &Args, frame: &mut TrapFrame) -> SysResult {
    let x = &a.a;
    match nr {
        nr::READ => fs::read(x[0] as i32, x[1], x[2]),
        nr::WRITE => fs::write(x[0] as i32, x[1], x[2]),
        nr::OPEN => fs::openat(AT_FDCWD, x[0], x[1] as u32, x[2] as u32),
        nr::CLOSE => fs::close(x[0] as i32),
        nr::CLOSE_RANGE => fs::close_range(x[0] as u32, x[1] as u32, x[2] as u32),
        nr::STAT => fs::stat(x[0], x[1]),
        nr::FSTAT => fs::fstat(x[0] as i32, x[1]),
        nr::LSTAT => fs::lstat(x[0], x[1]),
        nr::POLL => poll::poll(x[0], x[1] as u32, x[2] as i32),
        nr::LSEEK => fs::lseek(x[0] as i32, x[1] as i64, x[2] as u32),
        nr::MMAP => mem::mmap(x[0], x[1], x[2] as u32, x[3] as u32, x[4] as i32, x[5]),
        nr::MPROTECT => mem::mprotect(x[0], x[1], x[2] as u32),
        nr::MSEAL => mem::mseal(x[0], x[1], x[2]),
        nr::REMAP_FILE_PAGES => mem::remap_file_pages(x[0], x[1], x[2], x[3], x[4]),
        nr::CACHESTAT => cachestat::cachestat(x[0] as u32, x[1], x[2], x[3] as u32),
        nr::PROCESS_MADVISE => process_mm::process_madvise(x[0] as i32, x[1], x[2], x[3] as u32, x[4]),
        nr::PROCESS_MRELEASE => process_mm::process_mrelease(x[0] as i32, x[1] as u32),
        nr::MUNMAP => mem::munmap(x[0], x[1]),
        nr::BRK => mem::brk(x[0]),
        nr::RT_SIGACTION => signal::rt_sigaction(x[0] as u32, x[1], x[2], x[3]),
        nr::RT_SIGPROCMASK => signal::rt_sigprocmask(x[0] as u32, x[1], x[2], x[3]),
        nr::RT_SIGRETURN => signal::rt_sigreturn(frame),
        nr::PAUSE => signal::pause(),
        nr::RT_SIGPENDING => signal::rt_sigpending(x[0], x[1]),
        nr::RT_SIGTIMEDWAIT => signal::rt_sigtimedwait(x[0], x[1], x[2], x[3]),
        nr::RT_SIGQUEUEINFO => signal::rt_sigqueueinfo(x[0] as i32, x[1] as i32, x[2]),
        nr::RT_SIGSUSPEND => signal::rt_sigsuspend(x[0], x[1]),
        nr::RESTART_SYSCALL => signal::restart_syscall(),
        nr::WAITID => signal::waitid(x[0] as u32, x[1] as i64, x[2], x[3] as u32, x[4]),
        nr::RT_TGSIGQUEUEINFO => signal::rt_tgsigqueueinfo(x[0] as i32, x[1] as i32, x[2] as i32, x[3]),
        nr::IOCTL => fs::ioctl(x[0] as i32, x[1] as u32, x[2]),
        nr::PREAD64 => fs::pread64(x[0] as i32, x[1], x[2], x[3] as i64),
        nr::PWRITE64 => fs::pwrite64(x[0] as i32, x[1], x[2], x[3] as i64),
        nr::READV => fs::readv(x[0] as i32, x[1], x[2] as i64),
        nr::WRITEV => fs::writev(x[0] as i32, x[1], x[2] as i64),
        nr::ACCESS => fs::faccessat(AT_FDCWD, x[0], x[1] as u32),
        nr::PIPE => fs::pipe2(x[0], 0),
        nr::SELECT => poll::select(x[0] as i32, x[1], x[2], x[3], x[4]),
        nr::SCHED_YIELD => process::sched_yield(),
        nr::SCHED_SETSCHEDULER => sched::sched_setscheduler(x[0] as i32, x[1] as i32, x[2]),
        nr::SCHED_GETSCHEDULER => sched::sched_getscheduler(x[0] as i32),
        nr::SCHED_SETPARAM => sched::sched_setparam(x[0] as i32, x[1]),
        nr::SCHED_GETPARAM => sched::sched_getparam(x[0] as i32, x[1]),
        nr::SCHED_GET_PRIORITY_MAX => sched::sched_get_priority_max(x[0] as i32),
        nr::SCHED_GET_PRIORITY_MIN => sched::sched_get_priority_min(x[0] as i32),
        nr::SCHED_RR_GET_INTERVAL => sched::sched_rr_get_interval(x[0] as i32, x[1]),
        nr::GETPRIORITY => sched::getpriority(x[0] as i32, x[1] as i32),
        nr::SETPRIORITY => sched::setpriority(x[0] as i32, x[1] as i32, x[2] as i32),
        nr::TIMES => sched::times(x[0]),
        nr::SCHED_SETAFFINITY => process::sched_setaffinity(x[0] as i32, x[1], x[2]),
        nr::SCHED_GETAFFINITY => process::sched_getaffinity(x[0] as i32, x[1], x[2]),
        nr::GETCPU => process::getcpu(x[0], x[1]),
        nr::MREMAP => mem::mremap(x[0], x[1], x[2], x[3] as u32, x[4]),
        nr::MSYNC => mem::msync(x[0], x[1], x[2] as u32),
        nr::MINCORE => mem::mincore(x[0], x[1], x[2]),
        nr::MADVISE => mem::madvise(x[0], x[1], x[2] as u32),
        nr::SHMGET => crate::ipc::shm::shmget(x[0] as i32, x[1], x[2] as u32),
        nr::SHMAT => crate::ipc::shm::shmat(x[0] as i32, x[1], x[2] as u32),
        nr::SHMCTL => crate::ipc::shm::shmctl(x[0] as i32, x[1] as i32, x[2]),
        nr::SHMDT => crate::ipc::shm::shmdt(x[0]),
        nr::SEMGET => crate::ipc::sem::semget(x[0] as i32, x[1] as i32, x[2] as u32),
        nr::SEMOP => crate::ipc::sem::semtimedop(x[0] as i32, x[1], x[2], 0),
        nr::SEMTIMEDOP => crate::ipc::sem::semtimedop(x[0] as i32, x[1], x[2], x[3]),
        nr::SEMCTL => crate::ipc::sem::semctl(x[0] as i32, x[1] as i32, x[2] as i32, x[3]),
        nr::MSGGET => crate::ipc::msg::msgget(x[0] as i32, x[1] as u32),
        nr::MSGSND => crate::ipc::msg::msgsnd(x[0] as i32, x[1], x[2], x[3] as u32),
        nr::MSGRCV => crate::ipc::msg::msgrcv(x[0] as i32, x[1], x[2], x[3] as i64, x[4] as u32),
        nr::MSGCTL => crate::ipc::msg::msgctl(x[0] as i32, x[1] as i32, x[2]),
        nr::DUP => fs::dup(x[0] as i32),
        nr::DUP2 => fs::dup2(x[0] as i32, x[1] as i32),
        nr::NANOSLEEP => time::nanosleep(x[0], x[1]),
        nr::GETITIMER => timer::getitimer(x[0] as i32, x[1]),
        nr::ALARM => timer::alarm(x[0] as u32),
        nr::SETITIMER => timer::setitimer(x[0] as i32, x[1], x[2]),
        nr::GETPID => Ok(crate::proc::current_tgid() as u64),
        nr::CLONE => process::clone(frame, x[0], x[1], x[2], x[3], x[4]),
        nr::CLONE3 => process::clone3(frame, x[0], x[1]),
        nr::FORK => process::fork(frame),
        nr::VFORK => process::vfork(frame),
        nr::EXECVE => process::execve(frame, x[0], x[1], x[2]),
        nr::EXIT => process::exit(x[0] as i32),
        nr::WAIT4 => process::wait4(x[0] as i32, x[1], x[2] as u32, x[3]),
        nr::KILL => signal::kill(x[0] as i32, x[1] as i32),
        nr::UNAME => sys::uname(x[0]),
        nr::FCNTL => fs::fcntl(x[0] as i32, x[1] as u32, x[2]),
        nr::GETCWD => fs::getcwd(x[0], x[1]),
        nr::CHDIR => fs::chdir(x[0]),
        nr::GETTIMEOFDAY => time::gettimeofday(x[0], x[1]),
        nr::GETRLIMIT => sys::getrlimit(x[0] as u32, x[1]),
        nr::GETRUSAGE => sys::getrusage(x[0] as i32, x[1]),
        nr::SYSINFO => sys::sysinfo(x[0]),
        nr::GETUID => sys::getuid(),
        nr::GETGID => sys::getgid(),
        nr::SETUID => sys::setuid(x[0] as u32),
        nr::SETGID => sys::setgid(x[0] as u32),
        nr::GETEUID => sys::geteuid(),
        nr::GETEGID => sys::getegid(),
        nr::SETPGID => process::setpgid(x[0] as i32, x[1] as i32),
        nr::GETPPID => process::getppid(),
        nr::GETPGRP => process::getpgid(0),
        nr::SETSID => process::setsid(),
        nr::SETREUID => sys::setreuid(x[0] as u32, x[1] as u32),
        nr::SETREGID => sys::setregid(x[0] as u32, x[1] as u32),
        nr::SETRESUID => sys::setresuid(x[0] as u32, x[1] as u32, x[2] as u32),
        nr::GETRESUID => sys::getresuid(x[0], x[1], x[2]),
        nr::SETRESGID => sys::setresgid(x[0] as u32, x[1] as u32, x[2] as u32),
        nr::GETRESGID => sys::getresgid(x[0], x[1], x[2]),
        nr::GETGROUPS => sys::getgroups(x[0] as i32, x[1]),
        nr::CAPGET => sys::capget(x[0], x[1]),
        nr::PERSONALITY => sys::personality(x[0] as u32),
        nr::SETGROUPS => sys::setgroups(x[0] as i32, x[1]),
        nr::GETPGID => process::getpgid(x[0] as i32),
        nr::GETSID => process::getsid(x[0] as i32),
        nr::SIGALTSTACK => signal::sigaltstack(frame, x[0], x[1]),
        nr::MLOCK => mem::mlock(x[0], x[1], 0),
        nr::MUNLOCK => mem::munlock(x[0], x[1]),
        nr::MLOCKALL => mem::mlockall(x[0] as u32),
        nr::MUNLOCKALL => mem::munlockall(),
        nr::SENDFILE => fs::sendfile(x[0] as i32, x[1] as i32, x[2], x[3]),
        nr::COPY_FILE_RANGE => fs_copy::copy_file_range(x[0] as i32, x[1], x[2] as i32, x[3], x[4], x[5] as u32),
        nr::PREADV => fs_vec::preadv(x[0] as i32, x[1], x[2] as i64, x[3] as i64),
        nr::PWRITEV => fs_vec::pwritev(x[0] as i32, x[1], x[2] as i64, x[3] as i64),
        nr::PREADV2 => fs_vec::preadv2(x[0] as i32, x[1], x[2] as i64, x[3] as i64, x[5] as u32),
        nr::PWRITEV2 => fs_vec::pwritev2(x[0] as i32, x[1], x[2] as i64, x[3] as i64, x[5] as u32),
        nr::DUP3 => fs::dup3(x[0] as i32, x[1] as i32, x[2] as u32),
        nr::FCHDIR => fs::fchdir(x[0] as i32),
        nr::READLINK => fs::readlinkat(AT_FDCWD, x[0], x[1], x[2]),
        nr::FSYNC | nr::FDATASYNC => fs_write::fsync(x[0] as i32),
        nr::FLOCK => flock::flock(x[0] as i32, x[1] as u32),
        nr::SYNC => fs_hints::sync(),
        nr::SYNCFS => fs_hints::syncfs(x[0] as i32),
        nr::FADVISE64 => fs_hints::fadvise64(x[0] as i32, x[1] as i64, x[2] as i64, x[3] as u32),
        nr::READAHEAD => fs_hints::readahead(x[0] as i32, x[1] as i64, x[2]),
        nr::TRUNCATE => fs_write::truncate(x[0], x[1] as i64),
        nr::FTRUNCATE => fs_write::ftruncate(x[0] as i32, x[1] as i64),
        nr::RENAME => fs_write::renameat2(AT_FDCWD, x[0], AT_FDCWD, x[1], 0),
        nr::MKDIR => fs_write::mkdirat(AT_FDCWD, x[0], x[1] as u32),
        nr::RMDIR => fs_write::rmdirat(AT_FDCWD, x[0]),
        nr::CREAT => fs::openat(AT_FDCWD, x[0], O_CREAT | O_WRONLY | O_TRUNC, x[1] as u32),
        nr::LINK => fs_write::linkat(AT_FDCWD, x[0], AT_FDCWD, x[1], 0),
        nr::UNLINK => fs_write::unlinkat(AT_FDCWD, x[0], 0),
        nr::SYMLINK => fs_write::symlinkat(x[0], AT_FDCWD, x[1]),
        nr::CHMOD => fs_write::fchmodat(AT_FDCWD, x[0], x[1] as u32),
        nr::FCHMOD => fs_write::fchmod(x[0] as i32, x[1] as u32),
        nr::CHOWN => fs_write::fchownat(AT_FDCWD, x[0], x[1] as u32, x[2] as u32, 0),
        nr::FCHOWN => fs_write::fchown(x[0] as i32, x[1] as u32, x[2] as u32),
        nr::LCHOWN => fs_write::fchownat(AT_FDCWD, x[0], x[1] as u32, x[2] as u32, AT_SYMLINK_NOFOLLOW),
        nr::UMASK => fs_write::umask(x[0] as u32),
        nr::STATFS => fs_write::statfs(x[0], x[1]),
        nr::MIGRATE_PAGES => migrate::migrate_pages(x[0] as i32, x[1], x[2], x[3]),
        nr::MBIND => mempolicy::mbind(x[0], x[1], x[2] as u32, x[3], x[4], x[5] as u32),
        nr::SET_MEMPOLICY => mempolicy::set_mempolicy(x[0] as u32, x[1], x[2]),
        nr::GET_MEMPOLICY => mempolicy::get_mempolicy(x[0], x[1], x[2], x[3], x[4]),
        nr::SET_MEMPOLICY_HOME_NODE => mempolicy::set_mempolicy_home_node(x[0], x[1], x[2], x[3]),
        nr::MOVE_PAGES => migrate::move_pages(x[0] as i32, x[1], x[2], x[3], x[4], x[5] as i32),
        nr::PROCESS_VM_READV => process_vm::process_vm_rw(x[0] as i32, x[1], x[2], x[3], x[4], x[5], false),
        nr::PROCESS_VM_WRITEV => process_vm::process_vm_rw(x[0] as i32, x[1], x[2], x[3], x[4], x[5], true),
        nr::MEMBARRIER => membarrier::membarrier(x[0] as i32, x[1] as u32, x[2] as i32),
        nr::MOUNT => mount::mount(x[0], x[1], x[2], x[3], x[4]),
        nr::SWAPON => swap::swapon(x[0], x[1] as u32),
        nr::SWAPOFF => swap::swapoff(x[0]),
        nr::UMOUNT2 => mount::umount2(x[0], x[1] as u32),
        nr::FSTATFS => fs_write::fstatfs(x[0] as i32, x[1]),
        nr::MKDIRAT => fs_write::mkdirat(x[0] as i32, x[1], x[2] as u32),
        nr::FCHOWNAT => fs_write::fchownat(x[0] as i32, x[1], x[2] as u32, x[3] as u32, x[4] as u32),
        nr::UNLINKAT => fs_write::unlinkat(x[0] as i32, x[1], x[2] as u32),
        nr::RENAMEAT => fs_write::renameat2(x[0] as i32, x[1], x[2] as i32, x[3], 0),
        nr::RENAMEAT2 => fs_write::renameat2(x[0] as i32, x[1], x[2] as i32, x[3], x[4] as u32),
        nr::LINKAT => fs_write::linkat(x[0] as i32, x[1], x[2] as i32, x[3], x[4] as u32),
        nr::SYMLINKAT => fs_write::symlinkat(x[0], x[1] as i32, x[2]),
        nr::FCHMODAT => fs_write::fchmodat(x[0] as i32, x[1], x[2] as u32),
        nr::UTIMENSAT => fs_write::utimensat(x[0] as i32, x[1], x[2], x[3] as u32),
        nr::FALLOCATE => fs_write::fallocate(x[0] as i32, x[1] as u32, x[2] as i64, x[3] as i64),
        nr::FACCESSAT2 => fs::faccessat2(x[0] as i32, x[1], x[2] as u32, x[3] as u32),
        nr::PRCTL => sys::prctl(x[0], x[1], x[2], x[3], x[4]),
        nr::ARCH_PRCTL => process::arch_prctl(x[0] as u32, x[1]),
        nr::SETRLIMIT => sys::setrlimit(x[0] as u32, x[1]),
        nr::GETTID => Ok(crate::proc::current_pid() as u64),
        nr::TKILL => signal::tkill(x[0] as i32, x[1] as i32),
        nr::TIME => time::time(x[0]),
        nr::FUTEX => futex::futex(x[0], x[1] as u32, x[2] as u32, x[3], x[4], x[5] as u32),
        nr::GETDENTS64 => fs::getdents64(x[0] as i32, x[1], x[2]),
        nr::SET_TID_ADDRESS => process::set_tid_address(x[0]),
        nr::TIMER_CREATE => timer::timer_create(x[0] as i32, x[1], x[2]),
        nr::TIMER_SETTIME => timer::timer_settime(x[0] as i32, x[1] as u32, x[2], x[3]),
        nr::TIMER_GETTIME => timer::timer_gettime(x[0] as i32, x[1]),
        nr::TIMER_GETOVERRUN => timer::timer_getoverrun(x[0] as i32),
        nr::TIMER_DELETE => timer::timer_delete(x[0] as i32),
        nr::CLOCK_GETTIME => time::clock_gettime(x[0] as i32, x[1]),
        nr::CLOCK_GETRES => time::clock_getres(x[0] as i32, x[1]),
        nr::CLOCK_NANOSLEEP => time::clock_nanosleep(x[0] as i32, x[1] as u32, x[2], x[3]),
        nr::EXIT_GROUP => process::exit_group(x[0] as i32),
        nr::EPOLL_CREATE => epoll::epoll_create(x[0] as i32),
        nr::EPOLL_WAIT => epoll::epoll_wait(x[0] as i32, x[1], x[2] as i32, x[3] as i32),
        nr::EPOLL_CTL => epoll::epoll_ctl(x[0] as i32, x[1] as i32, x[2] as i32, x[3]),
        nr::TGKILL => signal::tgkill(x[0] as i32, x[1] as i32, x[2] as i32),
        nr::OPENAT => fs::openat(x[0] as i32, x[1], x[2] as u32, x[3] as u32),
        nr::READLINKAT => fs::readlinkat(x[0] as i32, x[1], x[2], x[3]),
        nr::NEWFSTATAT => fs::newfstatat(x[0] as i32, x[1], x[2], x[3] as u32),
        nr::GETXATTR => xattr::getxattr(x[0], x[1], true),
        nr::LGETXATTR => xattr::getxattr(x[0], x[1], false),
        nr::FGETXATTR => xattr::fgetxattr(x[0] as i32, x[1]),
        nr::LISTXATTR => xattr::listxattr(x[0], true),
        nr::LLISTXATTR => xattr::listxattr(x[0], false),
        nr::FLISTXATTR => xattr::flistxattr(x[0] as i32),
        nr::STATX => fs::statx(x[0] as i32, x[1], x[2] as u32, x[3] as u32, x[4]),
        nr::FACCESSAT => fs::faccessat(x[0] as i32, x[1], x[2] as u32),
        nr::PSELECT6 => poll::pselect6(x[0] as i32, x[1], x[2], x[3], x[4], x[5]),
        nr::PPOLL => poll::ppoll(x[0], x[1] as u32, x[2], x[3], x[4]),
        nr::SET_ROBUST_LIST => process::set_robust_list(x[0], x[1]),
        nr::GET_ROBUST_LIST => process::get_robust_list(x[0] as i32, x[1], x[2]),
        nr::EPOLL_PWAIT => epoll::epoll_pwait(x[0] as i32, x[1], x[2] as i32, x[3] as i32, x[4], x[5]),
        nr::TIMERFD_CREATE => anonfd::timerfd_create(x[0] as i32, x[1] as u32),
        nr::EVENTFD => anonfd::eventfd2(x[0] as u32, 0),
        nr::TIMERFD_SETTIME => anonfd::timerfd_settime(x[0] as i32, x[1] as u32, x[2], x[3]),
        nr::TIMERFD_GETTIME => anonfd::timerfd_gettime(x[0] as i32, x[1]),
        nr::SIGNALFD => anonfd::signalfd4(x[0] as i32, x[1], x[2], 0),
        nr::SIGNALFD4 => anonfd::signalfd4(x[0] as i32, x[1], x[2], x[3] as u32),
        nr::EVENTFD2 => anonfd::eventfd2(x[0] as u32, x[1] as u32),
        nr::EPOLL_CREATE1 => epoll::epoll_create1(x[0] as u32),
        nr::PIPE2 => fs::pipe2(x[0], x[1] as u32),
        nr::PRLIMIT64 => sys::prlimit64(x[0] as i32, x[1] as u32, x[2], x[3]),
        nr::GETRANDOM => sys::getrandom(x[0], x[1], x[2] as u32),
        nr::MEMFD_CREATE => memfd::memfd_create(x[0], x[1] as u32),
        nr::MLOCK2 => mem::mlock(x[0], x[1], x[2] as u32),
        nr::RSEQ => Err(ENOSYS), // optional, libc copes
        nr::PIDFD_SEND_SIGNAL => anonfd::pidfd_send_signal(x[0] as i32, x[1] as i32, x[2], x[3] as u32),
        nr::PIDFD_OPEN => anonfd::pidfd_open(x[0] as i32, x[1] as u32),
        nr::EPOLL_PWAIT2 => epoll::epoll_pwait2(x[0] as i32, x[1], x[2] as i32, x[3], x[4], x[5]),
        _ => {
            let me = crate::proc::current();
            crate::ratelimited!(
                log::Level::Warn,
                "{}[{}]: unknown system call {} ({}): ENOSYS",
                me.name(),
                me.pid(),
                nr,
                name_of(nr)
            );
            Err(ENOSYS)
        }
    }
}

/// Entry from `arch::syscall`. Returns 1 if SYSRET may be used.
pub extern "C" fn handle(frame: &mut TrapFrame) -> u64 {
    let nr = frame.rax;
    let args = Args::from(frame);
    x86_64::instructions::interrupts::enable();
    let r = if crate::mem::kmemcg::charges_kernel_memory(nr) {
        let _account = crate::proc::cgroup::KmemScope::enter();
        dispatch(nr, &args, frame)
    } else {
        dispatch(nr, &args, frame)
    };
    frame.rax = match r {
        Ok(v) => v,
        Err(e) => e.to_syscall_return(),
    };
    crate::proc::signal::deliver::syscall_return(frame, nr, r);
    if frame.rip >= TASK_SIZE {
        // Only an execve that failed after the point of no return (an ELF
        // entry or segment outside user space) puts it there; Linux kills
        // the new program with SIGSEGV. Returning would fault on iretq in
        // ring 0.
        crate::ratelimited!(
            log::Level::Info,
            "{}[{}]: exec'd program cannot run (entry {:#x}): SIGSEGV",
            crate::proc::current().name(),
            crate::proc::current_pid(),
            frame.rip
        );
        crate::proc::exit::do_group_exit(crate::proc::exit::status_signaled(abi::signal::SIGSEGV));
    }
    x86_64::instructions::interrupts::disable();
    // Never carry IOPL, NT or a cleared IF back; keep user-changeable flags.
    frame.rflags = (frame.rflags & 0x0024_0fd5) | 0x202;
    let canonical_user = frame.rip < TASK_SIZE;
    let sysret_ok = canonical_user && frame.rcx == frame.rip && frame.r11 == frame.rflags;
    sysret_ok as u64
}

/// Install the handler and start the wall clock.
pub fn init() {
    arch::syscall::set_handler(handle);
    time::init();
}
