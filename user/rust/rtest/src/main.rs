//! rtest: the Rust runtime's view of the kernel, as a test program.
//!
//! Run as `rtest alpha beta` with the environment of the test contract
//! (user/tests.txt). Checks, one protocol line each (rt::test):
//!
//! - the initial stack: argc/argv/envp, and the auxiliary vector (AT_PAGESZ,
//!   AT_RANDOM, AT_ENTRY == `_start`, AT_PHDR/AT_PHENT/AT_PHNUM against this
//!   ELF's own headers and segments);
//! - rt's allocator: small requests inside the brk heap and reused after
//!   free, 256 KiB requests outside it (their own mmap, unmapped on free),
//!   alignment up to 4096, Vec/String growth across the mmap threshold;
//! - memory-management syscalls directly: mmap/munmap/mprotect/madvise/
//!   mincore/brk argument checks and semantics, copy-on-write after fork,
//!   and a write to a read-only page killing a child with SIGSEGV;
//! - a double free caught by the heap, ending the child through the panic
//!   handler with exit status 101.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use rt::Errno;
use rt::heap;
use rt::start::{AT_ENTRY, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_RANDOM};
use rt::syscall::{self as sys, Rlimit};
use rt::test::Suite;

const PAGE: usize = 4096;

/// A zero-initialised static: lives in .bss, which ends below the initial break.
static BSS_MARKER: AtomicU64 = AtomicU64::new(0);

// ---- ELF structures (include/uapi/linux/elf.h) --------------------------------

#[repr(C)]
struct Elf64Ehdr {
    e_ident: [u8; 16],
    e_type: u16,
    e_machine: u16,
    e_version: u32,
    e_entry: u64,
    e_phoff: u64,
    e_shoff: u64,
    e_flags: u32,
    e_ehsize: u16,
    e_phentsize: u16,
    e_phnum: u16,
    e_shentsize: u16,
    e_shnum: u16,
    e_shstrndx: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Elf64Phdr {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_paddr: u64,
    p_filesz: u64,
    p_memsz: u64,
    p_align: u64,
}

const PT_LOAD: u32 = 1;
const PT_PHDR: u32 = 6;
const PT_GNU_STACK: u32 = 0x6474_e551;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

unsafe extern "C" {
    /// The ELF header, which the first PT_LOAD maps (defined by the linker).
    static __ehdr_start: Elf64Ehdr;
}

fn ehdr() -> &'static Elf64Ehdr {
    // SAFETY: lld defines __ehdr_start at the mapped ELF header of this image.
    unsafe { &__ehdr_start }
}

/// The program headers at `addr`.
///
/// # Safety
/// `addr` must point at `n` mapped `Elf64Phdr`s.
unsafe fn phdrs_at(addr: usize, n: usize) -> &'static [Elf64Phdr] {
    // SAFETY: forwarded from the caller.
    unsafe { core::slice::from_raw_parts(addr as *const Elf64Phdr, n) }
}

fn covers(ph: &Elf64Phdr, addr: usize) -> bool {
    let a = addr as u64;
    ph.p_type == PT_LOAD && a >= ph.p_vaddr && a < ph.p_vaddr + ph.p_memsz
}

// ---- checks -----------------------------------------------------------------

fn check_args(t: &mut Suite, args: &rt::Args) {
    t.check_msg("argc", args.argc == 3, format_args!("argc = {}, want 3", args.argc));
    let argv0 = args.arg(0).unwrap_or("");
    t.check_msg("argv0_is_program", argv0.rsplit('/').next() == Some("rtest"), format_args!("argv[0] = {:?}", argv0));
    t.check_msg(
        "argv_values",
        args.arg(1) == Some("alpha") && args.arg(2) == Some("beta"),
        format_args!("argv[1..] = {:?} {:?}", args.arg(1), args.arg(2)),
    );
    // SAFETY: the kernel terminates argv with a NULL right after argv[argc-1].
    let terminator = unsafe { *args.argv.as_ptr().add(args.argc) };
    t.check("argv_null_terminated", terminator.is_null());

    let keys: Vec<&str> = args.env().map(|e| e.split('=').next().unwrap_or("")).collect();
    t.check_msg(
        "envp_exact",
        keys.len() == 3 && ["TESTDATA", "BINDIR", "FOO"].iter().all(|k| keys.contains(k)),
        format_args!("environment keys {:?}, want TESTDATA BINDIR FOO", keys),
    );
    t.check_msg("getenv_foo", args.getenv("FOO") == Some("bar"), format_args!("FOO = {:?}", args.getenv("FOO")));
    let testdata = args.getenv("TESTDATA").unwrap_or("");
    t.check_msg("getenv_testdata", testdata.ends_with("testdata.txt"), format_args!("TESTDATA = {:?}", testdata));
}

