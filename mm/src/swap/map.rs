//! The slots of one swap area (Linux's `swap_info_struct.swap_map` and
//! its cluster allocator, mm/swapfile.c).
//!
//! ```text
//!   slot:     0 (header)  1   2   3  ...  255 | 256 ...         | ...
//!   count:    BAD         1   0   2       0   | 0 0 0 ...       |
//!   cluster:  0 (partly used: CPU 1's cursor) | 1 (free list)   | ...
//! ```
//!
//! A slot's count is the number of references to the page stored there:
//! swap entries in page tables (fork duplicates them), plus `HAS_CACHE`
//! while the page is in the swap cache. A slot is free at count 0; bad
//! pages and the header are `BAD` forever.
//!
//! Allocation goes by clusters of `CLUSTER` slots, as Linux does for
//! SSDs and rotating disks alike: each CPU fills its own cluster from the
//! front, so pages swapped out together sit together on the disk (and
//! swap-in readahead finds neighbours), and CPUs do not fight over one
//! cursor. A CPU without a cluster takes a wholly free one, else scans
//! for any free slot.
//!
//! Locks: none here; the kernel keeps each area's map under its lock.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Slots per cluster (`SWAPFILE_CLUSTER`).
pub const CLUSTER: u32 = 256;
/// The slot holds no page and never will (header, bad page).
const BAD: u16 = 0x7fff;
/// The page is (also) in the swap cache.
pub const HAS_CACHE: u16 = 0x8000;
const COUNT_MASK: u16 = 0x7fff;
/// Most references one slot may count.
pub const MAX_COUNT: u16 = BAD - 1;

/// A wrong use of a slot (a double free, a reference to a free slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// Outside the area, or a bad slot.
    Invalid,
    /// The slot is free.
    Unused,
    /// The count would pass `MAX_COUNT`.
    Overflow,
}

/// Allocation cursors kept (one per CPU, by CPU number modulo this).
const CURSORS: usize = 64;

pub struct SwapMap {
    counts: Vec<u16>,
    /// Free usable slots in each cluster.
    cluster_free: Vec<u16>,
    /// Usable (not bad) slots in each cluster.
    cluster_usable: Vec<u16>,
    /// Clusters all of whose usable slots are free, and that no CPU holds.
    free_clusters: VecDeque<u32>,
    /// Per CPU: (cluster, next slot to try in it).
    cursor: [Option<(u32, u32)>; CURSORS],
    /// Where the fallback scan starts next.
    scan: u32,
    usable: u64,
    inuse: u64,
}

impl SwapMap {
    /// A map of `maxpages` slots: slot 0 (the header) and `bad` unusable.
    pub fn new(maxpages: u64, bad: &[u32]) -> SwapMap {
        let n = maxpages as usize;
        let mut counts = alloc::vec![0u16; n];
        if n > 0 {
            counts[0] = BAD;
        }
        for &b in bad {
            if (b as usize) < n {
                counts[b as usize] = BAD;
            }
        }
        let clusters = n.div_ceil(CLUSTER as usize);
        let mut cluster_usable = alloc::vec![0u16; clusters];
        for (i, &c) in counts.iter().enumerate() {
            if c != BAD {
                cluster_usable[i / CLUSTER as usize] += 1;
            }
        }
        let free_clusters = (0..clusters as u32).filter(|&c| cluster_usable[c as usize] > 0).collect();
        let usable = cluster_usable.iter().map(|&u| u as u64).sum();
        SwapMap {
            counts,
            cluster_free: cluster_usable.clone(),
            cluster_usable,
            free_clusters,
            cursor: [None; CURSORS],
            scan: 0,
            usable,
            inuse: 0,
        }
    }

    /// Slots in the map, usable or not.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Slots that can hold a page.
    pub fn usable(&self) -> u64 {
        self.usable
    }

    /// Slots holding a page (or reserved for one).
    pub fn inuse(&self) -> u64 {
        self.inuse
    }

    /// References to `slot` (without the cache bit); 0 for a free or bad
    /// slot.
    pub fn count(&self, slot: u32) -> u16 {
        match self.counts.get(slot as usize) {
            Some(&c) if c != BAD => c & COUNT_MASK,
            _ => 0,
        }
    }

    /// Whether the page of `slot` is in the swap cache.
    pub fn in_cache(&self, slot: u32) -> bool {
        self.counts.get(slot as usize).is_some_and(|&c| c != BAD && c & HAS_CACHE != 0)
    }

