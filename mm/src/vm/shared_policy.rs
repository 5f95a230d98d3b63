//! Shared memory policies (Linux's `struct shared_policy`,
//! `mpol_set_shared_policy`, `mpol_shared_policy_lookup`, shmem's
//! `set_policy` / `get_policy`): the policy of a shmem object's page
//! range, set by mbind on any mapping of a tmpfs file, memfd, System V
//! segment or shared anonymous mapping, and obeyed by every process that
//! maps the object, and by write(2) and fallocate, wherever a new page of
//! the range is made.
//!
//! ```text
//!   ranges (page offsets in the object, half-open, sorted, disjoint):
//!     [0, 4) interleave:0-1   [4, 6) bind:1
//!   set([2, 5), prefer:0):
//!     [0, 2) interleave:0-1   [2, 5) prefer:0   [5, 6) bind:1
//!   set([1, 2), None)  (MPOL_DEFAULT: the range has no policy again):
//!     [0, 1) interleave:0-1   [2, 5) prefer:0   [5, 6) bind:1
//!   set([3, 4) ...) inside [2, 5): [2, 3) and [4, 5) keep prefer:0
//! ```
//!
//! As in Linux, a new range replaces what it overlaps (cut at its ends,
//! split in two when it falls inside one) and equal neighbours are not
//! merged. An offset with no range has no shared policy: the allocating
//! task's policy places the page (locally where none is at hand, as at
//! write(2) here). The interleave index of a page is the object's inode
//! number plus its offset (Linux's shmem bias, so that small objects do
//! not all start on the first node). The ranges live in the object and
//! die with it.
//!
//! Locks: the object's `policy` lock, a leaf: taken by mbind under the
//! address space's lock, and under the object's `pages` lock when a page
//! is allocated. Nothing is allocated from the page allocator under it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::vm::file::{MemObject, ObjKind};
use crate::vm::mempolicy::MemPolicy;

/// The ranges of a shmem object that have a policy.
#[derive(Default, Debug)]
pub struct SharedPolicy {
    /// Start offset -> (end offset, policy).
    ranges: BTreeMap<u64, (u64, MemPolicy)>,
}

impl SharedPolicy {
    pub const fn new() -> SharedPolicy {
        SharedPolicy { ranges: BTreeMap::new() }
    }

    /// Give `[start, end)` the policy `pol` (None: none, MPOL_DEFAULT),
    /// cutting or splitting the ranges it overlaps (shared_policy_replace).
    pub fn set(&mut self, start: u64, end: u64, pol: Option<MemPolicy>) {
        if start >= end {
            return;
        }
        // A range that begins before `start` and reaches into it: cut at
        // `start`, keeping its part past `end` if it spans the new range.
        if let Some((&s, &(e, p))) = self.ranges.range(..start).next_back().filter(|(_, (e, _))| *e > start) {
            self.ranges.insert(s, (start, p));
            if e > end {
                self.ranges.insert(end, (e, p));
            }
        }
        // Ranges that begin inside: gone, their tail past `end` kept.
        let inside: Vec<u64> = self.ranges.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            if let Some((e, p)) = self.ranges.remove(&s).filter(|(e, _)| *e > end) {
                self.ranges.insert(end, (e, p));
            }
        }
        if let Some(p) = pol {
            self.ranges.insert(start, (end, p));
        }
    }

    /// The policy at offset `pgoff` (mpol_shared_policy_lookup).
    pub fn lookup(&self, pgoff: u64) -> Option<MemPolicy> {
        let (_, &(end, p)) = self.ranges.range(..=pgoff).next_back()?;
        (pgoff < end).then_some(p)
    }

    /// The ranges in order: (start, end, policy).
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64, MemPolicy)> + '_ {
        self.ranges.iter().map(|(&s, &(e, p))| (s, e, p))
    }

    /// Every range is non-empty, and ranges do not overlap.
    pub fn check_invariants(&self) {
        let mut last_end = 0;
        for (i, (s, e, _)) in self.ranges().enumerate() {
            assert!(s < e, "shared_policy: empty range [{s}, {e})");
            assert!(i == 0 || s >= last_end, "shared_policy: [{s}, {e}) overlaps its predecessor");
            last_end = e;
        }
    }
}

impl MemObject {
    /// Whether mbind on a mapping of the object sets the object's policy
    /// rather than only the area's (Linux: vm_ops->set_policy, shmem's).
    pub fn has_shared_policy(&self) -> bool {
        self.kind == ObjKind::Shmem
    }

    /// Give the object's pages `[start, end)` (page offsets) the policy
    /// `pol` (shmem_set_policy).
    pub fn set_policy(&self, start: u64, end: u64, pol: Option<MemPolicy>) {
        if self.has_shared_policy() {
            self.policy.lock().set(start, end, pol);
        }
    }

    /// The shared policy of the page at `pgoff` (shmem_get_policy).
    pub fn policy_at(&self, pgoff: u64) -> Option<MemPolicy> {
        if !self.has_shared_policy() {
            return None;
        }
        self.policy.lock().lookup(pgoff)
    }

    /// The interleave index of the page at `pgoff`: biased by the inode
    /// number, as shmem_get_pgoff_policy does.
    pub fn interleave_index(&self, pgoff: u64) -> u64 {
        self.ino.wrapping_add(pgoff)
    }

