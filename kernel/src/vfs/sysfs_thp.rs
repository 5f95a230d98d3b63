//! /sys/kernel/mm/transparent_hugepage (cf. mm/huge_memory.c's sysfs):
//!
//! ```text
//!   enabled         "always [madvise] never"         (0644)
//!   defrag          "always defer defer+madvise [madvise] never" (0644)
//!   hpage_pmd_size  2097152                           (0444)
//!   use_zero_page   1: reads map the huge zero page   (0644, 0 or 1)
//!   khugepaged/pages_to_scan (1..), scan_sleep_millisecs, alloc_sleep_millisecs,
//!              max_ptes_none (0..511)                 (0644)
//!   khugepaged/pages_collapsed, full_scans            (0444)
//! ```
//!
//! A write must be one of the words (a trailing newline allowed): EINVAL
//! otherwise, as Linux's `sysfs_streq` checks.

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::stat::{S_IFREG, Stat};
use mm::phys::hugetlb::{DEFRAG_WORDS, ENABLED_WORDS, ThpSettings};

use super::Inode;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    Enabled,
    Defrag,
    PmdSize,
    UseZeroPage,
}

struct ThpAttr {
    ino: u64,
    attr: Attr,
}

impl Inode for ThpAttr {
    fn stat(&self) -> Stat {
        let mode = if self.attr == Attr::PmdSize { 0o444 } else { 0o644 };
        super::sysfs::stat_of(self.ino, S_IFREG | mode)
    }

    fn writable(&self) -> bool {
        true
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        if self.attr == Attr::PmdSize && mask & 2 != 0 {
            return Err(EACCES);
        }
        super::namei::generic_permission(&self.stat(), mask)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let t = core::str::from_utf8(buf).map_err(|_| EINVAL)?;
        let word = t.strip_suffix('\n').unwrap_or(t);
        let thp = &crate::mem::page_alloc().thp;
        let ok = match self.attr {
            Attr::Enabled => thp.set_enabled(word),
            Attr::Defrag => thp.set_defrag(word),
            Attr::PmdSize => return Err(EACCES),
            // kstrtoul: 0 or 1.
            Attr::UseZeroPage => match word.parse::<u64>() {
                Ok(v @ (0 | 1)) => {
                    thp.use_zero_page.store(v == 1, core::sync::atomic::Ordering::Relaxed);
                    true
                }
                _ => false,
            },
        };
        if ok { Ok(buf.len()) } else { Err(EINVAL) }
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        let thp = &crate::mem::page_alloc().thp;
        let mut s = alloc::string::String::new();
        let _ = match self.attr {
            Attr::Enabled => ThpSettings::render(&ENABLED_WORDS, thp.enabled_index(), &mut s),
            Attr::Defrag => ThpSettings::render(&DEFRAG_WORDS, thp.defrag_index(), &mut s),
            Attr::PmdSize => core::fmt::Write::write_fmt(&mut s, format_args!("{}\n", mm::phys::hugetlb::HPAGE_SIZE)),
            Attr::UseZeroPage => {
                let on = thp.use_zero_page.load(core::sync::atomic::Ordering::Relaxed);
                core::fmt::Write::write_fmt(&mut s, format_args!("{}\n", on as u8))
            }
        };
        Some(s.into_bytes())
    }
}

/// A khugepaged tunable or counter: decimal, Linux's bounds (EINVAL
/// outside them); a write kicks the thread.
struct KhAttr {
    ino: u64,
    value: &'static core::sync::atomic::AtomicU64,
    /// None: a counter (0444).
    range: Option<(u64, u64)>,
}

impl Inode for KhAttr {
    fn stat(&self) -> Stat {
        super::sysfs::stat_of(self.ino, S_IFREG | if self.range.is_some() { 0o644 } else { 0o444 })
    }

    fn writable(&self) -> bool {
        true
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        if self.range.is_none() && mask & 2 != 0 {
            return Err(EACCES);
        }
        super::namei::generic_permission(&self.stat(), mask)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let (lo, hi) = self.range.ok_or(EACCES)?;
        let t = core::str::from_utf8(buf).map_err(|_| EINVAL)?;
        let v: u64 = t.strip_suffix('\n').unwrap_or(t).parse().map_err(|_| EINVAL)?;
        if v < lo || v > hi {
            return Err(EINVAL);
        }
        self.value.store(v, core::sync::atomic::Ordering::Relaxed);
        crate::proc::khugepaged::kick();
        Ok(buf.len())
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(alloc::format!("{}\n", self.value.load(core::sync::atomic::Ordering::Relaxed)).into_bytes())
    }
}

/// The `transparent_hugepage` directory (inode numbers from `ino`).
pub fn thp_dir(
    ino: u64,
    dir: &dyn Fn(u64, Vec<(alloc::string::String, Arc<dyn Inode>)>) -> Arc<dyn Inode>,
) -> Arc<dyn Inode> {
    let f = |i: u64, attr| Arc::new(ThpAttr { ino: ino + i, attr }) as Arc<dyn Inode>;
    let k = &mm::vm::thp::KHUGEPAGED;
    let u32max = u32::MAX as u64;
    let kh: [(&str, &'static core::sync::atomic::AtomicU64, Option<(u64, u64)>); 6] = [
        ("alloc_sleep_millisecs", &k.alloc_sleep_millisecs, Some((0, u32max))),
        ("full_scans", &k.full_scans, None),
        ("max_ptes_none", &k.max_ptes_none, Some((0, 511))),
        ("pages_collapsed", &k.pages_collapsed, None),
        ("pages_to_scan", &k.pages_to_scan, Some((1, u32max))),
        ("scan_sleep_millisecs", &k.scan_sleep_millisecs, Some((0, u32max))),
    ];
    let files = kh
        .iter()
        .enumerate()
        .map(|(i, &(name, value, range))| {
            (name.to_string(), Arc::new(KhAttr { ino: ino + 10 + i as u64, value, range }) as Arc<dyn Inode>)
        })
        .collect();
    dir(
        ino,
        alloc::vec![
            ("defrag".to_string(), f(1, Attr::Defrag)),
            ("enabled".to_string(), f(2, Attr::Enabled)),
            ("hpage_pmd_size".to_string(), f(3, Attr::PmdSize)),
            ("khugepaged".to_string(), dir(ino + 4, files)),
            ("use_zero_page".to_string(), f(5, Attr::UseZeroPage)),
        ],
    )
}
