//! Memory cgroups: the charge tree (cf. mm/memcontrol.c, mm/page_counter.c).
//!
//! A [`MemCgroup`] is one group of the cgroup v2 hierarchy as the memory
//! controller sees it: a page counter with its limits, event counters and
//! statistics, and a parent. Charging `nr` pages walks from the group to
//! the root, adding to every counter on the way; a counter that would go
//! over its `max` undoes the walk and names the group that refused
//! (Linux's `page_counter_try_charge`). The caller then reclaims from that
//! group and retries, and at last runs the OOM killer inside it
//! ([`ChargeRetry`]), as `try_charge_memcg` does.
//!
//! ```text
//!   root (id 1, no limit)
//!    ├── a   max 64M   usage = own pages + b's + c's
//!    │   ├── b max 32M
//!    │   └── c
//!    └── d
//! ```
//!
//! Swap has a counter of its own (memory.swap.current, memory.swap.max):
//! a slot is charged to the group of the page written to it, when reclaim
//! takes the slot, and uncharged when the slot is free again (the swap
//! area records the id per slot); a group stays (offline) while swap is
//! charged to it too.
//!
//! Page descriptors name their group by a small id ([`MemcgId`]), not a
//! pointer; [`MemcgTable`] turns ids back into groups when a page is freed.
//! A removed group stays in the table (offline, a "zombie" as in Linux)
//! until its last charged page is gone, so an id is never reused while a
//! page still carries it.
//!
//! Locking: every counter of a group (usage, limits, peak, events,
//! statistics) is an atomic, changed without a lock; a charge racing with
//! a limit change may overshoot by its own size, as in Linux. The table's
//! slots are behind one [`IrqRwLock`] (read to find a group, write to add
//! or retire one); it is a leaf lock, taken with zone and LRU locks held
//! (the free path uncharges there), and nothing is taken inside it.
//! Protection (`min`, `low`) is the simple form: a group is protected while
//! its usage is at or below the value, at every level between it and the
//! group being reclaimed (Linux distributes protection among siblings
//! proportionally; that refinement is left out).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::sync::IrqRwLock;

/// A group's index in its [`MemcgTable`] and in page descriptors; 0 means
/// "not charged".
pub type MemcgId = u16;

/// The id of the root group of every table.
pub const ROOT_MEMCG_ID: MemcgId = 1;

/// Most groups a table holds (ids 1..MAX_MEMCG_ID).
pub const MAX_MEMCG_ID: usize = 4096;

/// "max": no limit (in pages).
pub const PAGE_COUNTER_MAX: u64 = u64::MAX >> crate::addr::PAGE_SHIFT;

/// How many rounds of reclaim a charge tries before the OOM killer
/// (Linux's MAX_RECLAIM_RETRIES).
pub const MAX_RECLAIM_RETRIES: u32 = 5;

/// memory.events: what happened to the group (`memcg_memory_event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcgEvent {
    /// Reclaimed although under memory.low.
    Low = 0,
    /// Went over memory.high.
    High,
    /// A charge hit memory.max.
    Max,
    /// Reclaim could not get under memory.max: the OOM killer was asked.
    Oom,
    /// A process of the group was killed by the OOM killer.
    OomKill,
    /// The whole group was killed (memory.oom.group).
    OomGroupKill,
}

pub const NR_MEMCG_EVENTS: usize = 6;

impl MemcgEvent {
    pub const ALL: [MemcgEvent; NR_MEMCG_EVENTS] = [
        MemcgEvent::Low,
        MemcgEvent::High,
        MemcgEvent::Max,
        MemcgEvent::Oom,
        MemcgEvent::OomKill,
        MemcgEvent::OomGroupKill,
    ];

    /// The key in memory.events.
    pub fn name(self) -> &'static str {
        match self {
            MemcgEvent::Low => "low",
            MemcgEvent::High => "high",
            MemcgEvent::Max => "max",
            MemcgEvent::Oom => "oom",
            MemcgEvent::OomKill => "oom_kill",
            MemcgEvent::OomGroupKill => "oom_group_kill",
        }
    }
}

/// What a charged page is (memory.stat's page counts); kept in the page
/// descriptor beside the group id so the uncharge undoes the same count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcgStat {
    Anon = 0,
    File,
    Shmem,
    KernelStack,
    PageTables,
    SlabReclaimable,
    SlabUnreclaimable,
}

pub const NR_MEMCG_STATS: usize = 7;

