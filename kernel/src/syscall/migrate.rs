//! move_pages(2): which node each of a process's pages is on, and moving
//! them to other nodes (mm's `vm::migrate`).
//!
//! ```text
//!   move_pages(pid, count, pages[], nodes[] or NULL, status[], flags)
//!     flags other than MPOL_MF_MOVE | MPOL_MF_MOVE_ALL     EINVAL
//!     MPOL_MF_MOVE_ALL without CAP_SYS_NICE (root)        EPERM
//!     no such process                                     ESRCH
//!     not allowed to read its memory (ptrace rules)       EPERM
//!     a node out of range or without memory              ENODEV
//!     an array unreadable or status unwritable           EFAULT
//!   status[i]: the node, or -ENOENT (no page), -EFAULT (no area, the zero
//!     page), -EACCES (shared without MOVE_ALL), -EBUSY, -ENOMEM
//!   returns 0, or how many pages could not be moved (-EBUSY, -ENOMEM)
//! ```
//!
//! migrate_pages(2) moves every page of a process on the nodes of
//! `old_nodes` to those of `new_nodes` (the n-th node of one to the n-th
//! of the other, modulo its size: Linux's node_remap); the new nodes
//! without memory are left out, and EINVAL if none is left (or a mask
//! sets bits past the nodes Linux supports); ESRCH, EPERM as move_pages;
//! MPOL_MF_MOVE_ALL semantics for root. Returns the pages left behind.
//!
//! The arrays are read and the statuses written with no address-space
//! lock held (a user access may fault, and a fault takes that lock), in
//! chunks of [`CHUNK`] pages; each chunk is done under the target's lock
//! (exclusive when moving: no fault of it runs meanwhile, see vm::migrate).

use alloc::vec::Vec;

use abi::errno::*;
use mm::vm::migrate::MigrateError;

use super::SysResult;
use crate::proc;
use crate::usercopy::{read_user, write_user};

const MPOL_MF_MOVE: i32 = 1 << 1;
const MPOL_MF_MOVE_ALL: i32 = 1 << 2;

/// Pages per lock hold (Linux's DO_PAGES_STAT_CHUNK_NR is 16).
const CHUNK: u64 = 64;

fn status_of(r: Result<u32, MigrateError>) -> i32 {
    match r {
        Ok(n) => n as i32,
        Err(MigrateError::NotPresent) => -ENOENT.0,
        Err(MigrateError::Fault) => -EFAULT.0,
        Err(MigrateError::Shared) => -EACCES.0,
        Err(MigrateError::Busy) => -EBUSY.0,
        Err(MigrateError::NoMemory) => -ENOMEM.0,
    }
}

