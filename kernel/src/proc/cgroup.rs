//! Control groups, version 2 (cf. kernel/cgroup/cgroup.c, mm/memcontrol.c):
//! the hierarchy of groups, which process is in which, and the memory
//! controller's glue between mm's charge tree (`mm::memcg`) and the tasks.
//!
//! ```text
//!   /sys/fs/cgroup            root: every process starts here
//!     cgroup.subtree_control  "+memory": the children get memory.* files
//!     g/                      a group (mkdir); cgroup.procs moves a process
//!       memory.max            over it a fault reclaims from g, then the
//!                             OOM killer chooses among g's processes only
//! ```
//!
//! A process's group is in its thread group (`ThreadGroup::cgroup`); fork
//! starts the child in its parent's group (the new thread group takes the
//! forking task's). Moving a process does not move the pages it charged
//! (v2 semantics). Every group has a node in the charge tree from its
//! mkdir on, so charges always reach the root; the memory.* files (and so
//! any limit) exist only while the parent enables the controller.
//!
//! Charging: mm calls [`charge`] for each user page it allocates (fault,
//! page cache, shmem, swap-in) and [`uncharge`] from the free path. A
//! refused charge cannot reclaim where it happens (the fault holds its
//! address space), so it leaves the group in the task
//! (`Task::memcg_pending`, as Linux's `memcg_in_oom`) and the page fault
//! handler, holding no lock, calls [`charge_refused`]: reclaim from the
//! group, then the OOM killer inside it. Going over memory.high leaves a
//! flag the fault handler acts on when the fault is done
//! ([`handle_over_high`]): reclaim from the group and a short sleep.
//!
//! Locks: `HIERARCHY` (a group's children and its subtree_control change
//! under it; mkdir, rmdir, subtree_control and cgroup.procs writes take it)
//! before a thread group's `cgroup` lock (a leaf: fork and the charge path
//! read it). mm's `MemcgTable` lock is a leaf below both.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::{Mutex, Once};

use abi::errno::*;
use mm::memcg::{
    ChargeNext, ChargeRetry, MemCgroup, MemcgEvent, MemcgId, MemcgStat, MemcgTable, OomBackend, OomOutcome, Protection,
};
use mm::phys::page::{Page, PageFlags};
use mm::phys::page_alloc::{ChargeMode, MemcgHooks};

use super::{Pid, Task};

/// The memory controller's groups, by id.
static MEMCGS: MemcgTable = MemcgTable::new();

/// Serialises changes of the hierarchy's shape and controller settings.
static HIERARCHY: Mutex<()> = Mutex::new(());

static ROOT: Once<Arc<Cgroup>> = Once::new();

static NEXT_INO: AtomicU64 = AtomicU64::new(0x4000_0000);

/// One control group.
pub struct Cgroup {
    pub name: String,
    /// Strong: a group keeps its ancestors (rmdir unlinks it from its
    /// parent's children, so there is no cycle once it is gone).
    parent: Option<Arc<Cgroup>>,
    children: Mutex<BTreeMap<String, Arc<Cgroup>>>,
    /// Its node in the charge tree.
    pub memcg: Arc<MemCgroup>,
    /// cgroup.subtree_control has "memory".
    subtree_memory: AtomicBool,
    /// rmdir'ed: gone from the namespace, kept alive by open files.
    removed: AtomicBool,
    pub ino: u64,
}

