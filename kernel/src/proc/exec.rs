//! execve(2): replace a process's memory with a program from the initrd
//! (cf. fs/binfmt_elf.c `load_elf_binary`, fs/exec.c).
//!
//! ```text
//!   ELF PT_LOAD segments -> private file mappings of the file's page cache
//!                           (text shared by every process running it),
//!                           the partial last page's tail zeroed, bss anonymous
//!   brk                  -> the first page after the highest segment
//!   stack (top of user space, grows down):
//!       "x86_64\0" execfn strings, argv and envp strings, 16 random bytes
//!       auxv (AT_MINSIGSTKSZ AT_HWCAP AT_PAGESZ AT_CLKTCK AT_PHDR AT_PHENT
//!             AT_PHNUM AT_BASE AT_FLAGS AT_ENTRY AT_UID AT_EUID AT_GID
//!             AT_EGID AT_SECURE AT_HWCAP2 AT_PLATFORM AT_RANDOM AT_EXECFN
//!             AT_NULL)
//!       NULL envp[] NULL argv[] argc   <- rsp, 16-byte aligned (System V ABI)
//! ```
//!
//! Static executables (ET_EXEC) load at their addresses; position
//! independent ones (ET_DYN) at ELF_ET_DYN_BASE. A dynamically linked
//! program (PT_INTERP) gets its interpreter mapped too, where an mmap of
//! the interpreter's whole extent would go (the top of the mmap area), and
//! starts there, with AT_BASE its base and AT_ENTRY the program's entry:
//! the interpreter maps and links the libraries itself through mmap.
//! Anything malformed is refused with ENOEXEC (a bad interpreter with
//! ELIBBAD, EIO, or the errno of opening it) and a log line that says why,
//! before the old image is touched. A well-formed file with a segment or
//! entry point outside user space ends as on Linux, which finds out after
//! the point of no return: the exec succeeds and the new program dies of
//! SIGSEGV.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::auxv::{
    AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS, AT_GID, AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ,
    AT_NULL, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PLATFORM, AT_RANDOM, AT_SECURE, AT_UID,
};
use abi::errno::*;
use abi::mman::{MAP_ANONYMOUS, MAP_FIXED, MAP_GROWSDOWN, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE};
use arch::trap::TrapFrame;
use formats::elf::{Elf, ElfError};
use mm::addr::PAGE_SIZE;
use mm::vm::address_space::{AddressSpace, ELF_ET_DYN_BASE, MmEnv, Rlimits, STACK_TOP, TASK_SIZE};
use mm::vm::file::MemObject;
use mm::vm::mmap::{FileMapping, MmapRequest};

use super::{Creds, Pid, Task, current, exit, sched};
use crate::file::path::absolute;
use crate::file::{FdTable, Inode};
use crate::mem::user::UserMm;

/// Initial size of the stack area (Linux expands it to 128 KiB at exec).
const STACK_INIT: u64 = 128 * 1024;

/// Elf64_Ehdr: the bytes `load_elf_binary` reads of an interpreter first.
const ELF_HEADER_SIZE: usize = 64;

/// The entry of an image that failed after the point of no return: not a
/// user address, so the syscall exit path kills the process with SIGSEGV.
const UNRUNNABLE: u64 = u64::MAX;

/// The path walk that finds a program's interpreter (from the exec'ing
/// task's working directory): the VFS lies above this module.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Result<Arc<dyn Inode>, Errno>;

/// A loaded program, ready to run.
pub struct Image {
    pub space: AddressSpace,
    pub entry: u64,
    pub sp: u64,
    /// Path as given, and the short name (comm).
    pub path: String,
    pub name: String,
}

/// personality(2)'s ADDR_COMPAT_LAYOUT: the legacy mmap layout.
pub const ADDR_COMPAT_LAYOUT: u32 = 0x020_0000;

fn explain(path: &str, e: ElfError) -> Errno {
    crate::ratelimited!(log::Level::Warn, "exec: {}: refusing the file: {}", path, e);
    ENOEXEC
}

