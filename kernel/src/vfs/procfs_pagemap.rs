//! The binary memory views of /proc (cf. fs/proc/task_mmu.c, fs/proc/page.c,
//! fs/proc/base.c `mem_rw`):
//!
//! ```text
//!   /proc/kpagecount, /proc/kpageflags   u64 per page frame (root, 0400)
//!   /proc/PID/pagemap                     u64 per virtual page (0400, ptrace-read)
//!   /proc/PID/mem                         the process's memory at offset = address
//!                                         (0600, ptrace-attach)
//!   /proc/PID/clear_refs                  write 1..5 (0200)
//! ```
//!
//! The entries themselves come from `mm::procfs::pagemap`; the remote
//! accesses from `mm::vm::access_remote` and `mm::vm::clear_refs`.
//!
//! Locking: each call takes the target's address-space lock (`UserMm::space`)
//! for one batch of at most a page table's worth of entries or one bounce
//! buffer of bytes, and never holds it with another address space's lock:
//! /proc/PID/mem's data moves between the target and a kernel buffer under
//! the target's lock, between the kernel buffer and the reader without it.
//! Changes to the target's page tables are flushed on every CPU running
//! the target (`RootTlb`), wherever the writer runs.

use alloc::sync::{Arc, Weak};

use abi::errno::*;
use abi::stat::Stat;
use arch::mm_hooks::RootTlb;
use mm::addr::Pfn;
use mm::procfs::pagemap::{self, ENTRY_BYTES};
use mm::vm::clear_refs::ClearRefs;

use super::Inode;
use crate::mem::user::UserMm;

/// Entries handled under one hold of a lock.
const BATCH: usize = 512;

/// Offsets and counts of the u64 files must be multiples of 8 (EINVAL).
fn check_entry_io(off: u64, len: usize) -> Result<(), Errno> {
    if off % ENTRY_BYTES != 0 || len as u64 % ENTRY_BYTES != 0 { Err(EINVAL) } else { Ok(()) }
}

/// Fill `buf` with the u64 entries from index `first` on, `batch` giving
/// up to BATCH of them at a time (fewer at the end of the file): the bytes
/// filled.
fn fill_entries(first: u64, buf: &mut [u8], batch: &mut dyn FnMut(u64, &mut [u64]) -> usize) -> usize {
    let mut done = 0;
    let mut tmp = [0u64; BATCH];
    while done < buf.len() {
        let want = ((buf.len() - done) / 8).min(BATCH);
        let got = batch(first + (done / 8) as u64, &mut tmp[..want]);
        for (i, e) in tmp[..got].iter().enumerate() {
            buf[done + i * 8..done + i * 8 + 8].copy_from_slice(&e.to_le_bytes());
        }
        done += got * 8;
        if got < want {
            break;
        }
    }
    done
}

/// /proc/kpagecount or /proc/kpageflags.
pub struct KpageFile {
    pub ino: u64,
    pub flags: bool,
}

impl Inode for KpageFile {
    fn stat(&self) -> Stat {
        super::procfs::root_file_stat(self.ino, 0o400)
    }

    fn permission(&self, mask: u32) -> Result<(), Errno> {
        super::procfs::root_file_permission(&self.stat(), mask)
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        check_entry_io(off, buf.len())?;
        let pa = crate::mem::page_alloc();
        let zero = crate::mem::user::env().zero_page;
        let end = pagemap::nr_pfns(pa);
        Ok(fill_entries(off / 8, buf, &mut |first, out| {
            let n = (out.len() as u64).min(end.saturating_sub(first)) as usize;
            for (i, e) in out[..n].iter_mut().enumerate() {
                let pfn = Pfn(first + i as u64);
                *e = if self.flags { pagemap::kpageflags(pa, zero, pfn) } else { pagemap::kpagecount(pa, pfn) };
            }
            n
        }))
    }
}

/// The address space an open file reads: the one the task had at open,
/// if still alive (Linux's `mmget_not_zero` on the mm taken at open).
pub fn live_mm(mm: &Option<Weak<UserMm>>) -> Option<Arc<UserMm>> {
    mm.as_ref()?.upgrade()
}

/// /proc/PID/pagemap at byte offset `off`.
pub fn read_pagemap(mm: Option<Arc<UserMm>>, show_pfn: bool, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    check_entry_io(off, buf.len())?;
    let Some(mm) = mm else { return Ok(0) };
    let env = crate::mem::user::env();
    Ok(fill_entries(off / 8, buf, &mut |vpn, out| {
        let space = mm.space.read();
        pagemap::read(&space, &env, vpn, out, show_pfn)
    }))
}

/// /proc/PID/mem: read at address `off`; EIO if not one byte could be
/// read (a hole, an address past user space).
pub fn read_mem(mm: Option<Arc<UserMm>>, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let Some(mm) = mm else { return Ok(0) };
    let len = buf.len();
    let n =
        crate::proc::reclaim::remote_access(&mm, len, |s, env, at| s.read_remote(env, off + at as u64, &mut buf[at..]));
    if n == 0 && !buf.is_empty() { Err(EIO) } else { Ok(n) }
}

/// /proc/PID/mem: write at address `off` (copy-on-write broken in private
/// read-only mappings, as FOLL_FORCE does).
pub fn write_mem(mm: Option<Arc<UserMm>>, off: u64, buf: &[u8]) -> Result<usize, Errno> {
    let Some(mm) = mm else { return Ok(0) };
    let n = crate::proc::reclaim::remote_access(&mm, buf.len(), |s, env, at| {
        s.write_remote(env, off + at as u64, &buf[at..])
    });
    if n == 0 && !buf.is_empty() { Err(EIO) } else { Ok(n) }
}

/// /proc/PID/clear_refs: "1".."5" (blanks around allowed), else EINVAL.
pub fn write_clear_refs(mm: Option<Arc<UserMm>>, text: &str) -> Result<(), Errno> {
    let v = text.trim().parse::<i64>().map_err(|_| EINVAL)?;
    let what = ClearRefs::from_value(v).ok_or(EINVAL)?;
    if let Some(mm) = mm {
        let tlb = RootTlb { root: mm.root };
        mm.space.write().clear_refs(&crate::mem::user::env_for(&tlb), what);
    }
    Ok(())
}