pub fn move_pages(pid: i32, count: u64, pages: u64, nodes: u64, status: u64, flags: i32) -> SysResult {
    if flags & !(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0 {
        return Err(EINVAL);
    }
    let me = proc::current();
    if flags & MPOL_MF_MOVE_ALL != 0 && !me.inner.lock().creds.is_root() {
        return Err(EPERM);
    }
    if pid < 0 {
        return Err(ESRCH);
    }
    let target = if pid == 0 { Some(me.clone()) } else { proc::task(pid as proc::Pid) }.ok_or(ESRCH)?;
    if !proc::ptrace_may_read(&me, &target, false) {
        return Err(EPERM);
    }
    let mm = target.mm().ok_or(EINVAL)?;
    drop((me, target));
    let pa = crate::mem::page_alloc();
    let move_all = flags & MPOL_MF_MOVE_ALL != 0;
    let mut not_moved = 0;
    let mut done = 0;
    while done < count {
        let n = (count - done).min(CHUNK);
        let mut addrs = Vec::new();
        let mut targets = Vec::new();
        addrs.try_reserve_exact(n as usize).map_err(|_| ENOMEM)?;
        for i in done..done + n {
            addrs.push(read_user::<u64>(pages.wrapping_add(i * 8))?);
            if nodes != 0 {
                let node: i32 = read_user(nodes.wrapping_add(i * 4))?;
                if node < 0 || node as u32 >= pa.nr_nodes() || !has_memory(node) {
                    return Err(ENODEV);
                }
                targets.push(node as u32);
            }
        }
        let results: Vec<i32> = {
            let tlb = arch::mm_hooks::RootTlb { root: mm.root };
            let env = crate::mem::user::env_for(&tlb);
            if nodes == 0 {
                let s = mm.space.read();
                addrs.iter().map(|&a| status_of(s.page_node(&env, a))).collect()
            } else {
                let mut s = mm.space.write();
                addrs.iter().zip(&targets).map(|(&a, &nid)| status_of(s.move_page(&env, a, nid, move_all))).collect()
            }
        };
        for (i, st) in results.iter().enumerate() {
            if *st == -EBUSY.0 || *st == -ENOMEM.0 {
                not_moved += 1;
            }
            write_user(status.wrapping_add((done + i as u64) * 4), st)?;
        }
        done += n;
    }
    Ok(not_moved)
}

/// Whether node `nid` has memory at all (N_MEMORY).
fn has_memory(nid: i32) -> bool {
    crate::mem::page_alloc().nodes.get(nid as usize).is_some_and(|n| n.zones.iter().any(|z| z.managed() > 0))
}

/// Nodes a mask may name (Linux's MAX_NUMNODES with NODES_SHIFT 10).
const USER_MAX_NUMNODES: u64 = 1024;

/// A nodemask of `maxnode - 1` bits at `mask` (Linux's get_nodes), as a
/// list of node ids below USER_MAX_NUMNODES.
pub(super) fn get_nodes(mask: u64, maxnode: u64) -> Result<Vec<u32>, Errno> {
    let bits = maxnode.saturating_sub(1);
    if bits == 0 || mask == 0 {
        return Ok(Vec::new());
    }
    if bits > 4096 * 8 {
        return Err(EINVAL);
    }
    let mut nodes = Vec::new();
    for word in 0..bits.div_ceil(64) {
        let mut w: u64 = read_user(mask.wrapping_add(word * 8))?;
        let valid = (bits - word * 64).min(64);
        if valid < 64 {
            w &= (1u64 << valid) - 1;
        }
        for b in 0..64 {
            if w >> b & 1 == 0 {
                continue;
            }
            let node = word * 64 + b;
            if node >= USER_MAX_NUMNODES {
                return Err(EINVAL);
            }
            nodes.push(node as u32);
        }
    }
    Ok(nodes)
}

pub fn migrate_pages(pid: i32, maxnode: u64, old_nodes: u64, new_nodes: u64) -> SysResult {
    let old = get_nodes(old_nodes, maxnode)?;
    let new = get_nodes(new_nodes, maxnode)?;
    if pid < 0 {
        return Err(ESRCH);
    }
    let me = proc::current();
    let target = if pid == 0 { Some(me.clone()) } else { proc::task(pid as proc::Pid) }.ok_or(ESRCH)?;
    if !proc::ptrace_may_read(&me, &target, false) {
        return Err(EPERM);
    }
    // Only nodes with memory may receive pages; none left is EINVAL.
    let new: Vec<u32> = new.into_iter().filter(|&n| has_memory(n as i32)).collect();
    if new.is_empty() {
        return Err(EINVAL);
    }
    let move_all = me.inner.lock().creds.is_root();
    let mm = target.mm().ok_or(EINVAL)?;
    drop((me, target));
    // node_remap: the i-th node of `old` goes to the (i mod |new|)-th of
    // `new`; a source that is also a target stays when the sizes differ.
    let mut to = [None; mm::phys::numa::MAX_NUMNODES];
    if !new.is_empty() {
        for (i, &s) in old.iter().enumerate() {
            let d = new[i % new.len()];
            let stays = old.len() != new.len() && new.contains(&s);
            if let Some(slot) = to.get_mut(s as usize).filter(|_| s != d && !stays) {
                *slot = Some(d);
            }
        }
    }
    let tlb = arch::mm_hooks::RootTlb { root: mm.root };
    let env = crate::mem::user::env_for(&tlb);
    let left = mm.space.write().migrate_nodes(&env, &to, move_all);
    Ok(left)
}
