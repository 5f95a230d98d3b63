//! The OOM killer (cf. mm/oom_kill.c), and the report of a kernel heap
//! allocation that cannot fail (`alloc_error`, at the end).
//!
//! When a page fault cannot get a page, the process with the highest
//! *badness* is killed:
//!
//! ```text
//!   badness = rss + swap + page tables        (pages)
//!           + oom_score_adj * total_pages / 1000
//!   oom_score_adj = -1000  -> never chosen
//! ```
//!
//! The victim gets SIGKILL; its memory is torn down at once (as Linux's
//! OOM reaper does), then the faulting access is retried. A parent sees
//! the victim die by SIGKILL through wait4. Linux's report:
//!
//! ```text
//! Out of memory: Killed process 42 (hog) total-vm:123456kB, anon-rss:120000kB, file-rss:100kB, shmem-rss:0kB, UID:0 pgtables:300kB oom_score_adj:0
//! ```

use alloc::sync::Arc;

use super::{Pid, Task, signal};

/// Badness of a task (`oom_badness`), or None if it may not be chosen:
/// the idle task (pid 0), init (pid 1: Linux's `is_global_init` skip in
/// `oom_unkillable_task`, killing it would end the system), a zombie, a
/// task with oom_score_adj -1000 or without memory.
pub fn badness(t: &Task, total_pages: u64) -> Option<i64> {
    if t.pid() <= 1 || t.is_dead() {
        return None;
    }
    let (adj, mm) = {
        let i = t.inner.lock();
        (i.oom_score_adj, i.mm.clone())
    };
    if adj == -1000 {
        return None;
    }
    // A leader whose own thread has exited has no address space: its
    // live threads hold the process's (Linux's `find_lock_task_mm`).
    let mm = mm.or_else(|| super::threads_of(t).iter().find_map(|x| x.mm()))?;
    let (rss, pt) = {
        let s = mm.space.read();
        (s.counters().rss(), s.page_table_pages(&crate::mem::user::env()))
    };
    let points = (rss + pt) as i64 + adj as i64 * total_pages as i64 / 1000;
    Some(points)
}

/// /proc/PID/oom_score: badness scaled as Linux does, 0 for a task that may
/// not be chosen, about 666 for a small one, up to 1333 at oom_score_adj 1000.
pub fn oom_score(t: &Task) -> u64 {
    let total = crate::mem::page_alloc().nr_managed_pages().max(1);
    match badness(t, total) {
        // Linux 5.9+: (1000 + badness * 1000 / totalpages) * 2 / 3.
        Some(b) => ((1000 + b * 1000 / total as i64) * 2 / 3).max(0) as u64,
        None => 0,
    }
}

/// Pick the worst task. Returns it, or None if nothing may be killed.
pub fn select_victim() -> Option<Arc<Task>> {
    let total = crate::mem::page_alloc().nr_managed_pages();
    super::all_tasks()
        .into_iter()
        .filter_map(|t| badness(&t, total).map(|b| (b, t)))
        .max_by_key(|(b, t)| (*b, t.pid()))
        .map(|(_, t)| t)
}

/// Kill the worst task to free memory. Returns the victim's pid, or None
/// if there was nobody to kill.
pub fn out_of_memory(reason: &str) -> Option<Pid> {
    // Pages other CPUs freed onto their lists since the allocation failed
    // go back to the buddy first (Linux drains before it gives up).
    crate::mem::page_alloc().drain_all_pages();
    let victim = select_victim()?;
    let pid = victim.pid();
    let (name, uid, adj, mm) = {
        let i = victim.inner.lock();
        (i.name.clone(), i.creds.uid, i.oom_score_adj, i.mm.clone())
    };
    let env = crate::mem::user::env();
    let (vm, anon, file, shmem, pt) = mm
        .as_ref()
        .map(|m| {
            let s = m.space.read();
            let c = s.counters();
            (c.total_vm, c.rss_anon, c.rss_file, c.rss_shmem, s.page_table_pages(&env))
        })
        .unwrap_or_default();
    // Linux rate-limits this header (oom_rs); the kill line always prints.
    crate::ratelimited!(log::Level::Error, "{}: out of memory, invoking the OOM killer", reason);
    log::error!(
        "Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:{} pgtables:{}kB oom_score_adj:{}",
        pid,
        name,
        vm * 4,
        anon * 4,
        file * 4,
        shmem * 4,
        uid,
        pt * 4,
        adj
    );
    crate::mem::page_alloc().vmstat.oom_kill.inc();
    signal::send(pid, abi::signal::SIGKILL);
    drop(mm);
    // Reap its memory now unless it may be running (it dies on its way
    // back to user space and frees everything then): it is us, or, with
    // several CPUs, another one may pick it at any moment (its page tables
    // must not go from under it), or another of its threads holds them.
    let alone = mm::percpu::nr_cpus() == 1 && super::threads_of(&victim).len() <= 1;
    if pid != super::current_tgid() && alone {
        let taken = victim.inner.lock().mm.take();
        if let Some(m) = taken {
            victim.set_root(0);
            drop(m);
        }
    }
    Some(pid)
}

/// The allocation failure report: size, alignment and the process that
/// asked, before anything else, then the panic (whose backtrace names the
/// caller). Locks are only tried: the failing code may hold them.
#[alloc_error_handler]
fn alloc_error(layout: core::alloc::Layout) -> ! {
    let task = super::sched::try_current();
    let inner = task.as_ref().and_then(|t| t.inner.try_lock());
    let comm = inner.as_ref().map_or("?", |i| i.name.as_str());
    log::error!(
        "heap: allocation of {} bytes (align {}) failed in {}[{}]; largest kmalloc is {} bytes",
        layout.size(),
        layout.align(),
        comm,
        task.as_ref().map_or(0, |t| t.pid()),
        mm::kalloc::kmalloc::KMALLOC_MAX_SIZE
    );
    drop(inner);
    panic!(
        "heap: out of memory: {} bytes (align {}) for an allocation that cannot fail",
        layout.size(),
        layout.align()
    );
}