fn prot_of(p: &formats::elf::ProgramHeader) -> u32 {
    let mut prot = 0;
    if p.readable() {
        prot |= PROT_READ;
    }
    if p.writable() {
        prot |= PROT_WRITE;
    }
    if p.executable() {
        prot |= PROT_EXEC;
    }
    prot
}

/// 16 bytes for AT_RANDOM (RDRAND only where CPUID says the CPU has it:
/// elsewhere the instruction is #UD).
fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    arch::random::fill(&mut out);
    out
}

/// The bytes of an executable file, for its headers: an initrd file's
/// own, or a copy of a file in memory (tmpfs) as of now (the segments map
/// its pages as usual).
enum FileBytes {
    Static(&'static [u8]),
    Copy(Vec<u8>),
}

impl FileBytes {
    fn of(object: &MemObject) -> Result<FileBytes, Errno> {
        if let Some(d) = object.data() {
            return Ok(FileBytes::Static(d));
        }
        let size = object.size() as usize;
        let mut v = Vec::new();
        v.try_reserve_exact(size).map_err(|_| ENOMEM)?;
        v.resize(size, 0);
        let n = super::reclaim::read_object_at(object, 0, &mut v)?;
        v.truncate(n);
        Ok(FileBytes::Copy(v))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            FileBytes::Static(d) => d,
            FileBytes::Copy(v) => v,
        }
    }
}

/// The memory object of a file exec may run (`do_open_execat`): a
/// directory or a file without any execute bit is EACCES.
fn exec_object(inode: &Arc<dyn Inode>) -> Result<Arc<MemObject>, Errno> {
    if inode.is_dir() {
        return Err(EACCES);
    }
    if inode.stat().st_mode & 0o111 == 0 {
        return Err(EACCES);
    }
    inode.mem_object().ok_or(EACCES)
}

/// Open the program interpreter named by PT_INTERP (`open_exec` in
/// `load_elf_binary`): path errors as any open (ENOENT, ENOTDIR, ELOOP,
/// EACCES), one shorter than an ELF header EIO (the short read of it), a
/// file that is not an x86_64 ELF ELIBBAD.
fn open_interpreter(path: &str, name: &[u8], lookup: Lookup<'_>) -> Result<(Arc<MemObject>, FileBytes), Errno> {
    let name = core::str::from_utf8(name).map_err(|_| ENOENT)?;
    let inode = lookup(name)?;
    let object = exec_object(&inode)?;
    let bytes = FileBytes::of(&object)?;
    if bytes.bytes().len() < ELF_HEADER_SIZE {
        return Err(EIO);
    }
    if let Err(e) = Elf::parse(bytes.bytes()) {
        crate::ratelimited!(log::Level::Warn, "exec: {}: interpreter {}: {}", path, name, e);
        return Err(ELIBBAD);
    }
    Ok((object, bytes))
}

