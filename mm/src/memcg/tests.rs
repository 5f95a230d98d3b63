//! Host tests of the charge tree, with a model: each group's own charges
//! in a vector; usage is the sum over the group and its descendants.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;

/// ```text
///   root
///    └── a (max 100)
///        ├── b (max 60)
///        └── c
/// ```
fn tree() -> (MemcgTable, [Arc<MemCgroup>; 4]) {
    let t = MemcgTable::new();
    let root = t.root();
    let a = t.create(&root).unwrap();
    let b = t.create(&a).unwrap();
    let c = t.create(&a).unwrap();
    a.set_max(100);
    b.set_max(60);
    (t, [root, a, b, c])
}

#[test]
fn charge_walks_to_the_root() {
    let (_t, [root, a, b, c]) = tree();
    b.try_charge(10).unwrap();
    c.try_charge(5).unwrap();
    assert_eq!((root.usage(), a.usage(), b.usage(), c.usage()), (15, 15, 10, 5));
    b.uncharge(10);
    assert_eq!((root.usage(), a.usage(), b.usage()), (5, 5, 0));
}

#[test]
fn charge_over_an_ancestors_max_fails_and_charges_nothing() {
    let (_t, [root, a, b, c]) = tree();
    c.try_charge(90).unwrap();
    // b's own max (60) allows 20, a's (100) does not.
    let over = b.try_charge(20).unwrap_err();
    assert_eq!(over.id(), a.id());
    assert_eq!((root.usage(), a.usage(), b.usage()), (90, 90, 0));
    // b's own limit refuses first when it is the tighter one.
    c.uncharge(90);
    assert_eq!(b.try_charge(61).unwrap_err().id(), b.id());
    assert_eq!(root.usage(), 0);
}

#[test]
fn peak_follows_usage_and_resets_to_current() {
    let (_t, [_root, a, b, _c]) = tree();
    b.try_charge(50).unwrap();
    b.uncharge(40);
    assert_eq!((a.peak(), b.peak()), (50, 50));
    b.reset_peak();
    assert_eq!(b.peak(), 10);
    assert_eq!(a.peak(), 50);
}

#[test]
fn events_are_hierarchical_and_local() {
    let (_t, [root, a, b, _c]) = tree();
    b.event(MemcgEvent::OomKill);
    a.event(MemcgEvent::Max);
    assert_eq!((b.events(MemcgEvent::OomKill), b.events_local(MemcgEvent::OomKill)), (1, 1));
    assert_eq!((a.events(MemcgEvent::OomKill), a.events_local(MemcgEvent::OomKill)), (1, 0));
    assert_eq!(root.events(MemcgEvent::OomKill), 1);
    assert_eq!((a.events(MemcgEvent::Max), b.events(MemcgEvent::Max)), (1, 0));
}

#[test]
fn stats_count_in_ancestors() {
    let (_t, [root, a, b, _c]) = tree();
    b.mod_stat(MemcgStat::Anon, 3);
    b.mod_stat(MemcgStat::File, 2);
    assert_eq!((a.stat(MemcgStat::Anon), root.stat(MemcgStat::File)), (3, 2));
    b.mod_stat(MemcgStat::Anon, -3);
    assert_eq!(a.stat(MemcgStat::Anon), 0);
}

#[test]
fn over_high_names_the_highest_group_over() {
    let (_t, [_root, a, b, _c]) = tree();
    b.set_high(5);
    b.try_charge(10).unwrap();
    assert_eq!(b.over_high().unwrap().id(), b.id());
    a.set_high(8);
    assert_eq!(b.over_high().unwrap().id(), a.id());
    b.uncharge(10);
    assert!(b.over_high().is_none());
}

#[test]
fn protection_min_and_low_below_the_target() {
    let (_t, [root, a, b, _c]) = tree();
    b.try_charge(10).unwrap();
    b.set_low(20);
    assert_eq!(b.protection(&root), Protection::Low);
    b.set_min(10);
    assert_eq!(b.protection(&root), Protection::Min);
    // Reclaim aimed at b itself ignores b's own protection.
    assert_eq!(b.protection(&b), Protection::None);
    // a's protection covers b for reclaim from above a.
    b.set_min(0);
    b.set_low(0);
    a.set_min(50);
    assert_eq!(b.protection(&root), Protection::Min);
    assert_eq!(b.protection(&a), Protection::None);
}

