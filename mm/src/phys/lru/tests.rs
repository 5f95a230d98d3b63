//! The LRU lists against a model: every operation reclaim, faults, mlock
//! and the free path make, in random order, on a few pages; after each
//! one the lists hold the model's pages in the model's order and the
//! unevictable count matches.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;
use crate::phys::gfp::Gfp;
use crate::phys::page_alloc::PageAllocator;

const PAGES: usize = 12;

#[derive(Clone, Debug)]
enum Op {
    /// A new page enters (the fault or the page cache), maybe active.
    Add(usize, bool),
    /// Reclaim takes up to n pages from the tail of a list.
    Isolate(usize, usize),
    /// An isolated page goes back, activated or deactivated.
    Putback(usize, bool),
    /// MADV_FREE (lazy) or a lazy page written again.
    Lazy(usize, bool),
    Mlock(usize),
    Munlock(usize),
    /// The last reference goes.
    Free(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..PAGES, any::<bool>()).prop_map(|(i, a)| Op::Add(i, a)),
        (0..4usize, 1..5usize).prop_map(|(l, n)| Op::Isolate(l, n)),
        (0..PAGES, any::<bool>()).prop_map(|(i, a)| Op::Putback(i, a)),
        (0..PAGES, any::<bool>()).prop_map(|(i, z)| Op::Lazy(i, z)),
        (0..PAGES).prop_map(Op::Mlock),
        (0..PAGES).prop_map(Op::Munlock),
        (0..PAGES).prop_map(Op::Free),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    New,
    On,
    Isolated,
    Freed,
}

/// The model: per page its state, flags that pick the list, its mlock
/// count; the four linked lists as deques (front = head).
struct Model {
    state: [State; PAGES],
    anon: [bool; PAGES],
    active: [bool; PAGES],
    mlocks: [u64; PAGES],
    lists: [VecDeque<usize>; 4],
}

impl Model {
    fn list_of(&self, i: usize) -> Option<usize> {
        if self.mlocks[i] > 0 {
            return None;
        }
        Some(match (self.anon[i], self.active[i]) {
            (true, false) => 0,
            (true, true) => 1,
            (false, false) => 2,
            (false, true) => 3,
        })
    }

    fn unlink(&mut self, i: usize) {
        if let Some(l) = self.list_of(i) {
            self.lists[l].retain(|&x| x != i);
        }
    }

    fn link(&mut self, i: usize) {
        if let Some(l) = self.list_of(i) {
            self.lists[l].push_front(i);
        }
    }

    fn unevictable(&self) -> u64 {
        (0..PAGES).filter(|&i| self.state[i] == State::On && self.mlocks[i] > 0).count() as u64
    }
}

const LISTS: [LruList; 4] = EVICTABLE;

fn check(pa: &PageAllocator, pfns: &[Pfn], m: &Model) -> Result<(), TestCaseError> {
    let lru = &pa.nodes[0].lru;
    for (l, &list) in LISTS.iter().enumerate() {
        let want: Vec<Pfn> = m.lists[l].iter().map(|&i| pfns[i]).collect();
        prop_assert_eq!(lru.order(&pa.memmap, list), want.clone(), "{:?}", list);
        prop_assert_eq!(lru.len(list), want.len() as u64);
    }
    prop_assert_eq!(lru.len(LruList::Unevictable), m.unevictable());
    Ok(())
}

proptest! {
    #[test]
    fn lists_match_a_model(anon in proptest::collection::vec(any::<bool>(), PAGES),
                           ops in proptest::collection::vec(op(), 1..120)) {
        let pa = crate::testing::page_allocator(16 << 20);
        let lru = &pa.nodes[0].lru;
        let mut pfns = Vec::new();
        for &a in &anon {
            let pfn = pa.alloc_pages(Gfp::ZERO, 0).unwrap();
            let p = pa.page(pfn).unwrap();
            p.insert_flags(if a { PageFlags::ANON | PageFlags::SWAPBACKED } else { PageFlags::FILE });
            pfns.push(pfn);
        }
        let mut m = Model {
            state: [State::New; PAGES],
            anon: anon.clone().try_into().unwrap(),
            active: [false; PAGES],
            mlocks: [0; PAGES],
            lists: Default::default(),
        };
        let page = |i: usize| pa.page(pfns[i]).unwrap();
        for o in ops {
            match o {
                Op::Add(i, active) if m.state[i] == State::New => {
                    pa.lru_add_as(pfns[i], active);
                    m.state[i] = State::On;
                    m.active[i] = active;
                    m.link(i);
                }
                Op::Isolate(l, n) => {
                    let mut got = Vec::new();
                    lru.isolate(&pa.memmap, LISTS[l], n, &mut got);
                    let mut want = Vec::new();
                    for _ in 0..n {
                        let Some(i) = m.lists[l].pop_back() else { break };
                        m.state[i] = State::Isolated;
                        want.push(pfns[i]);
                    }
                    prop_assert_eq!(got, want);
                }
                Op::Putback(i, active) if m.state[i] == State::Isolated => {
                    let (set, clear) = if active {
                        (PageFlags::ACTIVE, PageFlags::empty())
                    } else {
                        (PageFlags::empty(), PageFlags::ACTIVE)
                    };
                    lru.putback(&pa.memmap, page(i), set, clear);
                    // The isolation's reference.
                    pa.put_user_page(pfns[i]);
                    m.active[i] = active;
                    m.state[i] = State::On;
                    m.link(i);
                }
                Op::Lazy(i, lazy) if m.state[i] != State::Freed && m.anon[i] == lazy => {
                    // MADV_FREE only on swap-backed pages; the way back
                    // only from a lazy one.
                    let on = m.state[i] == State::On;
                    if on {
                        m.unlink(i);
                    }
                    pa.lru_set_lazyfree(page(i), lazy);
                    m.anon[i] = !lazy;
                    if lazy {
                        m.active[i] = false;
                    }
                    if on {
                        m.link(i);
                    }
                }
                Op::Mlock(i) if m.state[i] != State::Freed => {
                    let on = m.state[i] == State::On;
                    if m.mlocks[i] == 0 {
                        if on {
                            m.unlink(i);
                        }
                        m.active[i] = false;
                    }
                    let first = lru.mlock(&pa.memmap, page(i));
                    prop_assert_eq!(first, m.mlocks[i] == 0);
                    m.mlocks[i] += 1;
                }
                Op::Munlock(i) if m.state[i] != State::Freed && m.mlocks[i] > 0 => {
                    let last = lru.munlock(&pa.memmap, page(i), false);
                    prop_assert_eq!(last, m.mlocks[i] == 1);
                    m.mlocks[i] -= 1;
                    if last && m.state[i] == State::On {
                        m.link(i);
                    }
                }
                Op::Free(i) if matches!(m.state[i], State::New | State::On) => {
                    if m.state[i] == State::On {
                        m.unlink(i);
                    }
                    pa.put_user_page(pfns[i]);
                    m.state[i] = State::Freed;
                    prop_assert!(!page(i).has(PageFlags::LRU));
                }
                _ => {}
            }
            check(pa, &pfns, &m)?;
        }
    }
}