impl Cgroup {
    fn new(name: String, parent: Option<&Arc<Cgroup>>, memcg: Arc<MemCgroup>) -> Arc<Cgroup> {
        Arc::new(Cgroup {
            name,
            parent: parent.cloned(),
            children: Mutex::new(BTreeMap::new()),
            memcg,
            subtree_memory: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    pub fn parent(&self) -> Option<Arc<Cgroup>> {
        self.parent.clone()
    }

    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }

    pub fn child(&self, name: &str) -> Option<Arc<Cgroup>> {
        self.children.lock().get(name).cloned()
    }

    pub fn children(&self) -> Vec<Arc<Cgroup>> {
        self.children.lock().values().cloned().collect()
    }

    /// cgroup.controllers: what the parent hands down (the root has all).
    pub fn has_memory_controller(&self) -> bool {
        self.parent().is_none_or(|p| p.subtree_memory.load(Ordering::Relaxed))
    }

    /// The memory.* files exist (not in the root, as in Linux).
    pub fn has_memory_files(&self) -> bool {
        !self.is_root() && self.has_memory_controller()
    }

    pub fn subtree_memory(&self) -> bool {
        self.subtree_memory.load(Ordering::Relaxed)
    }

    /// The path below the mount: "/" for the root, "/a/b" below.
    pub fn path(&self) -> String {
        let mut names = Vec::new();
        let mut g = self.parent().map(|p| (p, self.name.clone()));
        while let Some((p, n)) = g {
            names.push(n);
            g = p.parent().map(|pp| (pp, p.name.clone()));
        }
        if names.is_empty() {
            return String::from("/");
        }
        names.reverse();
        let mut s = String::new();
        for n in names {
            s.push('/');
            s.push_str(&n);
        }
        s
    }

    /// Whether `self` is `other` or below it.
    pub fn is_descendant_of(&self, other: &Cgroup) -> bool {
        if core::ptr::eq(self, other) {
            return true;
        }
        let mut g = self.parent();
        while let Some(c) = g {
            if core::ptr::eq(&*c, other) {
                return true;
            }
            g = c.parent();
        }
        false
    }

    /// The live processes (leaders) of this group alone, by pid.
    pub fn procs(&self) -> Vec<Arc<Task>> {
        let mut v: Vec<Arc<Task>> =
            super::all_tasks().into_iter().filter(|t| !t.is_dead() && in_group(t, self)).collect();
        v.sort_by_key(|t| t.pid());
        v
    }

    /// cgroup.events `populated`: a live process here or below.
    pub fn populated(&self) -> bool {
        super::all_tasks().iter().any(|t| !t.is_dead() && cgroup_of(t).is_descendant_of(self))
    }
}

fn in_group(t: &Task, g: &Cgroup) -> bool {
    core::ptr::eq(&*cgroup_of(t), g)
}

/// The root group (made at first use, with the root of the charge tree).
pub fn root() -> Arc<Cgroup> {
    ROOT.call_once(|| Cgroup::new(String::new(), None, MEMCGS.root())).clone()
}

/// The path of the group whose charge-tree node has id `id` (a live
/// directory; None for a removed group).
pub fn path_of_memcg(id: MemcgId) -> Option<String> {
    fn find(g: &Arc<Cgroup>, id: MemcgId) -> Option<String> {
        if g.memcg.id() == id {
            return Some(g.path());
        }
        g.children().iter().find_map(|c| find(c, id))
    }
    find(&root(), id)
}

/// The group process `t` is in.
pub fn cgroup_of(t: &Task) -> Arc<Cgroup> {
    t.group.cgroup.lock().clone()
}

/// The group a new thread group starts in: the forking task's (the root
/// for the first tasks).
pub fn for_new_process() -> Arc<Cgroup> {
    match super::sched::current_opt() {
        Some(t) => cgroup_of(&t),
        None => root(),
    }
}

/// The memory cgroup of the running task.
fn current_memcg() -> Arc<MemCgroup> {
    match super::sched::current_opt() {
        Some(t) => t.group.cgroup.lock().memcg.clone(),
        None => MEMCGS.root(),
    }
}

/// Connect mm's allocator to the groups (once, at boot).
pub fn init() {
    root();
    crate::mem::page_alloc().set_memcg_hooks(MemcgHooks {
        charge,
        charge_like,
        charge_to,
        charge_swap: |id, nr| MEMCGS.charge_swap(id, nr),
        uncharge_swap: |id, nr| MEMCGS.uncharge_swap(id, nr),
        uncharge,
    });
    if let Some(k) = crate::mem::slab::kmalloc() {
        k.set_memcg_lookup(crate::mem::kmemcg::caches_of);
    }
    MEMCGS.set_on_retire(crate::mem::kmemcg::retired);
    crate::mempic::set_group_names(path_of_memcg);
}

// ---- the hierarchy's changes -------------------------------------------

/// Names Linux refuses for a group (and the interface files' prefixes
/// that would clash).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\n')
}

/// mkdir: a new group below `parent`.
pub fn mkdir(parent: &Arc<Cgroup>, name: &str) -> Result<Arc<Cgroup>, Errno> {
    if !valid_name(name) {
        return Err(EINVAL);
    }
    if name.starts_with("cgroup.") || name.starts_with("memory.") {
        return Err(EEXIST);
    }
    let _h = HIERARCHY.lock();
    if parent.is_removed() {
        return Err(ENOENT);
    }
    if parent.children.lock().contains_key(name) {
        return Err(EEXIST);
    }
    let memcg = MEMCGS.create(&parent.memcg).map_err(|_| ENOSPC)?;
    let prepared = {
        let _off = KmemSuspend::new();
        crate::mem::kmemcg::prepare(memcg.id())
    };
    if prepared.is_err() {
        MEMCGS.offline(&memcg);
        return Err(ENOMEM);
    }
    let g = Cgroup::new(String::from(name), Some(parent), memcg);
    parent.children.lock().insert(String::from(name), g.clone());
    Ok(g)
}

/// rmdir: the group must have no child and no process (EBUSY).
pub fn rmdir(parent: &Arc<Cgroup>, name: &str) -> Result<(), Errno> {
    let _h = HIERARCHY.lock();
    let g = parent.child(name).ok_or(ENOENT)?;
    if !g.children.lock().is_empty() || g.populated() {
        return Err(EBUSY);
    }
    parent.children.lock().remove(name);
    g.removed.store(true, Ordering::Relaxed);
    crate::mem::kmemcg::offline(&g.memcg);
    MEMCGS.offline(&g.memcg);
    Ok(())
}

/// A cgroup.subtree_control write: "+memory", "-memory", several tokens
/// separated by spaces; all are checked before any takes effect.
pub fn write_subtree_control(g: &Arc<Cgroup>, text: &str) -> Result<(), Errno> {
    let mut enable = None;
    for tok in text.split_ascii_whitespace() {
        let (on, name) = match tok.as_bytes()[0] {
            b'+' => (true, &tok[1..]),
            b'-' => (false, &tok[1..]),
            _ => return Err(EINVAL),
        };
        if name != "memory" {
            // An unknown controller (Linux: EINVAL).
            return Err(EINVAL);
        }
        enable = Some(on);
    }
    let Some(on) = enable else { return Ok(()) };
    let _h = HIERARCHY.lock();
    if on {
        if !g.has_memory_controller() {
            return Err(ENOENT);
        }
        // No internal processes: a non-root group with processes cannot
        // hand controllers to children.
        if !g.is_root() && !g.procs().is_empty() {
            return Err(EBUSY);
        }
    } else if g.children().iter().any(|c| c.subtree_memory()) {
        // A child still hands the controller further down.
        return Err(EBUSY);
    }
    let was = g.subtree_memory.swap(on, Ordering::Relaxed);
    if was && !on {
        // The children's memory.* files go; so do their settings.
        for c in g.children() {
            reset_memory_settings(&c.memcg);
        }
    }
    Ok(())
}

fn reset_memory_settings(m: &MemCgroup) {
    let max = mm::memcg::PAGE_COUNTER_MAX;
    m.set_max(max);
    m.set_high(max);
    m.set_low(0);
    m.set_min(0);
    m.set_oom_group(false);
}

/// A cgroup.procs write: move process `pid` (any of its thread ids) into
/// `g`. ESRCH for no such process; EBUSY when `g` hands controllers down
/// (no internal processes); EINVAL for pid 0's kernel-side tasks.
pub fn attach(g: &Arc<Cgroup>, pid: Pid) -> Result<(), Errno> {
    let t = super::process(pid).ok_or(ESRCH)?;
    if t.is_dead() {
        return Err(ESRCH);
    }
    let _h = HIERARCHY.lock();
    if g.is_removed() {
        return Err(ENODEV);
    }
    if !g.is_root() && g.subtree_memory() {
        return Err(EBUSY);
    }
    *t.group.cgroup.lock() = g.clone();
    Ok(())
}

/// cgroup.kill: SIGKILL every process of the group and below.
pub fn kill(g: &Arc<Cgroup>) {
    for t in super::all_tasks() {
        if !t.is_dead() && t.pid() > 1 && cgroup_of(&t).is_descendant_of(g) {
            super::signal::send(t.pid(), abi::signal::SIGKILL);
        }
    }
}

// ---- charging -------------------------------------------------------------

/// `Task::memcg_pending`: a refused charge's group id in the low 16 bits;
/// this bit when a charge went over memory.high.
const PENDING_HIGH: u32 = 1 << 16;

/// mm's charge hook: charge `page` (all pages of a compound one) to the
/// running task's group.
fn charge(page: &'static Page, stat: MemcgStat, mode: ChargeMode) -> bool {
    let g = current_memcg();
    let nr = if page.has(PageFlags::HEAD) { 1u64 << page.order() } else { 1 };
    match mode {
        ChargeMode::Force => g.force_charge(nr),
        ChargeMode::MayFail => {
            if let Err(over) = g.try_charge(nr) {
                // A huge page falls back to small ones, which reclaim if
                // they are refused too; only those leave work for the
                // fault handler.
                if nr == 1 {
                    set_pending(over.id() as u32);
                }
                return false;
            }
        }
    }
    page.set_memcg(g.id(), Some(stat));
    g.mod_stat(stat, nr as i64);
    if g.over_high().is_some() {
        set_pending(PENDING_HIGH);
    }
    true
}

/// mm's hook for a page that replaces pages of `like`'s group.
fn charge_like(page: &'static Page, like: &'static Page) {
    let Some((id, stat)) = like.memcg_record() else { return };
    let Some(g) = MEMCGS.get(id) else { return };
    let nr = if page.has(PageFlags::HEAD) { 1u64 << page.order() } else { 1 };
    g.force_charge(nr);
    page.set_memcg(id, stat);
    if let Some(s) = stat {
        g.mod_stat(s, nr as i64);
    }
}

/// mm's hook for a page charged to a known group whatever its limit (the
/// slabs of a group's kmalloc caches).
fn charge_to(page: &'static Page, id: MemcgId, stat: MemcgStat) -> bool {
    let Some(g) = MEMCGS.get(id) else { return false };
    let nr = if page.has(PageFlags::HEAD) { 1u64 << page.order() } else { 1 };
    g.force_charge(nr);
    page.set_memcg(id, Some(stat));
    g.mod_stat(stat, nr as i64);
    true
}

fn set_pending(bits: u32) {
    if let Some(t) = super::sched::current_opt() {
        if bits == PENDING_HIGH {
            t.memcg_pending.fetch_or(bits, Ordering::Relaxed);
        } else {
            let _ =
                t.memcg_pending.try_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some((v & PENDING_HIGH) | bits));
        }
    }
}