#[test]
fn offline_group_keeps_its_id_until_uncharged() {
    let (t, [root, _a, b, _c]) = tree();
    b.try_charge(2).unwrap();
    b.mod_stat(MemcgStat::Anon, 2);
    let id = b.id();
    t.offline(&b);
    assert!(t.get(id).is_some(), "a charged zombie keeps its slot");
    let d = t.create(&root).unwrap();
    assert_ne!(d.id(), id);
    t.uncharge(id, Some(MemcgStat::Anon), 2);
    assert!(t.get(id).is_none());
    assert_eq!(root.usage(), 0);
    assert_eq!(root.stat(MemcgStat::Anon), 0);
    // The id is free again.
    assert_eq!(t.create(&root).unwrap().id(), id);
}

#[test]
fn limits_parse_like_linux() {
    assert_eq!(parse_limit("max\n"), Some(PAGE_COUNTER_MAX));
    assert_eq!(parse_limit("32M"), Some(32 << 8));
    assert_eq!(parse_limit("1g"), Some(1 << 18));
    assert_eq!(parse_limit("4095"), Some(0));
    assert_eq!(parse_limit(" 8192 "), Some(2));
    assert_eq!(parse_limit("\n"), Some(0));
    assert_eq!(parse_limit("0x10"), None);
    assert_eq!(parse_limit("-1"), None);
    assert_eq!(parse_limit("12Q"), None);
    assert_eq!(parse_limit("maxx"), None);
    assert_eq!(parse_limit("99999999999999999999"), None);
    let mut s = alloc::string::String::new();
    format_limit(PAGE_COUNTER_MAX, &mut s).unwrap();
    format_limit(3, &mut s).unwrap();
    assert_eq!(s, "max\n12288\n");
}

/// A model group for the retry loop: `freeable` pages reclaim can free,
/// `victims` tasks the OOM killer can kill (each frees `per_victim`).
struct Model<'a> {
    g: &'a MemCgroup,
    freeable: u64,
    victims: Vec<u64>,
    self_is_victim: bool,
    kills: u32,
}

impl OomBackend for Model<'_> {
    fn reclaim(&mut self, g: &MemCgroup, nr: u64) -> u64 {
        assert!(core::ptr::eq(g, self.g));
        let n = nr.min(self.freeable);
        self.freeable -= n;
        g.uncharge(n);
        n
    }

    fn oom_kill(&mut self, g: &MemCgroup) -> OomOutcome {
        self.kills += 1;
        if self.self_is_victim {
            return OomOutcome::KilledSelf;
        }
        match self.victims.pop() {
            Some(n) => {
                g.uncharge(n);
                OomOutcome::KilledOther
            }
            None => OomOutcome::NoVictim,
        }
    }
}

fn charge_with(g: &MemCgroup, nr: u64, m: &mut Model<'_>) -> bool {
    let mut r = ChargeRetry::default();
    for _ in 0..100 {
        match g.try_charge(nr) {
            Ok(()) => return true,
            Err(over) => {
                if r.after_refusal(over, nr, m) == ChargeNext::Fail {
                    return false;
                }
            }
        }
    }
    panic!("memcg test: charge loop did not end");
}

#[test]
fn refused_charge_reclaims_before_the_oom_killer() {
    let (_t, [_root, _a, b, _c]) = tree();
    b.try_charge(60).unwrap();
    let mut m = Model { g: &b, freeable: 40, victims: vec![], self_is_victim: false, kills: 0 };
    assert!(charge_with(&b, 1, &mut m));
    assert_eq!(m.kills, 0);
    assert_eq!(b.events(MemcgEvent::Max), 1);
    assert_eq!(b.events(MemcgEvent::Oom), 0);
}

#[test]
fn refused_charge_kills_inside_the_group_then_succeeds() {
    let (_t, [_root, _a, b, _c]) = tree();
    b.try_charge(60).unwrap();
    let mut m = Model { g: &b, freeable: 0, victims: vec![30], self_is_victim: false, kills: 0 };
    assert!(charge_with(&b, 1, &mut m));
    assert_eq!(m.kills, 1);
    assert_eq!(b.events(MemcgEvent::Oom), 1);
    assert_eq!(b.events(MemcgEvent::Max), MAX_RECLAIM_RETRIES as u64);
}