    fn take(&mut self, slot: u32) -> u32 {
        self.counts[slot as usize] = 1;
        self.cluster_free[(slot / CLUSTER) as usize] -= 1;
        self.inuse += 1;
        slot
    }

    /// A free slot in cluster `c` at or after `from`.
    fn find_in(&self, c: u32, from: u32) -> Option<u32> {
        let end = ((c + 1) * CLUSTER).min(self.counts.len() as u32);
        (from.max(c * CLUSTER)..end).find(|&s| self.counts[s as usize] == 0)
    }

    /// A free slot for CPU `cpu`, its count set to 1 (one reference: the
    /// page table entry about to be written). None when the area is full.
    pub fn alloc(&mut self, cpu: usize) -> Option<u32> {
        let k = cpu % CURSORS;
        if let Some((c, next)) = self.cursor[k] {
            if let Some(s) = self.find_in(c, next) {
                self.cursor[k] = Some((c, s + 1));
                return Some(self.take(s));
            }
            self.cursor[k] = None;
        }
        while let Some(c) = self.free_clusters.pop_front() {
            // Still wholly free? (It may have been scanned into meanwhile.)
            if self.cluster_free[c as usize] != self.cluster_usable[c as usize] {
                continue;
            }
            let s = self.find_in(c, 0)?;
            self.cursor[k] = Some((c, s + 1));
            return Some(self.take(s));
        }
        // No free cluster: any free slot, scanning on from the last find.
        let clusters = self.cluster_free.len() as u32;
        for i in 0..clusters {
            let c = (self.scan + i) % clusters;
            if self.cluster_free[c as usize] > 0 {
                if let Some(s) = self.find_in(c, 0) {
                    self.scan = c;
                    return Some(self.take(s));
                }
            }
        }
        None
    }

    fn check(&self, slot: u32) -> Result<u16, SlotError> {
        match self.counts.get(slot as usize) {
            None | Some(&BAD) => Err(SlotError::Invalid),
            Some(0) => Err(SlotError::Unused),
            Some(&c) => Ok(c),
        }
    }

    /// One more reference to `slot` (fork copying a swap entry; Linux's
    /// `swap_duplicate`).
    pub fn dup(&mut self, slot: u32) -> Result<(), SlotError> {
        let c = self.check(slot)?;
        if c & COUNT_MASK >= MAX_COUNT {
            return Err(SlotError::Overflow);
        }
        self.counts[slot as usize] = c + 1;
        Ok(())
    }

    fn release_if_free(&mut self, slot: u32) {
        if self.counts[slot as usize] != 0 {
            return;
        }
        self.inuse -= 1;
        let c = slot / CLUSTER;
        self.cluster_free[c as usize] += 1;
        let held = self.cursor.iter().flatten().any(|&(cc, _)| cc == c);
        if self.cluster_free[c as usize] == self.cluster_usable[c as usize] && !held {
            self.free_clusters.push_back(c);
        }
    }

    /// Drop one reference to `slot` (an unmapped swap entry; Linux's
    /// `swap_free`). Returns true if the slot is now free.
    pub fn put(&mut self, slot: u32) -> Result<bool, SlotError> {
        let c = self.check(slot)?;
        if c & COUNT_MASK == 0 {
            return Err(SlotError::Unused);
        }
        self.counts[slot as usize] = c - 1;
        self.release_if_free(slot);
        Ok(self.counts[slot as usize] == 0)
    }

    /// Mark the slot's page as being in the swap cache (or no longer).
    /// Returns true if the slot is now free.
    pub fn set_cache(&mut self, slot: u32, on: bool) -> Result<bool, SlotError> {
        let c = self.check(slot)?;
        self.counts[slot as usize] = if on { c | HAS_CACHE } else { c & !HAS_CACHE };
        self.release_if_free(slot);
        Ok(self.counts[slot as usize] == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn header_and_bad_pages_are_never_handed_out() {
        let mut m = SwapMap::new(600, &[3, 300]);
        assert_eq!(m.usable(), 600 - 3);
        let mut got: Vec<u32> = (0..597).map(|i| m.alloc(i % 3).expect("a free slot")).collect();
        assert_eq!(m.alloc(0), None, "full");
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), 597);
        assert!(!got.contains(&0) && !got.contains(&3) && !got.contains(&300));
        assert_eq!(m.inuse(), 597);
    }

