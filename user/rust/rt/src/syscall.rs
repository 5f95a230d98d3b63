//! Raw Linux x86_64 system calls and typed wrappers around them.
//!
//! ABI (arch/x86/entry/entry_64.S): number in `rax`, arguments in `rdi`,
//! `rsi`, `rdx`, `r10`, `r8`, `r9`; the `syscall` instruction clobbers `rcx`
//! (return address) and `r11` (rflags); the result comes back in `rax`, with
//! values in `-4095..=-1` meaning `-errno`.
//!
//! Wrappers that can break memory safety (mmap with MAP_FIXED, munmap,
//! mprotect, madvise, execve with raw pointer arrays, arch_prctl) are
//! `unsafe fn`; the rest take slices and references and are safe.
//! Structures (`Stat`, `Timespec`, `Utsname`, `Rlimit`, `IoVec`) have the
//! x86_64 kernel layouts. Flag constants are the Linux values.

use abi::Errno;
use core::arch::asm;
use core::ffi::CStr;

/// System call numbers (arch/x86/entry/syscalls/syscall_64.tbl), from `abi`.
pub use abi::nr;

// ---- raw calls -------------------------------------------------------------

/// Issue system call `n` with no arguments.
///
/// # Safety
/// The call may have any effect a system call can have on this process
/// (unmapping memory, replacing the image, ...); the caller vouches for it.
#[inline(always)]
pub unsafe fn syscall0(n: u64) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the call's effects; the asm follows the
    // kernel ABI and declares every register the kernel may change.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Issue system call `n` with one argument.
///
/// # Safety
/// As [`syscall0`]; pointer arguments must be valid for what the call does with them.
#[inline(always)]
pub unsafe fn syscall1(n: u64, a1: usize) -> isize {
    let ret: isize;
    // SAFETY: as in syscall0.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Issue system call `n` with two arguments.
///
/// # Safety
/// As [`syscall0`]; pointer arguments must be valid for what the call does with them.
#[inline(always)]
pub unsafe fn syscall2(n: u64, a1: usize, a2: usize) -> isize {
    let ret: isize;
    // SAFETY: as in syscall0.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Issue system call `n` with three arguments.
///
/// # Safety
/// As [`syscall0`]; pointer arguments must be valid for what the call does with them.
#[inline(always)]
pub unsafe fn syscall3(n: u64, a1: usize, a2: usize, a3: usize) -> isize {
    let ret: isize;
    // SAFETY: as in syscall0.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Issue system call `n` with four arguments.
///
/// # Safety
/// As [`syscall0`]; pointer arguments must be valid for what the call does with them.
#[inline(always)]
pub unsafe fn syscall4(n: u64, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: as in syscall0.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, in("r10") a4, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Issue system call `n` with six arguments.
///
/// # Safety
/// As [`syscall0`]; pointer arguments must be valid for what the call does with them.
#[inline(always)]
pub unsafe fn syscall6(n: u64, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> isize {
    let ret: isize;
    // SAFETY: as in syscall0.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, in("r10") a4, in("r8") a5, in("r9") a6,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Turn a raw return value into `Ok(value)` or `Err(errno)`.
pub fn check(ret: isize) -> Result<usize, Errno> {
    Errno::from_syscall_return(ret)
}

// ---- constants (Linux's values, from `abi`) -----------------------------------

pub use abi::fcntl::{AT_FDCWD, O_CLOEXEC, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET};
pub use abi::mman::{
    MADV_DONTNEED, MADV_NORMAL, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE, PROT_READ,
    PROT_WRITE,
};
pub use abi::prctl::{ARCH_GET_FS, ARCH_SET_FS};
pub use abi::resource::{RLIM_INFINITY, RLIMIT_AS, RLIMIT_CORE, RLIMIT_NOFILE, RLIMIT_STACK};
pub use abi::signal::{SIGABRT, SIGCHLD, SIGFPE, SIGILL, SIGKILL, SIGSEGV, SIGTERM, SIGTRAP, SIGUSR1};
pub use abi::time::{CLOCK_MONOTONIC, CLOCK_REALTIME};
pub use abi::wait::WNOHANG;

// ---- wait status decoding (include/uapi/linux/wait.h, glibc's macros) ------

/// The child exited normally (`WIFEXITED`).
pub fn wifexited(status: i32) -> bool {
    status & 0x7f == 0
}
/// The exit code of a child that exited normally (`WEXITSTATUS`).
pub fn wexitstatus(status: i32) -> i32 {
    (status >> 8) & 0xff
}
/// The child was killed by a signal (`WIFSIGNALED`).
pub fn wifsignaled(status: i32) -> bool {
    ((status & 0x7f) + 1) as i8 >> 1 > 0
}
/// The signal that killed the child (`WTERMSIG`).
pub fn wtermsig(status: i32) -> u32 {
    (status & 0x7f) as u32
}

// ---- structures -------------------------------------------------------------

/// `struct stat` as x86_64 Linux returns it from fstat (144 bytes), from `abi`.
pub use abi::Stat;

/// `struct timespec`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl Timespec {
    /// A duration of `ms` milliseconds.
    pub fn from_millis(ms: u64) -> Timespec {
        Timespec { tv_sec: (ms / 1000) as i64, tv_nsec: ((ms % 1000) * 1_000_000) as i64 }
    }
    /// Nanoseconds since the clock's epoch (saturating at zero).
    pub fn as_nanos(&self) -> u64 {
        (self.tv_sec.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(self.tv_nsec.max(0) as u64)
    }
}

/// `struct utsname`: six NUL-terminated 65-byte fields.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Utsname {
    pub sysname: [u8; 65],
    pub nodename: [u8; 65],
    pub release: [u8; 65],
    pub version: [u8; 65],
    pub machine: [u8; 65],
    pub domainname: [u8; 65],
}

impl Default for Utsname {
    fn default() -> Self {
        Utsname {
            sysname: [0; 65],
            nodename: [0; 65],
            release: [0; 65],
            version: [0; 65],
            machine: [0; 65],
            domainname: [0; 65],
        }
    }
}

/// The text of one `Utsname` field, up to its NUL.
pub fn uts_field(field: &[u8; 65]) -> &str {
    let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..len]).unwrap_or("?")
}

/// `struct rlimit` (also the layout prlimit64 uses).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub rlim_cur: u64,
    pub rlim_max: u64,
}

/// `struct iovec`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IoVec {
    pub iov_base: *const u8,
    pub iov_len: usize,
}

impl IoVec {
    pub fn new(buf: &[u8]) -> IoVec {
        IoVec { iov_base: buf.as_ptr(), iov_len: buf.len() }
    }
}

// ---- typed wrappers -----------------------------------------------------------
//
// SAFETY (for every safe wrapper below): each passes the kernel pointers
// derived from live Rust references or slices with their true lengths, and
// the call cannot change memory the program does not expect to change.

pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) })
}

pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) })
}

/// Write all of `buf`, retrying after short writes.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match write(fd, buf)? {
            0 => return Err(Errno::EIO),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

pub fn writev(fd: i32, iov: &[IoVec]) -> Result<usize, Errno> {
    // SAFETY: see the note above the wrappers; IoVec can only be built from slices.
    check(unsafe { syscall3(nr::WRITEV, fd as usize, iov.as_ptr() as usize, iov.len()) })
}

pub fn open(path: &CStr, flags: u32, mode: u32) -> Result<i32, Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall3(nr::OPEN, path.as_ptr() as usize, flags as usize, mode as usize) }).map(|fd| fd as i32)
}

pub fn openat(dirfd: i32, path: &CStr, flags: u32, mode: u32) -> Result<i32, Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall4(nr::OPENAT, dirfd as usize, path.as_ptr() as usize, flags as usize, mode as usize) })
        .map(|fd| fd as i32)
}

pub fn close(fd: i32) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall1(nr::CLOSE, fd as usize) }).map(drop)
}

pub fn lseek(fd: i32, offset: i64, whence: u32) -> Result<u64, Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall3(nr::LSEEK, fd as usize, offset as usize, whence as usize) }).map(|o| o as u64)
}

pub fn pread64(fd: i32, buf: &mut [u8], offset: i64) -> Result<usize, Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall4(nr::PREAD64, fd as usize, buf.as_mut_ptr() as usize, buf.len(), offset as usize) })
}

pub fn fstat(fd: i32, st: &mut Stat) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall2(nr::FSTAT, fd as usize, st as *mut Stat as usize) }).map(drop)
}

/// The raw brk call: asks for the break at `addr` and returns the break
/// afterwards. Linux returns the unchanged break on failure (not an errno);
/// `brk(0)` queries it.
pub fn brk(addr: usize) -> usize {
    // SAFETY: moving the break only adds or removes pages above the heap;
    // rt's allocator never hands out memory past the break it has set, and
    // programs that lower the break below memory they still use own that bug.
    unsafe { syscall1(nr::BRK, addr) as usize }
}

