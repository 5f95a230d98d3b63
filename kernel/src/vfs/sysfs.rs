//! /sys (sysfs): the machine's CPUs and NUMA nodes as Linux's tools read
//! them (numactl, lscpu, numastat -m).
//!
//! ```text
//!   /sys/devices/system/cpu/{online,possible,present}        CPU lists
//!   /sys/devices/system/node/{online,possible,has_cpu,has_memory,has_normal_memory}
//!   /sys/devices/system/node/nodeN/meminfo   "Node N MemTotal: ... kB" (zones, LRU lists)
//!   /sys/devices/system/node/nodeN/vmstat    nr_free_pages and the LRU counts
//!   /sys/devices/system/node/nodeN/numastat  numa_hit, numa_miss, numa_foreign, ...
//!   /sys/devices/system/node/nodeN/distance  SLIT row ("10 21")
//!   /sys/devices/system/node/nodeN/cpulist   CPUs of the node (SRAT processor affinity)
//!   /sys/devices/system/node/nodeN/compact   write-only (0200): compacts the node
//!   /sys/devices/system/node/nodeN/hugepages/hugepages-2048kB/   the node's pool
//!   /sys/kernel/mm/hugepages/hugepages-*kB/      the hugetlb pools (sysfs_hugetlb.rs)
//!   /sys/kernel/mm/mempolicy/weighted_interleave/{auto,nodeN}   weights (0644)
//!   /sys/kernel/mm/transparent_hugepage/{enabled,defrag,hpage_pmd_size} (sysfs_thp.rs)
//!   /sys/fs/cgroup           the cgroup v2 hierarchy (cgroupfs.rs)
//! ```
//!
//! Lists are Linux's range lists ("0-3,5"). Every file but `compact` and
//! the weights is root's, mode 0444, generated when opened (as /proc); opening one for writing is
//! EACCES even for root (kernfs refuses a write to an attribute without a
//! store). Only what is known per node is shown: a line Linux has but this
//! kernel does not count per node (FilePages, Slab, ...) is left out rather
//! than faked.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::*;
use abi::stat::{S_IFDIR, S_IFREG, Stat};
use mm::phys::lru::LruList;

use super::{DirEntry, Inode};

/// sysfs's device number (Linux: an anonymous 0:N of its own).
const SYSFS_DEV: u64 = 0x15;

/// What a file shows.
#[derive(Clone, Copy)]
enum Show {
    Cpus,
    Nodes,
    NodesWithCpus,
    NodeMeminfo(u32),
    NodeVmstat(u32),
    NodeDistance(u32),
    NodeCpulist(u32),
    NodeNumastat(u32),
}

struct SysFile {
    ino: u64,
    show: Show,
}

struct SysDir {
    ino: u64,
    entries: Vec<(String, Arc<dyn Inode>)>,
}

pub(super) fn stat_of(ino: u64, mode: u32) -> Stat {
    Stat {
        st_dev: SYSFS_DEV,
        st_ino: ino,
        st_nlink: if mode & S_IFDIR != 0 { 2 } else { 1 },
        st_mode: mode,
        st_blksize: 4096,
        // Linux's attribute files say 4096 whatever they hold.
        st_size: if mode & S_IFREG != 0 { 4096 } else { 0 },
        ..Stat::default()
    }
}

impl Inode for SysFile {
    fn stat(&self) -> Stat {
        stat_of(self.ino, S_IFREG | 0o444)
    }

    /// So that the open reaches `permission`, which answers EACCES.
    fn writable(&self) -> bool {
        true
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        if mask & 2 != 0 { Err(EACCES) } else { Ok(()) }
    }

    fn write_at(&self, _off: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(EACCES)
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        let mut s = String::new();
        let _ = render(self.show, &mut s);
        Some(s.into_bytes())
    }
}

