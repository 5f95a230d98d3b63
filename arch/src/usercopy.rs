//! Copying between kernel and user memory, with fault recovery.
//!
//! The copies are single instructions (`rep movsb`, a byte load) whose
//! addresses are listed in an exception table. A page fault on a user
//! address there first goes to the normal fault handler (the page may just
//! not be present yet); if that cannot resolve it, the handler resumes at
//! the fixup label instead, and the copy reports how much was not copied:
//! the system call returns EFAULT and the kernel carries on. Callers check
//! ranges before (`access_ok`) and bracket the copy with `stac`/`clac`
//! so SMAP lets exactly these instructions touch user pages.

unsafe extern "C" {
    fn arch_copy_user(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn arch_strnlen_user(src: *const u8, max: usize) -> isize;
    fn arch_copy_user_insn();
    fn arch_copy_user_fixup();
    fn arch_strnlen_user_insn();
    fn arch_strnlen_user_fixup();
    fn arch_cmpxchg_user(ptr: *mut u32, old: u32, new: u32) -> u64;
    fn arch_cmpxchg_user_insn();
    fn arch_cmpxchg_user_fixup();
}

core::arch::global_asm!(
    r#"
    .section .text.usercopy, "ax"
    .global arch_copy_user
arch_copy_user:
    mov rcx, rdx
    .global arch_copy_user_insn
arch_copy_user_insn:
    rep movsb
    xor eax, eax
    ret
    .global arch_copy_user_fixup
arch_copy_user_fixup:
    mov rax, rcx
    ret

    .global arch_strnlen_user
arch_strnlen_user:
    xor eax, eax
2:
    cmp rax, rsi
    je 3f
    .global arch_strnlen_user_insn
arch_strnlen_user_insn:
    movzx ecx, byte ptr [rdi + rax]
    test ecx, ecx
    jz 3f
    inc rax
    jmp 2b
3:
    ret
    .global arch_strnlen_user_fixup
arch_strnlen_user_fixup:
    mov rax, -1
    ret

    .global arch_cmpxchg_user
arch_cmpxchg_user:
    mov eax, esi
    .global arch_cmpxchg_user_insn
arch_cmpxchg_user_insn:
    lock cmpxchg dword ptr [rdi], edx
    ret
    .global arch_cmpxchg_user_fixup
arch_cmpxchg_user_fixup:
    mov rax, -1
    ret
"#
);

/// The exception table: where to resume if the instruction at `rip`
/// faults on a user address.
pub fn fixup(rip: u64) -> Option<u64> {
    if rip == arch_copy_user_insn as *const () as u64 {
        Some(arch_copy_user_fixup as *const () as u64)
    } else if rip == arch_strnlen_user_insn as *const () as u64 {
        Some(arch_strnlen_user_fixup as *const () as u64)
    } else if rip == arch_cmpxchg_user_insn as *const () as u64 {
        Some(arch_cmpxchg_user_fixup as *const () as u64)
    } else {
        None
    }
}

/// Copy `len` bytes; returns the bytes NOT copied (0 on success).
///
/// # Safety
/// One side must be kernel memory valid for `len` bytes; the other a user
/// range the caller checked with `access_ok` (faults there are recovered).
pub unsafe fn copy_user(dst: *mut u8, src: *const u8, len: usize) -> usize {
    crate::cpu::user_access_begin();
    // SAFETY: forwarded from the caller.
    let left = unsafe { arch_copy_user(dst, src, len) };
    crate::cpu::user_access_end();
    left
}

/// Length of the NUL-terminated user string at `src`, at most `max`;
/// -1 if it faults.
///
/// # Safety
/// `src..src+max` must have passed `access_ok`.
pub unsafe fn strnlen_user(src: *const u8, max: usize) -> isize {
    crate::cpu::user_access_begin();
    // SAFETY: forwarded from the caller.
    let n = unsafe { arch_strnlen_user(src, max) };
    crate::cpu::user_access_end();
    n
}

/// Atomically replace the user word at `ptr` with `new` if it holds `old`
/// (`lock cmpxchg`, atomic against every CPU): returns the value found
/// (`old` on success), or `None` if the access faulted.
///
/// # Safety
/// `ptr` must be 4-byte aligned and have passed `access_ok`.
pub unsafe fn cmpxchg_user(ptr: *mut u32, old: u32, new: u32) -> Option<u32> {
    crate::cpu::user_access_begin();
    // SAFETY: forwarded from the caller; a fault is recovered.
    let r = unsafe { arch_cmpxchg_user(ptr, old, new) };
    crate::cpu::user_access_end();
    u32::try_from(r).ok()
}
