//! The hugetlb pools' sysfs attributes, one directory per size (cf.
//! mm/hugetlb_sysfs.c):
//!
//! ```text
//!   /sys/kernel/mm/hugepages/hugepages-2048kB/
//!       nr_hugepages (0644)  nr_overcommit_hugepages (0644)
//!       free_hugepages  resv_hugepages  surplus_hugepages (0444)
//!   /sys/kernel/mm/hugepages/hugepages-1048576kB/   (the CPU has pdpe1gb)
//!       the same files
//!   /sys/devices/system/node/nodeN/hugepages/hugepages-{2048,1048576}kB/
//!       nr_hugepages (0644)  free_hugepages  surplus_hugepages (0444)
//! ```
//!
//! `nr_hugepages` here is the pool with its surplus pages (Linux's
//! `nr_huge_pages`); writing it sets the persistent size, globally or of
//! the node, and the 2 MiB pool grows as far as 2 MiB blocks can be
//! found. The 1 GiB pool only shrinks (its pages come from boot), and its
//! `nr_overcommit_hugepages` takes only 0 (EINVAL otherwise, as Linux
//! without run-time gigantic allocation). Values are decimal
//! (`kstrtoul(buf, 10)`): anything else is EINVAL.

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::stat::{S_IFREG, Stat};

use super::Inode;

/// The directory name of a pool's size.
fn hstate_dir(pool: &mm::phys::hugetlb::HugePool) -> alloc::string::String {
    alloc::format!("hugepages-{}kB", pool.hpage_size() >> 10)
}

/// Which pool an attribute shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    Huge2M,
    Gigantic1G,
}

impl Size {
    fn pool(self) -> &'static mm::phys::hugetlb::HugePool {
        let pa = crate::mem::page_alloc();
        match self {
            Size::Huge2M => &pa.hugetlb,
            Size::Gigantic1G => &pa.hugetlb_1g,
        }
    }
}

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
    size: Size,
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
        let pool = self.size.pool();
        match self.attr {
            Attr::Nr => {
                pool.set_persistent(pa, self.nid.map(|n| n as usize), v);
            }
            _ => {
                if !pool.set_overcommit(v) {
                    return Err(EINVAL);
                }
            }
        }
        Ok(buf.len())
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        let pool = self.size.pool();
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

/// The `hugepages` directory's entries: a `hugepages-2048kB` directory,
/// and `hugepages-1048576kB` when that size exists (`dir` makes
/// directories; inode numbers from `ino`, at most 13 of them).
pub fn hugepages_dir(
    nid: Option<u32>,
    ino: u64,
    dir: &dyn Fn(u64, Vec<(alloc::string::String, Arc<dyn Inode>)>) -> Arc<dyn Inode>,
) -> Arc<dyn Inode> {
    let attrs: &[Attr] = match nid {
        None => &[Attr::Free, Attr::Nr, Attr::Overcommit, Attr::Resv, Attr::Surplus],
        Some(_) => &[Attr::Free, Attr::Nr, Attr::Surplus],
    };
    let mut sizes = alloc::vec![Size::Huge2M];
    if Size::Gigantic1G.pool().is_registered() {
        sizes.push(Size::Gigantic1G);
    }
    let mut next = ino + 1;
    let entries = sizes
        .into_iter()
        .map(|size| {
            let dir_ino = next;
            let files = attrs
                .iter()
                .enumerate()
                .map(|(i, &attr)| {
                    let ino = dir_ino + 1 + i as u64;
                    (attr.name().to_string(), Arc::new(HugeAttr { ino, attr, size, nid }) as Arc<dyn Inode>)
                })
                .collect();
            next = dir_ino + 1 + attrs.len() as u64;
            (hstate_dir(size.pool()), dir(dir_ino, files))
        })
        .collect();
    dir(ino, entries)
}
