//! User space under the kernel: every program listed in the initrd's
//! /etc/tests.txt runs as its own process, with the arguments given there
//! and exactly the environment `TESTDATA=/etc/testdata.txt BINDIR=/bin
//! FOO=bar` (the contract of user/tests.txt). A case passes when the
//! program exits with status 0 and, once it is reaped and caches are
//! dropped, the free-page count is exactly what it was before it started:
//! no frame, page table or kernel stack leaked. A program that keeps pages
//! on its first run (a kernel table grown once) runs a second time, which
//! must give back exactly: a leak repeats. The programs' own
//! `test ... ok` lines are checked by `boot` too.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bootloader_api::{BootInfo, entry_point};
use kernel::ktest::{self, Expect};
use kernel::proc::exit;

entry_point!(main, config = &kernel::BOOT_CONFIG);

const ENV: [&str; 3] = ["TESTDATA=/etc/testdata.txt", "BINDIR=/bin", "FOO=bar"];

fn free_pages_settled() -> u64 {
    // With several CPUs, an exit may still be finishing on another one
    // (its last frees come after the parent could reap): wait for them to
    // go idle.
    let deadline = kernel::proc::sched::ticks() + kernel::proc::sched::HZ;
    kernel::proc::sched::idle_until(|| kernel::proc::sched::others_idle() || kernel::proc::sched::ticks() >= deadline);
    // Threads that finished exiting meanwhile are the kernel's to reap.
    exit::reap_orphans();
    kernel::mem::drop_caches();
    // drop_caches' last slab shrink frees onto the per-CPU lists: count
    // those pages as the free pages they are.
    kernel::mem::page_alloc().drained_free_pages()
}

/// Where the pages are: vmstat's kernel and user gauges and every slab
/// cache's pages, so a leak says what leaked.
fn usage() -> Vec<(String, u64)> {
    let vs = &kernel::mem::page_alloc().vmstat;
    let mut v: Vec<(String, u64)> = [
        ("anon", vs.anon_pages.get()),
        ("file", vs.file_pages.get()),
        ("shmem", vs.shmem_pages.get()),
        ("page tables", vs.page_table_pages.get()),
        ("kernel stack kB", vs.kernel_stack_kb.get()),
        ("vmalloc", vs.vmalloc_pages.get()),
        // Slab pages and large kmalloc blocks (which no cache lists).
        ("slab unreclaimable", vs.slab_unreclaimable.get()),
        ("slab reclaimable", vs.slab_reclaimable.get()),
        ("swap cached", vs.swap_cached.get()),
    ]
    .iter()
    .map(|(n, x)| (n.to_string(), *x))
    .collect();
    // Every frame by owner (the memory picture's classes), which also sees
    // pages no gauge counts (other kernel allocations, `k`).
    let pa = kernel::mem::page_alloc();
    let t = mm::frame_map::FrameMap::build(pa, mm::frame_map::Layout::text_default(pa)).totals();
    for c in mm::frame_map::OWNED_CLASSES {
        v.push((format!("frames {}", c.name()), t.get(c)));
    }
    for c in kernel::mem::slab::registry().caches() {
        v.push((format!("slab {} pages", c.name), c.pages()));
        v.push((format!("slab {} objects", c.name), c.stats().active_objs));
    }
    v
}

fn usage_diff(before: &[(String, u64)], after: &[(String, u64)]) -> String {
    let mut out = String::new();
    for (name, a) in after {
        let b = before.iter().find(|(n, _)| n == name).map(|(_, x)| *x).unwrap_or(0);
        if *a != b {
            out += &format!(" {name} {b}->{a};");
        }
    }
    out
}

/// Run one program to completion; returns its wait status. Descendants it
/// left behind (reparented to the kernel, as they would be to init) get 5
/// seconds to finish before the memory is counted.
fn run_program(argv: &[String]) -> i32 {
    let path = format!("/bin/{}", argv[0]);
    let mut full = argv.to_vec();
    full[0] = path.clone();
    let env: Vec<String> = ENV.iter().map(|s| s.to_string()).collect();
    let pid =
        kernel::init::spawn(&path, &full, &env, 0).unwrap_or_else(|e| panic!("cannot start {}: errno {}", path, e.0));
    let status = exit::wait_from_kernel(pid).expect("the child vanished");
    let left = exit::wait_orphans_from_kernel(5 * kernel::proc::sched::HZ);
    assert_eq!(left, 0, "{} left {} processes running", path, left);
    status
}

fn describe(status: i32) -> String {
    if status & 0x7f == 0 {
        format!("exited with status {}", (status >> 8) & 0xff)
    } else {
        format!("killed by signal {}", status & 0x7f)
    }
}

