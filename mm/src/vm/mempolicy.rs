//! NUMA memory policies (Linux's mm/mempolicy.c): where a process's pages
//! go, for the whole task (`set_mempolicy`) or for a range of its address
//! space (`mbind`, kept in each area and split and merged with it).
//!
//! ```text
//!   MPOL_DEFAULT         no policy here: the area falls back to the task's,
//!                        the task's to local allocation
//!   MPOL_LOCAL           the node of the CPU that faults, then by distance
//!   MPOL_PREFERRED       one node first, then by distance from it
//!   MPOL_PREFERRED_MANY  the nearest of a set first (without reclaim),
//!                        then anywhere
//!   MPOL_BIND            only the nodes of a set, nearest first; none of
//!                        them has a page: the allocation fails
//!   MPOL_INTERLEAVE      page i of an area on the (i mod n)-th node of the
//!                        set, i counted from the area's offset, so the
//!                        placement does not depend on the order of faults
//!                        (vmstat numa_interleave: the page landed there)
//!   MPOL_WEIGHTED_INTERLEAVE  the same, each node taking as many pages in
//!                        a row as its weight
//!                        (/sys/kernel/mm/mempolicy/weighted_interleave/nodeN,
//!                        1 to 255, default 1)
//! ```
//!
//! A policy keeps the node set the caller gave (`MPOL_F_STATIC_NODES`,
//! `MPOL_F_RELATIVE_NODES`: as given, or as positions among the nodes with
//! memory) and the set it acts on: the given one restricted to the nodes
//! with memory. Policies are small values (`Copy`): an area's lives in its
//! `Vma`, the task's in the kernel's task, handed to mm in the `MmEnv` a
//! fault runs with. Anonymous pages follow them; page-cache pages are
//! placed locally. A shmem object (tmpfs file, memfd, System V segment,
//! shared anonymous mapping) has shared policies instead
//! (shared_policy.rs): mbind on any mapping of it sets the policy of the
//! object's page range as well as the area's, and its pages, whoever
//! makes them, go by that, or by the faulting task's policy where the
//! range has none ([`vma_policy`] is Linux's get_vma_policy).
//!
//! A BIND or PREFERRED_MANY policy may have a home node
//! (set_mempolicy_home_node(2)): the node its allocations start from
//! (nearest of the set to it first), instead of the faulting CPU's.
//! get_mempolicy and numa_maps do not show it, as in Linux.
//!
//! Locks: an area's policy is read and written under its address space's
//! lock (mbind takes it exclusively, faults shared); a shmem object's
//! shared policy under the object's `policy` lock, a leaf taken inside
//! the address space's lock and inside the object's page index lock;
//! the task's is a leaf
//! lock of its own (`Task::mempolicy` in the kernel), copied into the
//! `MmEnv` before a fault takes any mm lock; the interleave weights are
//! atomics in the page allocator. No lock is held while allocating.

use core::fmt::{self, Write};

use crate::addr::Pfn;
use crate::error::MmError;
use crate::phys::gfp::Gfp;
use crate::phys::numa::MAX_NUMNODES;
use crate::phys::page_alloc::PageAllocator;

pub const MPOL_DEFAULT: u32 = 0;
pub const MPOL_PREFERRED: u32 = 1;
pub const MPOL_BIND: u32 = 2;
pub const MPOL_INTERLEAVE: u32 = 3;
pub const MPOL_LOCAL: u32 = 4;
pub const MPOL_PREFERRED_MANY: u32 = 5;
pub const MPOL_WEIGHTED_INTERLEAVE: u32 = 6;
const MPOL_MAX: u32 = 7;

pub const MPOL_F_STATIC_NODES: u32 = 1 << 15;
pub const MPOL_F_RELATIVE_NODES: u32 = 1 << 14;
pub const MPOL_F_NUMA_BALANCING: u32 = 1 << 13;
const MPOL_MODE_FLAGS: u32 = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;

/// get_mempolicy flags.
pub const MPOL_F_NODE: u32 = 1;
pub const MPOL_F_ADDR: u32 = 2;
pub const MPOL_F_MEMS_ALLOWED: u32 = 4;