/// Load the program in `inode` (found at `path`, the name as given: it
/// becomes AT_EXECFN and the command name) into a new address space with
/// its stack; a dynamically linked program with its interpreter (found
/// with `lookup`, the caller's path walk), which is where it starts.
pub fn load<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    path: &str,
    inode: Arc<dyn Inode>,
    lookup: Lookup<'_>,
    argv: &[A],
    envp: &[E],
    creds: Creds,
    lim: &Rlimits,
    personality: u32,
) -> Result<Image, Errno> {
    let object = exec_object(&inode)?;
    let bytes = FileBytes::of(&object)?;
    let elf = Elf::parse(bytes.bytes()).map_err(|e| explain(path, e))?;
    let interp = match elf.interpreter().map_err(|e| explain(path, e))? {
        Some(name) => Some(open_interpreter(path, name, lookup)?),
        None => None,
    };
    let (lo, _) = elf.load_extent();
    // load_elf_binary: `load_bias = ELF_PAGESTART(ELF_ET_DYN_BASE - vaddr)`
    // in unsigned arithmetic: a PIE linked high still lands at the base
    // (the bias wraps, vaddr + bias does not).
    let bias = if elf.is_pie() { ELF_ET_DYN_BASE.wrapping_sub(lo & !(PAGE_SIZE - 1)) } else { 0 };
    let stack_floor = AddressSpace::mmap_base_for(lim.stack);
    let env = crate::mem::user::env();
    let name: String = path.rsplit('/').next().unwrap_or(path).chars().take(15).collect();
    if let Err(e) = elf.check_user_range(bias, env.mmap_min_addr, stack_floor) {
        // A well-formed file whose segments cannot be mapped: Linux finds
        // out in elf_map, after begin_new_exec, so the exec "succeeds" and
        // the new program dies of SIGSEGV. Do the same: an empty image
        // that cannot run (see `execve`).
        crate::ratelimited!(log::Level::Warn, "exec: {}: {}: the new program will be killed (SIGSEGV)", path, e);
        let space = AddressSpace::new(&env)?;
        return Ok(Image { space, entry: UNRUNNABLE, sp: 0, path: String::from(path), name });
    }

    let mut space = AddressSpace::new(&env)?;
    // x86's `mmap_is_legacy`: the persona's ADDR_COMPAT_LAYOUT or
    // vm.legacy_va_layout (not RLIMIT_STACK, on x86) puts mappings
    // bottom-up from a third of the address space.
    space.layout.legacy = personality & ADDR_COMPAT_LAYOUT != 0 || crate::sysctl::legacy_va_layout() != 0;
    // The interpreter goes into the mmap area, as its own mmap would.
    space.layout.mmap_base = if space.layout.legacy { mm::vm::address_space::TASK_UNMAPPED_BASE } else { stack_floor };
    let loaded = map_segments(&mut space, &env, &elf, &object, bias, lim).and_then(|extent| {
        set_layout(&mut space, &extent);
        match &interp {
            Some((iobj, ibytes)) => load_interpreter(&mut space, &env, path, iobj, ibytes.bytes(), lim).map(Some),
            None => Ok(None),
        }
    });
    let interp_at = match loaded {
        Ok(i) => i,
        Err(e) => {
            space.destroy(&env);
            return Err(e);
        }
    };
    // Any entry is accepted here, as Linux does: one outside user space
    // kills the new program after the point of no return (`execve`).
    let prog_entry = elf.entry.wrapping_add(bias);
    let (base, entry) = interp_at.unwrap_or((0, prog_entry));
    let phdr = elf.phdr_vaddr().map(|v| v.wrapping_add(bias)).unwrap_or(0);
    let auxv_base = [
        // x86's ARCH_DLINFO (no vDSO here: no AT_SYSINFO_EHDR).
        (AT_MINSIGSTKSZ, signals::layout::FRAME_STACK_MAX),
        (AT_HWCAP, arch::cpu::hwcap()),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, sched::HZ),
        (AT_PHDR, phdr),
        (AT_PHENT, 56),
        (AT_PHNUM, elf.phnum as u64),
        (AT_BASE, base),
        (AT_FLAGS, 0),
        (AT_ENTRY, prog_entry),
        (AT_UID, creds.uid as u64),
        (AT_EUID, creds.euid as u64),
        (AT_GID, creds.gid as u64),
        (AT_EGID, creds.egid as u64),
        (AT_SECURE, 0),
        // x86's ELF_HWCAP2: no ring-3 MWAIT, FSGSBASE not enabled.
        (AT_HWCAP2, 0),
    ];
    let sp = match build_stack(&mut space, &env, path, argv, envp, &auxv_base, lim) {
        Ok(sp) => sp,
        Err(e) => {
            space.destroy(&env);
            return Err(e);
        }
    };
    Ok(Image { space, entry, sp, path: String::from(path), name })
}

