//! /proc: live views of memory management as files, in Linux's formats.
//!
//! ```text
//!   /proc/meminfo buddyinfo zoneinfo pagetypeinfo slabinfo vmallocinfo vmstat cmdline
//!   /proc/mempic                             map of every page frame (writable: 1/0)
//!   /proc/kpagecount kpageflags              u64 per page frame (procfs_pagemap.rs)
//!   /proc/PID/{maps,smaps,smaps_rollup,status,statm,stat,cmdline,comm,
//!              oom_score,oom_score_adj,timers,cgroup}  (oom_score_adj writable)
//!   /proc/PID/{pagemap,mem,clear_refs}       binary views (procfs_pagemap.rs)
//!   /proc/self                               the reading process's PID dir
//!   /proc/sys/fs/{nr_open,pipe-max-size,pipe-user-pages-hard,
//!                 pipe-user-pages-soft} (writable by root, validated)
//!   /proc/sys/kernel/{shmmax,shmall,shmmni,shm_rmid_forced} (writable by root)
//!   /proc/sysvipc/shm                        System V shared memory segments
//!   /proc/sysvipc/sem, msg                   System V semaphore sets, message queues
//!   /proc/sys/vm/{overcommit_memory,overcommit_ratio,swappiness,page-cluster,
//!                 vfs_cache_pressure,
//!                 watermark_scale_factor,min_free_kbytes,
//!                 max_map_count,mmap_min_addr,drop_caches,compact_memory,
//!                 nr_hugepages,nr_overcommit_hugepages,
//!                 compaction_proactiveness,extfrag_threshold,
//!                 compact_unevictable_allowed} (writable by root, validated)
//! ```
//!
//! Modes and owners are Linux's: global files and /proc/sys belong to
//! root (0444; 0400 for vmallocinfo, slabinfo and pagetypeinfo; sysctls
//! 0644, drop_caches and compact_memory 0200), /proc/PID to the task's effective ids (root's
//! for a non-dumpable task; pagemap 0400, mem 0600, clear_refs 0200,
//! kpagecount and kpageflags root's 0400). `permission` checks them at open as Linux's
//! `generic_permission` does (root passes; for sysctls as
//! `proc_sys_permission`, root only by the owner bits), and the memory views of
//! another process (maps, smaps, smaps_rollup) need ptrace-read access
//! over it: EACCES otherwise.
//!
//! A file's text is generated when it is opened (the `snapshot` of the
//! open file), so a reader sees one consistent picture however it reads.
//! The text itself comes from mm's renderers (`mm::procfs`); this file
//! only finds the object to show and checks what is written: a value out
//! of range is EINVAL and changes nothing, as Linux's sysctl handlers do.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::*;
use abi::stat::{S_IFDIR, S_IFLNK, S_IFREG, Stat};

use super::{DirEntry, Inode};
use crate::proc::{self, Pid, Task};

/// Render a file's text.
type Render = fn(&mut String) -> core::fmt::Result;
/// Apply a written value.
type Store = fn(&str) -> Result<(), Errno>;

/// A file generated from global state, owned by root.
struct GenFile {
    ino: u64,
    mode: u32,
    /// Under /proc/sys: Linux's `proc_sys_permission`, no override for root.
    sysctl: bool,
    render: Render,
    store: Option<Store>,
}

fn file_stat(ino: u64, mode: u32, uid: u32, gid: u32) -> Stat {
    Stat {
        st_dev: 3,
        st_ino: ino,
        st_nlink: 1,
        st_mode: S_IFREG | mode,
        st_uid: uid,
        st_gid: gid,
        st_blksize: 4096,
        ..Stat::default()
    }
}

fn dir_stat(ino: u64, uid: u32, gid: u32) -> Stat {
    Stat {
        st_dev: 3,
        st_ino: ino,
        st_nlink: 2,
        st_mode: S_IFDIR | 0o555,
        st_uid: uid,
        st_gid: gid,
        st_blksize: 4096,
        ..Stat::default()
    }
}

/// Linux's `generic_permission` for the current task: `mask` is MAY_READ
/// (4) and/or MAY_WRITE (2); root (CAP_DAC_OVERRIDE) may do both.
fn generic_permission(st: &Stat, mask: u32) -> Result<(), Errno> {
    if proc::current().inner.lock().creds.is_root() {
        return Ok(());
    }
    mode_permission(st, mask)
}

/// The owner, group or other bits of `st` for the caller must allow
/// `mask` (Linux's `acl_permission_check`; for sysctls `test_perm`, which
/// gives root no override: it cannot read drop_caches, mode 0200).
fn mode_permission(st: &Stat, mask: u32) -> Result<(), Errno> {
    let c = proc::current().inner.lock().creds.clone();
    let bits = if c.euid == st.st_uid {
        st.st_mode >> 6
    } else if c.in_group(st.st_gid) {
        st.st_mode >> 3
    } else {
        st.st_mode
    } & 7;
    if mask & !bits != 0 { Err(EACCES) } else { Ok(()) }
}

/// Parse one decimal integer as a sysctl does (surrounding blanks and a
/// newline allowed, nothing else).
fn parse_int(text: &str) -> Result<i64, Errno> {
    text.trim().parse::<i64>().map_err(|_| EINVAL)
}

fn text_of(buf: &[u8]) -> Result<&str, Errno> {
    core::str::from_utf8(buf).map_err(|_| EINVAL)
}

/// The stat of a root-owned file of /proc with `mode`.
pub(super) fn root_file_stat(ino: u64, mode: u32) -> Stat {
    file_stat(ino, mode, 0, 0)
}

/// Open permission of a root-owned, non-sysctl file of /proc.
pub(super) fn root_file_permission(st: &Stat, mask: u32) -> Result<(), Errno> {
    generic_permission(st, mask)
}

impl Inode for GenFile {
    fn stat(&self) -> Stat {
        file_stat(self.ino, self.mode, 0, 0)
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        if self.sysctl { mode_permission(&self.stat(), mask) } else { generic_permission(&self.stat(), mask) }
    }

    fn writable(&self) -> bool {
        self.store.is_some()
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        let mut s = String::with_capacity(4096);
        let _ = (self.render)(&mut s);
        Some(s.into_bytes())
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let store = self.store.ok_or(EINVAL)?;
        store(text_of(buf)?)?;
        Ok(buf.len())
    }
}