/// mbind flags.
pub const MPOL_MF_STRICT: u32 = 1;
pub const MPOL_MF_MOVE: u32 = 2;
pub const MPOL_MF_MOVE_ALL: u32 = 4;

/// A node set (bit n: node n; MAX_NUMNODES <= 64).
pub type NodeMask = u64;

/// A policy (never MPOL_DEFAULT: that is the absence of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemPolicy {
    /// MPOL_PREFERRED .. MPOL_PREFERRED_MANY.
    pub mode: u32,
    /// MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING.
    pub flags: u32,
    /// The nodes it acts on (PREFERRED: one; LOCAL: none).
    pub nodes: NodeMask,
    /// The set as the caller gave it (what get_mempolicy returns for the
    /// static and relative flags).
    pub user_nodes: NodeMask,
    /// The node BIND and PREFERRED_MANY allocations start from
    /// (set_mempolicy_home_node); None: the faulting CPU's.
    pub home_node: Option<u32>,
}

/// The `idx`-th node (mod the count) of `mask`.
fn nth_node(mask: NodeMask, idx: u64) -> u32 {
    let n = mask.count_ones() as u64;
    let mut left = idx % n.max(1);
    let mut m = mask;
    loop {
        let bit = m.trailing_zeros();
        if left == 0 || m == 0 {
            return bit.min(63);
        }
        m &= m - 1;
        left -= 1;
    }
}

/// Linux's `weighted_interleave_nid`: of `mask`'s nodes in order, each
/// `weights[n]` (missing or 0: 1) pages in a row; the node of page `ilx`.
fn weighted_node(mask: NodeMask, ilx: u64, weights: &[u8]) -> u32 {
    let w = |n: u32| weights.get(n as usize).map_or(1, |&w| w.max(1) as u64);
    let total: u64 = (0..64).filter(|n| mask & (1 << n) != 0).map(w).sum();
    let mut left = ilx % total.max(1);
    for n in (0..64).filter(|n| mask & (1 << n) != 0) {
        if left < w(n) {
            return n;
        }
        left -= w(n);
    }
    mask.trailing_zeros().min(63)
}

/// Linux's `mpol_relative_nodemask`: bit n of `user` means the
/// (n mod weight)-th node of `allowed`.
fn relative(user: NodeMask, allowed: NodeMask) -> NodeMask {
    let w = allowed.count_ones() as u64;
    if w == 0 {
        return 0;
    }
    (0..64).filter(|b| user & (1 << b) != 0).fold(0, |m, b| m | 1 << nth_node(allowed, b % w))
}

impl MemPolicy {
    /// Linux's `sanitize_mpol_flags`: the mode and its flags alone (checked
    /// before the node set is read).
    pub fn check_mode(mode_arg: u32) -> Result<(), MmError> {
        let flags = mode_arg & MPOL_MODE_FLAGS;
        let mode = mode_arg & !MPOL_MODE_FLAGS;
        if mode >= MPOL_MAX || (flags & MPOL_F_STATIC_NODES != 0 && flags & MPOL_F_RELATIVE_NODES != 0) {
            return Err(MmError::Invalid);
        }
        if flags & MPOL_F_NUMA_BALANCING != 0 && mode != MPOL_BIND && mode != MPOL_PREFERRED_MANY {
            return Err(MmError::Invalid);
        }
        Ok(())
    }