    /// The object's policy ranges (start, end, policy), for tests and views.
    pub fn policy_ranges(&self) -> Vec<(u64, u64, MemPolicy)> {
        self.policy.lock().ranges().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::mempolicy::*;

    fn pol(mode: u32, nodes: u64) -> MemPolicy {
        MemPolicy::new(mode, nodes, 0b1111).unwrap().unwrap()
    }

    fn ranges(sp: &SharedPolicy) -> Vec<(u64, u64, u32)> {
        sp.check_invariants();
        sp.ranges().map(|(s, e, p)| (s, e, p.mode)).collect()
    }

    #[test]
    fn lookup_finds_the_range_holding_the_offset() {
        let mut sp = SharedPolicy::new();
        assert_eq!(sp.lookup(0), None, "nothing set");
        sp.set(4, 8, Some(pol(MPOL_BIND, 0b10)));
        assert_eq!(sp.lookup(3), None);
        assert_eq!(sp.lookup(4).map(|p| p.nodes), Some(0b10));
        assert_eq!(sp.lookup(7).map(|p| p.mode), Some(MPOL_BIND));
        assert_eq!(sp.lookup(8), None, "the end is not in the range");
        sp.set(5, 5, Some(pol(MPOL_INTERLEAVE, 0b11)));
        assert_eq!(ranges(&sp), [(4, 8, MPOL_BIND)], "an empty range changes nothing");
    }

    #[test]
    fn set_cuts_the_ranges_it_overlaps_at_both_ends() {
        //   [0, 4) I   [4, 6) B
        //   set [2, 5) P:   [0, 2) I   [2, 5) P   [5, 6) B
        let mut sp = SharedPolicy::new();
        sp.set(0, 4, Some(pol(MPOL_INTERLEAVE, 0b11)));
        sp.set(4, 6, Some(pol(MPOL_BIND, 0b10)));
        sp.set(2, 5, Some(pol(MPOL_PREFERRED, 0b1)));
        assert_eq!(ranges(&sp), [(0, 2, MPOL_INTERLEAVE), (2, 5, MPOL_PREFERRED), (5, 6, MPOL_BIND)]);
    }

    #[test]
    fn set_inside_a_range_splits_it_in_two() {
        //   [0, 10) I;  set [3, 6) B:  [0, 3) I  [3, 6) B  [6, 10) I
        let mut sp = SharedPolicy::new();
        sp.set(0, 10, Some(pol(MPOL_INTERLEAVE, 0b11)));
        sp.set(3, 6, Some(pol(MPOL_BIND, 0b10)));
        assert_eq!(ranges(&sp), [(0, 3, MPOL_INTERLEAVE), (3, 6, MPOL_BIND), (6, 10, MPOL_INTERLEAVE)]);
        assert_eq!(sp.lookup(9).map(|p| p.nodes), Some(0b11), "the tail keeps its policy");
    }

    #[test]
    fn set_over_whole_ranges_replaces_them() {
        //   [2, 4) B  [4, 5) P  [7, 9) I;  set [1, 8) I:  [1, 8) I  [8, 9) I
        let mut sp = SharedPolicy::new();
        sp.set(2, 4, Some(pol(MPOL_BIND, 0b10)));
        sp.set(4, 5, Some(pol(MPOL_PREFERRED, 0b1)));
        sp.set(7, 9, Some(pol(MPOL_INTERLEAVE, 0b11)));
        sp.set(1, 8, Some(pol(MPOL_INTERLEAVE, 0b1)));
        assert_eq!(ranges(&sp), [(1, 8, MPOL_INTERLEAVE), (8, 9, MPOL_INTERLEAVE)], "equal neighbours stay apart");
        assert_eq!(sp.lookup(3).map(|p| p.nodes), Some(0b1));
        // The same range again: replaced, not stacked.
        sp.set(1, 8, Some(pol(MPOL_BIND, 0b10)));
        assert_eq!(ranges(&sp), [(1, 8, MPOL_BIND), (8, 9, MPOL_INTERLEAVE)]);
    }

    #[test]
    fn setting_no_policy_removes_the_range() {
        //   [0, 8) B;  set [2, 4) none:  [0, 2) B  [4, 8) B;  set [0, 8) none: empty
        let mut sp = SharedPolicy::new();
        sp.set(0, 8, Some(pol(MPOL_BIND, 0b10)));
        sp.set(2, 4, None);
        assert_eq!(ranges(&sp), [(0, 2, MPOL_BIND), (4, 8, MPOL_BIND)]);
        assert_eq!(sp.lookup(3), None, "the hole has no shared policy");
        sp.set(0, 8, None);
        assert_eq!(ranges(&sp), []);
    }

    #[test]
    fn random_sets_agree_with_a_per_page_model() {
        // A tiny linear-congruential sequence of sets against an array.
        let mut sp = SharedPolicy::new();
        let mut model: [Option<u32>; 32] = [None; 32];
        let mut x: u64 = 12345;
        let mut next = |m: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for _ in 0..400 {
            let (a, b) = (next(33), next(33));
            let (s, e) = (a.min(b), a.max(b));
            let mode = [None, Some(MPOL_BIND), Some(MPOL_INTERLEAVE), Some(MPOL_PREFERRED)][next(4) as usize];
            sp.set(s, e, mode.map(|m| pol(m, 0b1)));
            for m in &mut model[s as usize..e as usize] {
                *m = mode;
            }
            sp.check_invariants();
            for (i, m) in model.iter().enumerate() {
                assert_eq!(sp.lookup(i as u64).map(|p| p.mode), *m, "offset {i}");
            }
        }
    }
}