/// A directory with a fixed list of entries.
struct FixedDir {
    ino: u64,
    entries: Vec<(&'static str, Arc<dyn Inode>)>,
}

impl Inode for FixedDir {
    fn stat(&self) -> Stat {
        dir_stat(self.ino, 0, 0)
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        self.entries.iter().find(|(n, _)| *n == name).map(|(_, i)| i.clone())
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        Some(
            self.entries
                .iter()
                .map(|(n, i)| DirEntry {
                    name: n.to_string(),
                    ino: i.stat().st_ino,
                    dtype: if i.is_dir() { 4 } else { 8 },
                })
                .collect(),
        )
    }
}

// ------------------------------------------------------------ global files

/// /proc/cmdline: the kernel's command line and a newline.
fn cmdline(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::cmdline::text())
}

/// /proc/filesystems: the file-system types mount(2) knows, none backed
/// by a device (`nodev`), in Linux's format.
fn filesystems(s: &mut String) -> core::fmt::Result {
    for t in ["sysfs", "tmpfs", "proc", "cgroup2", "hugetlbfs"] {
        writeln!(s, "nodev\t{t}")?;
    }
    Ok(())
}

fn meminfo(s: &mut String) -> core::fmt::Result {
    let mut m = crate::mem::meminfo();
    (m.swap_total, m.swap_free) = crate::block::swap::totals();
    m.swap_cached = crate::mem::page_alloc().vmstat.swap_cached.get();
    m.render(s)
}

/// /proc/mounts: device, mount point, type, options, "0 0" (tmpfs adds
/// its size in kB, nr_inodes and mode, as Linux's shmem_show_options).
fn mounts(s: &mut String) -> core::fmt::Result {
    for m in super::mounts().iter() {
        // The device is named after the type, as for these in Linux.
        write!(s, "{} {} {} {}", m.fstype, m.path, m.fstype, m.opts)?;
        if m.fstype == "tmpfs" {
            let f = m.root.statfs();
            let mode = m.root.stat().st_mode & 0o7777;
            write!(s, ",size={}k,nr_inodes={},mode={mode:o}", f.f_blocks * 4, f.f_files)?;
        }
        s.push_str(" 0 0\n");
    }
    Ok(())
}

fn buddyinfo(s: &mut String) -> core::fmt::Result {
    mm::procfs::buddyinfo::render(crate::mem::page_alloc(), s)
}

fn zoneinfo(s: &mut String) -> core::fmt::Result {
    mm::procfs::zoneinfo::render(crate::mem::page_alloc(), None, s)
}

fn pagetypeinfo(s: &mut String) -> core::fmt::Result {
    mm::procfs::pagetypeinfo::render(crate::mem::page_alloc(), s)
}

fn slabinfo(s: &mut String) -> core::fmt::Result {
    mm::procfs::slabinfo::render(crate::mem::slab::registry(), s)
}

fn vmallocinfo(s: &mut String) -> core::fmt::Result {
    mm::procfs::vmallocinfo::render(crate::mem::kvm::vmalloc_area(), crate::mem::page_alloc(), s)
}

fn vmstat(s: &mut String) -> core::fmt::Result {
    mm::procfs::vmstat::render(crate::mem::page_alloc(), s)?;
    // The TLB events (Linux's CONFIG_DEBUG_TLBFLUSH names): shootdown
    // requests sent and carried out for other CPUs, local flushes.
    let (sent, received) = arch::ipi::remote_flushes();
    let (one, all) = arch::mmu::local_flushes();
    writeln!(s, "nr_tlb_remote_flush {sent}\nnr_tlb_remote_flush_received {received}")?;
    writeln!(s, "nr_tlb_local_flush_all {all}\nnr_tlb_local_flush_one {one}")
}

/// /proc/mempic: the map of every page frame; "1"/"0" turns the
/// framebuffer picture on/off (kernel/src/mempic.rs).
fn mempic(s: &mut String) -> core::fmt::Result {
    crate::mempic::render_text(s)
}

fn set_mempic(t: &str) -> Result<(), Errno> {
    crate::mempic::write_control(t)
}

// ------------------------------------------------------------ /proc/sys/fs
// The limits on kernel memory a process can make the kernel hold for it
// (kernel/src/sysctl.rs keeps and validates the numbers).

fn nr_open(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::nr_open())
}

fn set_nr_open(t: &str) -> Result<(), Errno> {
    crate::sysctl::set_nr_open(u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?)
}

fn pipe_max_size(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::pipe_max_size())
}

fn set_pipe_max_size(t: &str) -> Result<(), Errno> {
    // An unsigned int in Linux (proc_dopipe_max_size).
    let v = u32::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    crate::sysctl::set_pipe_max_size(v as u64)
}

fn pipe_user_pages_hard(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::pipe_user_pages_hard())
}

fn set_pipe_user_pages_hard(t: &str) -> Result<(), Errno> {
    crate::sysctl::set_pipe_user_pages_hard(u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?);
    Ok(())
}

fn pipe_user_pages_soft(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::pipe_user_pages_soft())
}

fn set_pipe_user_pages_soft(t: &str) -> Result<(), Errno> {
    crate::sysctl::set_pipe_user_pages_soft(u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?);
    Ok(())
}

// ------------------------------------------------------------ /proc/sys/kernel
// System V shared memory's limits (ipc/ipc_sysctl.c): unsigned longs for
// shmmax and shmall, ints within [0, IPCMNI] and [0, 1] for the others.

fn parse_ulong(t: &str) -> Result<u64, Errno> {
    t.trim().parse::<u64>().map_err(|_| EINVAL)
}

fn shmmax(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::shmmax())
}

fn set_shmmax(t: &str) -> Result<(), Errno> {
    crate::sysctl::set_shmmax(parse_ulong(t)?);
    Ok(())
}

fn shmall(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::shmall())
}

fn set_shmall(t: &str) -> Result<(), Errno> {
    crate::sysctl::set_shmall(parse_ulong(t)?);
    Ok(())
}

fn shmmni(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::shmmni())
}

fn set_shmmni(t: &str) -> Result<(), Errno> {
    crate::sysctl::set_shmmni(u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?)
}

fn shm_rmid_forced(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::shm_rmid_forced())
}

fn set_shm_rmid_forced(t: &str) -> Result<(), Errno> {
    crate::sysctl::set_shm_rmid_forced(u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?)?;
    if crate::sysctl::shm_rmid_forced() == 1 {
        crate::ipc::shm::rmid_forced_on();
    } else {
        crate::ipc::shm::rmid_forced_off();
    }
    Ok(())
}

fn sysvipc_shm(s: &mut String) -> core::fmt::Result {
    crate::ipc::shm::render(s)
}