fn check_auxv(t: &mut Suite, args: &rt::Args) {
    let pagesz = args.getauxval(AT_PAGESZ);
    t.check_msg("auxv_pagesz", pagesz == Some(PAGE), format_args!("AT_PAGESZ = {:?}", pagesz));

    match args.getauxval(AT_RANDOM) {
        Some(p) if p != 0 => {
            // SAFETY: AT_RANDOM points at 16 bytes on the initial stack; a
            // kernel that lies here makes this read fault, failing the run.
            let bytes = unsafe { core::ptr::read_volatile(p as *const [u8; 16]) };
            t.check_msg("auxv_random", bytes != [0; 16], format_args!("16 zero bytes at {:#x}", p));
        }
        other => {
            t.check_msg("auxv_random", false, format_args!("AT_RANDOM = {:?}", other));
        }
    }

    let start = rt::start::_start as *const () as usize;
    let entry = args.getauxval(AT_ENTRY);
    t.check_msg(
        "auxv_entry_is_start",
        entry == Some(start) && ehdr().e_entry as usize == start,
        format_args!("AT_ENTRY = {:x?}, _start = {:#x}, e_entry = {:#x}", entry, start, ehdr().e_entry),
    );

    let phent = args.getauxval(AT_PHENT);
    t.check_msg(
        "auxv_phent",
        phent == Some(core::mem::size_of::<Elf64Phdr>()),
        format_args!("AT_PHENT = {:?}, want 56", phent),
    );

    let eh = ehdr();
    let eh_addr = eh as *const Elf64Ehdr as usize;
    let want_phdr = eh_addr + eh.e_phoff as usize;
    let (phdr, phnum) = (args.getauxval(AT_PHDR).unwrap_or(0), args.getauxval(AT_PHNUM).unwrap_or(0));
    let ok = phdr == want_phdr && phnum == eh.e_phnum as usize;
    t.check_msg(
        "auxv_phdr_phnum",
        ok,
        format_args!("AT_PHDR {:#x} AT_PHNUM {} but ELF header says {:#x} and {}", phdr, phnum, want_phdr, eh.e_phnum),
    );
    if !ok || phdr == 0 {
        t.check_msg("phdr_walk", false, format_args!("no usable AT_PHDR"));
        return;
    }

    // SAFETY: AT_PHDR matched the ELF header's own (mapped) program headers.
    let phdrs = unsafe { phdrs_at(phdr, phnum) };
    // SAFETY: e_phoff/e_phnum describe headers inside the first PT_LOAD.
    let from_ehdr = unsafe { phdrs_at(want_phdr, eh.e_phnum as usize) };
    let loads = phdrs.iter().filter(|p| p.p_type == PT_LOAD).count();
    let loads_ehdr = from_ehdr.iter().filter(|p| p.p_type == PT_LOAD).count();
    t.check_msg(
        "phdr_load_count",
        loads >= 1 && loads == loads_ehdr,
        format_args!("{} PT_LOAD via AT_PHDR, {} via the ELF header", loads, loads_ehdr),
    );
    t.check(
        "phdr_text_segment",
        phdrs.iter().any(|p| covers(p, start) && p.p_flags & PF_X != 0 && p.p_flags & PF_W == 0),
    );
    let data = &BSS_MARKER as *const AtomicU64 as usize;
    t.check("phdr_data_segment", phdrs.iter().any(|p| covers(p, data) && p.p_flags & PF_W != 0));
    t.check("phdr_maps_itself", phdrs.iter().any(|p| covers(p, phdr)));
    let self_ok = phdrs.iter().filter(|p| p.p_type == PT_PHDR).all(|p| p.p_vaddr as usize == phdr);
    t.check("phdr_pt_phdr_matches", self_ok);
    let stack_nx = phdrs.iter().filter(|p| p.p_type == PT_GNU_STACK).all(|p| p.p_flags & PF_X == 0);
    t.check("phdr_gnu_stack_not_exec", stack_nx);
}