#[test]
fn refused_charge_fails_when_the_charger_is_the_victim_or_nobody_is() {
    let (_t, [_root, _a, b, _c]) = tree();
    b.try_charge(60).unwrap();
    let mut m = Model { g: &b, freeable: 0, victims: vec![], self_is_victim: true, kills: 0 };
    assert!(!charge_with(&b, 1, &mut m));
    m.self_is_victim = false;
    assert!(!charge_with(&b, 1, &mut m));
    assert_eq!(b.usage(), 60);
}

#[derive(Clone, Debug)]
enum Op {
    Charge(usize, u64),
    Uncharge(usize, u64),
    SetMax(usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6usize, 1..20u64).prop_map(|(g, n)| Op::Charge(g, n)),
        (0..6usize, 1..20u64).prop_map(|(g, n)| Op::Uncharge(g, n)),
        (0..6usize, 0..120u64).prop_map(|(g, n)| Op::SetMax(g, n)),
    ]
}

proptest! {
    /// Random charges, uncharges and limit changes on the tree
    /// `root - {1 - {2, 3 - 4}, 5}` against the model.
    #[test]
    fn charge_tree_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        let t = MemcgTable::new();
        let parents = [None, Some(0), Some(1), Some(1), Some(3), Some(0)];
        let mut groups: Vec<Arc<MemCgroup>> = Vec::new();
        for p in parents {
            groups.push(match p { None => t.root(), Some(p) => t.create(&groups[p]).unwrap() });
        }
        let mut own = [0u64; 6];
        let mut max = [u64::MAX; 6];
        let is_below = |mut g: usize, a: usize| loop {
            if g == a { return true; }
            match parents[g] { Some(p) => g = p, None => return false }
        };
        let usage = |own: &[u64; 6], a: usize| (0..6).filter(|&g| is_below(g, a)).map(|g| own[g]).sum::<u64>();
        for o in ops {
            match o {
                Op::Charge(g, n) => {
                    let fits = (0..6).filter(|&a| is_below(g, a)).all(|a| usage(&own, a) + n <= max[a]);
                    prop_assert_eq!(groups[g].try_charge(n).is_ok(), fits);
                    if fits { own[g] += n; }
                }
                Op::Uncharge(g, n) => {
                    let n = n.min(own[g]);
                    groups[g].uncharge(n);
                    own[g] -= n;
                }
                Op::SetMax(g, n) => {
                    if g != 0 { groups[g].set_max(n); max[g] = n; }
                }
            }
            for (i, g) in groups.iter().enumerate() {
                prop_assert_eq!(g.usage(), usage(&own, i));
                prop_assert!(g.peak() >= g.usage());
            }
        }
    }
}

/// The kernel's side of charging, as simple as it can be: one table, and
/// the "running task's" group in a static (only the test below uses them).
mod plumbing {
    use super::*;
    use crate::phys::page::{Page, PageFlags};
    use crate::phys::page_alloc::ChargeMode;

    pub static TABLE: MemcgTable = MemcgTable::new();
    pub static CURRENT: spin::Mutex<Option<Arc<MemCgroup>>> = spin::Mutex::new(None);

    pub fn charge(page: &'static Page, stat: MemcgStat, mode: ChargeMode) -> bool {
        let Some(g) = CURRENT.lock().clone() else { return true };
        let nr = if page.has(PageFlags::HEAD) { 1u64 << page.order() } else { 1 };
        match mode {
            ChargeMode::Force => g.force_charge(nr),
            ChargeMode::MayFail => {
                if g.try_charge(nr).is_err() {
                    return false;
                }
            }
        }
        page.set_memcg(g.id(), Some(stat));
        g.mod_stat(stat, nr as i64);
        true
    }

    pub fn charge_like(_page: &'static Page, _like: &'static Page) {}

    pub fn charge_to(page: &'static Page, id: MemcgId, stat: MemcgStat) -> bool {
        charge_to_in(&TABLE, page, id, stat)
    }

    pub fn charge_to_in(table: &MemcgTable, page: &'static Page, id: MemcgId, stat: MemcgStat) -> bool {
        let Some(g) = table.get(id) else { return false };
        let nr = if page.has(PageFlags::HEAD) { 1u64 << page.order() } else { 1 };
        g.force_charge(nr);
        page.set_memcg(id, Some(stat));
        g.mod_stat(stat, nr as i64);
        true
    }

    pub fn uncharge(id: MemcgId, stat: Option<MemcgStat>, nr: u64) {
        TABLE.uncharge(id, stat, nr);
    }
}