/// A write-only attribute that acts when written (mode 0200; kernfs
/// refuses a read open of an attribute without `show`, even for root):
/// nodeN/compact compacts node N, whatever is written.
struct SysTrigger {
    ino: u64,
    nid: u32,
}

impl Inode for SysTrigger {
    fn stat(&self) -> Stat {
        stat_of(self.ino, S_IFREG | 0o200)
    }

    fn writable(&self) -> bool {
        true
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        if mask & 4 != 0 { Err(EACCES) } else { Ok(()) }
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        crate::proc::compact::compact_node(self.nid);
        Ok(buf.len())
    }
}

/// /sys/kernel/mm/mempolicy/weighted_interleave/nodeN: the node's weight
/// for MPOL_WEIGHTED_INTERLEAVE (root's, 0644; a value outside 1..=255
/// is EINVAL, as Linux's `kstrtou8` and its zero check refuse it);
/// `nid` None: the directory's `auto` file ("true" while the weights are
/// the defaults; writing true resets them, false keeps them; Linux's
/// `kstrtobool` words).
struct SysWeight {
    ino: u64,
    nid: Option<u32>,
}

/// Linux's `kstrtobool`: the first character decides (y/t/1 or n/f/0),
/// "on" and "off" too.
fn parse_bool(t: &str) -> Option<bool> {
    let t = t.trim();
    match t.as_bytes().first()? {
        b'y' | b'Y' | b't' | b'T' | b'1' => Some(true),
        b'n' | b'N' | b'f' | b'F' | b'0' => Some(false),
        b'o' | b'O' => match t.as_bytes().get(1)? {
            b'n' | b'N' => Some(true),
            b'f' | b'F' => Some(false),
            _ => None,
        },
        _ => None,
    }
}

impl Inode for SysWeight {
    fn stat(&self) -> Stat {
        stat_of(self.ino, S_IFREG | 0o644)
    }

    fn writable(&self) -> bool {
        true
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        super::namei::generic_permission(&self.stat(), mask)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let t = core::str::from_utf8(buf).map_err(|_| EINVAL)?.trim();
        let pa = crate::mem::page_alloc();
        let Some(nid) = self.nid else {
            pa.set_interleave_weights_auto(parse_bool(t).ok_or(EINVAL)?);
            return Ok(buf.len());
        };
        let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u8::from_str_radix(hex, 16),
            None => t.parse::<u8>(),
        }
        .map_err(|_| EINVAL)?;
        if !pa.set_interleave_weight(nid, v) {
            return Err(EINVAL);
        }
        Ok(buf.len())
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        let pa = crate::mem::page_alloc();
        Some(match self.nid {
            Some(nid) => alloc::format!("{}\n", pa.interleave_weights()[nid as usize]).into_bytes(),
            None => alloc::format!("{}\n", pa.interleave_weights_auto()).into_bytes(),
        })
    }
}

impl Inode for SysDir {
    fn stat(&self) -> Stat {
        stat_of(self.ino, S_IFDIR | 0o755)
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, i)| i.clone())
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        Some(
            self.entries
                .iter()
                .map(|(n, i)| DirEntry { name: n.clone(), ino: i.stat().st_ino, dtype: if i.is_dir() { 4 } else { 8 } })
                .collect(),
        )
    }
}

/// `ids` (ascending) as Linux's range list: "0-2,5".
fn range_list(s: &mut String, ids: &[u32]) -> core::fmt::Result {
    let mut i = 0;
    let mut first = true;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        if !first {
            s.push(',');
        }
        first = false;
        if i == j {
            write!(s, "{}", ids[i])?;
        } else {
            write!(s, "{}-{}", ids[i], ids[j])?;
        }
        i = j + 1;
    }
    s.push('\n');
    Ok(())
}

fn nr_nodes() -> u32 {
    crate::mem::page_alloc().nr_nodes()
}