fn in_brk_heap(p: usize, len: usize, lo: usize, hi: usize) -> bool {
    p >= lo && p + len <= hi
}

fn check_heap(t: &mut Suite) {
    let initial = rt::initial_brk();
    let bss_end = &BSS_MARKER as *const AtomicU64 as usize + 8;
    t.check_msg(
        "initial_brk_above_bss",
        initial >= bss_end,
        format_args!("initial brk {:#x} below .bss end {:#x}", initial, bss_end),
    );

    // Many small allocations of assorted sizes, all inside the brk heap.
    const N: usize = 1000;
    let mut blocks = [(core::ptr::null_mut::<u8>(), 0usize); N];
    let mut outside = None;
    for (i, b) in blocks.iter_mut().enumerate() {
        let size = 1 + (i * 37) % 2000;
        let p = heap::malloc(size);
        if p.is_null() {
            outside.get_or_insert((i, 0usize));
            continue;
        }
        // SAFETY: p is a fresh allocation of `size` bytes.
        unsafe { core::ptr::write_bytes(p, i as u8, size) };
        *b = (p, size);
    }
    let now = sys::brk(0);
    for (i, &(p, size)) in blocks.iter().enumerate() {
        if !in_brk_heap(p as usize, size, initial, now) || !(p as usize).is_multiple_of(16) {
            outside.get_or_insert((i, p as usize));
        }
    }
    t.check_msg(
        "small_allocs_in_brk_heap",
        outside.is_none(),
        format_args!("allocation {:?} outside [{:#x}, {:#x}) or unaligned", outside, initial, now),
    );
    let corrupt = blocks.iter().enumerate().position(|(i, &(p, size))| {
        // SAFETY: every block is live and `size` bytes long.
        !p.is_null() && unsafe { core::slice::from_raw_parts(p, size) }.iter().any(|&b| b != i as u8)
    });
    t.check_msg("small_allocs_distinct", corrupt.is_none(), format_args!("block {:?} overwritten", corrupt));
    for &(p, _) in &blocks {
        // SAFETY: each block is freed once, and not used afterwards.
        unsafe { heap::free(p) };
    }
    // After freeing everything, new small requests are served without growing the break.
    let again: Vec<*mut u8> = (0..100).map(|i| heap::malloc(16 + i * 8)).collect();
    let still = sys::brk(0);
    let reused = still == now && again.iter().all(|&p| in_brk_heap(p as usize, 1, initial, still));
    t.check_msg("free_then_reuse", reused, format_args!("break moved {:#x} -> {:#x} after frees", now, still));
    for p in again {
        // SAFETY: freed once, not used afterwards.
        unsafe { heap::free(p) };
    }

    let a = heap::malloc_aligned(100, PAGE);
    let now = sys::brk(0);
    t.check_msg(
        "aligned_4096_in_heap",
        (a as usize).is_multiple_of(PAGE) && in_brk_heap(a as usize, 100, initial, now),
        format_args!("{:p}, heap [{:#x}, {:#x})", a, initial, now),
    );
    // SAFETY: freed once, not used afterwards.
    unsafe { heap::free(a) };

    // A 256 KiB request gets its own mapping, outside the brk heap.
    const BIG: usize = 256 * 1024;
    for round in 0..2 {
        let name = if round == 0 { "large_alloc_is_mmap" } else { "large_alloc_again_after_free" };
        let p = heap::malloc(BIG);
        let now = sys::brk(0);
        let outside = !p.is_null() && (p as usize + BIG <= initial || p as usize >= now);
        if !t.check_msg(name, outside, format_args!("{:p} inside brk heap [{:#x}, {:#x})", p, initial, now)) {
            continue;
        }
        // SAFETY: p is a fresh allocation of BIG bytes.
        let buf = unsafe { core::slice::from_raw_parts_mut(p, BIG) };
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let bad = buf.iter().enumerate().position(|(i, &b)| b != (i % 251) as u8);
        t.check_msg(
            if round == 0 { "large_alloc_writable" } else { "large_alloc_again_writable" },
            bad.is_none(),
            format_args!("byte {:?} wrong", bad),
        );
        let page = p as usize & !(PAGE - 1);
        // SAFETY: freed once; only the address is used afterwards.
        unsafe { heap::free(p) };
        if round == 0 {
            let mut vec = [0u8; 1];
            let r = sys::mincore(page, PAGE, &mut vec);
            t.check_msg(
                "large_free_unmaps",
                r == Err(Errno::ENOMEM),
                format_args!("mincore after free: {:?}, want ENOMEM", r),
            );
        }
    }
}

