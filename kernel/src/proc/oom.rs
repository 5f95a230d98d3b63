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
    crate::ratelimited!(log::Level::Error, "{}: out of memory, invoking the OOM killer", reason);
    kill_victim(&victim);
    Some(victim.pid())
}

/// The worst process inside memory cgroup `m` (its group and those
/// below); processes elsewhere are never considered.
pub fn select_victim_in(m: &mm::memcg::MemCgroup) -> Option<Arc<Task>> {
    let total = m.max().min(crate::mem::page_alloc().nr_managed_pages()).max(1);
    super::all_tasks()
        .into_iter()
        .filter(|t| super::cgroup::cgroup_of(t).memcg.is_descendant_of(m))
        .filter_map(|t| badness(&t, total).map(|b| (b, t)))
        .max_by_key(|(b, t)| (*b, t.pid()))
        .map(|(_, t)| t)
}

/// Processes a memory cgroup's OOM killer sent SIGKILL that may still be
/// alive (the next OOM in their group waits for them).
static MEMCG_VICTIMS: spin::Mutex<alloc::vec::Vec<Pid>> = spin::Mutex::new(alloc::vec::Vec::new());

/// The OOM killer of a memory cgroup whose memory.max reclaim could not
/// meet (`mem_cgroup_out_of_memory`): the worst process of the group is
/// killed; if its group, or one above it up to `m`, has memory.oom.group
/// set, every process of that group goes with it.
pub fn memcg_out_of_memory(m: &mm::memcg::MemCgroup) -> mm::memcg::OomOutcome {
    use mm::memcg::{MemcgEvent, OomOutcome};
    crate::mem::page_alloc().drain_all_pages();
    // A victim chosen before that has not finished dying: wait for its
    // pages rather than kill another (Linux's `tsk_is_oom_victim` abort).
    {
        let mut dying = MEMCG_VICTIMS.lock();
        dying.retain(|&pid| super::task(pid).is_some_and(|t| !t.is_dead()));
        if dying
            .iter()
            .any(|&pid| super::task(pid).is_some_and(|t| super::cgroup::cgroup_of(&t).memcg.is_descendant_of(m)))
        {
            return if dying.contains(&super::current_tgid()) {
                OomOutcome::KilledSelf
            } else {
                OomOutcome::KilledOther
            };
        }
    }
    let Some(victim) = select_victim_in(m) else { return OomOutcome::NoVictim };
    let vg = super::cgroup::cgroup_of(&victim);
    log::error!(
        "Memory cgroup out of memory: {} pages of {} in {}",
        m.usage(),
        m.max(),
        super::cgroup::by_memcg(m).map_or_else(|| alloc::string::String::from("?"), |g| g.path())
    );
    // The highest group from the victim's up to `m` asking for group kills.
    let mut whole = None;
    let mut g = Some(vg.clone());
    while let Some(c) = g {
        if c.memcg.oom_group() {
            whole = Some(c.clone());
        }
        if core::ptr::eq(&*c.memcg, m) {
            break;
        }
        g = c.parent();
    }
    let me = super::current_tgid();
    let mut killed_self = victim.pid() == me;
    kill_victim(&victim);
    MEMCG_VICTIMS.lock().push(victim.pid());
    vg.memcg.event(MemcgEvent::OomKill);
    if let Some(w) = whole {
        for t in super::all_tasks() {
            if t.pid() != victim.pid() && !t.is_dead() && super::cgroup::cgroup_of(&t).is_descendant_of(&w) {
                if badness(&t, 1).is_none() {
                    // oom_score_adj -1000 and init stay, as in Linux.
                    continue;
                }
                killed_self |= t.pid() == me;
                kill_victim(&t);
                MEMCG_VICTIMS.lock().push(t.pid());
                super::cgroup::cgroup_of(&t).memcg.event(MemcgEvent::OomKill);
            }
        }
        w.memcg.event(MemcgEvent::OomGroupKill);
    }
    if killed_self { OomOutcome::KilledSelf } else { OomOutcome::KilledOther }
}

/// SIGKILL `victim` with Linux's report, and reap its memory at once when
/// nothing may be running on it.
fn kill_victim(victim: &Arc<Task>) {
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
    // Linux rate-limits the header (oom_rs, the caller's); the kill line
    // always prints.
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
            crate::mem::user::UserMm::release(m);
        }
    }
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
