//! The system-call table: Linux x86_64 numbers, arguments in rdi, rsi,
//! rdx, r10, r8, r9, result or `-errno` in rax (cf.
//! arch/x86/entry/syscalls/syscall_64.tbl).
//!
//! Each handler returns `Result<u64, Errno>`. An unknown number gets
//! ENOSYS and one log line naming it. On the way out, a pending fatal
//! signal ends the process, and the entry code is told whether SYSRET may
//! return (only if the frame still describes a normal return to the
//! instruction after `syscall`; otherwise IRETQ does).

mod fs;
mod mem;
mod process;
mod sys;
mod time;

use arch::trap::TrapFrame;
use mm::vm::address_space::TASK_SIZE;

use crate::errno::*;

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
        7 => "poll",
        23 => "select",
        29..=31 => "shm*",
        32 => "dup",
        33 => "dup2",
        41..=55 => "socket family",
        56 => "clone",
        76 | 77 => "truncate",
        82..=92 => "filesystem modification",
        101 => "ptrace",
        202 => "futex",
        _ => "?",
    }
}

fn dispatch(nr: u64, a: &Args, frame: &mut TrapFrame) -> SysResult {
    let x = &a.a;
    match nr {
        0 => fs::read(x[0] as i32, x[1], x[2]),
        1 => fs::write(x[0] as i32, x[1], x[2]),
        2 => fs::openat(fs::AT_FDCWD, x[0], x[1] as u32, x[2] as u32),
        3 => fs::close(x[0] as i32),
        4 => fs::stat(x[0], x[1]),
        5 => fs::fstat(x[0] as i32, x[1]),
        6 => fs::stat(x[0], x[1]),
        8 => fs::lseek(x[0] as i32, x[1] as i64, x[2] as u32),
        9 => mem::mmap(x[0], x[1], x[2] as u32, x[3] as u32, x[4] as i32, x[5]),
        10 => mem::mprotect(x[0], x[1], x[2] as u32),
        11 => mem::munmap(x[0], x[1]),
        12 => mem::brk(x[0]),
        13 => process::rt_sigaction(x[0] as u32, x[1], x[2], x[3]),
        14 => process::rt_sigprocmask(x[0] as u32, x[1], x[2], x[3]),
        16 => fs::ioctl(x[0] as i32, x[1] as u32, x[2]),
        17 => fs::pread64(x[0] as i32, x[1], x[2], x[3] as i64),
        19 => fs::readv(x[0] as i32, x[1], x[2] as i64),
        20 => fs::writev(x[0] as i32, x[1], x[2] as i64),
        21 => fs::faccessat(fs::AT_FDCWD, x[0], x[1] as u32),
        22 => fs::pipe2(x[0], 0),
        24 => process::sched_yield(),
        25 => mem::mremap(x[0], x[1], x[2], x[3] as u32, x[4]),
        26 => mem::msync(x[0], x[1], x[2] as u32),
        27 => mem::mincore(x[0], x[1], x[2]),
        28 => mem::madvise(x[0], x[1], x[2] as u32),
        32 => fs::dup(x[0] as i32),
        33 => fs::dup2(x[0] as i32, x[1] as i32),
        35 => time::nanosleep(x[0], x[1]),
        39 => Ok(crate::proc::current_pid() as u64),
        56 => process::clone(frame, x[0], x[1], x[2], x[3], x[4]),
        57 => process::fork(frame),
        58 => process::vfork(frame),
        59 => process::execve(frame, x[0], x[1], x[2]),
        60 => process::exit(x[0] as i32),
        61 => process::wait4(x[0] as i32, x[1], x[2] as u32, x[3]),
        62 => process::kill(x[0] as i32, x[1] as i32),
        63 => sys::uname(x[0]),
        72 => fs::fcntl(x[0] as i32, x[1] as u32, x[2]),
        79 => fs::getcwd(x[0], x[1]),
        80 => fs::chdir(x[0]),
        96 => time::gettimeofday(x[0], x[1]),
        97 => sys::getrlimit(x[0] as u32, x[1]),
        98 => sys::getrusage(x[0] as i32, x[1]),
        99 => sys::sysinfo(x[0]),
        102 => sys::getuid(),
        104 => sys::getgid(),
        105 => sys::setuid(x[0] as u32),
        106 => sys::setgid(x[0] as u32),
        107 => sys::geteuid(),
        108 => sys::getegid(),
        109 => process::setpgid(x[0] as i32, x[1] as i32),
        110 => process::getppid(),
        111 => process::getpgid(0),
        112 => process::setsid(),
        113 => sys::setreuid(x[0] as u32, x[1] as u32),
        114 => sys::setregid(x[0] as u32, x[1] as u32),
        117 => sys::setresuid(x[0] as u32, x[1] as u32, x[2] as u32),
        118 => sys::getresuid(x[0], x[1], x[2]),
        119 => sys::setresgid(x[0] as u32, x[1] as u32, x[2] as u32),
        120 => sys::getresgid(x[0], x[1], x[2]),
        121 => process::getpgid(x[0] as i32),
        124 => process::getsid(x[0] as i32),
        131 => process::sigaltstack(x[0], x[1]),
        149 => mem::mlock(x[0], x[1], 0),
        150 => mem::munlock(x[0], x[1]),
        151 => mem::mlockall(x[0] as u32),
        152 => mem::munlockall(),
        40 => fs::sendfile(x[0] as i32, x[1] as i32, x[2], x[3]),
        89 => fs::readlinkat(fs::AT_FDCWD, x[0], x[1], x[2]),
        157 => sys::prctl(x[0], x[1]),
        158 => process::arch_prctl(x[0] as u32, x[1]),
        160 => sys::setrlimit(x[0] as u32, x[1]),
        186 => Ok(crate::proc::current_pid() as u64),
        200 => process::kill(x[0] as i32, x[1] as i32),
        201 => time::time(x[0]),
        217 => fs::getdents64(x[0] as i32, x[1], x[2]),
        218 => process::set_tid_address(x[0]),
        228 => time::clock_gettime(x[0] as i32, x[1]),
        229 => time::clock_getres(x[0] as i32, x[1]),
        230 => time::clock_nanosleep(x[0] as i32, x[1] as u32, x[2], x[3]),
        231 => process::exit_group(x[0] as i32),
        234 => process::tgkill(x[0] as i32, x[1] as i32, x[2] as i32),
        257 => fs::openat(x[0] as i32, x[1], x[2] as u32, x[3] as u32),
        267 => fs::readlinkat(x[0] as i32, x[1], x[2], x[3]),
        262 => fs::newfstatat(x[0] as i32, x[1], x[2], x[3] as u32),
        269 => fs::faccessat(x[0] as i32, x[1], x[2] as u32),
        273 => process::set_robust_list(x[0], x[1]),
        274 => process::get_robust_list(x[0] as i32, x[1], x[2]),
        293 => fs::pipe2(x[0], x[1] as u32),
        302 => sys::prlimit64(x[0] as i32, x[1] as u32, x[2], x[3]),
        318 => sys::getrandom(x[0], x[1], x[2] as u32),
        325 => mem::mlock(x[0], x[1], x[2] as u32),
        334 => Err(ENOSYS), // rseq: optional, libc copes
        _ => {
            let me = crate::proc::current();
            crate::ratelimited!(
                log::Level::Warn,
                "{}[{}]: unknown system call {} ({}): ENOSYS",
                me.name(),
                me.pid,
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
    let r = dispatch(nr, &args, frame);
    frame.rax = match r {
        Ok(v) => v,
        Err(e) => (-(e as i64)) as u64,
    };
    crate::proc::signal::check_pending(frame);
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
        crate::proc::exit::do_exit(crate::proc::exit::status_signaled(crate::proc::signal::SIGSEGV));
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
