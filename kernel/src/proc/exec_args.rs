//! execve's argument and environment strings, copied in with Linux's
//! limits (cf. fs/exec.c `count`, `bprm_stack_limits`, `copy_strings`).
//!
//! ```text
//!   space  = max(min(_STK_LIM / 4 * 3, RLIMIT_STACK / 4), ARG_MAX)
//!   space -= (max(argc, 1) + envc) * 8          E2BIG if nothing is left
//!   then the filename, envp[], argv[] strings (each with its NUL) must
//!   fit in what is left; each string at most MAX_ARG_STRLEN  -> E2BIG
//! ```
//!
//! Every byte is read once (a bounded strnlen, then one copy), and every
//! allocation is sized by what was measured and fallible (ENOMEM). The
//! strings are kept as bytes: arguments need not be UTF-8.

use alloc::vec::Vec;

use abi::errno::*;

use crate::usercopy::{read_user, read_user_vec, strnlen_user};

/// MAX_ARG_STRLEN: one string, its NUL included, is at most 32 pages.
pub const MAX_ARG_STRLEN: usize = 32 * 4096;
/// MAX_ARG_STRINGS.
pub const MAX_ARG_STRINGS: usize = 0x7fff_ffff;
/// ARG_MAX: the space never drops below 32 pages, whatever RLIMIT_STACK.
const ARG_MAX: u64 = 32 * 4096;
/// _STK_LIM, the default RLIMIT_STACK.
const STK_LIM: u64 = 8 << 20;

/// Bytes for strings and pointers under RLIMIT_STACK `rlim_stack`.
pub fn arg_space(rlim_stack: u64) -> u64 {
    (STK_LIM / 4 * 3).min(rlim_stack / 4).max(ARG_MAX)
}

/// The strings execve passes on.
pub struct ExecArgs {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
}

/// Count the pointers of a NULL-terminated user array (`count`). Stops
/// with E2BIG as soon as the pointers alone exceed `space` (Linux counts on
/// to MAX_ARG_STRINGS, then fails the same way in bprm_stack_limits).
fn count(addr: u64, space: u64) -> Result<usize, Errno> {
    if addr == 0 {
        return Ok(0);
    }
    let mut i: usize = 0;
    loop {
        let at = (i as u64).checked_mul(8).and_then(|o| addr.checked_add(o)).ok_or(EFAULT)?;
        let p: u64 = read_user(at)?;
        if p == 0 {
            return Ok(i);
        }
        if i >= MAX_ARG_STRINGS || (i as u64 + 1) * 8 > space {
            return Err(E2BIG);
        }
        i += 1;
    }
}

/// Take `n` bytes from the budget.
fn charge(left: &mut u64, n: usize) -> Result<(), Errno> {
    *left = left.checked_sub(n as u64).ok_or(E2BIG)?;
    Ok(())
}

/// Copy the `n` strings of the array at `addr` (`copy_strings`).
fn copy_strings(addr: u64, n: usize, left: &mut u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    out.try_reserve_exact(n).map_err(|_| ENOMEM)?;
    for i in 0..n {
        let p: u64 = read_user(addr + i as u64 * 8)?;
        let len = strnlen_user(p, MAX_ARG_STRLEN - 1)?.ok_or(E2BIG)?;
        charge(left, len + 1)?;
        out.push(read_user_vec(p, len)?);
    }
    Ok(out)
}

/// Copy argv and envp for an execve of a file named `filename_len` bytes.
pub fn copy_args(filename_len: usize, argv: u64, envp: u64, rlim_stack: u64) -> Result<ExecArgs, Errno> {
    let space = arg_space(rlim_stack);
    let argc = count(argv, space)?;
    let envc = count(envp, space)?;
    let ptrs = (argc.max(1) as u64 + envc as u64) * 8;
    let mut left = space.checked_sub(ptrs).filter(|&l| l > 0).ok_or(E2BIG)?;
    charge(&mut left, filename_len + 1)?;
    let envp = copy_strings(envp, envc, &mut left)?;
    let argv = copy_strings(argv, argc, &mut left)?;
    Ok(ExecArgs { argv, envp })
}