/// mm's uncharge hook (the free path).
fn uncharge(id: MemcgId, stat: Option<MemcgStat>, nr: u64) {
    MEMCGS.uncharge(id, stat, nr);
}

/// The group whose limit refused the running task's last charge, if one
/// did since the last call.
pub fn take_refused() -> Option<Arc<MemCgroup>> {
    let t = super::sched::current_opt()?;
    let v = t.memcg_pending.try_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v & PENDING_HIGH)).ok()?;
    MEMCGS.get((v & 0xffff) as MemcgId)
}

/// Count a fault in the running task's group (memory.stat pgfault,
/// pgmajfault).
pub fn count_fault(major: bool) {
    let g = current_memcg();
    g.count_vm_event(if major { mm::memcg::MemcgVmEvent::PgMajFault } else { mm::memcg::MemcgVmEvent::PgFault });
}

/// The kernel's side of a refused charge: reclaim in the group, the OOM
/// killer restricted to it.
struct KernelOom;

impl OomBackend for KernelOom {
    fn reclaim(&mut self, g: &MemCgroup, nr: u64) -> u64 {
        super::reclaim::reclaim_memcg(g, nr)
    }

    fn oom_kill(&mut self, g: &MemCgroup) -> OomOutcome {
        super::oom::memcg_out_of_memory(g)
    }
}