impl MemcgStat {
    pub const ALL: [MemcgStat; NR_MEMCG_STATS] = [
        MemcgStat::Anon,
        MemcgStat::File,
        MemcgStat::Shmem,
        MemcgStat::KernelStack,
        MemcgStat::PageTables,
        MemcgStat::SlabReclaimable,
        MemcgStat::SlabUnreclaimable,
    ];

    pub fn from_index(i: u8) -> Option<MemcgStat> {
        Self::ALL.get(i as usize).copied()
    }
}

/// Counted events of memory.stat (`memcg_vm_event_stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcgVmEvent {
    PgFault = 0,
    PgMajFault,
}

/// Which of a group's two page counters (Linux's `memory` and `swap`
/// `page_counter`s): the walks up the tree are the same for both.
#[derive(Clone, Copy)]
enum Counter {
    Memory,
    Swap,
}

/// One memory cgroup.
pub struct MemCgroup {
    id: MemcgId,
    parent: Option<Arc<MemCgroup>>,
    /// Pages charged here and below.
    usage: AtomicU64,
    max: AtomicU64,
    high: AtomicU64,
    low: AtomicU64,
    min: AtomicU64,
    /// Highest usage since creation or the last reset (memory.peak).
    peak: AtomicU64,
    /// memory.events: this group's and its descendants'.
    events: [AtomicU64; NR_MEMCG_EVENTS],
    /// memory.events.local: this group's only.
    events_local: [AtomicU64; NR_MEMCG_EVENTS],
    /// memory.stat page counts, hierarchical (pages).
    stats: [AtomicI64; NR_MEMCG_STATS],
    vm_events: [AtomicU64; 2],
    /// Swap slots charged here and below (memory.swap.current / PAGE_SIZE),
    /// their limit and high point.
    swap_usage: AtomicU64,
    swap_max: AtomicU64,
    swap_peak: AtomicU64,
    /// memory.swap.events: `max` (a slot refused here), `fail` (a page
    /// could not go to swap because of a limit here or above).
    swap_events: [AtomicU64; 2],
    /// memory.oom.group: the OOM killer takes every member at once.
    oom_group: AtomicBool,
    /// Still a directory of the hierarchy (false after rmdir).
    online: AtomicBool,
}

fn zeroed<const N: usize>() -> [AtomicU64; N] {
    core::array::from_fn(|_| AtomicU64::new(0))
}

impl MemCgroup {
    fn new(id: MemcgId, parent: Option<Arc<MemCgroup>>) -> MemCgroup {
        MemCgroup {
            id,
            parent,
            usage: AtomicU64::new(0),
            max: AtomicU64::new(PAGE_COUNTER_MAX),
            high: AtomicU64::new(PAGE_COUNTER_MAX),
            low: AtomicU64::new(0),
            min: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            events: zeroed(),
            events_local: zeroed(),
            stats: core::array::from_fn(|_| AtomicI64::new(0)),
            vm_events: zeroed(),
            swap_usage: AtomicU64::new(0),
            swap_max: AtomicU64::new(PAGE_COUNTER_MAX),
            swap_peak: AtomicU64::new(0),
            swap_events: zeroed(),
            oom_group: AtomicBool::new(false),
            online: AtomicBool::new(true),
        }
    }

    pub fn id(&self) -> MemcgId {
        self.id
    }

    pub fn parent(&self) -> Option<&Arc<MemCgroup>> {
        self.parent.as_ref()
    }

    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// This group, then each ancestor up to the root.
    pub fn ancestors(&self) -> impl Iterator<Item = &MemCgroup> {
        core::iter::successors(Some(self), |g| g.parent.as_deref())
    }

    /// Whether `self` is `other` or below it.
    pub fn is_descendant_of(&self, other: &MemCgroup) -> bool {
        self.ancestors().any(|g| core::ptr::eq(g, other))
    }