    /// A policy from `set_mempolicy`/`mbind`'s mode (with its flags) and
    /// node set, given the nodes with memory (`mpol_new` and
    /// `mpol_set_nodemask`). Ok(None): MPOL_DEFAULT. Errors are Linux's
    /// EINVAL cases: unknown mode or flags, both node flags, a set where
    /// none belongs or none where one must be, a set with no node that
    /// has memory.
    pub fn new(mode_arg: u32, nodes: NodeMask, allowed: NodeMask) -> Result<Option<MemPolicy>, MmError> {
        Self::check_mode(mode_arg)?;
        let flags = mode_arg & MPOL_MODE_FLAGS;
        let mut mode = mode_arg & !MPOL_MODE_FLAGS;
        let node_flags = flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES);
        if mode == MPOL_DEFAULT {
            return if nodes == 0 { Ok(None) } else { Err(MmError::Invalid) };
        }
        if nodes == 0 {
            // An empty set: PREFERRED means local allocation; the modes
            // that need a set refuse.
            if mode != MPOL_PREFERRED && mode != MPOL_LOCAL || node_flags != 0 {
                return Err(MmError::Invalid);
            }
            mode = MPOL_LOCAL;
        } else if mode == MPOL_LOCAL {
            return Err(MmError::Invalid);
        }
        if mode == MPOL_LOCAL {
            return Ok(Some(MemPolicy { mode, flags, nodes: 0, user_nodes: 0, home_node: None }));
        }
        let acting = if flags & MPOL_F_RELATIVE_NODES != 0 { relative(nodes, allowed) } else { nodes & allowed };
        if acting == 0 {
            return Err(MmError::Invalid);
        }
        let acting = if mode == MPOL_PREFERRED { 1 << acting.trailing_zeros() } else { acting };
        Ok(Some(MemPolicy { mode, flags, nodes: acting, user_nodes: nodes, home_node: None }))
    }

    /// What get_mempolicy reports: the mode with its flags, and the set
    /// (the caller's for static and relative policies).
    pub fn to_user(p: Option<&MemPolicy>) -> (u32, NodeMask) {
        match p {
            None => (MPOL_DEFAULT, 0),
            Some(p) => {
                let mask =
                    if p.flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0 { p.user_nodes } else { p.nodes };
                (p.mode | p.flags, mask)
            }
        }
    }

    /// Whether a page on `nid` is where this policy wants it (mbind's
    /// MPOL_MF_STRICT and MPOL_MF_MOVE).
    pub fn allows(&self, nid: u32) -> bool {
        self.mode == MPOL_LOCAL || self.nodes & (1 << nid) != 0
    }

    /// Where the page of interleave index `ilx` (the page's offset in its
    /// area's object) goes: the preferred node, and the only nodes it may
    /// use (BIND); `local` is the faulting CPU's node, `near` the nodes by
    /// distance from it. A home node is where BIND and PREFERRED_MANY
    /// start (Linux's policy_nodemask: the allocator then takes the
    /// nearest node of the set to it, the home node itself if it is in
    /// the set).
    pub fn target(&self, local: u32, near: &[u32], ilx: u64, weights: &[u8]) -> (u32, Option<NodeMask>) {
        let nearest = |mask: NodeMask| near.iter().copied().find(|&n| mask & (1 << n) != 0).unwrap_or(local);
        match self.mode {
            MPOL_PREFERRED => (self.nodes.trailing_zeros(), None),
            MPOL_BIND | MPOL_PREFERRED_MANY => match self.home_node {
                Some(home) => (home, Some(self.nodes)),
                None => (nearest(self.nodes), Some(self.nodes)),
            },
            MPOL_INTERLEAVE => (nth_node(self.nodes, ilx), None),
            MPOL_WEIGHTED_INTERLEAVE => (weighted_node(self.nodes, ilx, weights), None),
            _ => (local, None),
        }
    }

    /// Interleaving, plain or weighted.
    pub fn interleaves(&self) -> bool {
        self.mode == MPOL_INTERLEAVE || self.mode == MPOL_WEIGHTED_INTERLEAVE
    }
}

/// Linux's `mpol_to_str`, as numa_maps shows a policy: `default`,
/// `local`, `prefer:1`, `bind:0-1`, `interleave=static:0,2`,
/// `prefer (many):0-1`.
impl fmt::Display for MemPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.mode {
            MPOL_PREFERRED => "prefer",
            MPOL_BIND => "bind",
            MPOL_INTERLEAVE => "interleave",
            MPOL_LOCAL => "local",
            MPOL_PREFERRED_MANY => "prefer (many)",
            MPOL_WEIGHTED_INTERLEAVE => "weighted interleave",
            _ => "default",
        })?;
        if self.mode == MPOL_LOCAL {
            return Ok(());
        }
        if self.flags & MPOL_F_STATIC_NODES != 0 {
            f.write_str("=static")?;
        } else if self.flags & MPOL_F_RELATIVE_NODES != 0 {
            f.write_str("=relative")?;
        }
        if self.flags & MPOL_F_NUMA_BALANCING != 0 {
            f.write_str(if self.flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0 { "|" } else { "=" })?;
            f.write_str("balancing")?;
        }
        f.write_char(':')?;
        write_node_list(f, self.nodes)
    }
}