/// A fault's charge was refused by group `over`: what to do next (the
/// caller keeps `retry` across its attempts).
pub fn charge_refused(over: &MemCgroup, retry: &mut ChargeRetry) -> ChargeNext {
    let next = retry.after_refusal(over, 1, &mut KernelOom);
    if next == ChargeNext::Retry {
        // Let the victim die and give its pages back.
        super::sched::sleep_ticks(0);
    }
    next
}

/// memory.stat's LRU lines of group `g` and the groups below it (pages).
pub fn lru_sizes(g: &MemCgroup) -> [u64; 5] {
    let mut below = alloc::vec![false; mm::memcg::MAX_MEMCG_ID];
    for id in 1..mm::memcg::MAX_MEMCG_ID {
        if let Some(m) = MEMCGS.get(id as MemcgId) {
            below[id] = m.is_descendant_of(g);
        }
    }
    mm::memcg::lru_sizes(crate::mem::page_alloc(), &|id| below.get(id as usize).copied().unwrap_or(false))
}

/// The running task's kernel-memory group: its own field and the per-CPU
/// copy the heap reads, changed together with interrupts off.
fn set_kmem_memcg(task: &Task, id: MemcgId) -> MemcgId {
    x86_64::instructions::interrupts::without_interrupts(|| {
        arch::percpu::set_kmem_memcg(id);
        task.kmem_memcg.swap(id, Ordering::Relaxed)
    })
}