/// Run the program once, counting free pages (settled) around it: the
/// wait status, the counts before and after, and what changed.
fn measured_run(argv: &[String]) -> (i32, u64, u64, String) {
    // The snapshot is held while both counts are taken, so its own memory
    // is in both (it is taken before drop_caches, so a leak report's slab
    // numbers include what that shrank).
    let used_before = usage();
    let before = free_pages_settled();
    let status = run_program(argv);
    let after = free_pages_settled();
    (status, before, after, usage_diff(&used_before, &usage()))
}

/// Runs after a first run that kept pages, one of which must keep none.
const RERUNS: u32 = 3;

fn case_for(line: String) -> (String, Box<dyn Fn()>, Expect) {
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    let name = argv[0].clone();
    let run = move || {
        let (status, before, after, diff) = measured_run(&argv);
        assert_eq!(status, 0, "{} {}", argv.join(" "), describe(status));
        if after == before {
            return;
        }
        // Memory a program leaves allocated the first time it runs may be
        // a kernel structure that grew once (a table) or slab objects that
        // long-lived ones now share with more partial slabs (fragmentation
        // settles within a run or two) rather than a leak: a leak comes
        // back every time, so the program runs again, up to RERUNS times,
        // and one of those runs must keep nothing (give back at least what
        // it took: a slab page a run keeps, the next may give back), or
        // the reruns together must.
        log::warn!(
            "utest: {} kept {} pages on its first run (changed:{}); running it again",
            argv[0],
            before as i64 - after as i64,
            diff
        );
        let mut last = (before, after, diff);
        let mut base = None;
        for run in 2..=1 + RERUNS {
            let (status, before, after, diff) = measured_run(&argv);
            assert_eq!(status, 0, "{} {} (run {run})", argv.join(" "), describe(status));
            // A slab page one run keeps and the next gives back (objects
            // landing on one more or one fewer partial slab) nets out; a
            // leak keeps pages on every run.
            let base = *base.get_or_insert(before);
            if after >= before || after >= base {
                return;
            }
            log::warn!("utest: {} kept {} pages on run {run} (changed:{diff})", argv[0], before as i64 - after as i64);
            last = (before, after, diff);
        }
        let (before, after, diff) = last;
        panic!(
            "free pages {} after {} vs {} before: {} pages leaked on each of {} more runs too (changed:{})",
            after,
            argv[0],
            before,
            before as i64 - after as i64,
            RERUNS,
            diff
        );
    };
    (name, Box::new(run), Expect::Pass)
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    let list =
        kernel::initrd::read_file("etc/tests.txt").expect("/etc/tests.txt missing from the initrd (make -C user)");
    let text = core::str::from_utf8(list).expect("tests.txt is not UTF-8");
    let mut cases: Vec<(String, Box<dyn Fn()>, Expect)> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| case_for(l.to_string()))
        .collect();
    // Every global /proc file renders, non-empty, through the VFS.
    cases.push((
        "proc_files_render".to_string(),
        Box::new(|| {
            for f in [
                "meminfo",
                "buddyinfo",
                "zoneinfo",
                "pagetypeinfo",
                "slabinfo",
                "vmallocinfo",
                "vmstat",
                "sys/vm/overcommit_memory",
                "sys/vm/min_free_kbytes",
                "sys/vm/max_map_count",
                "sys/vm/overcommit_ratio",
            ] {
                let path = format!("/proc/{f}");
                let inode = kernel::vfs::lookup(&path, "/").unwrap_or_else(|e| panic!("{path}: errno {}", e.0));
                let text = inode.snapshot().expect("a generated file");
                assert!(!text.is_empty(), "{path} is empty");
                log::info!(
                    "utest: {path}: {} bytes, first line {:?}",
                    text.len(),
                    core::str::from_utf8(&text).unwrap().lines().next()
                );
            }
        }),
        Expect::Pass,
    ));
    // Two programs at once: both finish, and everything comes back.
    cases.push((
        "two_programs_interleaved".to_string(),
        Box::new(|| {
            let env: Vec<String> = ENV.iter().map(|s| s.to_string()).collect();
            let pair = || {
                let a = kernel::init::spawn("/bin/t_sched", &["/bin/t_sched".to_string()], &env, 0).unwrap();
                let b = kernel::init::spawn("/bin/t_malloc", &["/bin/t_malloc".to_string()], &env, 0).unwrap();
                (exit::wait_from_kernel(a), exit::wait_from_kernel(b))
            };
            // A first run lets kernel structures that grow with two
            // processes at once (run queue, task table nodes) reach that
            // size; a second run must then give back every page. (Only the
            // second run's results count: t_sched's preemption check is
            // timing-sensitive next to another busy program.)
            let _ = pair();
            let before = free_pages_settled();
            assert_eq!(pair(), (Some(0), Some(0)));
            assert_eq!(free_pages_settled(), before);
        }),
        Expect::Pass,
    ));
    ktest::run_dyn("utest", cases)
}
