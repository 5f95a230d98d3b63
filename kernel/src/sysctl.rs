//! The sysctl values that bound kernel memory a process can make the
//! kernel hold (cf. fs/file.c `sysctl_nr_open`, fs/pipe.c `pipe_max_size`,
//! `pipe_user_pages_hard`, `pipe_user_pages_soft`; ipc/shm.c `shm_ctlmax`,
//! `shm_ctlall`, `shm_ctlmni`, `shm_rmid_forced`).
//!
//! Each value is an atomic with a getter and a validating setter that
//! answers as Linux's sysctl handler does (EINVAL for a value out of
//! range). Permission checks (root only) and the /proc/sys text belong to
//! procfs; this module only keeps the numbers.

use core::sync::atomic::{AtomicU64, Ordering};

use abi::errno::{EINVAL, Errno};

const PAGE_SIZE: u64 = 4096;

/// `fs.nr_open` default and bounds: at least BITS_PER_LONG, at most
/// INT_MAX rounded down to a multiple of BITS_PER_LONG.
pub const NR_OPEN_DEFAULT: u64 = 1 << 20;
const NR_OPEN_MIN: u64 = 64;
const NR_OPEN_MAX: u64 = (i32::MAX as u64) & !63;

/// `fs.pipe-max-size` default (1 MiB).
pub const PIPE_MAX_SIZE_DEFAULT: u64 = 1 << 20;
/// `fs.pipe-user-pages-soft` default: 16 pages times 1024 pipes.
pub const PIPE_USER_PAGES_SOFT_DEFAULT: u64 = 16 * 1024;

static NR_OPEN: AtomicU64 = AtomicU64::new(NR_OPEN_DEFAULT);
static PIPE_MAX_SIZE: AtomicU64 = AtomicU64::new(PIPE_MAX_SIZE_DEFAULT);
static PIPE_USER_PAGES_SOFT: AtomicU64 = AtomicU64::new(PIPE_USER_PAGES_SOFT_DEFAULT);
/// 0: no hard limit (Linux's default).
static PIPE_USER_PAGES_HARD: AtomicU64 = AtomicU64::new(0);

/// `fs.nr_open`: the largest RLIMIT_NOFILE.
/// vm.legacy_va_layout: nonzero makes every exec use the legacy
/// (bottom-up) mmap layout.
static LEGACY_VA_LAYOUT: AtomicU64 = AtomicU64::new(0);

pub fn legacy_va_layout() -> u64 {
    LEGACY_VA_LAYOUT.load(Ordering::Relaxed)
}

pub fn set_legacy_va_layout(v: u64) {
    LEGACY_VA_LAYOUT.store(v, Ordering::Relaxed);
}

pub fn nr_open() -> u64 {
    NR_OPEN.load(Ordering::Relaxed)
}

pub fn set_nr_open(v: u64) -> Result<(), Errno> {
    if !(NR_OPEN_MIN..=NR_OPEN_MAX).contains(&v) {
        return Err(EINVAL);
    }
    NR_OPEN.store(v, Ordering::Relaxed);
    Ok(())
}

/// Linux's `round_pipe_size`: a page at least, else the next power of
/// two; 0 (invalid) above 2 GiB.
pub fn round_pipe_size(size: u64) -> u64 {
    if size > 1 << 31 {
        0
    } else if size < PAGE_SIZE {
        PAGE_SIZE
    } else {
        size.next_power_of_two()
    }
}

/// `fs.pipe-max-size`: the largest F_SETPIPE_SZ for an unprivileged user.
pub fn pipe_max_size() -> u64 {
    PIPE_MAX_SIZE.load(Ordering::Relaxed)
}

/// Set `fs.pipe-max-size`; the value is rounded as a pipe size is
/// (`proc_dopipe_max_size`: EINVAL when that gives 0).
pub fn set_pipe_max_size(v: u64) -> Result<(), Errno> {
    let r = round_pipe_size(v);
    if r == 0 {
        return Err(EINVAL);
    }
    PIPE_MAX_SIZE.store(r, Ordering::Relaxed);
    Ok(())
}

/// `fs.pipe-user-pages-soft` (0: none).
pub fn pipe_user_pages_soft() -> u64 {
    PIPE_USER_PAGES_SOFT.load(Ordering::Relaxed)
}

pub fn set_pipe_user_pages_soft(v: u64) {
    PIPE_USER_PAGES_SOFT.store(v, Ordering::Relaxed);
}

/// `fs.pipe-user-pages-hard` (0: none).
pub fn pipe_user_pages_hard() -> u64 {
    PIPE_USER_PAGES_HARD.load(Ordering::Relaxed)
}

pub fn set_pipe_user_pages_hard(v: u64) {
    PIPE_USER_PAGES_HARD.store(v, Ordering::Relaxed);
}

/// `kernel.shmmni` bounds (ipc/ipc_sysctl.c: 0 ..= IPCMNI).
pub const IPCMNI: u64 = 32768;

static SHMMAX: AtomicU64 = AtomicU64::new(abi::ipc::SHMMAX);
static SHMALL: AtomicU64 = AtomicU64::new(abi::ipc::SHMALL);
static SHMMNI: AtomicU64 = AtomicU64::new(abi::ipc::SHMMNI);
static SHM_RMID_FORCED: AtomicU64 = AtomicU64::new(0);

/// `kernel.shmmax`: the largest System V segment, in bytes.
pub fn shmmax() -> u64 {
    SHMMAX.load(Ordering::Relaxed)
}

pub fn set_shmmax(v: u64) {
    SHMMAX.store(v, Ordering::Relaxed);
}

/// `kernel.shmall`: pages all segments together may have.
pub fn shmall() -> u64 {
    SHMALL.load(Ordering::Relaxed)
}

pub fn set_shmall(v: u64) {
    SHMALL.store(v, Ordering::Relaxed);
}

/// `kernel.shmmni`: how many segments may exist.
pub fn shmmni() -> u64 {
    SHMMNI.load(Ordering::Relaxed)
}

pub fn set_shmmni(v: u64) -> Result<(), Errno> {
    if v > IPCMNI {
        return Err(EINVAL);
    }
    SHMMNI.store(v, Ordering::Relaxed);
    Ok(())
}

/// `kernel.shm_rmid_forced` (0 or 1).
pub fn shm_rmid_forced() -> u64 {
    SHM_RMID_FORCED.load(Ordering::Relaxed)
}

pub fn set_shm_rmid_forced(v: u64) -> Result<(), Errno> {
    if v > 1 {
        return Err(EINVAL);
    }
    SHM_RMID_FORCED.store(v, Ordering::Relaxed);
    Ok(())
}