fn check_collections(t: &mut Suite) {
    // A Vec grows from a small brk block across the mmap threshold to 1 MiB.
    let mut v: Vec<u32> = Vec::new();
    for i in 0..(1 << 18) as u32 {
        v.push(i.wrapping_mul(2_654_435_761));
    }
    let bad = v.iter().enumerate().position(|(i, &x)| x != (i as u32).wrapping_mul(2_654_435_761));
    t.check_msg(
        "vec_grows_to_1mib",
        v.len() * 4 == 1 << 20 && bad.is_none(),
        format_args!("len {}, first bad index {:?}", v.len(), bad),
    );
    let p = v.as_ptr() as usize;
    let (lo, hi) = (rt::initial_brk(), sys::brk(0));
    t.check_msg(
        "vec_1mib_outside_brk_heap",
        p + (1 << 20) <= lo || p >= hi,
        format_args!("{:#x} inside [{:#x}, {:#x})", p, lo, hi),
    );
    drop(v);

    let s = format!("{}-{:04}-{:#x}-{:?}-{:>4}", "abc", 7, 255, Some(-1), 'z');
    t.check_msg("string_format", s == "abc-0007-0xff-Some(-1)-   z", format_args!("got {:?}", s));
    let mut long = String::new();
    for i in 0..10_000 {
        long.push_str(&format!("{},", i));
    }
    t.check_msg(
        "string_grows",
        long.len() == 48_890 && long.starts_with("0,1,2,") && long.ends_with("9998,9999,"),
        format_args!("len {}", long.len()),
    );
}

/// Map `pages` fresh private anonymous read-write pages.
fn map_anon(pages: usize) -> Result<*mut u8, Errno> {
    // SAFETY: no MAP_FIXED: the kernel picks a free range.
    unsafe {
        sys::mmap(0, pages * PAGE, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_PRIVATE | sys::MAP_ANONYMOUS, -1, 0)
    }
}

/// Run `f` in a forked child (core dumps off) and return its wait status.
fn in_child(f: fn() -> i32) -> Result<i32, Errno> {
    match sys::fork()? {
        0 => {
            let _ = sys::setrlimit(sys::RLIMIT_CORE, &Rlimit { rlim_cur: 0, rlim_max: 0 });
            sys::exit_group(f())
        }
        pid => {
            let mut status = 0;
            sys::wait4(pid, &mut status, 0)?;
            Ok(status)
        }
    }
}

