//! The hugetlb pool's sysfs attributes (cf. mm/hugetlb_sysfs.c):
//!
//! ```text
//!   /sys/kernel/mm/hugepages/hugepages-2048kB/
//!       nr_hugepages (0644)  nr_overcommit_hugepages (0644)
//!       free_hugepages  resv_hugepages  surplus_hugepages (0444)
//!   /sys/devices/system/node/nodeN/hugepages/hugepages-2048kB/
//!       nr_hugepages (0644)  free_hugepages  surplus_hugepages (0444)
//! ```
//!
//! `nr_hugepages` here is the pool with its surplus pages (Linux's
//! `nr_huge_pages`); writing it sets the persistent size, globally or of
//! the node, and the pool grows as far as 2 MiB blocks can be found.
//! Values are decimal (`kstrtoul(buf, 10)`): anything else is EINVAL.

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::stat::{S_IFREG, Stat};

use super::Inode;

/// The directory name of the one size.
pub const HSTATE_DIR: &str = "hugepages-2048kB";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Nr,
    Free,
    Resv,
    Surplus,
    Overcommit,
}

impl Attr {
    fn name(self) -> &'static str {
        match self {
            Attr::Nr => "nr_hugepages",
            Attr::Free => "free_hugepages",
            Attr::Resv => "resv_hugepages",
            Attr::Surplus => "surplus_hugepages",
            Attr::Overcommit => "nr_overcommit_hugepages",
        }
    }

    fn writable(self) -> bool {
        matches!(self, Attr::Nr | Attr::Overcommit)
    }
}

/// One attribute, of the whole pool (`nid` None) or of a node.
struct HugeAttr {
    ino: u64,
    attr: Attr,
    nid: Option<u32>,
}

impl Inode for HugeAttr {
    fn stat(&self) -> Stat {
        let mode = if self.attr.writable() { 0o644 } else { 0o444 };
        super::sysfs::stat_of(self.ino, S_IFREG | mode)
    }

    fn writable(&self) -> bool {
        true
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        if !self.attr.writable() && mask & 2 != 0 {
            return Err(EACCES);
        }
        super::namei::generic_permission(&self.stat(), mask)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        if !self.attr.writable() {
            return Err(EACCES);
        }
        let t = core::str::from_utf8(buf).map_err(|_| EINVAL)?;
        let v: u64 = t.strip_suffix('\n').unwrap_or(t).parse().map_err(|_| EINVAL)?;
        let pa = crate::mem::page_alloc();
        match self.attr {
            Attr::Nr => {
                pa.hugetlb.set_persistent(pa, self.nid.map(|n| n as usize), v);
            }
            _ => pa.hugetlb.set_overcommit(v),
        }
        Ok(buf.len())
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        let pool = &crate::mem::page_alloc().hugetlb;
        let v = match self.nid {
            None => {
                let c = pool.counts();
                match self.attr {
                    Attr::Nr => c.nr,
                    Attr::Free => c.free,
                    Attr::Resv => c.resv,
                    Attr::Surplus => c.surplus,
                    Attr::Overcommit => c.overcommit,
                }
            }
            Some(n) => {
                let (nr, free, surplus) = pool.node_counts(n as usize);
                match self.attr {
                    Attr::Nr => nr,
                    Attr::Free => free,
                    _ => surplus,
                }
            }
        };
        Some(alloc::format!("{v}\n").into_bytes())
    }
}

/// The `hugepages` directory's entries: one `hugepages-2048kB` directory
/// (`dir` makes directories; inode numbers from `ino`).
pub fn hugepages_dir(
    nid: Option<u32>,
    ino: u64,
    dir: &dyn Fn(u64, Vec<(alloc::string::String, Arc<dyn Inode>)>) -> Arc<dyn Inode>,
) -> Arc<dyn Inode> {
    let attrs: &[Attr] = match nid {
        None => &[Attr::Free, Attr::Nr, Attr::Overcommit, Attr::Resv, Attr::Surplus],
        Some(_) => &[Attr::Free, Attr::Nr, Attr::Surplus],
    };
    let files = attrs
        .iter()
        .enumerate()
        .map(|(i, &attr)| {
            (attr.name().to_string(), Arc::new(HugeAttr { ino: ino + 2 + i as u64, attr, nid }) as Arc<dyn Inode>)
        })
        .collect();
    dir(ino, alloc::vec![(HSTATE_DIR.to_string(), dir(ino + 1, files))])
}
