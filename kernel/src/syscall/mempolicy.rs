//! NUMA memory policies (mm's `vm::mempolicy`): set_mempolicy(2),
//! get_mempolicy(2), mbind(2), with Linux's checks in Linux's order.
//!
//! ```text
//!   set_mempolicy(mode | flags, nodemask, maxnode)
//!     bad mode or flags, a set where none belongs or none where one must
//!     be, no node with memory in it                     EINVAL
//!     the mask unreadable                               EFAULT
//!   get_mempolicy(&mode, nodemask, maxnode, addr, flags)
//!     flags: MPOL_F_MEMS_ALLOWED (the nodes with memory; alone, or EINVAL)
//!            MPOL_F_ADDR  the policy of the area at addr (EFAULT: none;
//!                         without the flag a non-zero addr is EINVAL)
//!            MPOL_F_NODE  with ADDR: the node of the page there (faulted
//!                         in); alone: the task's next interleave node
//!                         (EINVAL if it does not interleave, plain or
//!                         weighted)
//!     maxnode below the number of nodes                 EINVAL
//!   mbind(addr, len, mode | flags, nodemask, maxnode, MPOL_MF_*)
//!     unknown MPOL_MF flags, unaligned addr, overflow    EINVAL
//!     MPOL_MF_MOVE_ALL without privilege                EPERM
//!     a hole in the range                               EFAULT
//!     MPOL_MF_STRICT and a page left off the policy      EIO
//!   set_mempolicy_home_node(start, len, home_node, flags)
//!     unaligned start, flags not 0, home_node not a
//!     node of this machine, overflow                    EINVAL
//!     an area of the range with a policy other than
//!     BIND or PREFERRED_MANY                            EOPNOTSUPP
//!     no area of the range with a policy (holes and
//!     areas without one are skipped)                    ENOENT
//! ```
//!
//! mbind on a mapping of a shmem object (tmpfs file, memfd, System V
//! segment, shared anonymous memory) sets the object's shared policy for
//! the area's pages too, and get_mempolicy(MPOL_F_ADDR) reports the
//! shared policy there (mm's `vm::shared_policy`).
//!
//! A node mask is `maxnode - 1` bits (Linux's get_nodes); nodes past 63
//! exist in no machine here, so they only count as nodes without memory.

use abi::errno::*;
use mm::vm::mempolicy::*;

use super::SysResult;
use super::migrate::get_nodes;
use crate::proc;
use crate::usercopy::write_user;

/// The set at `mask` as a node mask; Err(EINVAL) when it names only
/// nodes this kernel cannot have (it would be an empty set otherwise).
fn user_mask(mask: u64, maxnode: u64) -> Result<NodeMask, Errno> {
    let nodes = get_nodes(mask, maxnode)?;
    let m = nodes.iter().filter(|&&n| n < 64).fold(0, |m, &n| m | 1u64 << n);
    if m == 0 && !nodes.is_empty() {
        return Err(EINVAL);
    }
    Ok(m)
}

fn allowed() -> NodeMask {
    nodes_with_memory(crate::mem::page_alloc())
}

pub fn set_mempolicy(mode: u32, nmask: u64, maxnode: u64) -> SysResult {
    MemPolicy::check_mode(mode)?;
    let nodes = user_mask(nmask, maxnode)?;
    let pol = MemPolicy::new(mode, nodes, allowed())?;
    *proc::current().mempolicy.lock() = pol;
    Ok(0)
}

/// Write `mask` as `maxnode - 1` bits at `to` (Linux's copy_nodes_to_user:
/// whole longs, the ones past our 64 nodes zeroed, at most a page).
fn put_mask(to: u64, maxnode: u64, mask: NodeMask) -> Result<(), Errno> {
    let words = maxnode.saturating_sub(1).div_ceil(64);
    if words * 8 > 4096 {
        return Err(EINVAL);
    }
    for w in 0..words {
        write_user(to.wrapping_add(w * 8), &if w == 0 { mask } else { 0 })?;
    }
    Ok(())
}