// ------------------------------------------------------------ /proc/sys/vm

fn overcommit_memory(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::user::overcommit().mode())
}

fn set_overcommit_memory(t: &str) -> Result<(), Errno> {
    let v = parse_int(t)?;
    let mode = u32::try_from(v).map_err(|_| EINVAL)?;
    crate::mem::user::overcommit().set_mode(mode).map_err(|_| EINVAL)
}

fn page_cluster(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", proc::reclaim::PAGE_CLUSTER.get())
}

fn set_page_cluster(t: &str) -> Result<(), Errno> {
    let v = u32::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    proc::reclaim::PAGE_CLUSTER.set(v)
}

fn swappiness(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", proc::reclaim::SWAPPINESS.get())
}

fn set_swappiness(t: &str) -> Result<(), Errno> {
    let v = u32::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    proc::reclaim::SWAPPINESS.set(v)
}

fn legacy_va_layout(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::sysctl::legacy_va_layout())
}

/// 0 and up (Linux's `proc_dointvec_minmax` with `extra1 = 0`); nonzero
/// gives the next execs the legacy layout.
fn set_legacy_va_layout(t: &str) -> Result<(), Errno> {
    let v = i32::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    crate::sysctl::set_legacy_va_layout(u64::try_from(v).map_err(|_| EINVAL)?);
    Ok(())
}

fn vfs_cache_pressure(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::shrinkers().vfs_cache_pressure())
}

/// 0 and up (Linux's `proc_dointvec_minmax` with `extra1 = 0`: an int).
fn set_vfs_cache_pressure(t: &str) -> Result<(), Errno> {
    let v = i32::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    let v = u32::try_from(v).map_err(|_| EINVAL)?;
    crate::mem::shrinkers().set_vfs_cache_pressure(v);
    Ok(())
}

fn overcommit_ratio(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::user::overcommit().ratio())
}

fn set_overcommit_ratio(t: &str) -> Result<(), Errno> {
    let v = u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    crate::mem::user::overcommit().set_ratio(v);
    Ok(())
}

fn watermark_scale_factor(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::page_alloc().watermark_scale_factor())
}

fn set_watermark_scale_factor(t: &str) -> Result<(), Errno> {
    let v = u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    if crate::mem::page_alloc().set_watermark_scale_factor(v) { Ok(()) } else { Err(EINVAL) }
}

fn min_free_kbytes(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::page_alloc().min_free_kbytes())
}

fn set_min_free_kbytes(t: &str) -> Result<(), Errno> {
    let v = u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    // Linux takes any value >= 0; a reserve above a quarter of memory would
    // leave nothing to run with, so this kernel refuses it.
    let pa = crate::mem::page_alloc();
    let total_kb = pa.nr_managed_pages() * 4;
    if v > total_kb / 4 {
        return Err(EINVAL);
    }
    pa.setup_watermarks(Some(v));
    Ok(())
}

fn max_map_count(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::user::max_map_count())
}

fn set_max_map_count(t: &str) -> Result<(), Errno> {
    let v = usize::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    if v > i32::MAX as usize {
        return Err(EINVAL);
    }
    crate::mem::user::set_max_map_count(v);
    Ok(())
}

fn mmap_min_addr(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::user::mmap_min_addr())
}

/// Linux's `mmap_min_addr_handler`: an unsigned long; writing needs
/// CAP_SYS_RAWIO (root here) besides the file's mode.
fn set_mmap_min_addr(t: &str) -> Result<(), Errno> {
    if !proc::current().inner.lock().creds.is_root() {
        return Err(EPERM);
    }
    let v = t.trim().parse::<u64>().map_err(|_| EINVAL)?;
    crate::mem::user::set_mmap_min_addr(v);
    Ok(())
}

fn compact_memory(s: &mut String) -> core::fmt::Result {
    writeln!(s, "1")
}

fn set_compact_memory(t: &str) -> Result<(), Errno> {
    // Linux's sysctl_compaction_handler: 1 and nothing else.
    if parse_int(t)? != 1 {
        return Err(EINVAL);
    }
    proc::compact::compact_memory();
    Ok(())
}

fn nr_hugepages(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::page_alloc().default_hugetlb().counts().persistent)
}

/// Linux's `hugetlb_sysctl_handler`: any unsigned long; the pool grows as
/// far as memory allows (read the file back to see how far).
fn set_nr_hugepages(t: &str) -> Result<(), Errno> {
    let v = parse_ulong(t)?;
    let pa = crate::mem::page_alloc();
    pa.default_hugetlb().set_persistent(pa, None, v);
    Ok(())
}

fn nr_overcommit_hugepages(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::page_alloc().default_hugetlb().counts().overcommit)
}

fn set_nr_overcommit_hugepages(t: &str) -> Result<(), Errno> {
    match crate::mem::page_alloc().default_hugetlb().set_overcommit(parse_ulong(t)?) {
        true => Ok(()),
        false => Err(EINVAL),
    }
}

fn compaction_proactiveness(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::page_alloc().compact_tunables.proactiveness())
}

fn set_compaction_proactiveness(t: &str) -> Result<(), Errno> {
    let v = u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    if crate::mem::page_alloc().compact_tunables.set_proactiveness(v) { Ok(()) } else { Err(EINVAL) }
}

fn extfrag_threshold(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::page_alloc().compact_tunables.extfrag_threshold())
}

fn set_extfrag_threshold(t: &str) -> Result<(), Errno> {
    let v = u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    if crate::mem::page_alloc().compact_tunables.set_extfrag_threshold(v) { Ok(()) } else { Err(EINVAL) }
}

fn compact_unevictable_allowed(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{}", crate::mem::page_alloc().compact_tunables.unevictable_allowed_value())
}

fn set_compact_unevictable_allowed(t: &str) -> Result<(), Errno> {
    let v = u64::try_from(parse_int(t)?).map_err(|_| EINVAL)?;
    if crate::mem::page_alloc().compact_tunables.set_unevictable_allowed(v) { Ok(()) } else { Err(EINVAL) }
}

fn drop_caches(s: &mut String) -> core::fmt::Result {
    writeln!(s, "0")
}

fn set_drop_caches(t: &str) -> Result<(), Errno> {
    // 1: page cache, 2: slab, 3: both; 4 silences the log line.
    let v = parse_int(t)?;
    if !(1..=4).contains(&v) {
        return Err(EINVAL);
    }
    let freed = crate::mem::drop_caches();
    if v != 4 {
        log::info!("drop_caches ({}): {} pages freed", proc::current().name(), freed);
    }
    Ok(())
}