    /// Pages charged here and below (memory.current / PAGE_SIZE).
    pub fn usage(&self) -> u64 {
        self.usage.load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// memory.peak written: start again from the current usage.
    pub fn reset_peak(&self) {
        self.peak.store(self.usage(), Ordering::Relaxed);
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    pub fn high(&self) -> u64 {
        self.high.load(Ordering::Relaxed)
    }

    pub fn low(&self) -> u64 {
        self.low.load(Ordering::Relaxed)
    }

    pub fn min(&self) -> u64 {
        self.min.load(Ordering::Relaxed)
    }

    /// Set memory.max (pages). The caller reclaims down to it afterwards.
    pub fn set_max(&self, pages: u64) {
        self.max.store(pages.min(PAGE_COUNTER_MAX), Ordering::Relaxed);
    }

    pub fn set_high(&self, pages: u64) {
        self.high.store(pages.min(PAGE_COUNTER_MAX), Ordering::Relaxed);
    }

    pub fn set_low(&self, pages: u64) {
        self.low.store(pages.min(PAGE_COUNTER_MAX), Ordering::Relaxed);
    }

    pub fn set_min(&self, pages: u64) {
        self.min.store(pages.min(PAGE_COUNTER_MAX), Ordering::Relaxed);
    }

    pub fn oom_group(&self) -> bool {
        self.oom_group.load(Ordering::Relaxed)
    }

    pub fn set_oom_group(&self, on: bool) {
        self.oom_group.store(on, Ordering::Relaxed);
    }

    /// Charge `nr` pages here and in every ancestor, unless one of them
    /// would go over its `max`: then nothing is charged and that group is
    /// returned (the one to reclaim from, or to run the OOM killer in).
    pub fn try_charge(&self, nr: u64) -> Result<(), &MemCgroup> {
        self.try_charge_counter(Counter::Memory, nr)
    }

    /// (usage, max, peak) of counter `c`.
    fn counter(&self, c: Counter) -> (&AtomicU64, &AtomicU64, &AtomicU64) {
        match c {
            Counter::Memory => (&self.usage, &self.max, &self.peak),
            Counter::Swap => (&self.swap_usage, &self.swap_max, &self.swap_peak),
        }
    }

    /// `page_counter_try_charge`: add `nr` to counter `c` here and in every
    /// ancestor unless one would pass its max; then nothing is added and
    /// that group is returned.
    fn try_charge_counter(&self, c: Counter, nr: u64) -> Result<(), &MemCgroup> {
        for g in self.ancestors() {
            let (usage, max, peak) = g.counter(c);
            let new = usage.fetch_add(nr, Ordering::Relaxed) + nr;
            if new > max.load(Ordering::Relaxed) {
                usage.fetch_sub(nr, Ordering::Relaxed);
                // Undo the levels below the one that refused.
                for below in self.ancestors().take_while(|b| !core::ptr::eq(*b, g)) {
                    below.counter(c).0.fetch_sub(nr, Ordering::Relaxed);
                }
                return Err(g);
            }
            peak.fetch_max(new, Ordering::Relaxed);
        }
        Ok(())
    }

    /// `page_counter_uncharge`: take `nr` from counter `c` here and above.
    fn uncharge_counter(&self, c: Counter, nr: u64) {
        for g in self.ancestors() {
            let r = g.counter(c).0.try_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(nr)));
            if r.is_ok_and(|old| old < nr) {
                log::error!("memcg: BUG: group {} uncharged below zero ({} < {})", g.id, r.unwrap_or(0), nr);
            }
        }
    }

    /// Charge `nr` pages whatever the limits say (kernel memory that
    /// cannot wait for reclaim, a dying task's last pages).
    pub fn force_charge(&self, nr: u64) {
        for g in self.ancestors() {
            let new = g.usage.fetch_add(nr, Ordering::Relaxed) + nr;
            g.peak.fetch_max(new, Ordering::Relaxed);
        }
    }

    /// Give back `nr` pages here and in every ancestor.
    pub fn uncharge(&self, nr: u64) {
        self.uncharge_counter(Counter::Memory, nr);
    }

    /// Swap slots charged here and below.
    pub fn swap_usage(&self) -> u64 {
        self.swap_usage.load(Ordering::Relaxed)
    }

    pub fn swap_max(&self) -> u64 {
        self.swap_max.load(Ordering::Relaxed)
    }

    pub fn set_swap_max(&self, pages: u64) {
        self.swap_max.store(pages.min(PAGE_COUNTER_MAX), Ordering::Relaxed);
    }

    pub fn swap_peak(&self) -> u64 {
        self.swap_peak.load(Ordering::Relaxed)
    }

    pub fn reset_swap_peak(&self) {
        self.swap_peak.store(self.swap_usage(), Ordering::Relaxed);
    }

    /// memory.swap.events: (max, fail).
    pub fn swap_events(&self) -> (u64, u64) {
        (self.swap_events[0].load(Ordering::Relaxed), self.swap_events[1].load(Ordering::Relaxed))
    }