/// A system call that charges the kernel objects it makes to the running
/// task's group (`mem::kmemcg`; nothing for the root group, as Linux
/// leaves the root's kernel memory to the machine's counters).
pub struct KmemScope {
    task: Option<Arc<Task>>,
    prev: MemcgId,
}

impl KmemScope {
    pub fn enter() -> KmemScope {
        let Some(task) = super::sched::current_opt() else { return KmemScope { task: None, prev: 0 } };
        let id = cgroup_of(&task).memcg.id();
        if id == mm::memcg::ROOT_MEMCG_ID || crate::mem::kmemcg::caches_of(id).is_none() {
            return KmemScope { task: None, prev: 0 };
        }
        let prev = set_kmem_memcg(&task, id);
        KmemScope { task: Some(task), prev }
    }
}

impl Drop for KmemScope {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else { return };
        let id = set_kmem_memcg(&task, self.prev);
        drop(task);
        if self.prev == 0 {
            settle_kernel_charge(id);
        }
    }
}

/// No kernel-memory accounting until dropped (a group's cache set is made
/// by a task that may be inside a [`KmemScope`]).
struct KmemSuspend {
    task: Option<Arc<Task>>,
    prev: MemcgId,
}

impl KmemSuspend {
    fn new() -> KmemSuspend {
        let task = super::sched::current_opt();
        let prev = task.as_ref().map_or(0, |t| set_kmem_memcg(t, 0));
        KmemSuspend { task, prev }
    }
}

impl Drop for KmemSuspend {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            set_kmem_memcg(t, self.prev);
        }
    }
}