fn cpus_of(nid: u32) -> Vec<u32> {
    (0..arch::smp::online()).filter(|&c| crate::platform::smp::node_of(c) == nid).map(|c| c as u32).collect()
}

fn render(show: Show, s: &mut String) -> core::fmt::Result {
    let pa = crate::mem::page_alloc();
    match show {
        Show::Cpus => range_list(s, &(0..arch::smp::online() as u32).collect::<Vec<_>>()),
        Show::Nodes => range_list(s, &(0..nr_nodes()).collect::<Vec<_>>()),
        Show::NodesWithCpus => range_list(s, &(0..nr_nodes()).filter(|&n| !cpus_of(n).is_empty()).collect::<Vec<_>>()),
        Show::NodeCpulist(nid) => range_list(s, &cpus_of(nid)),
        Show::NodeDistance(nid) => {
            let row: Vec<String> = (0..nr_nodes()).map(|to| pa.topology.distance(nid, to).to_string()).collect();
            writeln!(s, "{}", row.join(" "))
        }
        Show::NodeMeminfo(nid) => {
            let node = &pa.nodes[nid as usize];
            let lru = |l| node.lru.len(l) * 4;
            let total: u64 = node.zones.iter().map(|z| z.managed()).sum::<u64>() * 4;
            let free = pa.node_free_pages(nid) * 4;
            let (aa, ia, af, inf) = (
                lru(LruList::ActiveAnon),
                lru(LruList::InactiveAnon),
                lru(LruList::ActiveFile),
                lru(LruList::InactiveFile),
            );
            let (huge_nr, huge_free, huge_surp) = pa.default_hugetlb().node_counts(nid as usize);
            let lines: [(&str, u64); 10] = [
                ("MemTotal:", total),
                ("MemFree:", free),
                ("MemUsed:", total.saturating_sub(free)),
                ("Active:", aa + af),
                ("Inactive:", ia + inf),
                ("Active(anon):", aa),
                ("Inactive(anon):", ia),
                ("Active(file):", af),
                ("Inactive(file):", inf),
                ("Unevictable:", lru(LruList::Unevictable)),
            ];
            for (k, v) in lines {
                writeln!(s, "Node {nid} {k:<16}{v:>8} kB")?;
            }
            // Counts, without a unit (Linux's hugetlb_report_node_meminfo).
            for (k, v) in
                [("HugePages_Total:", huge_nr), ("HugePages_Free:", huge_free), ("HugePages_Surp:", huge_surp)]
            {
                writeln!(s, "Node {nid} {k:<16}{v:>6}")?;
            }
            Ok(())
        }
        Show::NodeNumastat(nid) => {
            use core::sync::atomic::Ordering::Relaxed;
            let zones = || pa.nodes[nid as usize].zones.iter();
            let sum = |f: &dyn Fn(&mm::phys::zone::Zone) -> u64| zones().map(f).sum::<u64>();
            let lines: [(&str, u64); 6] = [
                ("numa_hit", sum(&|z| z.numa_hit())),
                ("numa_miss", sum(&|z| z.counters.numa_miss.load(Relaxed))),
                ("numa_foreign", sum(&|z| z.counters.numa_foreign.load(Relaxed))),
                // Pages an MPOL_INTERLEAVE policy sent here and got here.
                ("interleave_hit", sum(&|z| z.counters.interleave_hit.load(Relaxed))),
                ("local_node", sum(&|z| z.numa_local())),
                ("other_node", sum(&|z| z.counters.numa_other.load(Relaxed))),
            ];
            for (k, v) in lines {
                writeln!(s, "{k} {v}")?;
            }
            Ok(())
        }
        Show::NodeVmstat(nid) => {
            let node = &pa.nodes[nid as usize];
            let l = |x| node.lru.len(x);
            let lines: [(&str, u64); 6] = [
                ("nr_free_pages", pa.node_free_pages(nid)),
                ("nr_inactive_anon", l(LruList::InactiveAnon)),
                ("nr_active_anon", l(LruList::ActiveAnon)),
                ("nr_inactive_file", l(LruList::InactiveFile)),
                ("nr_active_file", l(LruList::ActiveFile)),
                ("nr_unevictable", l(LruList::Unevictable)),
            ];
            for (k, v) in lines {
                writeln!(s, "{k} {v}")?;
            }
            Ok(())
        }
    }
}