// ------------------------------------------------------------ /proc/PID

/// What a file under /proc/PID shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PidKind {
    Maps,
    Smaps,
    SmapsRollup,
    NumaMaps,
    Status,
    Statm,
    Stat,
    Timers,
    Cmdline,
    Comm,
    OomScore,
    OomScoreAdj,
    Pagemap,
    Mem,
    ClearRefs,
    Cgroup,
    Personality,
}

const PID_FILES: [(&str, PidKind); 17] = [
    ("cgroup", PidKind::Cgroup),
    ("clear_refs", PidKind::ClearRefs),
    ("cmdline", PidKind::Cmdline),
    ("comm", PidKind::Comm),
    ("maps", PidKind::Maps),
    ("mem", PidKind::Mem),
    ("numa_maps", PidKind::NumaMaps),
    ("oom_score", PidKind::OomScore),
    ("oom_score_adj", PidKind::OomScoreAdj),
    ("pagemap", PidKind::Pagemap),
    ("personality", PidKind::Personality),
    ("smaps", PidKind::Smaps),
    ("smaps_rollup", PidKind::SmapsRollup),
    ("stat", PidKind::Stat),
    ("statm", PidKind::Statm),
    ("status", PidKind::Status),
    ("timers", PidKind::Timers),
];

fn pid_ino(pid: Pid, slot: u64) -> u64 {
    0x1_0000_0000 + ((pid as u64) << 5) + slot
}

struct PidFile {
    pid: Pid,
    kind: PidKind,
    /// pagemap and mem: what the open saw (a lookup makes a new inode for
    /// every open).
    opened: spin::Mutex<Opened>,
}

/// The state Linux keeps in the open file of pagemap and mem: the address
/// space the task had at open (`proc_mem_open`; a weak reference, as
/// `mmgrab`: it keeps no memory alive) and whether the opener could see
/// frame numbers (CAP_SYS_ADMIN).
#[derive(Default)]
struct Opened {
    mm: Option<alloc::sync::Weak<crate::mem::user::UserMm>>,
    show_pfn: bool,
}

impl PidFile {
    fn new(pid: Pid, kind: PidKind) -> PidFile {
        PidFile { pid, kind, opened: spin::Mutex::new(Opened::default()) }
    }

    fn task(&self) -> Result<Arc<Task>, Errno> {
        proc::task(self.pid).ok_or(ESRCH)
    }

    /// The binary views, read and written at offsets, never snapshotted.
    fn is_binary(&self) -> bool {
        matches!(self.kind, PidKind::Pagemap | PidKind::Mem | PidKind::ClearRefs)
    }
}

/// Linux's `task_dump_owner`: the task's effective ids, or root's when the
/// task is not dumpable (after a change of ids).
fn dump_owner(pid: Pid) -> (u32, u32) {
    match proc::task(pid) {
        Some(t) => {
            let i = t.inner.lock();
            if i.dumpable { (i.creds.euid, i.creds.egid) } else { (0, 0) }
        }
        None => (0, 0),
    }
}

impl Inode for PidFile {
    fn stat(&self) -> Stat {
        let slot = PID_FILES.iter().position(|(_, k)| *k == self.kind).unwrap_or(0) as u64 + 1;
        let mode = match self.kind {
            PidKind::OomScoreAdj => 0o644,
            PidKind::Pagemap | PidKind::Personality => 0o400,
            PidKind::Mem => 0o600,
            PidKind::ClearRefs => 0o200,
            _ => 0o444,
        };
        let (uid, gid) = dump_owner(self.pid);
        file_stat(pid_ino(self.pid, slot), mode, uid, gid)
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        generic_permission(&self.stat(), mask)?;
        // The memory views need PTRACE_MODE_READ_FSCREDS (Linux's
        // `proc_mem_open` -> `mm_access`), mem and personality
        // PTRACE_MODE_ATTACH_FSCREDS (the same rule without security
        // modules): EACCES at open otherwise.
        if matches!(
            self.kind,
            PidKind::Maps
                | PidKind::Smaps
                | PidKind::SmapsRollup
                | PidKind::NumaMaps
                | PidKind::Pagemap
                | PidKind::Mem
                | PidKind::Personality
        ) {
            let t = self.task()?;
            let me = proc::current();
            if !proc::ptrace_may_read(&me, &t, true) {
                return Err(EACCES);
            }
            if matches!(self.kind, PidKind::Pagemap | PidKind::Mem) {
                let show_pfn = me.inner.lock().creds.is_root();
                *self.opened.lock() = Opened { mm: t.mm().map(|m| Arc::downgrade(&m)), show_pfn };
            }
        }
        Ok(())
    }

    fn writable(&self) -> bool {
        matches!(self.kind, PidKind::OomScoreAdj | PidKind::Mem | PidKind::ClearRefs)
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        if self.is_binary() {
            return None;
        }
        let mut s = String::with_capacity(1024);
        if let Ok(t) = self.task() {
            let _ = render_pid(&t, self.kind, &mut s);
        }
        Some(s.into_bytes())
    }

    /// maps and smaps grow with the number of areas (smaps of 65530
    /// areas is tens of MiB): they are rendered one area per record as
    /// they are read, never whole.
    fn is_seq(&self) -> bool {
        matches!(self.kind, PidKind::Maps | PidKind::Smaps)
    }

    fn seq_show(&self, key: u64, out: &mut String) -> Option<u64> {
        let view = if self.kind == PidKind::Smaps {
            mm::procfs::pid::AreaView::Smaps
        } else {
            mm::procfs::pid::AreaView::Maps
        };
        let mm = self.task().ok()?.mm()?;
        let env = crate::mem::user::env();
        let space = mm.space.read();
        mm::procfs::pid::render_area_from(&space, &env, key, view, out).ok().flatten()
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let (mm, show_pfn) = {
            let o = self.opened.lock();
            (super::procfs_pagemap::live_mm(&o.mm), o.show_pfn)
        };
        match self.kind {
            PidKind::Pagemap => super::procfs_pagemap::read_pagemap(mm, show_pfn, off, buf),
            PidKind::Mem => super::procfs_pagemap::read_mem(mm, off, buf),
            _ => Err(EINVAL),
        }
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        match self.kind {
            PidKind::Mem => {
                let mm = super::procfs_pagemap::live_mm(&self.opened.lock().mm);
                return super::procfs_pagemap::write_mem(mm, off, buf);
            }
            PidKind::ClearRefs => {
                super::procfs_pagemap::write_clear_refs(self.task()?.mm(), text_of(buf)?)?;
                return Ok(buf.len());
            }
            PidKind::OomScoreAdj => {}
            _ => return Err(EINVAL),
        }
        let v = parse_int(text_of(buf)?)?;
        if !(-1000..=1000).contains(&v) {
            return Err(EINVAL);
        }
        let t = self.task()?;
        let me = proc::current();
        let privileged = me.inner.lock().creds.is_root();
        drop(me);
        let mut i = t.inner.lock();
        // Linux's `__set_oom_adj`: going below `oom_score_adj_min` needs
        // CAP_SYS_RESOURCE; a privileged write sets the new minimum.
        let v = v as i32;
        if v < i.oom_score_adj_min && !privileged {
            return Err(EACCES);
        }
        if privileged {
            i.oom_score_adj_min = v;
        }
        i.oom_score_adj = v;
        Ok(buf.len())
    }
}

