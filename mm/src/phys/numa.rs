//! NUMA topology: which physical ranges belong to which node, and how far
//! nodes are from each other (cf. arch/x86/mm/numa.c, drivers/acpi/numa/).
//!
//! The firmware describes nodes with ACPI tables: SRAT gives memory ranges
//! and CPUs per proximity domain (PXM), SLIT the distance matrix between
//! domains (10 = local). Proximity domains are renumbered into node ids in
//! order of first appearance, as Linux's `acpi_map_pxm_to_node` does. With
//! no SRAT, or an SRAT that does not make sense, one node spans all memory.
//!
//! This module only holds and checks the topology; `arch` reads the tables,
//! and `apply` hands the ranges to memblock.

use alloc::vec::Vec;
use core::fmt;

use crate::phys::memblock::{Memblock, MemblockError};

/// Most nodes supported.
pub const MAX_NUMNODES: usize = 8;
/// Distance of a node to itself (ACPI).
pub const LOCAL_DISTANCE: u8 = 10;
/// Default distance between nodes when there is no SLIT.
pub const REMOTE_DISTANCE: u8 = 20;

/// One SRAT memory-affinity range, already mapped to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemBlk {
    pub start: u64,
    pub end: u64,
    pub nid: u32,
    pub pxm: u32,
}

/// A CPU's node (from an SRAT processor-affinity entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuNode {
    pub apic_id: u32,
    pub nid: u32,
    pub pxm: u32,
}

/// Why a firmware topology was refused (the kernel then falls back to one
/// node and says why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumaError {
    TooManyNodes,
    OverlappingRanges { a: u64, b: u64 },
    BadDistance { from: u32, to: u32, distance: u8 },
}

impl fmt::Display for NumaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumaError::TooManyNodes => write!(f, "more than {MAX_NUMNODES} proximity domains"),
            NumaError::OverlappingRanges { a, b } => {
                write!(f, "memory ranges at {a:#x} and {b:#x} overlap on different nodes")
            }
            NumaError::BadDistance { from, to, distance } => {
                write!(f, "invalid distance {distance} from node {from} to node {to}")
            }
        }
    }
}

/// The machine's NUMA layout.
#[derive(Clone, Debug)]
pub struct Topology {
    pub nr_nodes: u32,
    /// PXM of each node id.
    pub node_pxm: [u32; MAX_NUMNODES],
    pub memblks: Vec<MemBlk>,
    pub cpus: Vec<CpuNode>,
    pub distance: [[u8; MAX_NUMNODES]; MAX_NUMNODES],
    /// Whether the layout came from firmware (SRAT) rather than the
    /// single-node fallback.
    pub from_firmware: bool,
}

impl Topology {
    /// One node covering `[0, end)`.
    pub fn single_node(end: u64) -> Topology {
        let mut t = Topology {
            nr_nodes: 1,
            node_pxm: [0; MAX_NUMNODES],
            memblks: Vec::new(),
            cpus: Vec::new(),
            distance: [[REMOTE_DISTANCE; MAX_NUMNODES]; MAX_NUMNODES],
            from_firmware: false,
        };
        t.distance[0][0] = LOCAL_DISTANCE;
        if end > 0 {
            t.memblks.push(MemBlk { start: 0, end, nid: 0, pxm: 0 });
        }
        t
    }

    /// Build from SRAT memory ranges `(pxm, base, len)` (enabled ones only),
    /// CPU entries `(pxm, apic_id)` and an optional SLIT `(localities,
    /// matrix)` indexed by PXM.
    /// The node of the CPU with `apic_id`: from SRAT's processor affinity,
    /// or node 0 for a CPU SRAT does not list (or without SRAT).
    pub fn node_of_cpu(&self, apic_id: u32) -> u32 {
        self.cpus.iter().find(|c| c.apic_id == apic_id).map_or(0, |c| c.nid)
    }