pub fn get_mempolicy(policy: u64, nmask: u64, maxnode: u64, addr: u64, flags: u64) -> SysResult {
    let pa = crate::mem::page_alloc();
    if nmask != 0 && maxnode < pa.nr_nodes() as u64 {
        return Err(EINVAL);
    }
    if flags & !((MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED) as u64) != 0 {
        return Err(EINVAL);
    }
    let flags = flags as u32;
    let (mode, mask) = if flags & MPOL_F_MEMS_ALLOWED != 0 {
        if flags & (MPOL_F_NODE | MPOL_F_ADDR) != 0 {
            return Err(EINVAL);
        }
        (0, allowed())
    } else {
        let me = proc::current();
        let task_pol = *me.mempolicy.lock();
        let pol = if flags & MPOL_F_ADDR != 0 {
            let mm = me.mm().ok_or(EFAULT)?;
            let p = mm.space.read().policy_at(addr)?;
            p
        } else if addr != 0 {
            return Err(EINVAL);
        } else {
            task_pol
        };
        let (mode, mask) = MemPolicy::to_user(pol.as_ref());
        if flags & MPOL_F_NODE == 0 {
            (mode, mask)
        } else if flags & MPOL_F_ADDR != 0 {
            (node_of(addr)?, mask)
        } else if let Some(p) = pol.filter(MemPolicy::interleaves) {
            // Linux's next_node_in(il_prev): il_prev starts before the
            // first node, and only allocations outside any area (not made
            // by policy here) advance it.
            (p.nodes.trailing_zeros(), mask)
        } else {
            return Err(EINVAL);
        }
    };
    if policy != 0 {
        write_user(policy, &(mode as i32))?;
    }
    if nmask != 0 {
        put_mask(nmask, maxnode, mask)?;
    }
    Ok(0)
}

/// The node of the page at `addr` of the caller, faulted in for reading
/// first if need be (Linux's lookup_node, through get_user_pages).
fn node_of(addr: u64) -> Result<u32, Errno> {
    let me = proc::current();
    let mm = me.mm().ok_or(EFAULT)?;
    let env = crate::mem::user::env();
    let page = addr & !0xfff;
    if let Ok(n) = mm.space.read().page_node(&env, page) {
        return Ok(n);
    }
    // Not there (or the zero page): a read as user space would do it.
    let mut b = [0u8; 1];
    crate::usercopy::copy_from_user(&mut b, addr).map_err(|_| EFAULT)?;
    let space = mm.space.read();
    match space.lookup(&env, page) {
        Some((pfn, _)) => pa_node(pfn),
        None => Err(EFAULT),
    }
}

fn pa_node(pfn: mm::addr::Pfn) -> Result<u32, Errno> {
    crate::mem::page_alloc().page(pfn).map(|p| p.node()).ok_or(EFAULT)
}

pub fn mbind(start: u64, len: u64, mode: u32, nmask: u64, maxnode: u64, flags: u32) -> SysResult {
    MemPolicy::check_mode(mode)?;
    let nodes = user_mask(nmask, maxnode)?;
    if flags & !(MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0 {
        return Err(EINVAL);
    }
    let me = proc::current();
    if flags & MPOL_MF_MOVE_ALL != 0 && !me.inner.lock().creds.is_root() {
        return Err(EPERM);
    }
    if start & 0xfff != 0 {
        return Err(EINVAL);
    }
    let end = (len.checked_add(0xfff).ok_or(EINVAL)? & !0xfff).checked_add(start).ok_or(EINVAL)?;
    if end == start {
        return Ok(0);
    }
    let pol = MemPolicy::new(mode, nodes, allowed())?;
    // MPOL_DEFAULT has nothing to be strict about.
    let flags = if pol.is_none() { flags & !MPOL_MF_STRICT } else { flags };
    let mm = me.mm().ok_or(EFAULT)?;
    drop(me);
    let env = crate::mem::user::env();
    mm.space.write().mbind(&env, start, len, pol, flags)?;
    Ok(0)
}

/// set_mempolicy_home_node(2): Linux's checks in Linux's order, then mm's
/// `set_home_node` under the address space's write lock.
pub fn set_mempolicy_home_node(start: u64, len: u64, home_node: u64, flags: u64) -> SysResult {
    if start & 0xfff != 0 || flags != 0 {
        return Err(EINVAL);
    }
    // node_online: every node of the machine (with memory or not).
    if home_node >= crate::mem::page_alloc().nr_nodes() as u64 {
        return Err(EINVAL);
    }
    // PAGE_ALIGN(len) and start + len wrap as in Linux: a length that
    // rounds to 0 is no range at all.
    let end = start.wrapping_add(len.wrapping_add(0xfff) & !0xfff);
    if end < start {
        return Err(EINVAL);
    }
    if end == start {
        return Ok(0);
    }
    let me = proc::current();
    let mm = me.mm().ok_or(EFAULT)?;
    drop(me);
    let env = crate::mem::user::env();
    match mm.space.write().set_home_node(&env, start, end, home_node as u32)? {
        0 => Err(ENOENT),
        _ => Ok(0),
    }
}