    /// Charge `nr` swap slots here and in every ancestor unless one would
    /// go over its memory.swap.max: then nothing is charged, that group
    /// counts a `max` event and this one a `fail` (Linux's
    /// `__mem_cgroup_try_charge_swap`).
    pub fn try_charge_swap(&self, nr: u64) -> bool {
        let Err(over) = self.try_charge_counter(Counter::Swap, nr) else { return true };
        over.swap_events[0].fetch_add(1, Ordering::Relaxed);
        for a in self.ancestors() {
            a.swap_events[1].fetch_add(1, Ordering::Relaxed);
        }
        false
    }

    /// Give back `nr` swap slots here and in every ancestor.
    pub fn uncharge_swap(&self, nr: u64) {
        self.uncharge_counter(Counter::Swap, nr);
    }

    /// The highest group, from this one up, that is over its memory.high:
    /// the one whose pages the allocator should reclaim.
    pub fn over_high(&self) -> Option<&MemCgroup> {
        self.ancestors().filter(|g| g.usage() > g.high()).last()
    }

    /// Pages `self` may still take before some ancestor's max refuses.
    pub fn margin(&self) -> u64 {
        self.ancestors().map(|g| g.max().saturating_sub(g.usage())).min().unwrap_or(0)
    }

    /// Count `e` here (memory.events.local) and here and above
    /// (memory.events).
    pub fn event(&self, e: MemcgEvent) {
        self.events_local[e as usize].fetch_add(1, Ordering::Relaxed);
        for g in self.ancestors() {
            g.events[e as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn events(&self, e: MemcgEvent) -> u64 {
        self.events[e as usize].load(Ordering::Relaxed)
    }

    pub fn events_local(&self, e: MemcgEvent) -> u64 {
        self.events_local[e as usize].load(Ordering::Relaxed)
    }

    /// Add `delta` pages to statistic `s` here and above.
    pub fn mod_stat(&self, s: MemcgStat, delta: i64) {
        for g in self.ancestors() {
            g.stats[s as usize].fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Pages of kind `s` charged here and below.
    pub fn stat(&self, s: MemcgStat) -> u64 {
        self.stats[s as usize].load(Ordering::Relaxed).max(0) as u64
    }

    pub fn count_vm_event(&self, e: MemcgVmEvent) {
        for g in self.ancestors() {
            g.vm_events[e as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn vm_events(&self, e: MemcgVmEvent) -> u64 {
        self.vm_events[e as usize].load(Ordering::Relaxed)
    }

    /// How reclaim aimed at `target` (a group above or equal to this one)
    /// must treat this group's pages: a level below `target` at or under
    /// its memory.min is never touched, at or under memory.low only when
    /// nothing else could be found.
    pub fn protection(&self, target: &MemCgroup) -> Protection {
        let mut p = Protection::None;
        for g in self.ancestors() {
            if core::ptr::eq(g, target) {
                break;
            }
            let u = g.usage();
            if u <= g.min() {
                return Protection::Min;
            }
            if u <= g.low() {
                p = Protection::Low;
            }
        }
        p
    }
}

impl core::fmt::Debug for MemCgroup {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "memcg {} ({} pages, max {})", self.id, self.usage(), self.max())
    }
}

/// What memory.min / memory.low say about reclaiming a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    None,
    /// Reclaimed only when the unprotected pages were not enough (the
    /// group's `low` event counts it).
    Low,
    /// Never reclaimed for others.
    Min,
}

/// Every group of one hierarchy, by id.
pub struct MemcgTable {
    slots: IrqRwLock<Vec<Option<Arc<MemCgroup>>>>,
    /// Told the id of every group retired, under the table's lock (and
    /// maybe in the page free path): it must not allocate, sleep or take
    /// a lock.
    on_retire: spin::Once<fn(MemcgId)>,
}

/// Why a group could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcgTableError {
    /// Every id is in use (Linux: ENOSPC from the id allocator).
    NoId,
}

impl Default for MemcgTable {
    fn default() -> Self {
        Self::new()
    }
}

impl MemcgTable {
    pub const fn new() -> MemcgTable {
        MemcgTable { slots: IrqRwLock::new(Vec::new()), on_retire: spin::Once::new() }
    }

    /// The root group, made on first use. The slot vector gets its full
    /// capacity here, outside the lock: nothing allocates with the lock
    /// held (an allocation may reclaim, and reclaim frees pages, whose
    /// uncharge takes this lock).
    pub fn root(&self) -> Arc<MemCgroup> {
        if let Some(r) = self.get(ROOT_MEMCG_ID) {
            return r;
        }
        let mut slots = Vec::with_capacity(MAX_MEMCG_ID);
        slots.resize(ROOT_MEMCG_ID as usize, None);
        let root = Arc::new(MemCgroup::new(ROOT_MEMCG_ID, None));
        slots.push(Some(root.clone()));
        let mut s = self.slots.write();
        if s.is_empty() {
            core::mem::swap(&mut *s, &mut slots);
            return root;
        }
        let r = s[ROOT_MEMCG_ID as usize].clone();
        drop(s);
        r.unwrap_or(root)
    }

    /// A new child of `parent`, with the lowest free id. The group is made
    /// before the lock is taken (see [`MemcgTable::root`]); if another
    /// creator took the id meanwhile, the next free one is tried.
    pub fn create(&self, parent: &Arc<MemCgroup>) -> Result<Arc<MemCgroup>, MemcgTableError> {
        self.root();
        loop {
            let id = {
                let s = self.slots.read();
                match s.iter().enumerate().skip(ROOT_MEMCG_ID as usize + 1).find(|(_, g)| g.is_none()) {
                    Some((i, _)) => i,
                    None if s.len() < MAX_MEMCG_ID => s.len(),
                    None => return Err(MemcgTableError::NoId),
                }
            };
            let g = Arc::new(MemCgroup::new(id as MemcgId, Some(parent.clone())));
            let mut s = self.slots.write();
            // The capacity is MAX_MEMCG_ID from `root`: no allocation here.
            if id == s.len() && s.len() < s.capacity() {
                s.push(Some(g.clone()));
                return Ok(g);
            }
            if s.get(id).is_some_and(|slot| slot.is_none()) {
                s[id] = Some(g.clone());
                return Ok(g);
            }
        }
    }

    pub fn get(&self, id: MemcgId) -> Option<Arc<MemCgroup>> {
        self.slots.read().get(id as usize).and_then(|g| g.clone())
    }

    /// The group was removed from the hierarchy (rmdir): its id goes back
    /// once no page is charged to it any more.
    pub fn offline(&self, g: &MemCgroup) {
        g.online.store(false, Ordering::Relaxed);
        self.retire_if_empty(g.id);
    }

    fn retire_if_empty(&self, id: MemcgId) {
        let gone = {
            let mut s = self.slots.write();
            match s.get_mut(id as usize) {
                Some(slot)
                    if slot
                        .as_ref()
                        .is_some_and(|g| !g.is_online() && g.usage() == 0 && g.swap_usage() == 0 && !g.is_root()) =>
                {
                    // Told under the lock, so that no new group takes the
                    // id before the callback is done with it.
                    if let Some(f) = self.on_retire.get() {
                        f(id);
                    }
                    slot.take()
                }
                _ => None,
            }
        };
        // Freed (if this was the last reference) with the lock released.
        drop(gone);
    }

    /// Install the retirement callback (once).
    pub fn set_on_retire(&self, f: fn(MemcgId)) {
        self.on_retire.call_once(|| f);
    }

    /// Give back `nr` pages of kind `stat` charged to group `id` (the
    /// free path, from the page descriptor's record).
    pub fn uncharge(&self, id: MemcgId, stat: Option<MemcgStat>, nr: u64) {
        let Some(g) = self.get(id) else {
            log::error!("memcg: BUG: uncharge of {} pages to unknown group {}", nr, id);
            return;
        };
        g.uncharge(nr);
        if let Some(s) = stat {
            g.mod_stat(s, -(nr as i64));
        }
        if !g.is_online() && g.usage() == 0 && g.swap_usage() == 0 {
            self.retire_if_empty(id);
        }
    }

    /// Charge `nr` swap slots to group `id` (false: a swap.max refused;
    /// an unknown group is not charged and not refused).
    pub fn charge_swap(&self, id: MemcgId, nr: u64) -> bool {
        self.get(id).is_none_or(|g| g.try_charge_swap(nr))
    }

    /// Give back `nr` swap slots charged to group `id` (a slot freed).
    pub fn uncharge_swap(&self, id: MemcgId, nr: u64) {
        let Some(g) = self.get(id) else {
            log::error!("memcg: BUG: swap uncharge of {} slots to unknown group {}", nr, id);
            return;
        };
        g.uncharge_swap(nr);
        if !g.is_online() && g.usage() == 0 && g.swap_usage() == 0 {
            self.retire_if_empty(id);
        }
    }

    /// Number of groups in the table (online or not).
    pub fn len(&self) -> usize {
        self.slots.read().iter().filter(|g| g.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the OOM killer did for a group ([`OomBackend::oom_kill`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OomOutcome {
    /// Another task died: its pages come back, charge again.
    KilledOther,
    /// The charging task itself was chosen: give up the charge.
    KilledSelf,
    /// Nobody in the group could be killed.
    NoVictim,
}

/// Reclaim and OOM inside one group, as the kernel does them (host tests
/// use a model).
pub trait OomBackend {
    /// Free up to `nr` pages charged to `g` or below; returns pages freed.
    fn reclaim(&mut self, g: &MemCgroup, nr: u64) -> u64;
    /// Kill inside `g` (the group whose max refused).
    fn oom_kill(&mut self, g: &MemCgroup) -> OomOutcome;
}

/// The decision after a refused charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeNext {
    /// Try the charge again.
    Retry,
    /// The charge fails: the task is dying or there is nobody to kill.
    Fail,
}

/// Linux's `try_charge_memcg` loop, one refused charge at a time: reclaim
/// from the refusing group, up to [`MAX_RECLAIM_RETRIES`] rounds in a row
/// that free nothing, then the OOM killer inside that group.
#[derive(Debug, Default)]
pub struct ChargeRetry {
    stalls: u32,
}

impl ChargeRetry {
    /// `over` refused a charge of `nr` pages.
    pub fn after_refusal(&mut self, over: &MemCgroup, nr: u64, backend: &mut dyn OomBackend) -> ChargeNext {
        over.event(MemcgEvent::Max);
        let want = nr.max(crate::vm::vmscan::SWAP_CLUSTER_MAX);
        if backend.reclaim(over, want) > 0 && over.margin() >= nr {
            self.stalls = 0;
            return ChargeNext::Retry;
        }
        self.stalls += 1;
        if self.stalls < MAX_RECLAIM_RETRIES {
            return ChargeNext::Retry;
        }
        self.stalls = 0;
        over.event(MemcgEvent::Oom);
        match backend.oom_kill(over) {
            OomOutcome::KilledOther => ChargeNext::Retry,
            OomOutcome::KilledSelf | OomOutcome::NoVictim => ChargeNext::Fail,
        }
    }
}

/// memory.stat's LRU lines for the pages charged to the groups `member`
/// accepts: pages on each list, indexed by [`LruList`] (inactive_anon,
/// active_anon, inactive_file, active_file, unevictable). Counted from the
/// page descriptors when asked (the lists are per node, not per group), a
/// snapshot that pages moving meanwhile may blur by a few, as Linux's
/// per-CPU counters do.
///
/// [`LruList`]: crate::phys::lru::LruList
pub fn lru_sizes(pa: &crate::phys::page_alloc::PageAllocator, member: &dyn Fn(MemcgId) -> bool) -> [u64; 5] {
    use crate::phys::page::PageFlags;
    let mut n = [0u64; 5];
    for z in pa.nodes.iter().flat_map(|node| node.zones.iter()) {
        for pfn in z.start_pfn..z.start_pfn + z.spanned {
            let Some(p) = pa.memmap.page(crate::addr::Pfn(pfn)) else { continue };
            let f = p.flags();
            if !f.contains(PageFlags::LRU) || !p.memcg().is_some_and(member) {
                continue;
            }
            let nr = if f.contains(PageFlags::HEAD) { 1u64 << p.order() } else { 1 };
            n[crate::phys::lru::LruList::of(f) as usize] += nr;
        }
    }
    n
}

/// Linux's `memparse` for the memory.* files: decimal digits with an
/// optional K, M, G, T, P or E suffix (either case); None if it is not
/// that or overflows.
pub fn memparse(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        b'p' | b'P' => (&s[..s.len() - 1], 50),
        b'e' | b'E' => (&s[..s.len() - 1], 60),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A memory.{max,high,low,min} write (`page_counter_memparse`): "max" or
/// a byte count, surrounding white space ignored; the value in pages,
/// rounded down. Nothing at all is 0, as Linux's `memparse` of an empty
/// string. None: EINVAL.
pub fn parse_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return Some(PAGE_COUNTER_MAX);
    }
    if t.is_empty() {
        return Some(0);
    }
    Some((memparse(t)? >> crate::addr::PAGE_SHIFT).min(PAGE_COUNTER_MAX))
}

/// How memory.{max,high,low,min} show a limit (pages): "max" or bytes.
pub fn format_limit(pages: u64, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
    if pages >= PAGE_COUNTER_MAX { writeln!(out, "max") } else { writeln!(out, "{}", pages << crate::addr::PAGE_SHIFT) }
}

#[cfg(test)]
mod tests;
