//! System information, limits and credentials: uname, sysinfo,
//! getrusage, getrlimit/setrlimit/prlimit64, the uid/gid family,
//! getrandom.

use abi::errno::*;
use abi::resource::{RLIM_NLIMITS, RLIMIT_NOFILE};

use super::SysResult;
use crate::proc::{self, Creds, Rlimit, current};
use crate::usercopy::{copy_to_user, read_user, write_user};

pub fn uname(buf: u64) -> SysResult {
    let mut u = [0u8; 65 * 6];
    let fields =
        ["Linux", "mmkernel", "6.1.0-mmkernel", concat!("#1 mmkernel ", env!("CARGO_PKG_VERSION")), "x86_64", "(none)"];
    for (i, f) in fields.iter().enumerate() {
        u[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    copy_to_user(buf, &u)?;
    Ok(0)
}

pub fn sysinfo(buf: u64) -> SysResult {
    let pa = crate::mem::page_alloc();
    let mut s = [0u8; 112];
    let put = |s: &mut [u8; 112], off: usize, v: u64| s[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut s, 0, arch::time::uptime_ns() / 1_000_000_000);
    put(&mut s, 32, pa.nr_managed_pages() * 4096);
    put(&mut s, 40, pa.nr_free_pages() * 4096);
    put(&mut s, 48, pa.vmstat.shmem_pages.get() * 4096);
    let (swap_total, swap_free) = crate::block::swap::totals();
    put(&mut s, 64, swap_total * 4096);
    put(&mut s, 72, swap_free * 4096);
    s[80..82].copy_from_slice(&(proc::nr_tasks() as u16).to_le_bytes());
    s[104..108].copy_from_slice(&1u32.to_le_bytes());
    copy_to_user(buf, &s)?;
    Ok(0)
}

pub fn getrusage(who: i32, buf: u64) -> SysResult {
    if !matches!(who, 0 | -1 | 1) {
        return Err(EINVAL);
    }
    let me = current();
    // RUSAGE_CHILDREN: what wait4 reaped (children and their descendants).
    if who == -1 {
        let c = me.leader().inner.lock().cusage;
        write_user(buf, &c.to_rusage())?;
        return Ok(0);
    }
    // RUSAGE_SELF: every thread of the process (the leader's counters
    // hold those of the threads that have exited); RUSAGE_THREAD: the
    // caller alone.
    let (ut, st) = if who == 0 { me.process_times() } else { me.thread_times() };
    let (minflt, majflt, maxrss) = me
        .mm()
        .map(|m| {
            let c = m.space.read().counters();
            (c.min_flt, c.maj_flt, c.hiwater_rss * 4)
        })
        .unwrap_or_default();
    let tick_us = 1_000_000 / proc::sched::HZ;
    let mut r = [0u64; 18];
    {
        let (ut_us, st_us) = (ut.saturating_mul(tick_us), st.saturating_mul(tick_us));
        r[0] = ut_us / 1_000_000;
        r[1] = ut_us % 1_000_000;
        r[2] = st_us / 1_000_000;
        r[3] = st_us % 1_000_000;
        r[4] = maxrss;
        r[8] = minflt;
        r[9] = majflt;
    }
    write_user(buf, &r)?;
    Ok(0)
}

fn limits_of(pid: i32) -> Result<alloc::sync::Arc<proc::Task>, Errno> {
    if pid == 0 {
        return Ok(current());
    }
    if pid < 0 {
        return Err(EINVAL);
    }
    proc::task(pid as u32).filter(|t| !t.is_dead()).ok_or(ESRCH)
}

/// The core of prlimit64: read the old limit, validate and set the new.
fn do_prlimit(pid: i32, resource: u32, new: Option<Rlimit>) -> Result<Rlimit, Errno> {
    if resource as usize >= RLIM_NLIMITS {
        return Err(EINVAL);
    }
    let t = limits_of(pid)?;
    let root = current().inner.lock().creds.is_root();
    if pid != 0 && t.pid() != current().pid() && !root {
        let (a, b) = (t.inner.lock().creds.uid, current().inner.lock().creds.uid);
        if a != b {
            return Err(EPERM);
        }
    }
    let mut i = t.inner.lock();
    let old = i.rlimits[resource as usize];
    if let Some(n) = new {
        if n.cur > n.max {
            return Err(EINVAL);
        }
        if n.max > old.max && !root {
            return Err(EPERM);
        }
        // Even root cannot pass nr_open, and RLIM_INFINITY is above it.
        if resource as usize == RLIMIT_NOFILE && n.max > crate::sysctl::nr_open() {
            return Err(EPERM);
        }
        i.rlimits[resource as usize] = n;
        drop(i);
        // Limits belong to the process: every thread sees the new one.
        for x in proc::threads_of(&t) {
            x.inner.lock().rlimits[resource as usize] = n;
        }
    }
    Ok(old)
}

pub fn getrlimit(resource: u32, buf: u64) -> SysResult {
    let old = do_prlimit(0, resource, None)?;
    write_user(buf, &[old.cur, old.max])?;
    Ok(0)
}

pub fn setrlimit(resource: u32, buf: u64) -> SysResult {
    let v: [u64; 2] = read_user(buf)?;
    do_prlimit(0, resource, Some(Rlimit { cur: v[0], max: v[1] }))?;
    Ok(0)
}

pub fn prlimit64(pid: i32, resource: u32, new: u64, old: u64) -> SysResult {
    let n = if new != 0 {
        let v: [u64; 2] = read_user(new)?;
        Some(Rlimit { cur: v[0], max: v[1] })
    } else {
        None
    };
    let o = do_prlimit(pid, resource, n)?;
    if old != 0 {
        write_user(old, &[o.cur, o.max])?;
    }
    Ok(0)
}

fn creds() -> Creds {
    current().inner.lock().creds.clone()
}

fn set_creds(c: Creds) {
    current().inner.lock().commit_creds(c);
}

pub fn getuid() -> SysResult {
    Ok(creds().uid as u64)
}
pub fn geteuid() -> SysResult {
    Ok(creds().euid as u64)
}
pub fn getgid() -> SysResult {
    Ok(creds().gid as u64)
}
pub fn getegid() -> SysResult {
    Ok(creds().egid as u64)
}

/// setuid(2): root sets all three ids; others may only set the effective
/// id to their real or saved one.
pub fn setuid(uid: u32) -> SysResult {
    let mut c = creds();
    if c.is_root() {
        c.uid = uid;
        c.euid = uid;
        c.suid = uid;
    } else if uid == c.uid || uid == c.suid {
        c.euid = uid;
    } else {
        return Err(EPERM);
    }
    set_creds(c);
    Ok(0)
}

pub fn setgid(gid: u32) -> SysResult {
    let mut c = creds();
    if c.is_root() {
        c.gid = gid;
        c.egid = gid;
        c.sgid = gid;
    } else if gid == c.gid || gid == c.sgid {
        c.egid = gid;
    } else {
        return Err(EPERM);
    }
    set_creds(c);
    Ok(0)
}

const KEEP: u32 = u32::MAX;

pub fn setresuid(r: u32, e: u32, s: u32) -> SysResult {
    let mut c = creds();
    if !c.is_root() {
        let ok = |v: u32| v == KEEP || v == c.uid || v == c.euid || v == c.suid;
        if !(ok(r) && ok(e) && ok(s)) {
            return Err(EPERM);
        }
    }
    if r != KEEP {
        c.uid = r;
    }
    if e != KEEP {
        c.euid = e;
    }
    if s != KEEP {
        c.suid = s;
    }
    set_creds(c);
    Ok(0)
}

pub fn setresgid(r: u32, e: u32, s: u32) -> SysResult {
    let mut c = creds();
    if !c.is_root() {
        let ok = |v: u32| v == KEEP || v == c.gid || v == c.egid || v == c.sgid;
        if !(ok(r) && ok(e) && ok(s)) {
            return Err(EPERM);
        }
    }
    if r != KEEP {
        c.gid = r;
    }
    if e != KEEP {
        c.egid = e;
    }
    if s != KEEP {
        c.sgid = s;
    }
    set_creds(c);
    Ok(0)
}

pub fn setreuid(r: u32, e: u32) -> SysResult {
    let mut c = creds();
    let old_uid = c.uid;
    if !c.is_root()
        && ((r != KEEP && r != c.uid && r != c.euid) || (e != KEEP && e != c.uid && e != c.euid && e != c.suid))
    {
        return Err(EPERM);
    }
    if r != KEEP {
        c.uid = r;
    }
    if e != KEEP {
        c.euid = e;
    }
    if r != KEEP || (e != KEEP && e != old_uid) {
        c.suid = c.euid;
    }
    set_creds(c);
    Ok(0)
}

pub fn setregid(r: u32, e: u32) -> SysResult {
    let mut c = creds();
    let old_gid = c.gid;
    if !c.is_root()
        && ((r != KEEP && r != c.gid && r != c.egid) || (e != KEEP && e != c.gid && e != c.egid && e != c.sgid))
    {
        return Err(EPERM);
    }
    if r != KEEP {
        c.gid = r;
    }
    if e != KEEP {
        c.egid = e;
    }
    if r != KEEP || (e != KEEP && e != old_gid) {
        c.sgid = c.egid;
    }
    set_creds(c);
    Ok(0)
}

pub fn getresuid(r: u64, e: u64, s: u64) -> SysResult {
    let c = creds();
    write_user(r, &c.uid)?;
    write_user(e, &c.euid)?;
    write_user(s, &c.suid)?;
    Ok(0)
}

pub fn getresgid(r: u64, e: u64, s: u64) -> SysResult {
    let c = creds();
    write_user(r, &c.gid)?;
    write_user(e, &c.egid)?;
    write_user(s, &c.sgid)?;
    Ok(0)
}

/// Linux's NGROUPS_MAX: the most supplementary groups a process has.
const NGROUPS_MAX: usize = 65536;

/// getgroups(2): the supplementary groups, sorted. A `size` of 0 asks
/// only for their number; a smaller `size` than that is EINVAL.
pub fn getgroups(size: i32, list: u64) -> SysResult {
    let groups = creds().groups;
    if size < 0 {
        return Err(EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(EINVAL);
    }
    let bytes: alloc::vec::Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    copy_to_user(list, &bytes)?;
    Ok(groups.len() as u64)
}

/// setgroups(2): replace the supplementary groups (CAP_SETGID, checked
/// first as Linux does; then at most NGROUPS_MAX, EFAULT, and no -1). The
/// list is kept sorted, repeats included (Linux's `groups_sort`).
pub fn setgroups(size: i32, list: u64) -> SysResult {
    let mut c = creds();
    if !c.is_root() {
        return Err(EPERM);
    }
    if size < 0 || size as usize > NGROUPS_MAX {
        return Err(EINVAL);
    }
    // Up to 256 KiB a caller chooses: ENOMEM rather than a failed
    // allocation's panic.
    let mut bytes = alloc::vec::Vec::new();
    bytes.try_reserve_exact(size as usize * 4).map_err(|_| ENOMEM)?;
    bytes.resize(size as usize * 4, 0u8);
    crate::usercopy::copy_from_user(&mut bytes, list)?;
    let mut groups: alloc::vec::Vec<u32> =
        bytes.chunks_exact(4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect();
    if groups.contains(&u32::MAX) {
        return Err(EINVAL);
    }
    groups.sort_unstable();
    c.groups = groups.into();
    set_creds(c);
    Ok(0)
}

/// personality(2): set the persona (0xffffffff only asks) and return the
/// old one. What this kernel acts on: READ_IMPLIES_EXEC (mmap and
/// mprotect add PROT_EXEC to PROT_READ) and ADDR_COMPAT_LAYOUT (the next
/// exec uses the legacy, bottom-up mmap layout). ADDR_NO_RANDOMIZE holds
/// always: nothing is randomised. Other bits are kept and inherited as
/// Linux keeps them.
pub fn personality(persona: u32) -> SysResult {
    let me = current();
    let mut i = me.inner.lock();
    let old = i.personality;
    if persona != u32::MAX {
        i.personality = persona;
    }
    Ok(old as u64)
}

/// personality(2)'s READ_IMPLIES_EXEC.
pub const READ_IMPLIES_EXEC: u32 = 0x040_0000;

/// `prot` as mmap and mprotect take it: READ_IMPLIES_EXEC makes a
/// readable mapping executable too (Linux's do_mmap and mprotect).
pub fn implied_prot(prot: u32) -> u32 {
    const PROT_READ: u32 = 1;
    const PROT_EXEC: u32 = 4;
    if prot & PROT_READ != 0 && current().inner.lock().personality & READ_IMPLIES_EXEC != 0 {
        prot | PROT_EXEC
    } else {
        prot
    }
}

/// _LINUX_CAPABILITY_VERSION_1 (32-bit sets) and _2/_3 (64-bit sets,
/// two data records).
const CAP_V1: u32 = 0x1998_0330;
const CAP_V2: u32 = 0x2007_1026;
const CAP_V3: u32 = 0x2008_0522;
/// Every capability up to CAP_LAST_CAP (40, CAP_CHECKPOINT_RESTORE).
const CAP_FULL: u64 = (1 << 41) - 1;

/// capget(2): a task's capability sets. This kernel's privilege is
/// euid 0 (`Creds::is_root`), so a root task has every capability
/// permitted and effective and a task of another user none, as
/// /proc/PID/status's CapPrm and CapEff say; none are inheritable. An
/// unknown version writes the one preferred (v3) back and is EINVAL, or
/// 0 when `data` is NULL (how libcap probes); a negative pid is EINVAL,
/// an unknown one ESRCH.
pub fn capget(header: u64, data: u64) -> SysResult {
    let [version, pid]: [u32; 2] = read_user(header)?;
    let records = match version {
        CAP_V1 => 1,
        CAP_V2 | CAP_V3 => 2,
        _ => {
            write_user(header, &CAP_V3)?;
            return if data == 0 { Ok(0) } else { Err(EINVAL) };
        }
    };
    if data == 0 {
        return Ok(0);
    }
    let pid = pid as i32;
    if pid < 0 {
        return Err(EINVAL);
    }
    let root = if pid == 0 || pid as u32 == current().tgid() {
        creds().is_root()
    } else {
        proc::task(pid as u32).ok_or(ESRCH)?.inner.lock().creds.is_root()
    };
    let set = if root { CAP_FULL } else { 0 };
    // struct __user_cap_data_struct { effective, permitted, inheritable }.
    let out: [[u32; 3]; 2] = [[set as u32, set as u32, 0], [(set >> 32) as u32, (set >> 32) as u32, 0]];
    let bytes: alloc::vec::Vec<u8> = out[..records].iter().flatten().flat_map(|w| w.to_ne_bytes()).collect();
    copy_to_user(data, &bytes)?;
    Ok(0)
}

const GRND_NONBLOCK: u32 = 1;
const GRND_RANDOM: u32 = 2;
const GRND_INSECURE: u32 = 4;
/// Linux's MAX_RW_COUNT: the most one call moves.
const MAX_RW: u64 = 0x7fff_f000;

/// Fill `out` with random bytes (RDRAND where the CPU has it).
fn fill_random(out: &mut [u8]) {
    arch::random::fill(out);
}

/// getrandom(2): up to MAX_RW_COUNT bytes, made and copied one bounce
/// buffer at a time; a fault ends the call with the bytes copied before
/// it (EFAULT if none), a fatal signal between chunks with the count so
/// far, as `get_random_bytes_user`.
pub fn getrandom(buf: u64, len: u64, flags: u32) -> SysResult {
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(EINVAL);
    }
    let len = len.min(MAX_RW);
    if !crate::usercopy::access_ok(buf, len) {
        return Err(EFAULT);
    }
    let mut block = super::fs::bounce(len)?;
    let mut done = 0u64;
    while done < len {
        if done != 0 && super::fs::chunk_break() {
            break;
        }
        let want = ((len - done) as usize).min(block.len());
        fill_random(&mut block[..want]);
        let copied = super::fs::copy_to_user_prefix(buf + done, &block[..want]);
        done += copied as u64;
        if copied < want {
            break;
        }
    }
    // Scrub the kernel's copy of what the process now holds.
    block.fill(0);
    if done == 0 && len != 0 {
        return Err(EFAULT);
    }
    Ok(done)
}

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_SET_THP_DISABLE: u64 = 41;
const PR_GET_THP_DISABLE: u64 = 42;

/// prctl(2): the process-name and bookkeeping options programs use at
/// start-up; anything else is EINVAL, as Linux answers an unknown option.
pub fn prctl(option: u64, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> SysResult {
    let me = current();
    match option {
        // No transparent huge pages for this process (and its children
        // and exec'd programs); the other arguments must be 0.
        PR_SET_THP_DISABLE => {
            if arg3 | arg4 | arg5 != 0 {
                return Err(EINVAL);
            }
            drop(me);
            super::mem::with_mm(|s, _, _| s.thp_disabled = arg2 != 0)?;
            Ok(0)
        }
        PR_GET_THP_DISABLE => {
            if arg2 | arg3 | arg4 | arg5 != 0 {
                return Err(EINVAL);
            }
            drop(me);
            super::mem::with_mm(|s, _, _| s.thp_disabled as u64)
        }
        PR_SET_NAME => {
            // Up to 16 bytes are read, the name keeps at most 15 (`comm`).
            let mut bytes = alloc::vec::Vec::new();
            for i in 0..15u64 {
                let mut b = [0u8];
                crate::usercopy::copy_from_user(&mut b, arg2 + i)?;
                if b[0] == 0 {
                    break;
                }
                bytes.push(b[0]);
            }
            me.inner.lock().name = alloc::string::String::from_utf8_lossy(&bytes).into_owned();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut buf = [0u8; 16];
            let name = me.name();
            let b = &name.as_bytes()[..name.len().min(15)];
            buf[..b.len()].copy_from_slice(b);
            copy_to_user(arg2, &buf)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG => {
            // Sent when the parent exits (exit.rs); fork clears it.
            if arg2 > 64 {
                return Err(EINVAL);
            }
            me.inner.lock().pdeathsig = arg2 as u32;
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let sig = me.inner.lock().pdeathsig;
            write_user(arg2, &(sig as i32))?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(me.inner.lock().dumpable as u64),
        PR_SET_DUMPABLE => {
            if arg2 > 1 {
                return Err(EINVAL);
            }
            me.inner.lock().dumpable = arg2 == 1;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