/// Map memory (`mmap(2)`).
///
/// # Safety
/// With MAP_FIXED the new mapping replaces whatever was at `addr`; the
/// caller must own that range.
pub unsafe fn mmap(addr: usize, len: usize, prot: u32, flags: u32, fd: i32, offset: i64) -> Result<*mut u8, Errno> {
    // SAFETY: the caller guarantees that a MAP_FIXED range is theirs.
    check(unsafe { syscall6(nr::MMAP, addr, len, prot as usize, flags as usize, fd as usize, offset as usize) })
        .map(|a| a as *mut u8)
}

/// Unmap `[addr, addr + len)`.
///
/// # Safety
/// Nothing may use the range afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller guarantees that the range is no longer used.
    check(unsafe { syscall2(nr::MUNMAP, addr as usize, len) }).map(drop)
}

/// Change the protection of `[addr, addr + len)`.
///
/// # Safety
/// Code that accesses the range must respect the new protection.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: u32) -> Result<(), Errno> {
    // SAFETY: the caller guarantees accesses follow the new protection.
    check(unsafe { syscall3(nr::MPROTECT, addr as usize, len, prot as usize) }).map(drop)
}

/// Give the kernel advice about `[addr, addr + len)`.
///
/// # Safety
/// MADV_DONTNEED discards the contents of private anonymous pages (they
/// read back as zeros); the caller must expect that.
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: u32) -> Result<(), Errno> {
    // SAFETY: the caller accepts the advice's effect on the contents.
    check(unsafe { syscall3(nr::MADVISE, addr as usize, len, advice as usize) }).map(drop)
}

/// Which pages of `[addr, addr + len)` are resident: one byte per page in
/// `vec`, bit 0 set when resident. `vec` must hold at least
/// `ceil(len / 4096)` bytes (checked).
pub fn mincore(addr: usize, len: usize, vec: &mut [u8]) -> Result<(), Errno> {
    if vec.len() < len.div_ceil(4096) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: mincore only writes `vec`, which is large enough (checked above).
    check(unsafe { syscall3(nr::MINCORE, addr, len, vec.as_mut_ptr() as usize) }).map(drop)
}

/// Terminate the calling thread.
pub fn exit(code: i32) -> ! {
    // SAFETY: the thread ends; nothing runs after this.
    unsafe { syscall1(nr::EXIT, code as usize) };
    unreachable_exit()
}

/// Terminate the whole process.
pub fn exit_group(code: i32) -> ! {
    // SAFETY: the process ends; nothing runs after this.
    unsafe { syscall1(nr::EXIT_GROUP, code as usize) };
    unreachable_exit()
}

fn unreachable_exit() -> ! {
    // A kernel that returns from exit is broken; die without a syscall.
    // SAFETY: ud2 raises #UD, which the kernel turns into SIGILL.
    unsafe { asm!("ud2", options(noreturn)) }
}

pub fn getpid() -> i32 {
    // SAFETY: see the note above the wrappers.
    unsafe { syscall0(nr::GETPID) as i32 }
}

pub fn getppid() -> i32 {
    // SAFETY: see the note above the wrappers.
    unsafe { syscall0(nr::GETPPID) as i32 }
}

pub fn gettid() -> i32 {
    // SAFETY: see the note above the wrappers.
    unsafe { syscall0(nr::GETTID) as i32 }
}

/// `fork(2)` (syscall 57): `Ok(0)` in the child, `Ok(child_pid)` in the parent.
///
/// Safe here because rt programs are single-threaded and rt holds no lock
/// across a system call, so the child starts with consistent state. There is
/// deliberately no vfork wrapper: a vfork child shares the parent's stack,
/// which Rust code cannot be trusted not to clobber.
pub fn fork() -> Result<i32, Errno> {
    // SAFETY: see above.
    check(unsafe { syscall0(nr::FORK) }).map(|p| p as i32)
}

/// Replace the process image. Returns only on failure, with the error.
///
/// # Safety
/// `path` must be a NUL-terminated string; `argv` and `envp` must be
/// NULL-terminated arrays of NUL-terminated strings (the slices of
/// [`crate::Args`] are followed by their NULL, so `args.argv.as_ptr()` works).
pub unsafe fn execve(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: the caller guarantees the pointer arrays are well formed.
    let r = unsafe { syscall3(nr::EXECVE, path as usize, argv as usize, envp as usize) };
    match check(r) {
        Err(e) => e,
        Ok(_) => Errno::EINVAL, // execve never returns success
    }
}