/// ```text
///   an 8-page anonymous area in a group with max 4 pages:
///   [w][w][w][w][refused] . . .     usage 4, the fifth fault is Oom
///   munmap: every page freed, usage 0
/// ```
#[test]
fn anonymous_faults_charge_and_frees_uncharge() {
    use crate::vm::address_space::{AddressSpace, Rlimits};
    use crate::vm::fault::{FaultError, FaultKind};
    use crate::vm::mmap::MmapRequest;
    use abi::mman::*;

    let (env, _cpu) = crate::testing::uniprocessor(64 << 20);
    env.pa.set_memcg_hooks(crate::phys::page_alloc::MemcgHooks {
        charge: plumbing::charge,
        charge_like: plumbing::charge_like,
        charge_to: plumbing::charge_to,
        charge_swap: |id, nr| plumbing::TABLE.charge_swap(id, nr),
        uncharge_swap: |id, nr| plumbing::TABLE.uncharge_swap(id, nr),
        uncharge: plumbing::uncharge,
    });
    let root = plumbing::TABLE.root();
    let g = plumbing::TABLE.create(&root).unwrap();
    g.set_max(4);
    *plumbing::CURRENT.lock() = Some(g.clone());
    let mut mm = AddressSpace::new(env).unwrap();
    mm.layout.mmap_base = AddressSpace::mmap_base_for(8 << 20);
    let p = crate::addr::PAGE_SIZE;
    let req = MmapRequest {
        addr: 0,
        len: 8 * p,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS,
        file: None,
        offset: 0,
    };
    let a = mm.mmap(env, &req, &Rlimits::default()).unwrap();
    for i in 0..4 {
        mm.handle_fault(env, a + i * p, FaultKind::WRITE).unwrap();
    }
    assert_eq!((g.usage(), g.stat(MemcgStat::Anon), root.usage()), (4, 4, 4));
    let free = env.pa.drained_free_pages();
    assert_eq!(mm.handle_fault(env, a + 4 * p, FaultKind::WRITE), Err(FaultError::Oom));
    assert_eq!(g.usage(), 4);
    assert_eq!(env.pa.drained_free_pages(), free, "the refused page went back");
    // A read maps the zero page: nothing charged.
    mm.handle_fault(env, a + 5 * p, FaultKind::READ).unwrap();
    assert_eq!(g.usage(), 4);
    let lru = super::lru_sizes(env.pa, &|id| id == g.id());
    assert_eq!(lru.iter().sum::<u64>(), 4, "memory.stat's LRU lines: the 4 anonymous pages, {:?}", lru);
    assert_eq!(lru[0] + lru[1], 4, "on the anon lists");
    let mut map = alloc::string::String::new();
    let gid = g.id();
    crate::procfs::mempic_groups::render(
        env.pa,
        &|id| (id == gid).then(|| alloc::string::String::from("/g")),
        &mut map,
    )
    .unwrap();
    assert!(map.contains("  a /g") && map.contains("4 pages"), "{}", map);
    let cells: usize = map
        .lines()
        .filter(|l| l.starts_with("0x"))
        .filter_map(|l| l.split_once(" n").and_then(|(_, rest)| rest.split_once(' ')))
        .map(|(_, cells)| cells.matches('a').count())
        .sum();
    assert!(cells >= 1, "the group's cells show as 'a'");
    mm.munmap(env, a, 8 * p).unwrap();
    env.pa.drain_all_pages();
    assert_eq!((g.usage(), g.stat(MemcgStat::Anon), root.usage()), (0, 0, 0));
    *plumbing::CURRENT.lock() = None;
}