    pub fn from_srat(
        mem: &[(u32, u64, u64)],
        cpus: &[(u32, u32)],
        slit: Option<(usize, &[u8])>,
    ) -> Result<Topology, NumaError> {
        let mut pxms: Vec<u32> = Vec::new();
        let node_of = |pxm: u32, pxms: &mut Vec<u32>| -> Result<u32, NumaError> {
            if let Some(i) = pxms.iter().position(|&p| p == pxm) {
                return Ok(i as u32);
            }
            if pxms.len() == MAX_NUMNODES {
                return Err(NumaError::TooManyNodes);
            }
            pxms.push(pxm);
            Ok(pxms.len() as u32 - 1)
        };
        let mut t = Topology::single_node(0);
        t.from_firmware = true;
        for &(pxm, apic_id) in cpus {
            let nid = node_of(pxm, &mut pxms)?;
            t.cpus.push(CpuNode { apic_id, nid, pxm });
        }
        for &(pxm, base, len) in mem {
            if len == 0 {
                continue;
            }
            let nid = node_of(pxm, &mut pxms)?;
            t.memblks.push(MemBlk { start: base, end: base.saturating_add(len), nid, pxm });
        }
        t.memblks.sort_by_key(|b| b.start);
        for w in t.memblks.windows(2) {
            if w[0].end > w[1].start && w[0].nid != w[1].nid {
                return Err(NumaError::OverlappingRanges { a: w[0].start, b: w[1].start });
            }
        }
        t.nr_nodes = pxms.len().max(1) as u32;
        for (nid, &pxm) in pxms.iter().enumerate() {
            t.node_pxm[nid] = pxm;
        }
        for i in 0..t.nr_nodes as usize {
            for j in 0..t.nr_nodes as usize {
                t.distance[i][j] = if i == j { LOCAL_DISTANCE } else { REMOTE_DISTANCE };
            }
        }
        if let Some((n, matrix)) = slit {
            for i in 0..t.nr_nodes as usize {
                for j in 0..t.nr_nodes as usize {
                    let (pi, pj) = (t.node_pxm[i] as usize, t.node_pxm[j] as usize);
                    let Some(&d) = matrix.get(pi * n + pj).filter(|_| pi < n && pj < n) else { continue };
                    // ACPI: the diagonal is 10, everything else above 10;
                    // 255 means unreachable.
                    let bad = if i == j { d != LOCAL_DISTANCE } else { d <= LOCAL_DISTANCE };
                    if bad {
                        return Err(NumaError::BadDistance { from: i as u32, to: j as u32, distance: d });
                    }
                    t.distance[i][j] = d;
                }
            }
        }
        Ok(t)
    }

    /// Node of physical address `pa`, if SRAT covers it.
    pub fn node_of(&self, pa: u64) -> Option<u32> {
        self.memblks.iter().find(|b| b.start <= pa && pa < b.end).map(|b| b.nid)
    }

    pub fn distance(&self, from: u32, to: u32) -> u8 {
        self.distance[from as usize][to as usize]
    }

    /// Nodes ordered by distance from `nid` (itself first; ties by id), the
    /// order the page allocator falls back in.
    pub fn nodes_by_distance(&self, nid: u32) -> Vec<u32> {
        let mut v: Vec<u32> = (0..self.nr_nodes).collect();
        v.sort_by_key(|&n| (self.distance(nid, n), n != nid, n));
        v
    }

    /// Assign every memblock memory region to its node. Memory that SRAT
    /// does not cover goes to node 0 (Linux warns and does the same).
    /// Returns the bytes not covered.
    pub fn apply(&self, mb: &mut Memblock) -> Result<u64, MemblockError> {
        let mem: Vec<(u64, u64)> = mb.memory.regions().iter().map(|r| (r.base, r.end())).collect();
        let mut uncovered = 0;
        for (s, e) in mem {
            mb.set_node(s, e - s, 0)?;
            let mut covered = 0;
            for b in &self.memblks {
                let (lo, hi) = (s.max(b.start), e.min(b.end));
                if lo < hi {
                    mb.set_node(lo, hi - lo, b.nid)?;
                    covered += hi - lo;
                }
            }
            uncovered += (e - s) - covered;
        }
        Ok(uncovered)
    }