fn state_letter(t: &Task) -> (char, &'static str) {
    match t.state() {
        proc::ZOMBIE => ('Z', "zombie"),
        // Kernel threads sleep between rounds of work, not on a disk:
        // Linux shows kswapd as S.
        proc::SLEEPING if t.uninterruptible.load(core::sync::atomic::Ordering::Relaxed) && !t.inner.lock().kthread => {
            ('D', "disk sleep")
        }
        proc::SLEEPING => ('S', "sleeping"),
        proc::STOPPED => ('T', "stopped"),
        _ => ('R', "running"),
    }
}

/// Signal masks: ignored and caught handlers.
fn sig_masks(sig: &proc::SignalState) -> (u64, u64) {
    let (cgt, ign) = sig.caught_and_ignored();
    (ign, cgt)
}

fn render_pid(t: &Arc<Task>, kind: PidKind, s: &mut String) -> core::fmt::Result {
    let env = crate::mem::user::env();
    let mm = t.mm();
    match kind {
        PidKind::Maps => mm.map_or(Ok(()), |m| mm::procfs::pid::render_maps(&m.space.read(), s)),
        PidKind::Smaps => mm.map_or(Ok(()), |m| mm::procfs::pid::render_smaps(&m.space.read(), &env, s)),
        PidKind::SmapsRollup => mm.map_or(Ok(()), |m| mm::procfs::pid::render_smaps_rollup(&m.space.read(), &env, s)),
        PidKind::NumaMaps => {
            // Areas without a policy show the task's (Linux's
            // hold_task_mempolicy): that of the task read, not the reader.
            let env = mm::vm::address_space::MmEnv { policy: *t.mempolicy.lock(), ..env };
            mm.map_or(Ok(()), |m| mm::procfs::numa_maps::render_numa_maps(&m.space.read(), &env, s))
        }
        PidKind::Statm => match mm {
            Some(m) => mm::procfs::pid::render_statm(&m.space.read(), s),
            None => writeln!(s, "0 0 0 0 0 0 0"),
        },
        PidKind::Status => render_status(t, s),
        PidKind::Stat => render_stat(t, s),
        PidKind::Timers => proc::timer::render(t.tgid(), s),
        PidKind::Cmdline => {
            // Read from the process's own memory, as Linux does: what the
            // program left between arg_start and arg_end.
            let Some(m) = mm else { return Ok(()) };
            let sp = m.space.read();
            let len = sp.layout.arg_end.saturating_sub(sp.layout.arg_start).min(4096) as usize;
            let mut buf = alloc::vec![0u8; len];
            let n = sp.read_bytes(&env, sp.layout.arg_start, &mut buf);
            s.push_str(&String::from_utf8_lossy(&buf[..n]));
            Ok(())
        }
        PidKind::Comm => writeln!(s, "{}", t.name()),
        PidKind::OomScore => writeln!(s, "{}", proc::oom::oom_score(t)),
        PidKind::OomScoreAdj => writeln!(s, "{}", t.inner.lock().oom_score_adj),
        PidKind::Cgroup => writeln!(s, "0::{}", proc::cgroup::cgroup_of(t).path()),
        // Linux's proc_pid_personality: "%08x".
        PidKind::Personality => writeln!(s, "{:08x}", t.inner.lock().personality),
        PidKind::Pagemap | PidKind::Mem | PidKind::ClearRefs => Ok(()),
    }
}

fn render_status(t: &Arc<Task>, s: &mut String) -> core::fmt::Result {
    let ppid = t.leader().inner.lock().ppid;
    let (name, creds, fds, sig, queue_limit) = {
        let i = t.inner.lock();
        (
            i.name.clone(),
            i.creds.clone(),
            i.files.count(),
            i.sig.clone(),
            i.rlimits[abi::resource::RLIMIT_SIGPENDING].cur,
        )
    };
    let (letter, word) = state_letter(t);
    writeln!(s, "Name:\t{name}")?;
    writeln!(s, "Umask:\t0022")?;
    writeln!(s, "State:\t{letter} ({word})")?;
    writeln!(s, "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0", t.tgid(), t.pid(), ppid)?;
    writeln!(s, "Uid:\t{}\t{}\t{}\t{}", creds.uid, creds.euid, creds.suid, creds.euid)?;
    writeln!(s, "Gid:\t{}\t{}\t{}\t{}", creds.gid, creds.egid, creds.sgid, creds.egid)?;
    writeln!(s, "FDSize:\t{}", fds.next_power_of_two().max(64))?;
    // Linux ends the group list with a space, also when it is empty.
    write!(s, "Groups:\t")?;
    for (i, g) in creds.groups.iter().enumerate() {
        write!(s, "{}{g}", if i == 0 { "" } else { " " })?;
    }
    writeln!(s, " ")?;
    writeln!(s, "NStgid:\t{}\nNSpid:\t{}", t.tgid(), t.pid())?;
    if let Some(m) = t.mm() {
        mm::procfs::pid::render_status_vm(&m.space.read(), &crate::mem::user::env(), s)?;
    }
    writeln!(s, "Threads:\t{}", t.group.nr_threads())?;
    let (ign, cgt) = sig_masks(&sig);
    // SigPnd: sent to this thread; ShdPnd: sent to the process.
    writeln!(s, "SigQ:\t{}/{}", sig.pending.queued(), queue_limit)?;
    writeln!(s, "SigPnd:\t{:016x}\nShdPnd:\t{:016x}", sig.pending.set, t.group.shared_set())?;
    writeln!(s, "SigBlk:\t{:016x}\nSigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}", sig.blocked)?;
    let caps: u64 = if creds.euid == 0 { 0x1ff_ffff_ffff } else { 0 };
    writeln!(
        s,
        "CapInh:\t0000000000000000\nCapPrm:\t{caps:016x}\nCapEff:\t{caps:016x}\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000"
    )?;
    writeln!(s, "NoNewPrivs:\t0\nSeccomp:\t0")?;
    writeln!(s, "Cpus_allowed:\t1\nCpus_allowed_list:\t0")?;
    let nodes = crate::mem::page_alloc().topology.nr_nodes.max(1);
    // "%*pbl": a range of one node is just its number.
    let list = if nodes == 1 { String::from("0") } else { alloc::format!("0-{}", nodes - 1) };
    writeln!(s, "Mems_allowed:\t{:08x}\nMems_allowed_list:\t{list}", (1u64 << nodes) - 1)?;
    writeln!(s, "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0")
}