/// Map the interpreter (`load_elf_interp`): an ET_DYN one at the top of the
/// mmap area, where an mmap of its whole extent would go, an ET_EXEC one
/// at its addresses. Returns its base (AT_BASE) and its entry point.
fn load_interpreter(
    space: &mut AddressSpace,
    env: &MmEnv<'_>,
    path: &str,
    object: &Arc<MemObject>,
    bytes: &[u8],
    lim: &Rlimits,
) -> Result<(u64, u64), Errno> {
    // open_interpreter parsed these bytes already.
    let elf = Elf::parse(bytes).map_err(|_| ELIBBAD)?;
    let (lo, hi) = elf.load_extent();
    let lo = lo & !(PAGE_SIZE - 1);
    let bias = if elf.is_pie() {
        let len = hi.checked_sub(lo).and_then(|l| l.checked_next_multiple_of(PAGE_SIZE)).ok_or(ELIBBAD)?;
        space.get_unmapped_area(env.mmap_min_addr, 0, len).map_err(|_| ENOMEM)?.wrapping_sub(lo)
    } else {
        0
    };
    if let Err(e) = elf.check_user_range(bias, env.mmap_min_addr, TASK_SIZE) {
        crate::ratelimited!(log::Level::Warn, "exec: {}: interpreter: {}", path, e);
        return Err(ELIBBAD);
    }
    map_segments(space, env, &elf, object, bias, lim)?;
    Ok((lo.wrapping_add(bias), elf.entry.wrapping_add(bias)))
}

/// Where a program's segments went: its code, data and the start of its
/// heap (`mm->start_code` ... `start_brk`).
struct Extent {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    brk: u64,
}

fn set_layout(space: &mut AddressSpace, e: &Extent) {
    let l = &mut space.layout;
    l.start_code = if e.start_code == u64::MAX { 0 } else { e.start_code };
    l.end_code = e.end_code;
    l.start_data = if e.start_data == u64::MAX { e.end_code } else { e.start_data };
    l.end_data = e.end_data.max(l.start_data);
    l.start_brk = e.brk.next_multiple_of(PAGE_SIZE);
    l.brk = l.start_brk;
}

fn map_segments(
    space: &mut AddressSpace,
    env: &MmEnv<'_>,
    elf: &Elf,
    object: &Arc<MemObject>,
    bias: u64,
    lim: &Rlimits,
) -> Result<Extent, Errno> {
    let file = FileMapping { object: object.clone(), readable: true, writable: false };
    let mut brk = 0;
    let (mut start_code, mut end_code, mut start_data, mut end_data) = (u64::MAX, 0, u64::MAX, 0);
    for (_, seg) in elf.load_segments() {
        let prot = prot_of(&seg);
        // check_user_range proved vaddr + bias .. + memsz lies in user space.
        let vaddr = seg.vaddr.wrapping_add(bias);
        let page = vaddr & !(PAGE_SIZE - 1);
        let file_end = vaddr + seg.filesz;
        let mem_end = vaddr + seg.memsz;
        if seg.filesz > 0 {
            let req = MmapRequest {
                addr: page,
                len: file_end.next_multiple_of(PAGE_SIZE) - page,
                prot,
                flags: MAP_PRIVATE | MAP_FIXED,
                file: Some(file.clone()),
                offset: seg.offset & !(PAGE_SIZE - 1),
            };
            space.mmap(env, &req, lim)?;
            // Bytes of the last file page past the segment's file part
            // belong to bss: they must read as zero (`padzero`).
            let tail = file_end.next_multiple_of(PAGE_SIZE) - file_end;
            if seg.memsz > seg.filesz && tail > 0 && seg.writable() {
                let zeros = alloc::vec![0u8; tail as usize];
                space.write_bytes(env, file_end, &zeros, lim).map_err(|_| ENOMEM)?;
            }
        }
        let anon_start = if seg.filesz > 0 { file_end.next_multiple_of(PAGE_SIZE) } else { page };
        let anon_end = mem_end.next_multiple_of(PAGE_SIZE);
        if anon_end > anon_start {
            let req = MmapRequest {
                addr: anon_start,
                len: anon_end - anon_start,
                prot,
                flags: MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
                file: None,
                offset: 0,
            };
            space.mmap(env, &req, lim)?;
        }
        brk = brk.max(mem_end);
        if seg.executable() {
            start_code = start_code.min(vaddr);
            end_code = end_code.max(file_end);
        }
        if seg.writable() {
            start_data = start_data.min(vaddr);
            end_data = end_data.max(file_end);
        }
    }
    Ok(Extent { start_code, end_code, start_data, end_data, brk })
}