/// Wait for a child (`wait4(2)`, no rusage): returns the pid reaped, or 0
/// with WNOHANG when no child has changed state.
pub fn wait4(pid: i32, status: &mut i32, options: u32) -> Result<i32, Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall4(nr::WAIT4, pid as usize, status as *mut i32 as usize, options as usize, 0) })
        .map(|p| p as i32)
}

pub fn kill(pid: i32, sig: u32) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers (sending a signal to ourselves
    // can kill us, which is not a memory-safety concern).
    check(unsafe { syscall2(nr::KILL, pid as usize, sig as usize) }).map(drop)
}

pub fn clock_gettime(clock: i32, ts: &mut Timespec) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall2(nr::CLOCK_GETTIME, clock as usize, ts as *mut Timespec as usize) }).map(drop)
}

/// CLOCK_MONOTONIC in nanoseconds (0 if the call fails).
pub fn monotonic_ns() -> u64 {
    let mut ts = Timespec::default();
    match clock_gettime(CLOCK_MONOTONIC, &mut ts) {
        Ok(()) => ts.as_nanos(),
        Err(_) => 0,
    }
}

pub fn nanosleep(req: &Timespec, rem: Option<&mut Timespec>) -> Result<(), Errno> {
    let rem = rem.map_or(0, |r| r as *mut Timespec as usize);
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall2(nr::NANOSLEEP, req as *const Timespec as usize, rem) }).map(drop)
}

/// Sleep for `ms` milliseconds (restarting after EINTR).
pub fn sleep_ms(ms: u64) {
    let mut req = Timespec::from_millis(ms);
    let mut rem = Timespec::default();
    while let Err(Errno::EINTR) = nanosleep(&req, Some(&mut rem)) {
        req = rem;
    }
}

pub fn sched_yield() -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall0(nr::SCHED_YIELD) }).map(drop)
}

pub fn uname(buf: &mut Utsname) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall1(nr::UNAME, buf as *mut Utsname as usize) }).map(drop)
}

pub fn getuid() -> u32 {
    // SAFETY: see the note above the wrappers.
    unsafe { syscall0(nr::GETUID) as u32 }
}

pub fn geteuid() -> u32 {
    // SAFETY: see the note above the wrappers.
    unsafe { syscall0(nr::GETEUID) as u32 }
}

pub fn getgid() -> u32 {
    // SAFETY: see the note above the wrappers.
    unsafe { syscall0(nr::GETGID) as u32 }
}

pub fn getegid() -> u32 {
    // SAFETY: see the note above the wrappers.
    unsafe { syscall0(nr::GETEGID) as u32 }
}

pub fn setuid(uid: u32) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall1(nr::SETUID, uid as usize) }).map(drop)
}

pub fn setgid(gid: u32) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall1(nr::SETGID, gid as usize) }).map(drop)
}

pub fn getrlimit(resource: usize, lim: &mut Rlimit) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall2(nr::GETRLIMIT, resource, lim as *mut Rlimit as usize) }).map(drop)
}

pub fn setrlimit(resource: usize, lim: &Rlimit) -> Result<(), Errno> {
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall2(nr::SETRLIMIT, resource, lim as *const Rlimit as usize) }).map(drop)
}

/// Get and/or set a resource limit of process `pid` (0: this process).
pub fn prlimit64(pid: i32, resource: usize, new: Option<&Rlimit>, old: Option<&mut Rlimit>) -> Result<(), Errno> {
    let new = new.map_or(0, |n| n as *const Rlimit as usize);
    let old = old.map_or(0, |o| o as *mut Rlimit as usize);
    // SAFETY: see the note above the wrappers.
    check(unsafe { syscall4(nr::PRLIMIT64, pid as usize, resource, new, old) }).map(drop)
}

/// `arch_prctl(2)`: ARCH_SET_FS / ARCH_GET_FS (and the GS pair).
///
/// # Safety
/// Setting FS or GS changes what thread-local accesses read; rt uses no
/// TLS, but the caller must make sure nothing else relies on the old base.
/// For the GET codes `addr` must point at a writable `u64`.
pub unsafe fn arch_prctl(code: u32, addr: usize) -> Result<(), Errno> {
    // SAFETY: the caller guarantees the effect is expected.
    check(unsafe { syscall2(nr::ARCH_PRCTL, code as usize, addr) }).map(drop)
}
