//! The cgroup v2 file system (cf. kernel/cgroup/cgroup.c's interface
//! files, mm/memcontrol.c's memory.* files), mounted at /sys/fs/cgroup at
//! boot and by mount(2) with type "cgroup2" (the same hierarchy: v2 has
//! one).
//!
//! ```text
//!   every group   cgroup.controllers  cgroup.procs  cgroup.subtree_control
//!                 cgroup.threads
//!   root only     memory.stat  memory.reclaim
//!   not the root  cgroup.events  cgroup.kill  cgroup.type
//!   memory on     memory.{current,peak,max,high,low,min,oom.group,reclaim,
//!   (parent's     events,events.local,stat}
//!   subtree_control) memory.swap.{current,max,peak,events}
//! ```
//!
//! Directories are groups: mkdir makes one, rmdir removes an empty one
//! (EBUSY with children or processes). Files are generated when read;
//! writes act at once with Linux's parsing and errors. Values are bytes,
//! limits "max" when unlimited; written limits are rounded down to pages.
//! Swap is charged per slot to the group of the page written out
//! (`mm::swap::space`): memory.swap.max refuses a slot like a full disk.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::*;
use abi::stat::{S_IFDIR, S_IFREG, Stat, Statfs};
use mm::memcg::{MemcgEvent, MemcgStat, MemcgVmEvent, format_limit, memparse, parse_limit};

use crate::proc::cgroup::{self, Cgroup};

use super::{DirEntry, Inode, Owner};

/// Linux's CGROUP2_SUPER_MAGIC.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_DEV: u64 = 0x1a;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Controllers,
    Procs,
    SubtreeControl,
    Threads,
    Events,
    Kill,
    Type,
    MemCurrent,
    MemPeak,
    MemMax,
    MemHigh,
    MemLow,
    MemMin,
    MemOomGroup,
    MemReclaim,
    MemEvents,
    MemEventsLocal,
    MemStat,
    SwapCurrent,
    SwapMax,
    SwapPeak,
    SwapEvents,
}

/// Every file name, what it is, and its mode.
const FILES: [(&str, Kind, u32); 22] = [
    ("cgroup.controllers", Kind::Controllers, 0o444),
    ("cgroup.events", Kind::Events, 0o444),
    ("cgroup.kill", Kind::Kill, 0o200),
    ("cgroup.procs", Kind::Procs, 0o644),
    ("cgroup.subtree_control", Kind::SubtreeControl, 0o644),
    ("cgroup.threads", Kind::Threads, 0o644),
    ("cgroup.type", Kind::Type, 0o644),
    ("memory.current", Kind::MemCurrent, 0o444),
    ("memory.events", Kind::MemEvents, 0o444),
    ("memory.events.local", Kind::MemEventsLocal, 0o444),
    ("memory.high", Kind::MemHigh, 0o644),
    ("memory.low", Kind::MemLow, 0o644),
    ("memory.max", Kind::MemMax, 0o644),
    ("memory.min", Kind::MemMin, 0o644),
    ("memory.oom.group", Kind::MemOomGroup, 0o644),
    ("memory.peak", Kind::MemPeak, 0o644),
    ("memory.reclaim", Kind::MemReclaim, 0o200),
    ("memory.stat", Kind::MemStat, 0o444),
    ("memory.swap.current", Kind::SwapCurrent, 0o444),
    ("memory.swap.events", Kind::SwapEvents, 0o444),
    ("memory.swap.max", Kind::SwapMax, 0o644),
    ("memory.swap.peak", Kind::SwapPeak, 0o644),
];

/// Whether group `g` has file `k` now.
fn has_file(g: &Cgroup, k: Kind) -> bool {
    match k {
        Kind::Controllers | Kind::Procs | Kind::SubtreeControl | Kind::Threads => true,
        Kind::Events | Kind::Kill | Kind::Type => !g.is_root(),
        Kind::MemStat | Kind::MemReclaim => g.is_root() || g.has_memory_files(),
        _ => g.has_memory_files(),
    }
}

fn stat_of(ino: u64, mode: u32) -> Stat {
    Stat {
        st_dev: CGROUP_DEV,
        st_ino: ino,
        st_nlink: if mode & S_IFDIR != 0 { 2 } else { 1 },
        st_mode: mode,
        st_blksize: 4096,
        ..Stat::default()
    }
}

