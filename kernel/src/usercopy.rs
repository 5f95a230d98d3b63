//! Safe access to user memory from system calls (cf. arch/x86/lib/usercopy).
//!
//! Every user range is checked whole first (`access_ok`: no wrap-around,
//! nothing at or above TASK_SIZE), then copied with the recoverable copy
//! of `arch::usercopy`. A copy that faults on a page the process has no
//! right to returns EFAULT; one that faults on a page that simply is not
//! there yet succeeds after the page-fault handler brings it in. Values
//! are copied as plain bytes ([`abi::Pod`]): structures handed to user space
//! are built zeroed first, so their padding never carries kernel data.
//!
//! Never hold the current process's mm lock across these calls: a fault
//! inside them takes it.

// The one path to user memory, through arch's fault-recovering copies.
#![allow(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;

use mm::vm::address_space::TASK_SIZE;

use abi::Pod;
use abi::errno::{EFAULT, ENAMETOOLONG, ENOMEM, Errno};

/// Whether `[addr, addr+len)` lies entirely in user space.
pub fn access_ok(addr: u64, len: u64) -> bool {
    addr.checked_add(len).is_some_and(|end| end <= TASK_SIZE)
}

/// Whether no page of `[addr, addr+len)` is mapped for the kernel only.
/// PROT_NONE memory keeps its pages mapped without the USER bit (so the
/// data survives an mprotect back); the kernel could read them without a
/// fault, so a copy from them is refused here as the process's own access
/// would be (Linux's PROT_NONE entries are not present at all).
fn no_kernel_only_pages(addr: u64, len: u64) -> bool {
    let root = mm::addr::PhysAddr::new(arch::mmu::current_root());
    let phys = crate::mem::direct_map();
    let mut va = addr & !0xfff;
    while va < addr + len {
        if let Some(t) = mm::vm::page_table::translate(phys, root, mm::addr::VirtAddr::new(va)) {
            if !t.flags.contains(x86_64::structures::paging::PageTableFlags::USER_ACCESSIBLE) {
                return false;
            }
        }
        va += 4096;
    }
    true
}

/// Copy `dst.len()` bytes from user address `src`.
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), Errno> {
    if dst.is_empty() {
        return Ok(());
    }
    if !access_ok(src, dst.len() as u64) || !no_kernel_only_pages(src, dst.len() as u64) {
        return Err(EFAULT);
    }
    // SAFETY: `dst` is kernel memory of that length; the user range passed
    // access_ok and faults in it are recovered.
    let left = unsafe { arch::usercopy::copy_user(dst.as_mut_ptr(), src as *const u8, dst.len()) };
    if left == 0 { Ok(()) } else { Err(EFAULT) }
}

/// Copy `src` to user address `dst`.
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), Errno> {
    if src.is_empty() {
        return Ok(());
    }
    if !access_ok(dst, src.len() as u64) {
        return Err(EFAULT);
    }
    // SAFETY: as in `copy_from_user`, the other way round.
    let left = unsafe { arch::usercopy::copy_user(dst as *mut u8, src.as_ptr(), src.len()) };
    if left == 0 { Ok(()) } else { Err(EFAULT) }
}

/// Atomically compare-and-exchange the 32-bit user word at `addr` (futex
/// words): returns the value it held (`old` if the exchange happened).
/// EINVAL if misaligned, EFAULT if it cannot be written.
pub fn cmpxchg_user_u32(addr: u64, old: u32, new: u32) -> Result<u32, Errno> {
    if addr % 4 != 0 {
        return Err(abi::errno::EINVAL);
    }
    if !access_ok(addr, 4) || !no_kernel_only_pages(addr, 4) {
        return Err(EFAULT);
    }
    // SAFETY: aligned and checked by access_ok; faults are recovered.
    unsafe { arch::usercopy::cmpxchg_user(addr as *mut u32, old, new) }.ok_or(EFAULT)
}

/// Atomically apply `f` to the user word at `addr` (a compare-and-exchange
/// loop): returns the old value. `f` answering `None` leaves the word.
pub fn update_user_u32(addr: u64, mut f: impl FnMut(u32) -> Option<u32>) -> Result<u32, Errno> {
    let mut cur: u32 = read_user(addr)?;
    loop {
        let Some(new) = f(cur) else { return Ok(cur) };
        let seen = cmpxchg_user_u32(addr, cur, new)?;
        if seen == cur {
            return Ok(cur);
        }
        cur = seen;
    }
}

/// Read a value from user memory.
pub fn read_user<T: Pod>(addr: u64) -> Result<T, Errno> {
    let mut v = T::zeroed();
    copy_from_user(v.as_bytes_mut(), addr)?;
    Ok(v)
}

/// Write a value to user memory.
pub fn write_user<T: Pod>(addr: u64, v: &T) -> Result<(), Errno> {
    copy_to_user(addr, v.as_bytes())
}

/// Length of the NUL-terminated user string at `addr` (without the NUL)
/// if a NUL comes within its first `max + 1` bytes; `Ok(None)` if not
/// (longer than `max`). EFAULT if it runs into memory the process cannot
/// read or into TASK_SIZE first.
pub fn strnlen_user(addr: u64, max: usize) -> Result<Option<usize>, Errno> {
    let want = (max as u64).saturating_add(1);
    let limit = TASK_SIZE.saturating_sub(addr).min(want) as usize;
    if limit == 0 || !access_ok(addr, 1) {
        return Err(EFAULT);
    }
    // SAFETY: [addr, addr+limit) lies in user space.
    let n = unsafe { arch::usercopy::strnlen_user(addr as *const u8, limit) };
    if n < 0 {
        return Err(EFAULT);
    }
    let n = n as usize;
    if n < limit {
        Ok(Some(n))
    } else if (limit as u64) < want {
        // No NUL before TASK_SIZE.
        Err(EFAULT)
    } else {
        Ok(None)
    }
}

/// `len` bytes at user address `addr` in a new vector. The size is the
/// caller's choice, so the allocation may fail: ENOMEM, not a panic.
pub fn read_user_vec(addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| ENOMEM)?;
    buf.resize(len, 0);
    copy_from_user(&mut buf, addr)?;
    Ok(buf)
}

/// A NUL-terminated string of at most `max` bytes (ENAMETOOLONG beyond).
pub fn read_user_cstr(addr: u64, max: usize) -> Result<String, Errno> {
    let n = strnlen_user(addr, max)?.ok_or(ENAMETOOLONG)?;
    let buf = read_user_vec(addr, n)?;
    // Valid UTF-8 (every path the kernel knows) costs no second copy.
    Ok(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}