/// A system call charged kernel memory to group `id` (`mem::kmemcg`),
/// which cannot be refused where it is allocated: if that left the group
/// (or an ancestor) over memory.max, reclaim from it and then run the OOM
/// killer inside it, as a refused charge does.
pub fn settle_kernel_charge(id: MemcgId) {
    let Some(g) = MEMCGS.get(id) else { return };
    let mut retry = ChargeRetry::default();
    // Bounded: each round reclaims or kills; a group the OOM killer cannot
    // bring under its limit gives up as a refused charge does.
    for _ in 0..4 * mm::memcg::MAX_RECLAIM_RETRIES {
        let Some(over) = g.ancestors().find(|a| a.usage() > a.max()) else { return };
        if charge_refused(over, &mut retry) == ChargeNext::Fail {
            return;
        }
    }
}

/// After a fault: if a charge went over memory.high, reclaim the excess
/// from the group that is over, and sleep briefly if that was not enough
/// (never kill).
pub fn handle_over_high() {
    let Some(t) = super::sched::current_opt() else { return };
    if t.memcg_pending.fetch_and(!PENDING_HIGH, Ordering::Relaxed) & PENDING_HIGH == 0 {
        return;
    }
    drop(t);
    let g = current_memcg();
    let Some(over) = g.over_high() else { return };
    over.event(MemcgEvent::High);
    // The excess and a batch more, so that the next faults find room
    // (Linux reclaims in MEMCG_CHARGE_BATCH steps).
    let excess = over.usage().saturating_sub(over.high());
    super::reclaim::reclaim_memcg(over, (excess + mm::vm::vmscan::SWAP_CLUSTER_MAX).min(512));
    // Throttle: a task whose group stays over after the reclaim pays with
    // time (Linux's penalty sleep, here one tick).
    if over.usage() > over.high() {
        super::sched::sleep_ticks(1);
    }
}

/// Whether a page of group `page_id` may go for reclaim aimed at group
/// `target` (vmscan's `MemcgScan`): it is charged below the target and
/// not protected by memory.min; under memory.low it counts a `low` event
/// when taken all the same.
pub fn page_in_group(page_id: MemcgId, target: MemcgId) -> bool {
    let (Some(p), Some(t)) = (MEMCGS.get(page_id), MEMCGS.get(target)) else { return false };
    if !p.is_descendant_of(&t) {
        return false;
    }
    match p.protection(&t) {
        Protection::Min => false,
        Protection::Low => {
            p.event(MemcgEvent::Low);
            true
        }
        Protection::None => true,
    }
}

/// Global reclaim's filter: pages of groups under their memory.min stay.
pub fn page_unprotected(page_id: MemcgId, _target: MemcgId) -> bool {
    match MEMCGS.get(page_id) {
        Some(p) => p.protection(&MEMCGS.root()) != Protection::Min,
        None => true,
    }
}

/// The group with this memory cgroup, searched from the root.
pub fn by_memcg(m: &MemCgroup) -> Option<Arc<Cgroup>> {
    fn walk(g: &Arc<Cgroup>, id: MemcgId) -> Option<Arc<Cgroup>> {
        if g.memcg.id() == id {
            return Some(g.clone());
        }
        g.children().iter().find_map(|c| walk(c, id))
    }
    walk(&root(), m.id())
}

/// Apply a memory.max that may be below the usage: reclaim, then the OOM
/// killer inside the group, until it fits or nothing helps
/// (`memory_max_write`).
pub fn enforce_max(m: &MemCgroup) {
    let mut failures = 0;
    while m.usage() > m.max() {
        let excess = m.usage() - m.max();
        if super::reclaim::reclaim_memcg(m, excess) > 0 {
            continue;
        }
        failures += 1;
        if failures < mm::memcg::MAX_RECLAIM_RETRIES {
            continue;
        }
        m.event(MemcgEvent::Oom);
        if super::oom::memcg_out_of_memory(m) != OomOutcome::KilledOther {
            break;
        }
        failures = 0;
        super::sched::sleep_ticks(1);
    }
}