/// /proc/PID/stat: the 52 fields of `do_task_stat`, space separated.
fn render_stat(t: &Arc<Task>, s: &mut String) -> core::fmt::Result {
    let (ppid, pgid, sid) = {
        let l = t.leader();
        let i = l.inner.lock();
        (i.ppid, i.pgid, i.sid)
    };
    let (name, utime, stime, start, cu, rss_lim, sig) = {
        let i = t.inner.lock();
        (i.name.clone(), i.utime, i.stime, i.start_ticks, i.cusage, i.rlimits[RLIMIT_RSS_INDEX].cur, i.sig.clone())
    };
    // A process's line counts every thread (Linux's
    // `thread_group_cputime` for the leader's view).
    let (utime, stime) = if t.is_leader() { t.process_times() } else { (utime, stime) };
    let (letter, _) = state_letter(t);
    // Linux's `task_prio`: -1 - rt_priority for real-time tasks, else 20 + nice.
    let prio = if t.sched.rt_prio() > 0 { -1 - t.sched.rt_prio() as i64 } else { 20 + t.sched.nice() as i64 };
    let (min_flt, maj_flt, vsize, rss, layout) = match t.mm() {
        Some(m) => {
            let sp = m.space.read();
            let c = sp.counters();
            (c.min_flt, c.maj_flt, c.total_vm << 12, c.rss(), Some(sp.layout))
        }
        None => (0, 0, 0, 0, None),
    };
    let l = layout.unwrap_or_default();
    let (ign, cgt) = sig_masks(&sig);
    let (tty_nr, tpgid) = super::console::stat_fields(sid);
    write!(s, "{} ({}) {} {} {} {} {} {} 4194560 ", t.pid(), name, letter, ppid, pgid, sid, tty_nr, tpgid)?;
    write!(
        s,
        "{} {} {} {} {} {} {} {} {} {} {} 0 ",
        min_flt,
        cu.min_flt,
        maj_flt,
        cu.maj_flt,
        utime,
        stime,
        cu.utime,
        cu.stime,
        prio,
        t.sched.nice(),
        t.group.nr_threads()
    )?;
    write!(s, "{} {} {} {} ", start, vsize, rss, rss_lim)?;
    write!(s, "{} {} {} 0 0 ", l.start_code, l.end_code, l.start_stack)?;
    write!(
        s,
        "{} {} {} {} 0 0 0 17 {} {} {} 0 0 0 ",
        sig.pending.set,
        sig.blocked,
        ign,
        cgt,
        t.sched.cpu(),
        t.sched.rt_prio(),
        t.sched.policy()
    )?;
    writeln!(
        s,
        "{} {} {} {} {} {} {} 0",
        l.start_data, l.end_data, l.start_brk, l.arg_start, l.arg_end, l.env_start, l.env_end
    )
}

/// RLIMIT_RSS (5).
const RLIMIT_RSS_INDEX: usize = 5;

/// /proc/PID (a process, with a `task` directory) or
/// /proc/PID/task/TID (one thread).
struct PidDir {
    pid: Pid,
    thread: bool,
}

/// The inode slot of /proc/PID/task.
const TASK_DIR_SLOT: u64 = 31;

impl Inode for PidDir {
    fn stat(&self) -> Stat {
        let (uid, gid) = dump_owner(self.pid);
        dir_stat(pid_ino(self.pid, 0), uid, gid)
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        proc::task(self.pid)?;
        if name == "task" && !self.thread {
            return Some(Arc::new(TaskDir { tgid: self.pid }));
        }
        if name == "fd" {
            return Some(Arc::new(FdDir { pid: self.pid }));
        }
        if let Some((_, kind, _)) = PID_LINKS.iter().find(|(n, _, _)| *n == name) {
            return Some(Arc::new(PidLink { pid: self.pid, kind: *kind }));
        }
        let (_, kind) = PID_FILES.iter().find(|(n, _)| *n == name)?;
        Some(Arc::new(PidFile::new(self.pid, *kind)))
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        let mut v: Vec<DirEntry> = PID_FILES
            .iter()
            .enumerate()
            .map(|(k, (n, _))| DirEntry { name: n.to_string(), ino: pid_ino(self.pid, k as u64 + 1), dtype: 8 })
            .collect();
        // DT_LNK.
        v.extend(PID_LINKS.iter().map(|(n, _, slot)| DirEntry {
            name: n.to_string(),
            ino: pid_ino(self.pid, *slot),
            dtype: 10,
        }));
        v.push(DirEntry { name: "fd".to_string(), ino: pid_ino(self.pid, FD_DIR_SLOT), dtype: 4 });
        if !self.thread {
            v.push(DirEntry { name: "task".to_string(), ino: pid_ino(self.pid, TASK_DIR_SLOT), dtype: 4 });
        }
        Some(v)
    }
}

/// /proc/PID/exe, cwd and root: symbolic links to the program file, the
/// working directory and the root directory (Linux's `proc_exe_link`,
/// `proc_cwd_link`, `proc_root_link`). Reading one needs ptrace read
/// access to the task (EACCES otherwise, as `proc_fd_access_allowed`); a
/// kernel thread has no program (ENOENT).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    Exe,
    Cwd,
    Root,
}

const PID_LINKS: [(&str, LinkKind, u64); 3] =
    [("cwd", LinkKind::Cwd, 28), ("exe", LinkKind::Exe, 29), ("root", LinkKind::Root, 30)];

struct PidLink {
    pid: Pid,
    kind: LinkKind,
}