/// The /sys tree (mounted at boot; inode numbers from 2).
pub fn sys_root() -> Arc<dyn Inode> {
    let mut ino = 2u64;
    let mut next = || {
        ino += 1;
        ino
    };
    let mut file = |show| -> Arc<dyn Inode> { Arc::new(SysFile { ino: next(), show }) };
    let cpu_entries = alloc::vec![
        ("online".to_string(), file(Show::Cpus)),
        ("possible".to_string(), file(Show::Cpus)),
        ("present".to_string(), file(Show::Cpus)),
    ];
    let mut node_entries = alloc::vec![
        ("has_cpu".to_string(), file(Show::NodesWithCpus)),
        ("has_memory".to_string(), file(Show::Nodes)),
        ("has_normal_memory".to_string(), file(Show::Nodes)),
        ("online".to_string(), file(Show::Nodes)),
        ("possible".to_string(), file(Show::Nodes)),
    ];
    let dir = |ino, entries| -> Arc<dyn Inode> { Arc::new(SysDir { ino, entries }) };
    for nid in 0..nr_nodes() {
        let entries = alloc::vec![
            ("compact".to_string(), Arc::new(SysTrigger { ino: 2000 + nid as u64, nid }) as Arc<dyn Inode>),
            ("cpulist".to_string(), file(Show::NodeCpulist(nid))),
            ("distance".to_string(), file(Show::NodeDistance(nid))),
            ("hugepages".to_string(), super::sysfs_hugetlb::hugepages_dir(Some(nid), 4000 + 10 * nid as u64, &dir)),
            ("meminfo".to_string(), file(Show::NodeMeminfo(nid))),
            ("numastat".to_string(), file(Show::NodeNumastat(nid))),
            ("vmstat".to_string(), file(Show::NodeVmstat(nid))),
        ];
        node_entries.push((alloc::format!("node{nid}"), Arc::new(SysDir { ino: 1000 + nid as u64, entries })));
    }
    let system =
        dir(100, alloc::vec![("cpu".to_string(), dir(101, cpu_entries)), ("node".to_string(), dir(102, node_entries))]);
    let devices = dir(103, alloc::vec![("system".to_string(), system)]);
    let mut weights: Vec<(String, Arc<dyn Inode>)> =
        alloc::vec![("auto".to_string(), Arc::new(SysWeight { ino: 2999, nid: None }) as Arc<dyn Inode>)];
    weights.extend((0..nr_nodes()).map(|nid| {
        (alloc::format!("node{nid}"), Arc::new(SysWeight { ino: 3000 + nid as u64, nid: Some(nid) }) as Arc<dyn Inode>)
    }));
    let mempolicy = dir(105, alloc::vec![("weighted_interleave".to_string(), dir(106, weights))]);
    let hugepages = super::sysfs_hugetlb::hugepages_dir(None, 3900, &dir);
    let thp = super::sysfs_thp::thp_dir(3950, &dir);
    let mm_dir = dir(
        107,
        alloc::vec![
            ("hugepages".to_string(), hugepages),
            ("mempolicy".to_string(), mempolicy),
            ("transparent_hugepage".to_string(), thp),
        ],
    );
    let kernel = dir(104, alloc::vec![("mm".to_string(), mm_dir)]);
    let fs = dir(108, alloc::vec![("cgroup".to_string(), super::cgroupfs::root())]);
    dir(1, alloc::vec![("devices".to_string(), devices), ("fs".to_string(), fs), ("kernel".to_string(), kernel)])
}