/// Lay out argv, envp and auxv at the top of a new stack area.
///
/// The strings are measured first and copied once into one buffer sized
/// for them (linear in their size, however many there are); the buffers
/// come from fallible allocations (ENOMEM).
fn build_stack<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    space: &mut AddressSpace,
    env: &MmEnv<'_>,
    path: &str,
    argv: &[A],
    envp: &[E],
    aux: &[(u64, u64)],
    lim: &Rlimits,
) -> Result<u64, Errno> {
    let req = MmapRequest {
        addr: STACK_TOP - STACK_INIT,
        len: STACK_INIT,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
        file: None,
        offset: 0,
    };
    space.mmap(env, &req, lim)?;
    // Strings, from low to high: platform, argv[], envp[], execfn; the
    // top 8 bytes stay zero. execve's limits (exec_args) keep the sizes
    // far from overflow; the checked sums make that local.
    const PLATFORM: &[u8] = b"x86_64";
    let sizes = || {
        core::iter::once(PLATFORM.len())
            .chain(argv.iter().map(|s| s.as_ref().len()))
            .chain(envp.iter().map(|s| s.as_ref().len()))
            .chain(core::iter::once(path.len()))
    };
    let total = sizes()
        .try_fold(0u64, |t, n| t.checked_add(n as u64 + 1))
        .filter(|&t| t < lim.stack.min(STACK_TOP / 2))
        .ok_or(E2BIG)?;
    let strings_start = STACK_TOP - 8 - total;
    let mut strings: Vec<u8> = Vec::new();
    strings.try_reserve_exact(total as usize).map_err(|_| ENOMEM)?;
    let mut ptrs: Vec<u64> = Vec::new();
    ptrs.try_reserve_exact(argv.len() + envp.len()).map_err(|_| ENOMEM)?;
    let put = |s: &[u8], strings: &mut Vec<u8>| -> u64 {
        let at = strings_start + strings.len() as u64;
        strings.extend_from_slice(s);
        strings.push(0);
        at
    };
    let platform = put(PLATFORM, &mut strings);
    argv.iter().for_each(|s| ptrs.push(put(s.as_ref(), &mut strings)));
    envp.iter().for_each(|s| ptrs.push(put(s.as_ref(), &mut strings)));
    let execfn = put(path.as_bytes(), &mut strings);
    let (arg_ptrs, env_ptrs) = ptrs.split_at(argv.len());
    let random = strings_start - 16;
    let rnd = random_bytes();

    let mut aux: Vec<(u64, u64)> = aux.to_vec();
    aux.push((AT_PLATFORM, platform));
    aux.push((AT_RANDOM, random));
    aux.push((AT_EXECFN, execfn));
    aux.push((AT_NULL, 0));
    let words = 1 + arg_ptrs.len() + 1 + env_ptrs.len() + 1 + aux.len() * 2;
    // Below the initial area the stack simply grows (within RLIMIT_STACK)
    // while the block is written.
    let sp = random.checked_sub(words as u64 * 8).ok_or(E2BIG)? & !0xf;
    let mut block: Vec<u8> = Vec::new();
    block.try_reserve_exact((strings_start + total - sp) as usize).map_err(|_| ENOMEM)?;
    let mut word = |v: u64| block.extend_from_slice(&v.to_le_bytes());
    word(argv.len() as u64);
    arg_ptrs.iter().for_each(|&p| word(p));
    word(0);
    env_ptrs.iter().for_each(|&p| word(p));
    word(0);
    for (k, v) in &aux {
        word(*k);
        word(*v);
    }
    block.resize((random - sp) as usize, 0);
    block.extend_from_slice(&rnd);
    debug_assert_eq!(sp + block.len() as u64, strings_start);
    block.extend_from_slice(&strings);
    drop(strings);
    space.write_bytes(env, sp, &block, lim).map_err(|_| ENOMEM)?;
    let l = &mut space.layout;
    l.start_stack = sp;
    l.arg_start = arg_ptrs.first().copied().unwrap_or(platform + PLATFORM.len() as u64 + 1);
    l.arg_end = env_ptrs.first().copied().unwrap_or(execfn).min(execfn);
    l.env_start = env_ptrs.first().copied().unwrap_or(l.arg_end);
    l.env_end = execfn;
    Ok(sp)
}