/// A group's copy of the kmalloc caches charges whole slabs to it, large
/// allocations too, and every page comes back off the group when the
/// objects are freed and the empty slabs go back to the page allocator.
///
/// ```text
///   group g: 300 x kmalloc-256 from g's set -> 300*256/4096 = 19 slabs
///            kmalloc(20000) from g's set    -> 8 pages (order 3)
///   kernel's set: nothing charged
/// ```
#[test]
fn a_groups_kmalloc_caches_charge_their_slabs() {
    use crate::kalloc::kmalloc::Kmalloc;
    use crate::kalloc::slab::{CacheRegistry, SlabFlags};

    static SLAB_TABLE: MemcgTable = MemcgTable::new();
    fn charge_to(page: &'static crate::phys::page::Page, id: MemcgId, stat: MemcgStat) -> bool {
        plumbing::charge_to_in(&SLAB_TABLE, page, id, stat)
    }
    fn uncharge(id: MemcgId, stat: Option<MemcgStat>, nr: u64) {
        SLAB_TABLE.uncharge(id, stat, nr);
    }
    static SETS: spin::Once<crate::kalloc::kmalloc::KmallocCaches> = spin::Once::new();
    fn lookup(id: MemcgId) -> Option<&'static crate::kalloc::kmalloc::KmallocCaches> {
        SETS.get().filter(|s| s[0].memcg() == id)
    }

    let (env, _cpu) = crate::testing::uniprocessor(64 << 20);
    env.pa.set_memcg_hooks(crate::phys::page_alloc::MemcgHooks {
        charge: |_, _, _| true,
        charge_like: |_, _| {},
        charge_to,
        charge_swap: |_, _| true,
        uncharge_swap: |_, _| {},
        uncharge,
    });
    let registry: &'static CacheRegistry = alloc::boxed::Box::leak(alloc::boxed::Box::new(CacheRegistry::new()));
    let k = Kmalloc::new(env.pa, registry, SlabFlags::empty()).unwrap();
    k.set_memcg_lookup(lookup);
    let root = SLAB_TABLE.root();
    let g = SLAB_TABLE.create(&root).unwrap();
    let set = SETS.call_once(|| k.new_memcg_caches(registry, "(memcg0)").unwrap());
    set.iter().for_each(|c| c.set_memcg(g.id()));
    assert_eq!(set[3].name, "kmalloc-64(memcg0)");

    let kernel_obj = k.alloc(256, 8, false).unwrap();
    assert_eq!(g.usage(), 0, "the kernel's caches charge nobody");
    let objs: Vec<_> = (0..300).map(|_| k.alloc_from(set, 256, 8, false).unwrap()).collect();
    let slabs = 300u64.div_ceil(4096 / 256);
    assert_eq!(g.usage(), slabs * (1 << set[7].order));
    assert_eq!(g.stat(MemcgStat::SlabUnreclaimable), g.usage());
    assert_eq!(root.usage(), g.usage(), "charges reach the root");
    let big = k.alloc_from(set, 20000, 8, true).unwrap();
    assert_eq!(g.usage(), slabs * (1 << set[7].order) + 8);
    assert_eq!(k.ksize(objs[0]), Some(256), "ksize finds the group's cache");

    k.free(big).unwrap();
    for o in objs {
        k.free(o).unwrap();
    }
    k.free(kernel_obj).unwrap();
    for c in set {
        c.shrink();
    }
    env.pa.drain_all_pages();
    assert_eq!((g.usage(), g.stat(MemcgStat::SlabUnreclaimable), root.usage()), (0, 0, 0));
    // A gone group's id can be retired now that nothing is charged to it.
    SLAB_TABLE.offline(&g);
    assert!(SLAB_TABLE.get(g.id()).is_none());
}

/// memory.swap.max: charges walk up like memory's, a refusal names no
/// charge anywhere and counts `max` where it refused and `fail` from the
/// charging group up; a gone group waits for its swap to go too.
#[test]
fn swap_charges_are_hierarchical_and_limited() {
    let t = MemcgTable::new();
    let root = t.root();
    let a = t.create(&root).unwrap();
    let b = t.create(&a).unwrap();
    a.set_swap_max(3);
    assert!(t.charge_swap(b.id(), 2));
    assert_eq!((b.swap_usage(), a.swap_usage(), root.swap_usage()), (2, 2, 2));
    assert!(!t.charge_swap(b.id(), 2), "a's swap.max refuses 4 > 3");
    assert_eq!((b.swap_usage(), a.swap_usage(), root.swap_usage()), (2, 2, 2));
    assert_eq!((a.swap_events(), b.swap_events()), ((1, 1), (0, 1)));
    assert!(t.charge_swap(b.id(), 1));
    assert_eq!(a.swap_peak(), 3);
    t.offline(&b);
    assert!(t.get(b.id()).is_some(), "swap still charged: b stays");
    t.uncharge_swap(b.id(), 3);
    assert!(t.get(b.id()).is_none(), "retired with its last slot");
    assert_eq!((a.swap_usage(), root.swap_usage()), (0, 0));
}