    #[test]
    fn each_cpu_fills_its_own_cluster_in_order() {
        let mut m = SwapMap::new(4 * CLUSTER as u64, &[]);
        let a: Vec<u32> = (0..4).map(|_| m.alloc(0).unwrap()).collect();
        let b: Vec<u32> = (0..4).map(|_| m.alloc(1).unwrap()).collect();
        assert_eq!(a, vec![1, 2, 3, 4], "CPU 0 in cluster 0 (slot 0 is the header)");
        assert_eq!(b, vec![CLUSTER, CLUSTER + 1, CLUSTER + 2, CLUSTER + 3], "CPU 1 in cluster 1");
    }

    #[test]
    fn references_count_and_the_cache_bit_holds_a_slot() {
        let mut m = SwapMap::new(CLUSTER as u64, &[]);
        let s = m.alloc(0).unwrap();
        m.dup(s).unwrap();
        assert_eq!(m.count(s), 2);
        m.set_cache(s, true).unwrap();
        assert_eq!(m.put(s), Ok(false));
        assert_eq!(m.put(s), Ok(false), "the cache still holds it");
        assert!(m.in_cache(s));
        assert_eq!(m.set_cache(s, false), Ok(true));
        assert_eq!(m.inuse(), 0);
        assert_eq!(m.put(s), Err(SlotError::Unused));
        assert_eq!(m.dup(0), Err(SlotError::Invalid));
        assert_eq!(m.dup(CLUSTER + 5), Err(SlotError::Invalid));
    }

    #[derive(Clone, Debug)]
    enum OpKind {
        Alloc(usize),
        Dup(usize),
        Put(usize),
        Cache(usize, bool),
    }

    fn op() -> impl Strategy<Value = OpKind> {
        prop_oneof![
            3 => (0usize..4).prop_map(OpKind::Alloc),
            1 => any::<usize>().prop_map(OpKind::Dup),
            2 => any::<usize>().prop_map(OpKind::Put),
            1 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| OpKind::Cache(i, b)),
        ]
    }

    proptest! {
        /// Against a model (slot -> (references, cached)): the same counts,
        /// no slot handed out twice, a bad slot never, and "full" only
        /// when every usable slot is taken.
        #[test]
        fn matches_a_model(size in 2u64..700, bad in proptest::collection::vec(1u32..700, 0..8),
                           ops in proptest::collection::vec(op(), 1..400)) {
            let mut m = SwapMap::new(size, &bad);
            let mut model: BTreeMap<u32, (u16, bool)> = BTreeMap::new();
            let usable = (1..size as u32).filter(|s| !bad.contains(s)).count() as u64;
            prop_assert_eq!(m.usable(), usable);
            for o in ops {
                let keys: Vec<u32> = model.keys().copied().collect();
                match o {
                    OpKind::Alloc(cpu) => match m.alloc(cpu) {
                        Some(s) => {
                            prop_assert!(s != 0 && !bad.contains(&s) && (s as u64) < size);
                            prop_assert!(model.insert(s, (1, false)).is_none(), "slot {} handed out twice", s);
                        }
                        None => prop_assert_eq!(model.len() as u64, usable),
                    },
                    OpKind::Dup(i) if !keys.is_empty() => {
                        let s = keys[i % keys.len()];
                        m.dup(s).unwrap();
                        model.get_mut(&s).unwrap().0 += 1;
                    }
                    OpKind::Put(i) if !keys.is_empty() => {
                        let s = keys[i % keys.len()];
                        let e = model.get_mut(&s).unwrap();
                        if e.0 == 0 {
                            prop_assert_eq!(m.put(s), Err(SlotError::Unused));
                        } else {
                            e.0 -= 1;
                            let free = *e == (0, false);
                            prop_assert_eq!(m.put(s), Ok(free));
                            if free { model.remove(&s); }
                        }
                    }
                    OpKind::Cache(i, on) if !keys.is_empty() => {
                        let s = keys[i % keys.len()];
                        let e = model.get_mut(&s).unwrap();
                        e.1 = on;
                        let free = *e == (0, false);
                        prop_assert_eq!(m.set_cache(s, on), Ok(free));
                        if free { model.remove(&s); }
                    }
                    _ => {}
                }
                prop_assert_eq!(m.inuse(), model.len() as u64);
            }
            for (s, (n, cached)) in &model {
                prop_assert_eq!(m.count(*s), *n);
                prop_assert_eq!(m.in_cache(*s), *cached);
            }
        }
    }
}