/// The registers a fresh program starts with: everything zero but rip,
/// rsp, rflags (IF set) and the user segments (Linux's `start_thread`).
pub fn initial_frame(entry: u64, sp: u64) -> TrapFrame {
    let sel = arch::gdt::selectors();
    TrapFrame {
        rip: entry,
        rsp: sp,
        rflags: 0x202,
        cs: sel.user_code.0 as u64,
        ss: sel.user_data.0 as u64,
        ..TrapFrame::default()
    }
}

/// execve(2) for the current task. On success the frame now starts the
/// new program; the old address space is gone.
///
/// An entry point outside user space (non-canonical or kernel) is not
/// refused here: Linux reaches the point of no return first and then kills
/// the new program with SIGSEGV (`BAD_ADDR(elf_entry)` after
/// `begin_new_exec`). The frame then holds that entry, and the syscall
/// exit path (`syscall::handle`) ends the process before any return to
/// user mode could fault in ring 0.
pub fn execve<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    frame: &mut TrapFrame,
    path: &str,
    inode: Arc<dyn Inode>,
    lookup: Lookup<'_>,
    argv: &[A],
    envp: &[E],
) -> Result<(), Errno> {
    let me = current();
    let (cwd, creds) = {
        let i = me.inner.lock();
        (i.cwd.lock().clone(), i.creds.clone())
    };
    let lim = me.mm_limits();
    let personality = me.inner.lock().personality;
    let mut image = load(path, inode, lookup, argv, envp, creds, &lim, personality)?;
    // PR_SET_THP_DISABLE outlives execve (Linux's MMF_DISABLE_THP).
    image.space.thp_disabled = me.mm().is_some_and(|m| m.space.read().thp_disabled);
    if let Err(e) = de_thread(&me) {
        image.space.destroy(&crate::mem::user::env());
        return Err(e);
    }
    // The point of no return: the old image goes now.
    exit::mm_release(&me);
    super::timer::exec(me.tgid());
    let new = UserMm::new(image.space);
    let root = new.root;
    let active = new.clone();
    let (old, vfork_parent) = {
        let mut i = me.inner.lock();
        i.name = image.name.clone();
        i.exe = absolute(&image.path, &cwd);
        // A table shared with another process (CLONE_FILES) is copied
        // first (Linux's `unshare_files`).
        if i.files.is_shared() {
            i.files = i.files.copy();
        }
        i.files.close_on_exec();
        // Handled signals go back to their default action; the mask and
        // pending signals stay.
        i.sig.exec();
        i.did_exec = true;
        // Linux: exec removes the alternate signal stack and forgets the
        // robust-futex list (`futex_exec_release`).
        i.altstack = super::AltStack::default();
        i.robust_list = (0, 0);
        // Linux's `setup_new_exec`: dumpable again when the ids agree.
        i.dumpable = i.creds.euid == i.creds.uid && i.creds.egid == i.creds.gid;
        (i.mm.replace(new), i.vfork_parent.take())
    };
    me.set_root(root);
    me.set_fs_base(0);
    arch::cpu::set_fs_base(0);
    active.activate();
    if let Some(m) = old {
        crate::mem::user::UserMm::release(m);
    }
    if let Some(p) = vfork_parent {
        exit::vfork_release(p);
    }
    // A fresh FPU state: nothing of the old program survives.
    arch::fpu::FpuState::clean().restore();
    *frame = initial_frame(image.entry, image.sp);
    Ok(())
}

/// Make the exec'ing thread the only one of its process (Linux's
/// `de_thread`): the others are killed and waited for. ERESTARTNOINTR if
/// the process is already exiting (this thread then dies of it on the way
/// out). A thread other than the leader keeps its own tid: the process
/// id stays the leader's, whose zombie keeps the process's parent and
/// children.
fn de_thread(me: &Arc<Task>) -> Result<(), Errno> {
    if me.group.nr_threads() <= 1 {
        return Ok(());
    }
    let killed = super::exit::status_signaled(abi::signal::SIGKILL);
    if !super::thread::zap_others(&me.group, me.pid(), killed) {
        return Err(ERESTARTNOINTR);
    }
    me.group.state.lock().exec_waiter = Some(me.pid());
    loop {
        me.set_state(super::SLEEPING);
        if me.group.nr_threads() <= 1 {
            me.set_state(super::RUNNABLE);
            break;
        }
        sched::schedule();
    }
    let mut g = me.group.state.lock();
    g.exec_waiter = None;
    // The other threads took the SIGKILLs exec sent them: the process
    // itself lives on.
    g.exit_status = None;
    g.dying = None;
    drop(g);
    if !me.is_leader() {
        take_over_leader(me);
    }
    Ok(())
}

