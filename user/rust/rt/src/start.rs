//! Process entry: `_start`, the initial stack, and the program's arguments.
//!
//! The kernel enters `_start` with `rsp` pointing at the System V / Linux
//! initial stack (cf. fs/binfmt_elf.c `create_elf_tables`):
//!
//! ```text
//!   rsp ->  argc
//!           argv[0] .. argv[argc-1]   pointers to NUL-terminated strings
//!           NULL
//!           envp[0] .. envp[n-1]      "KEY=value" strings
//!           NULL
//!           auxv: (type, value) pairs ...
//!           (AT_NULL, 0)
//!           ... strings, AT_RANDOM bytes, padding (higher addresses)
//! ```
//!
//! `rsp` is 16-byte aligned at entry, but `_start` aligns it again anyway
//! before calling [`start`], which records the arrays, calls the program's
//! `main` (registered with [`crate::entry!`]) and exits with its status.

use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Auxiliary vector types (include/uapi/linux/auxvec.h), from `abi`.
pub use abi::auxv::*;

core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    // End of the frame-pointer chain for backtraces.
    "    xor ebp, ebp",
    "    mov rdi, rsp",
    "    and rsp, -16",
    "    call {start}",
    "    ud2",
    ".size _start, . - _start",
    start = sym start,
);

unsafe extern "C" {
    /// The entry point defined above; its address is what AT_ENTRY holds.
    pub fn _start();
}

unsafe extern "Rust" {
    /// The program's main, defined by [`crate::entry!`].
    fn __rt_main(args: &Args) -> i32;
}

/// One auxiliary-vector entry.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AuxEntry {
    pub key: u64,
    pub val: usize,
}

/// The program's arguments, environment and auxiliary vector, exactly as
/// the kernel laid them out on the initial stack.
///
/// `argv` and `envp` exclude their terminating NULL, which follows them in
/// memory: `argv.as_ptr()` is a valid NULL-terminated array for execve.
/// `auxv` excludes the AT_NULL entry.
#[derive(Clone, Copy)]
pub struct Args {
    pub argc: usize,
    pub argv: &'static [*const c_char],
    pub envp: &'static [*const c_char],
    pub auxv: &'static [AuxEntry],
}

// The initial stack pointer, recorded once by `start` (single-threaded).
static INITIAL_SP: AtomicUsize = AtomicUsize::new(0);
static INITIAL_BRK: AtomicUsize = AtomicUsize::new(0);

/// Called by `_start` with the initial stack pointer.
///
/// # Safety
/// `sp` must point at a Linux-layout initial stack (see the module comment).
unsafe extern "C" fn start(sp: *const usize) -> ! {
    INITIAL_SP.store(sp as usize, Ordering::Relaxed);
    // The break before anything (the allocator included) moved it.
    INITIAL_BRK.store(crate::syscall::brk(0), Ordering::Relaxed);
    let args = args();
    // SAFETY: __rt_main is the function entry! defined, with this signature.
    let code = unsafe { __rt_main(&args) };
    crate::syscall::exit_group(code)
}

/// The arguments of this process, decoded from the initial stack.
pub fn args() -> Args {
    let sp = INITIAL_SP.load(Ordering::Relaxed) as *const usize;
    assert!(!sp.is_null(), "rt: args() called before start");
    // SAFETY: `start` recorded a Linux-layout initial stack, which stays
    // untouched above our own frames for the life of the process.
    unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const c_char;
        let envp = argv.add(argc + 1);
        let mut nenv = 0;
        while !(*envp.add(nenv)).is_null() {
            nenv += 1;
        }
        let auxv = envp.add(nenv + 1) as *const AuxEntry;
        let mut naux = 0;
        while (*auxv.add(naux)).key != AT_NULL {
            naux += 1;
        }
        Args {
            argc,
            argv: core::slice::from_raw_parts(argv, argc),
            envp: core::slice::from_raw_parts(envp, nenv),
            auxv: core::slice::from_raw_parts(auxv, naux),
        }
    }
}

/// The program break when the process started (before `main` and before
/// the allocator grew the heap).
pub fn initial_brk() -> usize {
    INITIAL_BRK.load(Ordering::Relaxed)
}

/// The value of auxiliary-vector entry `key`, like glibc's `getauxval`
/// (`None` where glibc returns 0 with ENOENT).
pub fn getauxval(key: u64) -> Option<usize> {
    args().getauxval(key)
}

/// The value of environment variable `name`.
pub fn getenv(name: &str) -> Option<&'static str> {
    args().getenv(name)
}

fn c_str(p: *const c_char) -> &'static str {
    // SAFETY: argv and envp entries are NUL-terminated strings the kernel
    // copied onto the initial stack, which lives as long as the process.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("<not utf-8>")
}

impl Args {
    /// Argument `i` as text, or `None` past argc.
    pub fn arg(&self, i: usize) -> Option<&'static str> {
        self.argv.get(i).map(|&p| c_str(p))
    }

    /// Every argument, argv[0] first.
    pub fn args(&self) -> impl Iterator<Item = &'static str> {
        self.argv.iter().map(|&p| c_str(p))
    }

    /// Every environment entry, `KEY=value`.
    pub fn env(&self) -> impl Iterator<Item = &'static str> {
        self.envp.iter().map(|&p| c_str(p))
    }

    /// The value of environment variable `name`.
    pub fn getenv(&self, name: &str) -> Option<&'static str> {
        self.env().find_map(|e| e.strip_prefix(name)?.strip_prefix('='))
    }

    /// The value of auxiliary-vector entry `key`.
    pub fn getauxval(&self, key: u64) -> Option<usize> {
        self.auxv.iter().find(|a| a.key == key).map(|a| a.val)
    }
}