fn check_mm_syscalls(t: &mut Suite) {
    const PAGES: usize = 4;
    let Some(p) = t.check_ok("mmap_anon", map_anon(PAGES)) else { return };
    // SAFETY: p maps PAGES fresh read-write pages that only this function uses.
    let buf = unsafe { core::slice::from_raw_parts_mut(p, PAGES * PAGE) };
    t.check("mmap_anon_zeroed", buf.iter().all(|&b| b == 0));
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i / PAGE + 1) as u8;
    }
    t.check("mmap_anon_writable", buf.iter().enumerate().all(|(i, &b)| b == (i / PAGE + 1) as u8));

    let mut vec = [0u8; PAGES];
    let r = sys::mincore(p as usize, PAGES * PAGE, &mut vec);
    t.check_msg("mincore_resident", r.is_ok() && vec.iter().all(|&v| v & 1 == 1), format_args!("{:?} {:?}", r, vec));

    // SAFETY: the page is only read while it is read-only.
    let r = unsafe { sys::mprotect(p, PAGE, sys::PROT_READ) };
    let still = buf[0] == 1;
    // SAFETY: back to read-write before anything writes again.
    let r2 = unsafe { sys::mprotect(p, PAGE, sys::PROT_READ | sys::PROT_WRITE) };
    buf[0] = 9;
    t.check_msg("mprotect_ro_rw", r.is_ok() && r2.is_ok() && still && buf[0] == 9, format_args!("{:?} {:?}", r, r2));

    // SAFETY: the advice zeroes the range; buf is re-read, not cached.
    let r = unsafe { sys::madvise(p.add(PAGE), PAGE, sys::MADV_DONTNEED) };
    let zero = buf[PAGE..2 * PAGE].iter().all(|&b| b == 0);
    t.check_msg(
        "madvise_dontneed_zeroes",
        r.is_ok() && zero && buf[2 * PAGE] == 3,
        format_args!("madvise {:?}, page zero afterwards: {}", r, zero),
    );

    // SAFETY: buf is not used after this point.
    let r = unsafe { sys::munmap(p, PAGES * PAGE) };
    let after = sys::mincore(p as usize, PAGE, &mut vec);
    t.check_msg(
        "munmap_then_mincore_enomem",
        r.is_ok() && after == Err(Errno::ENOMEM),
        format_args!("munmap {:?}, mincore {:?}", r, after),
    );

    // Argument checks (mm/mmap.c, mm/mprotect.c).
    // SAFETY: every call below is invalid and must change nothing.
    unsafe {
        let rw = sys::PROT_READ | sys::PROT_WRITE;
        let anon = sys::MAP_PRIVATE | sys::MAP_ANONYMOUS;
        let r = sys::mmap(0, 0, rw, anon, -1, 0);
        t.check_msg("mmap_len0_einval", r == Err(Errno::EINVAL), format_args!("{:?}", r));
        let r = sys::mmap(0x1000_0123, PAGE, rw, anon | sys::MAP_FIXED, -1, 0);
        t.check_msg("mmap_fixed_unaligned_einval", r == Err(Errno::EINVAL), format_args!("{:?}", r));
        let r = sys::mmap(0, PAGE, rw, sys::MAP_ANONYMOUS, -1, 0);
        t.check_msg("mmap_no_type_einval", r == Err(Errno::EINVAL), format_args!("{:?}", r));
        let r = sys::munmap(0x1000_0123 as *mut u8, PAGE);
        t.check_msg("munmap_unaligned_einval", r == Err(Errno::EINVAL), format_args!("{:?}", r));
        let r = sys::mprotect(0x1000_0123 as *mut u8, PAGE, sys::PROT_READ);
        t.check_msg("mprotect_unaligned_einval", r == Err(Errno::EINVAL), format_args!("{:?}", r));
    }

    // brk: grow by two pages, use them, shrink back (rt's heap is idle).
    let cur = sys::brk(0);
    let grown = sys::brk(cur + 2 * PAGE);
    let mut ok = grown == cur + 2 * PAGE;
    if ok {
        // SAFETY: [cur, cur + 2 pages) was just added to the heap segment.
        let b = unsafe { core::slice::from_raw_parts_mut(cur as *mut u8, 2 * PAGE) };
        b.fill(0x5a);
        ok = b.iter().all(|&x| x == 0x5a);
    }
    let back = sys::brk(cur);
    t.check_msg("brk_grow_shrink", ok && back == cur, format_args!("brk {:#x} -> {:#x} -> {:#x}", cur, grown, back));

    // Writing a read-only page kills the writer with SIGSEGV.
    let status = in_child(|| {
        let Ok(p) = map_anon(1) else { return 2 };
        // SAFETY: p is our own fresh page; the write below is meant to fault.
        unsafe {
            if sys::mprotect(p, PAGE, sys::PROT_READ).is_err() {
                return 3;
            }
            core::ptr::write_volatile(p, 1);
        }
        0
    });
    t.check_msg(
        "write_readonly_page_sigsegv",
        matches!(status, Ok(s) if sys::wifsignaled(s) && sys::wtermsig(s) == sys::SIGSEGV),
        format_args!("wait status {:x?}", status),
    );
}

