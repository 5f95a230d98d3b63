//! khugepaged: the kernel thread that collapses populated 2 MiB blocks of
//! anonymous memory into transparent huge pages (cf. mm/khugepaged.c;
//! the collapse itself is mm's `vm::thp`).
//!
//! ```text
//!   every scan_sleep_millisecs (10 s; /sys/kernel/mm/transparent_hugepage/
//!   khugepaged/): unless THP is "never", look at pages_to_scan page-table
//!   entries (4096: eight blocks), process by process from where the last
//!   pass stopped; a block of an eligible area with at most max_ptes_none
//!   empty entries and only pages its process alone has becomes one huge
//!   page (thp_collapse_alloc, pages_collapsed); the end of the last
//!   process counts a full scan (full_scans)
//! ```
//!
//! Locks: an address space is only tried (`try_write`): a process busy
//! with its own memory is passed over this time. The cursor is this
//! thread's alone.

use core::sync::atomic::Ordering::Relaxed;

use mm::vm::thp::KHUGEPAGED;

use crate::proc::waitqueue::WaitQueue;

static WAIT: WaitQueue = WaitQueue::new();
static KICKED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static STARTED: spin::Once<()> = spin::Once::new();

/// Start the thread (once; from init's start).
pub fn start() {
    STARTED.call_once(|| {
        let _ = super::kthread::spawn("khugepaged", khugepaged);
    });
}

/// A tunable changed: start the next pass now (Linux wakes khugepaged
/// when scan_sleep_millisecs is written).
pub fn kick() {
    KICKED.store(true, Relaxed);
    WAIT.wake_all();
}

extern "C" fn khugepaged() -> ! {
    // (pid, address) to go on from.
    let mut cursor: (u32, u64) = (0, 0);
    loop {
        let ms = KHUGEPAGED.scan_sleep_millisecs.load(Relaxed);
        let deadline = super::sched::ticks() + (ms * super::sched::HZ / 1000).max(1);
        WAIT.wait_uninterruptible(Some(deadline), || KICKED.swap(false, Relaxed).then_some(()));
        let pa = crate::mem::page_alloc();
        if pa.thp.enabled() == mm::phys::hugetlb::ThpEnabled::Never {
            continue;
        }
        let mut budget = KHUGEPAGED.pages_to_scan.load(Relaxed).max(1);
        let mut tasks = super::all_tasks();
        tasks.sort_by_key(|t| t.pid());
        let mut stopped = false;
        let mut seen: alloc::vec::Vec<usize> = alloc::vec::Vec::new();
        for t in tasks.iter().filter(|t| t.pid() >= cursor.0) {
            let Some(mm) = t.mm() else { continue };
            // Threads share one space: once is enough.
            let key = alloc::sync::Arc::as_ptr(&mm) as usize;
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let from = if t.pid() == cursor.0 { cursor.1 } else { 0 };
            let Some(mut s) = mm.space.try_write() else { continue };
            let tlb = arch::mm_hooks::RootTlb { root: mm.root };
            let env = crate::mem::user::env_for(&tlb);
            let collapsed = KHUGEPAGED.pages_collapsed.load(Relaxed);
            let failed = pa.vmstat.thp_collapse_alloc_failed.get();
            let next = s.khugepaged_scan(&env, from, &mut budget);
            drop(s);
            if pa.vmstat.thp_collapse_alloc_failed.get() > failed
                && KHUGEPAGED.pages_collapsed.load(Relaxed) == collapsed
            {
                // No 2 MiB block to be had: wait alloc_sleep_millisecs.
                let ms = KHUGEPAGED.alloc_sleep_millisecs.load(Relaxed);
                let until = super::sched::ticks() + (ms * super::sched::HZ / 1000).max(1);
                WAIT.wait_uninterruptible(Some(until), || KICKED.swap(false, Relaxed).then_some(()));
            }
            if let Some(next) = next {
                cursor = (t.pid(), next);
                stopped = true;
                break;
            }
        }
        if !stopped {
            cursor = (0, 0);
            KHUGEPAGED.full_scans.fetch_add(1, Relaxed);
        }
    }
}