impl Inode for PidLink {
    fn stat(&self) -> Stat {
        let (uid, gid) = dump_owner(self.pid);
        let slot = PID_LINKS.iter().find(|(_, k, _)| *k == self.kind).map_or(0, |l| l.2);
        Stat {
            st_dev: 3,
            st_ino: pid_ino(self.pid, slot),
            st_nlink: 1,
            st_mode: S_IFLNK | 0o777,
            st_uid: uid,
            st_gid: gid,
            st_blksize: 4096,
            ..Stat::default()
        }
    }

    fn readlink(&self) -> Result<String, Errno> {
        let t = proc::task(self.pid).ok_or(ENOENT)?;
        if !proc::ptrace_may_read(&proc::current(), &t, true) {
            return Err(EACCES);
        }
        match self.kind {
            LinkKind::Exe => {
                // Not one expression: the task's lock must be let go before
                // `mm()` takes it again.
                let exe = t.inner.lock().exe.clone();
                if exe.is_empty() || t.mm().is_none() { Err(ENOENT) } else { Ok(exe) }
            }
            LinkKind::Cwd => Ok(t.cwd()),
            LinkKind::Root => Ok("/".to_string()),
        }
    }
}

/// /proc/PID/fd: a link per open descriptor, named by its number (Linux's
/// `proc_fd_operations`). Mode 0500 of the task's owner: listing or
/// looking in needs ptrace read access (EACCES).
struct FdDir {
    pid: Pid,
}

const FD_DIR_SLOT: u64 = 27;

/// The open files of `pid`, if the caller may see them.
fn files_of(pid: Pid) -> Result<crate::file::FdTable, Errno> {
    let t = proc::task(pid).ok_or(ENOENT)?;
    if !proc::ptrace_may_read(&proc::current(), &t, true) {
        return Err(EACCES);
    }
    let files = t.inner.lock().files.share();
    Ok(files)
}

impl Inode for FdDir {
    fn stat(&self) -> Stat {
        let (uid, gid) = dump_owner(self.pid);
        Stat { st_mode: S_IFDIR | 0o500, ..dir_stat(pid_ino(self.pid, FD_DIR_SLOT), uid, gid) }
    }

    fn permission(&self, _mask: u32) -> Result<(), Errno> {
        files_of(self.pid).map(|_| ())
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        let fd = name.parse::<i32>().ok().filter(|_| !name.starts_with('+'))?;
        files_of(self.pid).ok()?.get(fd).ok()?;
        Some(Arc::new(FdLink { pid: self.pid, fd }))
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        let fds = files_of(self.pid).ok()?.fds();
        let base = pid_ino(self.pid, FD_DIR_SLOT) << 16;
        Some(fds.into_iter().map(|fd| DirEntry { name: fd.to_string(), ino: base + fd as u64, dtype: 10 }).collect())
    }
}

/// /proc/PID/fd/N: reads as the open file's path (`pipe:[INO]` for a
/// pipe, `anon_inode:[...]`, `/memfd:NAME (deleted)`), and a path walk
/// through it reaches the open file's inode itself (a magic link), so it
/// reopens what the descriptor has even when no name leads there. Its
/// mode tells how the descriptor was opened (lr-x, l-wx, lrwx).
struct FdLink {
    pid: Pid,
    fd: i32,
}

impl FdLink {
    fn file(&self) -> Result<Arc<crate::file::OpenFile>, Errno> {
        files_of(self.pid)?.get(self.fd).map_err(|_| ENOENT)
    }
}

impl Inode for FdLink {
    fn stat(&self) -> Stat {
        let (uid, gid) = dump_owner(self.pid);
        let mode = match self.file() {
            Ok(f) => (if f.readable() { 0o500 } else { 0o100 }) | if f.writable() { 0o200 } else { 0 },
            Err(_) => 0o700,
        };
        Stat {
            st_dev: 3,
            st_ino: (pid_ino(self.pid, FD_DIR_SLOT) << 16) + self.fd as u64,
            st_nlink: 1,
            st_mode: S_IFLNK | mode,
            st_uid: uid,
            st_gid: gid,
            st_size: 64,
            st_blksize: 4096,
            ..Stat::default()
        }
    }

    fn readlink(&self) -> Result<String, Errno> {
        let f = self.file()?;
        Ok(if f.path == "pipe:" { alloc::format!("pipe:[{}]", f.inode.stat().st_ino) } else { f.path.clone() })
    }

    fn magic_link(&self) -> Option<Arc<dyn Inode>> {
        self.file().ok().map(|f| f.inode.clone())
    }
}

/// /proc/PID/task: a directory per live thread of the process.
struct TaskDir {
    tgid: Pid,
}

impl Inode for TaskDir {
    fn stat(&self) -> Stat {
        let (uid, gid) = dump_owner(self.tgid);
        dir_stat(pid_ino(self.tgid, TASK_DIR_SLOT), uid, gid)
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        let tid = name.parse::<Pid>().ok()?;
        let t = proc::task(tid)?;
        (t.tgid() == self.tgid).then(|| Arc::new(PidDir { pid: tid, thread: true }) as Arc<dyn Inode>)
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        let t = proc::task(self.tgid)?;
        Some(
            t.group
                .threads()
                .into_iter()
                .map(|tid| DirEntry { name: tid.to_string(), ino: pid_ino(tid, 0), dtype: 4 })
                .collect(),
        )
    }
}

// ------------------------------------------------------------ the root

struct ProcRoot {
    fixed: FixedDir,
}

impl Inode for ProcRoot {
    fn stat(&self) -> Stat {
        dir_stat(self.fixed.ino, 0, 0)
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        if name == "self" {
            return Some(Arc::new(PidDir { pid: proc::current_tgid(), thread: false }));
        }
        if name == "thread-self" {
            return Some(Arc::new(PidDir { pid: proc::current_pid(), thread: true }));
        }
        if let Ok(pid) = name.parse::<Pid>() {
            // Pid 0 is the kernel's idle task: not a process in /proc. A
            // thread's id opens that thread's process view, as in Linux
            // (not listed, but found).
            return (pid != 0 && proc::task(pid).is_some())
                .then(|| Arc::new(PidDir { pid, thread: false }) as Arc<dyn Inode>);
        }
        self.fixed.lookup(name)
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        let mut v = self.fixed.readdir()?;
        v.push(DirEntry { name: "self".to_string(), ino: 4, dtype: 4 });
        v.push(DirEntry { name: "thread-self".to_string(), ino: 5, dtype: 4 });
        for t in proc::all_tasks().into_iter().filter(|t| t.pid() != 0) {
            v.push(DirEntry { name: t.pid().to_string(), ino: pid_ino(t.pid(), 0), dtype: 4 });
        }
        Some(v)
    }
}