/// Copy-on-write: after fork, each side's writes stay its own.
fn check_fork(t: &mut Suite) {
    let mut heap_val = alloc::boxed::Box::new(1u64);
    let mut stack_val = [1u8; 64];
    let parent = sys::getpid();
    match sys::fork() {
        Ok(0) => {
            sys::sleep_ms(50); // let the parent write first
            let saw_old = *heap_val == 1 && stack_val[0] == 1;
            // Write from the child too: the parent must not see it.
            *heap_val = 3;
            stack_val[0] = 3;
            core::hint::black_box((&heap_val, &stack_val));
            let ppid_ok = sys::getppid() == parent;
            sys::exit_group(if saw_old && ppid_ok {
                0
            } else if saw_old {
                2
            } else {
                1
            })
        }
        Ok(child) => {
            *heap_val = 2;
            stack_val[0] = 2;
            let mut status = 0;
            let r = sys::wait4(child, &mut status, 0);
            t.check_msg(
                "fork_cow_child_sees_old",
                r == Ok(child) && sys::wifexited(status) && sys::wexitstatus(status) == 0,
                format_args!("wait4 {:?}, status {:#x} (1: child saw parent's write, 2: getppid wrong)", r, status),
            );
            t.check_msg(
                "fork_cow_parent_keeps_own",
                *heap_val == 2 && stack_val[0] == 2,
                format_args!("parent sees {} / {}", *heap_val, stack_val[0]),
            );
        }
        Err(e) => {
            t.check_msg("fork_cow_child_sees_old", false, format_args!("fork: {}", e));
        }
    }
}

/// A double free is caught by the heap and ends the process through the
/// panic handler, whose exit status is 101.
fn check_double_free(t: &mut Suite) {
    rt::println!("# rtest: the child of double_free_panics_101 panics on purpose (expected message on stderr)");
    let status = in_child(|| {
        let p = heap::malloc(64);
        // SAFETY: deliberately wrong: the second free must be detected
        // before it touches the free list.
        unsafe {
            heap::free(p);
            heap::free(p);
        }
        0
    });
    t.check_msg(
        "double_free_panics_101",
        matches!(status, Ok(s) if sys::wifexited(s) && sys::wexitstatus(s) == 101),
        format_args!("wait status {:x?}", status),
    );
}

fn check_misc(t: &mut Suite) {
    t.check("gettid_is_pid", sys::gettid() == sys::getpid() && sys::getpid() > 0);
    let mut uts = sys::Utsname::default();
    let r = sys::uname(&mut uts);
    t.check_msg(
        "uname_machine",
        r.is_ok() && sys::uts_field(&uts.machine) == "x86_64",
        format_args!("{:?} machine {:?}", r, sys::uts_field(&uts.machine)),
    );
    let (mut a, mut b) = (Rlimit::default(), Rlimit::default());
    let r1 = sys::getrlimit(sys::RLIMIT_STACK, &mut a);
    let r2 = sys::prlimit64(0, sys::RLIMIT_STACK, None, Some(&mut b));
    t.check_msg(
        "getrlimit_prlimit_agree",
        r1.is_ok() && r2.is_ok() && a == b,
        format_args!("getrlimit {:?} {:?}, prlimit64 {:?} {:?}", r1, a, r2, b),
    );
    let mut fs = 0u64;
    // SAFETY: ARCH_GET_FS only writes the u64 we point it at.
    let r = unsafe { sys::arch_prctl(sys::ARCH_GET_FS, &mut fs as *mut u64 as usize) };
    t.check_msg("arch_prctl_get_fs", r.is_ok(), format_args!("{:?}", r));
    t.check_msg("sched_yield", sys::sched_yield().is_ok(), format_args!("failed"));
}

fn main(args: &rt::Args) -> i32 {
    let mut t = Suite::new("rtest");
    check_args(&mut t, args);
    check_auxv(&mut t, args);
    check_heap(&mut t);
    check_collections(&mut t);
    check_mm_syscalls(&mut t);
    check_fork(&mut t);
    check_double_free(&mut t);
    check_misc(&mut t);
    BSS_MARKER.store(1, Ordering::Relaxed);
    t.finish()
}

rt::entry!(main);