/// A group's directory.
pub struct CgDir {
    g: Arc<Cgroup>,
}

static ROOT: spin::Once<Arc<dyn Inode>> = spin::Once::new();

/// The root of the hierarchy (/sys/fs/cgroup, and every cgroup2 mount).
pub fn root() -> Arc<dyn Inode> {
    ROOT.call_once(|| Arc::new(CgDir { g: cgroup::root() })).clone()
}

fn file(g: &Arc<Cgroup>, slot: usize) -> Arc<dyn Inode> {
    let (_, kind, mode) = FILES[slot];
    Arc::new(CgFile { g: g.clone(), kind, mode, ino: (g.ino << 5) + slot as u64 + 1 })
}

impl Inode for CgDir {
    fn stat(&self) -> Stat {
        stat_of(self.g.ino, S_IFDIR | 0o755)
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        if self.g.is_removed() {
            return None;
        }
        if let Some(slot) = FILES.iter().position(|(n, k, _)| *n == name && has_file(&self.g, *k)) {
            return Some(file(&self.g, slot));
        }
        self.g.child(name).map(|c| Arc::new(CgDir { g: c }) as Arc<dyn Inode>)
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        if self.g.is_removed() {
            return Some(Vec::new());
        }
        let mut v: Vec<DirEntry> = FILES
            .iter()
            .enumerate()
            .filter(|(_, (_, k, _))| has_file(&self.g, *k))
            .map(|(i, (n, _, _))| DirEntry { name: n.to_string(), ino: (self.g.ino << 5) + i as u64 + 1, dtype: 8 })
            .collect();
        v.extend(self.g.children().into_iter().map(|c| DirEntry { name: c.name.clone(), ino: c.ino, dtype: 4 }));
        Some(v)
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        super::namei::generic_permission(&self.stat(), mask)
    }

    fn mkdir(&self, name: &str, _mode: u32, _owner: Owner) -> Result<(), Errno> {
        if self.lookup(name).is_some() {
            return Err(EEXIST);
        }
        cgroup::mkdir(&self.g, name).map(|_| ())
    }

    fn rmdir(&self, name: &str) -> Result<(), Errno> {
        if FILES.iter().any(|(n, k, _)| *n == name && has_file(&self.g, *k)) {
            return Err(ENOTDIR);
        }
        cgroup::rmdir(&self.g, name)
    }

    fn unlink(&self, name: &str) -> Result<(), Errno> {
        // Interface files cannot be removed (kernfs: EPERM); groups are
        // directories.
        if self.g.child(name).is_some() {
            return Err(EISDIR);
        }
        if self.lookup(name).is_some() { Err(EPERM) } else { Err(ENOENT) }
    }

    fn create(&self, _name: &str, _path: &str, _mode: u32, _owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        // kernfs directories have no `create`: the VFS answers EACCES.
        Err(EACCES)
    }

    fn statfs(&self) -> Statfs {
        Statfs { f_type: CGROUP2_SUPER_MAGIC, f_bsize: 4096, f_namelen: 255, f_frsize: 4096, ..Statfs::default() }
    }

    fn is_mount_root(&self) -> bool {
        self.g.is_root()
    }
}

/// One interface file of a group.
struct CgFile {
    g: Arc<Cgroup>,
    kind: Kind,
    mode: u32,
    ino: u64,
}

impl Inode for CgFile {
    fn stat(&self) -> Stat {
        stat_of(self.ino, S_IFREG | self.mode)
    }

    fn writable(&self) -> bool {
        self.mode & 0o200 != 0
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        // A file without the mode bit refuses even root (kernfs has no
        // show or no store for it).
        if (mask & 4 != 0 && self.mode & 0o444 == 0) || (mask & 2 != 0 && self.mode & 0o222 == 0) {
            return Err(EACCES);
        }
        super::namei::generic_permission(&self.stat(), mask)
    }