/// A root-owned file: 0644 if it takes writes, else 0444.
fn genfile(ino: u64, render: Render, store: Option<Store>) -> Arc<dyn Inode> {
    let mode = if store.is_some() { 0o644 } else { 0o444 };
    Arc::new(GenFile { ino, mode, sysctl: false, render, store })
}

/// A root-owned file with the given mode.
fn genfile_mode(ino: u64, mode: u32, render: Render, store: Option<Store>) -> Arc<dyn Inode> {
    Arc::new(GenFile { ino, mode, sysctl: false, render, store })
}

/// A sysctl under /proc/sys (root's, `mode` checked even for root).
fn sysctl(ino: u64, mode: u32, render: Render, store: Store) -> Arc<dyn Inode> {
    Arc::new(GenFile { ino, mode, sysctl: true, render, store: Some(store) })
}

/// The /proc tree (registered with `vfs::init`).
pub fn proc_root() -> Arc<dyn Inode> {
    let vm: Arc<dyn Inode> = Arc::new(FixedDir {
        ino: 30,
        entries: alloc::vec![
            // Linux: write-only (0200), even for root.
            ("compact_memory", sysctl(71, 0o200, compact_memory, set_compact_memory)),
            (
                "compact_unevictable_allowed",
                sysctl(72, 0o644, compact_unevictable_allowed, set_compact_unevictable_allowed)
            ),
            ("compaction_proactiveness", sysctl(73, 0o644, compaction_proactiveness, set_compaction_proactiveness)),
            ("drop_caches", sysctl(31, 0o200, drop_caches, set_drop_caches)),
            ("extfrag_threshold", sysctl(74, 0o644, extfrag_threshold, set_extfrag_threshold)),
            ("legacy_va_layout", sysctl(78, 0o644, legacy_va_layout, set_legacy_va_layout)),
            ("max_map_count", sysctl(32, 0o644, max_map_count, set_max_map_count)),
            ("min_free_kbytes", sysctl(33, 0o644, min_free_kbytes, set_min_free_kbytes)),
            ("mmap_min_addr", sysctl(36, 0o644, mmap_min_addr, set_mmap_min_addr)),
            ("nr_hugepages", sysctl(75, 0o644, nr_hugepages, set_nr_hugepages)),
            ("nr_overcommit_hugepages", sysctl(76, 0o644, nr_overcommit_hugepages, set_nr_overcommit_hugepages)),
            ("overcommit_memory", sysctl(34, 0o644, overcommit_memory, set_overcommit_memory)),
            ("overcommit_ratio", sysctl(35, 0o644, overcommit_ratio, set_overcommit_ratio)),
            ("page-cluster", sysctl(38, 0o644, page_cluster, set_page_cluster)),
            ("swappiness", sysctl(37, 0o644, swappiness, set_swappiness)),
            ("vfs_cache_pressure", sysctl(77, 0o644, vfs_cache_pressure, set_vfs_cache_pressure)),
            ("watermark_scale_factor", sysctl(39, 0o644, watermark_scale_factor, set_watermark_scale_factor)),
        ],
    });
    let fs: Arc<dyn Inode> = Arc::new(FixedDir {
        ino: 40,
        entries: alloc::vec![
            ("nr_open", sysctl(41, 0o644, nr_open, set_nr_open)),
            ("pipe-max-size", sysctl(42, 0o644, pipe_max_size, set_pipe_max_size)),
            ("pipe-user-pages-hard", sysctl(43, 0o644, pipe_user_pages_hard, set_pipe_user_pages_hard)),
            ("pipe-user-pages-soft", sysctl(44, 0o644, pipe_user_pages_soft, set_pipe_user_pages_soft)),
        ],
    });
    let kernel: Arc<dyn Inode> = Arc::new(FixedDir {
        ino: 50,
        entries: alloc::vec![
            ("shm_rmid_forced", sysctl(51, 0o644, shm_rmid_forced, set_shm_rmid_forced)),
            ("shmall", sysctl(52, 0o644, shmall, set_shmall)),
            ("shmmax", sysctl(53, 0o644, shmmax, set_shmmax)),
            ("shmmni", sysctl(54, 0o644, shmmni, set_shmmni)),
        ],
    });
    let sys: Arc<dyn Inode> =
        Arc::new(FixedDir { ino: 20, entries: alloc::vec![("fs", fs), ("kernel", kernel), ("vm", vm)] });
    let sysvipc: Arc<dyn Inode> = Arc::new(FixedDir {
        ino: 60,
        entries: alloc::vec![
            ("msg", genfile(63, crate::ipc::msg::render, None)),
            ("sem", genfile(62, crate::ipc::sem::render, None)),
            ("shm", genfile(61, sysvipc_shm, None))
        ],
    });
    let entries: Vec<(&'static str, Arc<dyn Inode>)> = alloc::vec![
        ("buddyinfo", genfile(10, buddyinfo, None)),
        ("cmdline", genfile(28, cmdline, None)),
        ("cpuinfo", genfile(18, super::procfs_cpu::cpuinfo, None)),
        ("filesystems", genfile(29, filesystems, None)),
        ("interrupts", genfile(19, super::procfs_cpu::interrupts, None)),
        // Linux: 0400, u64 per page frame.
        ("kpagecount", Arc::new(super::procfs_pagemap::KpageFile { ino: 23, flags: false })),
        ("kpageflags", Arc::new(super::procfs_pagemap::KpageFile { ino: 24, flags: true })),
        ("meminfo", genfile(11, meminfo, None)),
        ("mempic", genfile(17, mempic, Some(set_mempic))),
        ("mounts", genfile(22, mounts, None)),
        // Linux: 0400 (they tell where kernel objects are).
        ("pagetypeinfo", genfile_mode(12, 0o400, pagetypeinfo, None)),
        ("partitions", genfile(26, crate::block::render_partitions, None)),
        ("slabinfo", genfile_mode(13, 0o400, slabinfo, None)),
        ("stat", genfile(21, super::procfs_cpu::stat, None)),
        ("swaps", genfile(27, crate::block::swap::render, None)),
        ("sys", sys),
        ("sysvipc", sysvipc),
        ("vmallocinfo", genfile_mode(14, 0o400, vmallocinfo, None)),
        ("vmstat", genfile(15, vmstat, None)),
        ("zoneinfo", genfile(16, zoneinfo, None)),
    ];
    Arc::new(ProcRoot { fixed: FixedDir { ino: 2, entries } })
}