/// The exec'ing thread `me` becomes its process's leader, as Linux's
/// `de_thread` swaps the two: it takes the old leader's (a zombie now)
/// pid and process state (parent, children, groups, usage), and the old
/// leader is freed.
fn take_over_leader(me: &Arc<Task>) {
    let tgid = me.tgid();
    let Some(old) = super::task(tgid) else { return };
    {
        let o = old.inner.lock();
        let mut i = me.inner.lock();
        i.ppid = o.ppid;
        i.pgid = o.pgid;
        i.sid = o.sid;
        i.children = o.children.clone();
        i.cusage = o.cusage;
        i.orphan = o.orphan;
        i.start_ticks = o.start_ticks;
        i.oom_score_adj = o.oom_score_adj;
        i.oom_score_adj_min = o.oom_score_adj_min;
        i.pdeathsig = o.pdeathsig;
        i.exited_threads.0 += o.utime + o.exited_threads.0;
        i.exited_threads.1 += o.stime + o.exited_threads.1;
        i.exited_ns += o.exited_ns + super::fair::take_cpu_time_ns(&old.sched);
    }
    let old_tid = me.pid();
    super::swap_tid(me, old_tid, tgid);
    {
        let mut g = me.group.state.lock();
        for t in g.threads.iter_mut() {
            if *t == old_tid {
                *t = tgid;
            }
        }
    }
    // The old leader's kernel stack and task go (it never runs again).
    super::exit::free_task(&old);
}

/// Start a process from kernel context (init, test programs): pid, parent
/// `parent`, running `path` with `argv` and `envp`.
pub fn spawn(
    path: &str,
    inode: Arc<dyn Inode>,
    lookup: Lookup<'_>,
    files: FdTable,
    argv: &[String],
    envp: &[String],
    parent: Pid,
) -> Result<Pid, Errno> {
    let creds = Creds::default();
    let mut inner = super::init_inner("");
    let lim = Rlimits {
        as_: inner.rlimits[abi::resource::RLIMIT_AS].cur,
        data: inner.rlimits[abi::resource::RLIMIT_DATA].cur,
        stack: inner.rlimits[abi::resource::RLIMIT_STACK].cur,
        memlock: inner.rlimits[abi::resource::RLIMIT_MEMLOCK].cur,
        can_lock: true,
        admin: true,
    };
    let image = load(path, inode, lookup, argv, envp, creds, &lim, inner.personality)?;
    if image.entry >= TASK_SIZE {
        // No old image to lose here: simply refuse.
        explain(path, ElfError::SegmentOutOfRange { index: 0 });
        image.space.destroy(&crate::mem::user::env());
        return Err(ENOEXEC);
    }
    let (kstack, rsp) = match sched::new_task_stack("spawn", &initial_frame(image.entry, image.sp)) {
        Ok(s) => s,
        Err(e) => {
            image.space.destroy(&crate::mem::user::env());
            return Err(e);
        }
    };
    let pid = super::alloc_pid();
    inner.name = image.name.clone();
    inner.exe = absolute(&image.path, "/");
    inner.files = files;
    inner.ppid = parent;
    inner.pgid = pid;
    // The session stays the kernel's (0), as Linux's init starts in
    // init_task's: the program may call setsid or setpgid itself.
    inner.mm = Some(UserMm::new(image.space));
    let task: Arc<Task> = super::new_task(pid, kstack, rsp, arch::fpu::FpuState::clean(), 0, inner, None);
    super::insert(task.clone());
    if let Some(p) = super::task(parent) {
        p.inner.lock().children.push(pid);
    }
    sched::add(task);
    Ok(pid)
}

/// Check that the highest user address is what the ABI promises.
const _: () = assert!(TASK_SIZE == 0x7fff_ffff_f000);