    /// Print as Linux does at boot: one `SRAT: Node N PXM P [mem ...]` line
    /// per range, the CPUs, then the distance table.
    pub fn print(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        if !self.from_firmware {
            let end = self.memblks.last().map(|b| b.end).unwrap_or(0);
            writeln!(w, "No NUMA configuration found")?;
            writeln!(w, "Faking a node at [mem {:#018x}-{:#018x}]", 0, end.saturating_sub(1))?;
        }
        for c in &self.cpus {
            writeln!(w, "SRAT: PXM {} -> APIC {:#04x} -> Node {}", c.pxm, c.apic_id, c.nid)?;
        }
        if self.from_firmware {
            for b in &self.memblks {
                writeln!(w, "ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]", b.nid, b.pxm, b.start, b.end - 1)?;
            }
        }
        writeln!(w, "NUMA: {} node{}, distance table:", self.nr_nodes, if self.nr_nodes == 1 { "" } else { "s" })?;
        write!(w, "node ")?;
        for j in 0..self.nr_nodes {
            write!(w, "{j:>4}")?;
        }
        writeln!(w)?;
        for i in 0..self.nr_nodes {
            write!(w, "{i:>4}:")?;
            for j in 0..self.nr_nodes {
                write!(w, "{:>4}", self.distance(i, j))?;
            }
            writeln!(w)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const MB: u64 = 1 << 20;

    #[test]
    fn pxms_become_dense_node_ids_in_order_of_appearance() {
        let t = Topology::from_srat(&[(5, 0, 64 * MB), (2, 64 * MB, 64 * MB)], &[(5, 0), (2, 1)], None).unwrap();
        assert_eq!(t.nr_nodes, 2);
        assert_eq!(t.node_of(MB), Some(0));
        assert_eq!(t.node_of(100 * MB), Some(1));
        assert_eq!(t.cpus[1].nid, 1);
        assert_eq!((t.node_of_cpu(0), t.node_of_cpu(1), t.node_of_cpu(7)), (0, 1, 0));
        assert_eq!(t.distance(0, 1), REMOTE_DISTANCE);
        assert_eq!(t.distance(1, 1), LOCAL_DISTANCE);
    }

    #[test]
    fn slit_is_indexed_by_pxm() {
        // Three domains 0,1,2; distances 0-1: 20, 0-2: 30, 1-2: 20.
        let slit = [10, 20, 30, 20, 10, 20, 30, 20, 10];
        let t = Topology::from_srat(&[(0, 0, MB), (1, MB, MB), (2, 2 * MB, MB)], &[], Some((3, &slit))).unwrap();
        assert_eq!(t.distance(0, 2), 30);
        assert_eq!(t.nodes_by_distance(0), vec![0, 1, 2]);
        assert_eq!(t.nodes_by_distance(2), vec![2, 1, 0]);
    }

    #[test]
    fn insane_tables_are_refused() {
        assert!(matches!(
            Topology::from_srat(&[(0, 0, 2 * MB), (1, MB, 2 * MB)], &[], None),
            Err(NumaError::OverlappingRanges { .. })
        ));
        let slit = [10, 5, 5, 10];
        assert!(matches!(
            Topology::from_srat(&[(0, 0, MB), (1, MB, MB)], &[], Some((2, &slit))),
            Err(NumaError::BadDistance { .. })
        ));
        let many: Vec<(u32, u64, u64)> = (0..9).map(|i| (i, i as u64 * MB, MB)).collect();
        assert_eq!(Topology::from_srat(&many, &[], None).unwrap_err(), NumaError::TooManyNodes);
    }

    #[test]
    fn apply_assigns_memblock_regions_and_counts_uncovered() {
        let mut mb = Memblock::new();
        mb.add(0, 100 * MB).unwrap();
        let t = Topology::from_srat(&[(0, 0, 40 * MB), (1, 40 * MB, 50 * MB)], &[], None).unwrap();
        let uncovered = t.apply(&mut mb).unwrap();
        assert_eq!(uncovered, 10 * MB);
        let r: Vec<(u64, u32)> = mb.memory.regions().iter().map(|r| (r.base, r.nid)).collect();
        assert_eq!(r, vec![(0, 0), (40 * MB, 1), (90 * MB, 0)]);
        mb.check_invariants();
    }

    #[test]
    fn print_shows_srat_lines_and_table() {
        let t = Topology::from_srat(&[(0, 0, 0xa0000)], &[(0, 0)], None).unwrap();
        let mut s = String::new();
        t.print(&mut s).unwrap();
        assert!(s.contains("ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]"), "{s}");
        assert!(s.contains("SRAT: PXM 0 -> APIC 0x00 -> Node 0"), "{s}");
        assert!(s.contains("   0:  10"), "{s}");
    }
}