/// `mask` as a range list ("0-2,5").
pub fn write_node_list(w: &mut dyn Write, mask: NodeMask) -> fmt::Result {
    let mut first = true;
    let mut n = 0u32;
    while n < 64 {
        if mask & (1 << n) == 0 {
            n += 1;
            continue;
        }
        let start = n;
        while n + 1 < 64 && mask & (1 << (n + 1)) != 0 {
            n += 1;
        }
        if !first {
            w.write_char(',')?;
        }
        first = false;
        if start == n {
            write!(w, "{n}")?
        } else {
            write!(w, "{start}-{n}")?
        }
        n += 1;
    }
    Ok(())
}

/// The nodes with memory.
pub fn nodes_with_memory(pa: &PageAllocator) -> NodeMask {
    (0..pa.nr_nodes().min(MAX_NUMNODES as u32))
        .filter(|&n| pa.nodes[n as usize].zones.iter().any(|z| z.is_populated()))
        .fold(0, |m, n| m | 1 << n)
}

/// Allocate a user page as `pol` says (None: locally), for interleave
/// index `ilx` (`alloc_pages_mpol`).
pub fn alloc_page(pa: &PageAllocator, gfp: Gfp, pol: Option<&MemPolicy>, ilx: u64) -> Option<Pfn> {
    let Some(pol) = pol else { return pa.alloc_pages(gfp, 0) };
    let local = pa.local_node();
    let (nid, mask) = target_node(pa, pol, ilx);
    match pol.mode {
        MPOL_PREFERRED_MANY => {
            // The set first, without reclaim or a warning; then anywhere
            // (from the home node, if there is one).
            let quick = (gfp | Gfp::NOWARN) - Gfp::DIRECT_RECLAIM;
            let from = pol.home_node.unwrap_or(local);
            pa.alloc_pages_nodemask(nid, quick, 0, mask).or_else(|| pa.alloc_pages_node(from, gfp, 0))
        }
        MPOL_INTERLEAVE | MPOL_WEIGHTED_INTERLEAVE => {
            let pfn = pa.alloc_pages_node(nid, gfp, 0)?;
            if let Some(p) = pa.page(pfn).filter(|p| p.node() == nid) {
                pa.zone(nid, p.zone_type()).counters.interleave_hit.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
            Some(pfn)
        }
        _ => pa.alloc_pages_nodemask(nid, gfp, 0, mask),
    }
}

/// The node `pol` chooses first for interleave index `ilx`, seen from the
/// running CPU's node, and the nodes it allows (None: any).
pub fn target_node(pa: &PageAllocator, pol: &MemPolicy, ilx: u64) -> (u32, Option<NodeMask>) {
    let local = pa.local_node();
    // The nodes by distance from here: the local zonelist's order.
    let (mut near, mut k) = ([0u32; MAX_NUMNODES], 0);
    for &(n, _) in pa.nodes.get(local as usize).map_or(&[][..], |n| &n.zonelist[..]) {
        if k < MAX_NUMNODES && !near[..k].contains(&n) {
            near[k] = n;
            k += 1;
        }
    }
    let weights = pa.interleave_weights();
    pol.target(local, &near[..k], ilx, &weights)
}

/// The policy that places the page at `va` of `vma` (None: the task's)
/// and its interleave index (Linux's get_vma_policy): a shmem object's
/// shared policy for the page's offset, else the area's own.
pub fn vma_policy(vma: &crate::vm::vma::Vma, va: u64) -> (Option<MemPolicy>, u64) {
    let pgoff = vma.pgoff_of(va);
    match vma.backing.object().filter(|o| o.has_shared_policy()) {
        Some(obj) => (obj.policy_at(pgoff), obj.interleave_index(pgoff)),
        None => (vma.policy, pgoff),
    }
}

/// Give `vma` the policy `pol` (Linux's vma_replace_policy): the area's
/// own, and, for a mapping of a shmem object, the object's range under
/// the whole area.
fn replace_policy(vma: &mut crate::vm::vma::Vma, pol: Option<MemPolicy>) {
    if let Some(obj) = vma.backing.object() {
        obj.set_policy(vma.pgoff, vma.pgoff + vma.pages(), pol);
    }
    vma.policy = pol;
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: NodeMask = 0b11;

    #[test]
    fn modes_and_sets_are_checked_as_linux_checks_them() {
        assert_eq!(MemPolicy::new(MPOL_DEFAULT, 0, TWO), Ok(None));
        assert_eq!(MemPolicy::new(MPOL_DEFAULT, 1, TWO), Err(MmError::Invalid), "default takes no set");
        assert_eq!(MemPolicy::new(MPOL_BIND, 0, TWO), Err(MmError::Invalid), "bind needs one");
        assert_eq!(MemPolicy::new(MPOL_INTERLEAVE, 0, TWO), Err(MmError::Invalid));
        assert_eq!(MemPolicy::new(MPOL_LOCAL, 1, TWO), Err(MmError::Invalid));
        assert_eq!(MemPolicy::new(7, 1, TWO), Err(MmError::Invalid), "unknown mode");
        assert_eq!(MemPolicy::new(MPOL_WEIGHTED_INTERLEAVE, 0, TWO), Err(MmError::Invalid), "needs a set");
        let both = MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES;
        assert_eq!(MemPolicy::new(both, 1, TWO), Err(MmError::Invalid));
        assert_eq!(MemPolicy::new(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, 1, TWO), Err(MmError::Invalid));
        assert_eq!(MemPolicy::new(MPOL_BIND, 0b100, TWO), Err(MmError::Invalid), "no node with memory");
        // Preferred with no node is local allocation.
        let p = MemPolicy::new(MPOL_PREFERRED, 0, TWO).unwrap().unwrap();
        assert_eq!(p.mode, MPOL_LOCAL);
        // Nodes without memory drop out; the rest stays.
        let p = MemPolicy::new(MPOL_BIND, 0b110, TWO).unwrap().unwrap();
        assert_eq!((p.nodes, p.user_nodes), (0b10, 0b110));
        assert_eq!(MemPolicy::to_user(Some(&p)), (MPOL_BIND, 0b10));
        let p = MemPolicy::new(MPOL_BIND | MPOL_F_STATIC_NODES, 0b110, TWO).unwrap().unwrap();
        assert_eq!(MemPolicy::to_user(Some(&p)), (MPOL_BIND | MPOL_F_STATIC_NODES, 0b110));
        // Preferred keeps the first node given.
        assert_eq!(MemPolicy::new(MPOL_PREFERRED, TWO, TWO).unwrap().unwrap().nodes, 0b01);
    }

    #[test]
    fn relative_sets_name_positions_among_the_allowed_nodes() {
        // Nodes 1, 3 and 4 have memory: positions 0 and 2 are nodes 1 and 4;
        // position 4 wraps to position 1, node 3.
        assert_eq!(relative(0b101, 0b11010), 0b10010);
        assert_eq!(relative(0b10000, 0b11010), 0b01000);
        let p = MemPolicy::new(MPOL_INTERLEAVE | MPOL_F_RELATIVE_NODES, 0b1, 0b10).unwrap().unwrap();
        assert_eq!(p.nodes, 0b10);
    }

    #[test]
    fn targets_follow_the_mode() {
        let near = [1, 0, 2, 3];
        let pol = |m, n| MemPolicy::new(m, n, 0b1111).unwrap().unwrap();
        assert_eq!(pol(MPOL_PREFERRED, 0b100).target(1, &near, 7, &[]), (2, None));
        assert_eq!(pol(MPOL_BIND, 0b1001).target(1, &near, 7, &[]), (0, Some(0b1001)), "the nearest of the set");
        assert_eq!(pol(MPOL_BIND, 0b1010).target(1, &near, 7, &[]), (1, Some(0b1010)), "local if in the set");
        assert_eq!(pol(MPOL_LOCAL, 0).target(1, &near, 7, &[]), (1, None));
        // Interleave: page i on the (i mod n)-th node of the set.
        let il = pol(MPOL_INTERLEAVE, 0b1101);
        let nodes: alloc::vec::Vec<u32> = (0..6).map(|i| il.target(1, &near, i, &[]).0).collect();
        assert_eq!(nodes, [0, 2, 3, 0, 2, 3]);
        // Weighted: node 0 weight 3, node 2 weight 1 (node 3 unset: 1).
        let wil = pol(MPOL_WEIGHTED_INTERLEAVE, 0b1101);
        let nodes: alloc::vec::Vec<u32> = (0..10).map(|i| wil.target(1, &near, i, &[3, 1, 1]).0).collect();
        assert_eq!(nodes, [0, 0, 0, 2, 3, 0, 0, 0, 2, 3]);
    }

    #[test]
    fn policies_print_as_numa_maps_shows_them() {
        let pol = |m, n| MemPolicy::new(m, n, 0b1111).unwrap().unwrap();
        let s = |p: MemPolicy| alloc::format!("{p}");
        assert_eq!(s(pol(MPOL_INTERLEAVE, 0b1011)), "interleave:0-1,3");
        assert_eq!(s(pol(MPOL_BIND | MPOL_F_STATIC_NODES, 0b10)), "bind=static:1");
        assert_eq!(s(pol(MPOL_PREFERRED, 0b100)), "prefer:2");
        assert_eq!(s(pol(MPOL_LOCAL, 0)), "local");
        assert_eq!(s(pol(MPOL_PREFERRED_MANY, 0b11)), "prefer (many):0-1");
        assert_eq!(s(pol(MPOL_BIND | MPOL_F_NUMA_BALANCING, 0b11)), "bind=balancing:0-1");
        assert_eq!(s(pol(MPOL_WEIGHTED_INTERLEAVE, 0b11)), "weighted interleave:0-1");
    }
}

impl crate::vm::address_space::AddressSpace {
    /// mbind(2) on `[start, start + len)` (the lock held exclusively):
    /// give every area of the range `policy` (None: MPOL_DEFAULT, the
    /// task's), splitting the areas at the ends and merging equal
    /// neighbours again. `flags` (MPOL_MF_*, checked by the caller):
    /// MOVE moves the pages in the range that are not where the policy
    /// wants them and that only this process maps (MOVE_ALL: shared ones
    /// too); STRICT makes a page left misplaced EIO. A mapping of a shmem
    /// object gives the object's page range the policy too, for every
    /// process that maps it (only the pages mapped here are moved, as the
    /// walk of this space's page tables finds them). An area whose policy
    /// already is `policy` is left as it is, its object's too (so
    /// MPOL_DEFAULT from a mapper that never set a policy does not clear
    /// another's shared one, as in Linux). Errors: EINVAL for an
    /// unaligned start or an overflowing range, EFAULT for a hole in it,
    /// ENOMEM when a split would pass the map count limit.
    pub fn mbind(
        &mut self,
        env: &crate::vm::address_space::MmEnv<'_>,
        start: u64,
        len: u64,
        policy: Option<MemPolicy>,
        flags: u32,
    ) -> Result<(), MmError> {
        use crate::addr::PAGE_SIZE;
        if start & (PAGE_SIZE - 1) != 0 {
            return Err(MmError::Invalid);
        }
        let len = len.checked_add(PAGE_SIZE - 1).ok_or(MmError::Invalid)? & !(PAGE_SIZE - 1);
        let end = start.checked_add(len).ok_or(MmError::Invalid)?;
        if end == start {
            return Ok(());
        }
        if !self.covered(start, end) {
            return Err(MmError::Fault);
        }
        self.isolate(env, start, end)?;
        let starts: alloc::vec::Vec<u64> = self.vmas.overlapping(start..end).map(|v| v.start).collect();
        for &s in &starts {
            // An area whose own policy already is the new one is left
            // alone, its object's shared policy too (Linux's mbind_range:
            // mpol_equal), even if another mapper changed that since.
            if let Some(v) = self.vmas.containing_mut(s).filter(|v| v.policy != policy) {
                replace_policy(v, policy);
            }
        }
        for &s in starts.iter().rev() {
            if self.vmas.containing(s).is_some_and(|v| v.start == s) {
                self.vmas.merge_around(s);
            }
        }
        let Some(pol) = policy.filter(|_| flags & (MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0) else {
            return Ok(());
        };
        let misplaced = self.place_pages(env, start, end, &pol, flags);
        if flags & MPOL_MF_STRICT != 0 && misplaced > 0 { Err(MmError::Io) } else { Ok(()) }
    }

    /// Move the pages of `[start, end)` that `pol` does not allow where
    /// they are, if `flags` says to; returns the pages left misplaced.
    fn place_pages(
        &mut self,
        env: &crate::vm::address_space::MmEnv<'_>,
        start: u64,
        end: u64,
        pol: &MemPolicy,
        flags: u32,
    ) -> u64 {
        let mut wrong = alloc::vec::Vec::new();
        self.for_each_leaf(env, start, end, &mut |leaf| {
            // hugetlb pages are not migrated, locked or moved here.
            if leaf.size != crate::vm::page_table::MapSize::Size4K {
                return;
            }
            let pfn = Pfn::from_phys(leaf.phys.as_u64());
            if pfn == env.zero_page {
                return;
            }
            if env.pa.page(pfn).is_some_and(|p| !pol.allows(p.node())) {
                wrong.push(leaf.va);
            }
        });
        if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) == 0 {
            return wrong.len() as u64;
        }
        let local = env.pa.local_node();
        let near: alloc::vec::Vec<u32> = env.pa.topology.nodes_by_distance(local);
        let weights = env.pa.interleave_weights();
        let mut left = 0;
        for va in wrong {
            let Some(vma) = self.vmas.containing(va) else { continue };
            let (nid, _) = pol.target(local, &near, vma_policy(vma, va).1, &weights);
            if self.move_page(env, va, nid, flags & MPOL_MF_MOVE_ALL != 0).is_err() {
                left += 1;
            }
        }
        left
    }

    /// The policy of the area at `addr` (get_mempolicy's MPOL_F_ADDR),
    /// the shared one for a shmem mapping: EFAULT outside every area.
    pub fn policy_at(&self, addr: u64) -> Result<Option<MemPolicy>, MmError> {
        self.vmas.containing(addr).map(|v| vma_policy(v, addr).0).ok_or(MmError::Fault)
    }

    /// set_mempolicy_home_node(2) on `[start, end)` (page-aligned, checked
    /// by the caller; the lock held exclusively): every area of the range
    /// with a BIND or PREFERRED_MANY policy gets `home` as its home node,
    /// split at the range's ends as mbind splits it; areas without a
    /// policy and holes are skipped. Returns how many areas were changed
    /// (none: the caller's ENOENT). Errors: an area with another mode
    /// (EOPNOTSUPP; the areas before it keep their new home node, as in
    /// Linux), ENOMEM when a split would pass the map count limit.
    pub fn set_home_node(
        &mut self,
        env: &crate::vm::address_space::MmEnv<'_>,
        start: u64,
        end: u64,
        home: u32,
    ) -> Result<u64, MmError> {
        let starts: alloc::vec::Vec<u64> = self.vmas.overlapping(start..end).map(|v| v.start).collect();
        let mut changed = 0;
        for s in starts {
            let Some(v) = self.vmas.containing(s.max(start)) else { continue };
            let Some(old) = v.policy else { continue };
            if old.mode != MPOL_BIND && old.mode != MPOL_PREFERRED_MANY {
                return Err(MmError::NotSupported);
            }
            changed += 1;
            let new = MemPolicy { home_node: Some(home), ..old };
            if new == old {
                continue;
            }
            let (lo, hi) = (v.start.max(start), v.end.min(end));
            self.isolate(env, lo, hi)?;
            if let Some(v) = self.vmas.containing_mut(lo) {
                replace_policy(v, Some(new));
            }
            if self.vmas.containing(lo).is_some_and(|v| v.start == lo) {
                self.vmas.merge_around(lo);
            }
        }
        Ok(changed)
    }
}