    /// Generated at each read (not at open, as kernfs's seq_file): a
    /// reader that wrote memory.peak and seeks back sees the reset value
    /// through the same descriptor.
    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut s = String::new();
        let _ = render(&self.g, self.kind, &mut s);
        let b = s.as_bytes();
        let start = (off as usize).min(b.len());
        let n = buf.len().min(b.len() - start);
        buf[..n].copy_from_slice(&b[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        if self.g.is_removed() {
            return Err(ENODEV);
        }
        let text = core::str::from_utf8(buf).map_err(|_| EINVAL)?;
        store(&self.g, self.kind, text)?;
        Ok(buf.len())
    }
}

fn pages_to_bytes(p: u64) -> u64 {
    p << mm::addr::PAGE_SHIFT
}

fn render(g: &Arc<Cgroup>, kind: Kind, s: &mut String) -> core::fmt::Result {
    let m = &g.memcg;
    match kind {
        Kind::Controllers => {
            if g.has_memory_controller() {
                writeln!(s, "memory")?;
            } else {
                writeln!(s)?;
            }
        }
        Kind::SubtreeControl => {
            if g.subtree_memory() {
                writeln!(s, "memory")?;
            } else {
                writeln!(s)?;
            }
        }
        Kind::Procs => {
            for t in g.procs() {
                writeln!(s, "{}", t.pid())?;
            }
        }
        Kind::Threads => {
            for t in g.procs() {
                for tid in t.group.threads() {
                    writeln!(s, "{}", tid)?;
                }
            }
        }
        Kind::Events => writeln!(s, "populated {}\nfrozen 0", g.populated() as u8)?,
        Kind::Type => writeln!(s, "domain")?,
        Kind::Kill | Kind::MemReclaim => {}
        Kind::MemCurrent => writeln!(s, "{}", pages_to_bytes(m.usage()))?,
        Kind::MemPeak => writeln!(s, "{}", pages_to_bytes(m.peak()))?,
        Kind::MemMax => format_limit(m.max(), s)?,
        Kind::MemHigh => format_limit(m.high(), s)?,
        Kind::MemLow => format_limit(m.low(), s)?,
        Kind::MemMin => format_limit(m.min(), s)?,
        Kind::MemOomGroup => writeln!(s, "{}", m.oom_group() as u8)?,
        Kind::MemEvents | Kind::MemEventsLocal => {
            for e in MemcgEvent::ALL {
                let n = if kind == Kind::MemEvents { m.events(e) } else { m.events_local(e) };
                writeln!(s, "{} {}", e.name(), n)?;
            }
        }
        Kind::MemStat => {
            let b = |st: MemcgStat| pages_to_bytes(m.stat(st));
            let slab = b(MemcgStat::SlabReclaimable) + b(MemcgStat::SlabUnreclaimable);
            let kernel = b(MemcgStat::KernelStack) + b(MemcgStat::PageTables) + slab;
            writeln!(s, "anon {}", b(MemcgStat::Anon))?;
            // Linux's "file" counts shmem too (it is in the page cache).
            writeln!(s, "file {}", b(MemcgStat::File) + b(MemcgStat::Shmem))?;
            writeln!(s, "kernel {}", kernel)?;
            writeln!(s, "kernel_stack {}", b(MemcgStat::KernelStack))?;
            writeln!(s, "pagetables {}", b(MemcgStat::PageTables))?;
            // No sockets in this kernel: nothing to charge.
            writeln!(s, "sock 0")?;
            writeln!(s, "shmem {}", b(MemcgStat::Shmem))?;
            writeln!(s, "slab_reclaimable {}", b(MemcgStat::SlabReclaimable))?;
            writeln!(s, "slab_unreclaimable {}", b(MemcgStat::SlabUnreclaimable))?;
            writeln!(s, "slab {}", slab)?;
            let lru = cgroup::lru_sizes(m);
            for (name, pages) in
                ["inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"].iter().zip(lru)
            {
                writeln!(s, "{} {}", name, pages_to_bytes(pages))?;
            }
            writeln!(s, "pgfault {}", m.vm_events(MemcgVmEvent::PgFault))?;
            writeln!(s, "pgmajfault {}", m.vm_events(MemcgVmEvent::PgMajFault))?;
        }
        Kind::SwapCurrent => writeln!(s, "{}", pages_to_bytes(m.swap_usage()))?,
        Kind::SwapPeak => writeln!(s, "{}", pages_to_bytes(m.swap_peak()))?,
        Kind::SwapMax => format_limit(m.swap_max(), s)?,
        Kind::SwapEvents => {
            // No memory.swap.high here: its events stay 0, as Linux's do
            // while it is "max".
            let (max, fail) = m.swap_events();
            writeln!(s, "high 0\nmax {}\nfail {}", max, fail)?;
        }
    }
    Ok(())
}

/// Linux's `kstrtoint` (base 0: "0x" hex, leading "0" octal, decimal),
/// after the white space around the value is gone.
fn parse_int(t: &str) -> Result<i64, Errno> {
    let t = t.trim();
    let (neg, d) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else if d.len() > 1 && d.starts_with('0') {
        i64::from_str_radix(&d[1..], 8)
    } else {
        d.parse::<i64>()
    }
    .map_err(|_| EINVAL)?;
    Ok(if neg { -v } else { v })
}

fn store(g: &Arc<Cgroup>, kind: Kind, text: &str) -> Result<(), Errno> {
    let m = &g.memcg;
    match kind {
        Kind::Procs => {
            let pid = parse_int(text)?;
            let pid = match pid {
                0 => crate::proc::current_tgid(),
                p if p > 0 && p <= i32::MAX as i64 => p as u32,
                _ => return Err(EINVAL),
            };
            cgroup::attach(g, pid)
        }
        Kind::Threads => {
            let tid = parse_int(text)?;
            if tid < 0 || tid > i32::MAX as i64 {
                return Err(EINVAL);
            }
            let t = if tid == 0 { Some(crate::proc::current()) } else { crate::proc::task(tid as u32) };
            let t = t.ok_or(ESRCH)?;
            // A domain group takes whole processes only: moving one
            // thread needs threaded mode, which is not offered.
            if Arc::ptr_eq(&cgroup::cgroup_of(&t), g) { Ok(()) } else { Err(EOPNOTSUPP) }
        }
        Kind::SubtreeControl => cgroup::write_subtree_control(g, text),
        Kind::Kill => match parse_int(text)? {
            1 => {
                cgroup::kill(g);
                Ok(())
            }
            _ => Err(ERANGE),
        },
        Kind::Type => match text.trim() {
            "threaded" => Err(EOPNOTSUPP),
            _ => Err(EINVAL),
        },
        Kind::MemMax => {
            m.set_max(parse_limit(text).ok_or(EINVAL)?);
            cgroup::enforce_max(m);
            Ok(())
        }
        Kind::MemHigh => {
            let v = parse_limit(text).ok_or(EINVAL)?;
            m.set_high(v);
            let excess = m.usage().saturating_sub(v);
            if excess > 0 {
                crate::proc::reclaim::reclaim_memcg(m, excess);
            }
            Ok(())
        }
        Kind::MemLow => {
            m.set_low(parse_limit(text).ok_or(EINVAL)?);
            Ok(())
        }
        Kind::MemMin => {
            m.set_min(parse_limit(text).ok_or(EINVAL)?);
            Ok(())
        }
        Kind::MemPeak => {
            m.reset_peak();
            Ok(())
        }
        // Lowering it below the usage takes nothing back from swap (as in
        // Linux): it stops further swap-out.
        Kind::SwapMax => {
            m.set_swap_max(parse_limit(text).ok_or(EINVAL)?);
            Ok(())
        }
        Kind::SwapPeak => {
            m.reset_swap_peak();
            Ok(())
        }
        Kind::MemOomGroup => match parse_int(text)? {
            v @ (0 | 1) => {
                m.set_oom_group(v == 1);
                Ok(())
            }
            _ => Err(EINVAL),
        },
        Kind::MemReclaim => reclaim(g, text),
        Kind::Controllers
        | Kind::Events
        | Kind::MemCurrent
        | Kind::MemEvents
        | Kind::MemEventsLocal
        | Kind::MemStat
        | Kind::SwapCurrent
        | Kind::SwapEvents => Err(EACCES),
    }
}

/// memory.reclaim: a byte count (Linux's form before 6.12, without the
/// `swappiness=` key: anything else is EINVAL). EAGAIN when the group
/// could not give back that much (as Linux after its retries).
fn reclaim(g: &Arc<Cgroup>, text: &str) -> Result<(), Errno> {
    let bytes = memparse(text.trim()).ok_or(EINVAL)?;
    let want = bytes >> mm::addr::PAGE_SHIFT;
    let mut got = 0;
    let mut misses = 0;
    while got < want {
        let n = crate::proc::reclaim::reclaim_memcg(&g.memcg, want - got);
        got += n;
        if n == 0 {
            misses += 1;
            if misses >= mm::memcg::MAX_RECLAIM_RETRIES {
                return Err(EAGAIN);
            }
        }
    }
    Ok(())
}
