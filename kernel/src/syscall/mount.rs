//! mount(2) and umount2(2) of tmpfs file systems (Linux's fs/namespace.c
//! and the tmpfs options of mm/shmem.c).
//!
//! mount: the target is looked up first (ENOENT, ENOTDIR), then the caller
//! must be root (CAP_SYS_ADMIN: EPERM), the type must be tmpfs, sysfs, hugetlbfs or
//! cgroup2 (the one cgroup v2 hierarchy, options ignored; ENODEV otherwise),
//! no flag asking for what is not offered (EINVAL for MS_REMOUNT, MS_BIND,
//! MS_MOVE, the propagation flags and MS_RDONLY), and the options Linux's
//! tmpfs knows (EINVAL otherwise):
//!
//! ```text
//!   size=N[kmgtpe] | N%   pages the files may hold (0: no limit)
//!   nr_inodes=N[kmgtpe]   inodes, the root included (0: no limit)
//!   mode=OCTAL            the root directory's mode (default 1777)
//!   uid=N, gid=N          the root directory's owner
//! ```
//!
//! umount2: MNT_FORCE, MNT_DETACH, MNT_EXPIRE (EINVAL with either of the
//! others), UMOUNT_NOFOLLOW; the target must be the root of a mount
//! (EINVAL), the caller root (EPERM).

use alloc::format;
use alloc::string::String;

use abi::errno::*;

use super::SysResult;
use super::fs::{base_dir, path_arg};
use crate::usercopy::read_user_cstr;
use crate::vfs::namei::{creds, resolve};
use crate::vfs::{mount, tmpfs};

const MS_RDONLY: u64 = 1;
const MS_NOSUID: u64 = 2;
const MS_NODEV: u64 = 4;
const MS_NOEXEC: u64 = 8;
const MS_SYNCHRONOUS: u64 = 16;
const MS_REMOUNT: u64 = 32;
const MS_NOATIME: u64 = 1024;
const MS_BIND: u64 = 4096;
const MS_MOVE: u64 = 8192;
const MS_UNBINDABLE: u64 = 1 << 17;
const MS_PRIVATE: u64 = 1 << 18;
const MS_SLAVE: u64 = 1 << 19;
const MS_SHARED: u64 = 1 << 20;
const MS_STRICTATIME: u64 = 1 << 24;
/// The old magic number in the top 16 bits (`MS_MGC_VAL`), stripped.
const MS_MGC_MSK: u64 = 0xffff_0000;
const MS_MGC_VAL: u64 = 0xc0ed_0000;

/// The other kinds of mount(2) call (remount, bind, move, propagation)
/// and read-only mounts, which are not offered. Other flags a new tmpfs
/// mount takes as Linux does: nosuid, nodev, noexec and sync are listed in
/// /proc/mounts (tmpfs has no device files and the kernel honours no
/// set-user-ID bit, so nosuid and nodev hold trivially; noexec is enforced
/// by execve); atime choices change nothing for memory; unknown bits are
/// ignored, as Linux ignores them.
const NOT_OFFERED: u64 = MS_RDONLY | MS_REMOUNT | MS_BIND | MS_MOVE | MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED;

const MNT_FORCE: u32 = 1;
const MNT_DETACH: u32 = 2;
const MNT_EXPIRE: u32 = 4;
const UMOUNT_NOFOLLOW: u32 = 8;

/// Parsed tmpfs options.
struct TmpfsOpts {
    pages: u64,
    inodes: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// `memparse`: a number with an optional k, m, g, t, p or e suffix.
fn memparse(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        b'p' | b'P' => (&s[..s.len() - 1], 50),
        b'e' | b'E' => (&s[..s.len() - 1], 60),
        _ => (s, 0),
    };
    let n: u64 = if let Some(hex) = digits.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        digits.parse().ok()?
    };
    n.checked_mul(1 << shift)
}

fn parse_tmpfs(data: &str, ram_pages: u64) -> Result<TmpfsOpts, Errno> {
    // Linux's defaults: half of RAM, and as many inodes as it has pages
    // (lowmem pages / 2).
    let mut o = TmpfsOpts { pages: ram_pages / 2, inodes: (ram_pages / 2).max(2), mode: 0o1777, uid: 0, gid: 0 };
    for opt in data.split(',').filter(|s| !s.is_empty()) {
        let (key, val) = opt.split_once('=').unwrap_or((opt, ""));
        match key {
            "size" => {
                o.pages = if let Some(pct) = val.strip_suffix('%') {
                    let pct: u64 = pct.parse().map_err(|_| EINVAL)?;
                    ram_pages.checked_mul(pct).ok_or(EINVAL)? / 100
                } else {
                    memparse(val).ok_or(EINVAL)?.div_ceil(4096)
                };
            }
            "nr_blocks" => o.pages = memparse(val).ok_or(EINVAL)?,
            "nr_inodes" => o.inodes = memparse(val).ok_or(EINVAL)?,
            "mode" => o.mode = u32::from_str_radix(val, 8).map_err(|_| EINVAL)? & 0o7777,
            "uid" => o.uid = val.parse().map_err(|_| EINVAL)?,
            "gid" => o.gid = val.parse().map_err(|_| EINVAL)?,
            // The generic flags a mount helper may leave in the string.
            "rw" if val.is_empty() => {}
            _ => return Err(EINVAL),
        }
    }
    Ok(o)
}

/// The flag words /proc/mounts shows before the file system's options.
fn flag_words(flags: u64) -> String {
    let mut s = String::from("rw");
    for (bit, word) in [(MS_NOSUID, "nosuid"), (MS_NODEV, "nodev"), (MS_NOEXEC, "noexec"), (MS_SYNCHRONOUS, "sync")] {
        if flags & bit != 0 {
            s.push(',');
            s.push_str(word);
        }
    }
    // The default atime mode is relatime, as Linux's.
    s.push_str(if flags & MS_NOATIME != 0 {
        ",noatime"
    } else if flags & MS_STRICTATIME != 0 {
        ""
    } else {
        ",relatime"
    });
    s
}

pub fn mount(source: u64, target: u64, fstype: u64, flags: u64, data: u64) -> SysResult {
    let target_path = path_arg(target)?;
    let base = base_dir(abi::fcntl::AT_FDCWD, &target_path)?;
    let at = resolve(&target_path, &base, true)?;
    if !creds().is_root() {
        return Err(EPERM);
    }
    let flags = if flags & MS_MGC_MSK == MS_MGC_VAL { flags & !MS_MGC_MSK } else { flags };
    if flags & NOT_OFFERED != 0 {
        return Err(EINVAL);
    }
    if fstype == 0 {
        return Err(EINVAL);
    }
    let fstype = read_user_cstr(fstype, 4095)?;
    if fstype == "sysfs" {
        // Another view of the same /sys (options are not parsed).
        if !at.inode.is_dir() {
            return Err(ENOTDIR);
        }
        let root = crate::vfs::sysfs::sys_root();
        mount::mount(at.inode, at.path, "sysfs", flag_words(flags), flags & MS_NOEXEC != 0, root)?;
        return Ok(0);
    }
    if fstype == "hugetlbfs" {
        return mount_hugetlbfs(source, at, flags, data);
    }
    if fstype == "cgroup2" {
        // v2 has one hierarchy: every mount shows it (options are not
        // parsed: nsdelegate and friends change nothing here).
        if !at.inode.is_dir() {
            return Err(ENOTDIR);
        }
        let root = crate::vfs::cgroupfs::root();
        mount::mount(at.inode, at.path, "cgroup2", flag_words(flags), flags & MS_NOEXEC != 0, root)?;
        return Ok(0);
    }
    if fstype != "tmpfs" {
        return Err(ENODEV);
    }
    // The source names nothing for tmpfs; it must still be readable.
    if source != 0 {
        read_user_cstr(source, 4095)?;
    }
    let data = if data == 0 { String::new() } else { read_user_cstr(data, 4095)? };
    let ram_pages = crate::mem::page_alloc().nr_managed_pages();
    let o = parse_tmpfs(&data, ram_pages)?;
    if !at.inode.is_dir() {
        return Err(ENOTDIR);
    }
    let pages = if o.pages == 0 { u64::MAX >> 12 } else { o.pages };
    let inodes = if o.inodes == 0 { u64::MAX } else { o.inodes };
    let root = tmpfs::mount_as(o.mode, pages.saturating_mul(4096), inodes, o.uid, o.gid);
    let mut opts = flag_words(flags);
    if o.uid != 0 {
        opts.push_str(&format!(",uid={}", o.uid));
    }
    if o.gid != 0 {
        opts.push_str(&format!(",gid={}", o.gid));
    }
    mount::mount(at.inode, at.path, "tmpfs", opts, flags & MS_NOEXEC != 0, root)?;
    Ok(0)
}

/// mount(2) of a hugetlbfs: `pagesize=` (2M, or 1G when that pool
/// exists; the default size without it), `size=` and
/// `min_size=` (bytes with K/M/G/..., or a percentage of the pool: its
/// huge pages; min_size above size is EINVAL, a min_size the pool cannot
/// promise ENOMEM), `nr_inodes=`, `mode=`, `uid=`, `gid=`; anything else
/// is EINVAL.
fn mount_hugetlbfs(source: u64, at: crate::vfs::namei::Resolved, flags: u64, data: u64) -> SysResult {
    if source != 0 {
        read_user_cstr(source, 4095)?;
    }
    let data = if data == 0 { String::new() } else { read_user_cstr(data, 4095)? };
    let (mut pages, mut min_pages, mut inodes, mut mode, mut uid, mut gid) = (None, 0, u64::MAX, 0o755, 0u32, 0u32);
    // The page size first: size= and min_size= count pages of it.
    let pa = crate::mem::page_alloc();
    let mut pool = pa.default_hugetlb();
    for opt in data.split(',') {
        if let Some(val) = opt.strip_prefix("pagesize=") {
            pool = match mm::phys::hugetlb::order_of_size(val) {
                Some(o) if o == pa.hugetlb_1g.order() && pa.hugetlb_1g.is_registered() => &pa.hugetlb_1g,
                Some(o) if o == pa.hugetlb.order() => &pa.hugetlb,
                _ => return Err(EINVAL),
            };
        }
    }
    let hsize = pool.hpage_size();
    // hugetlbfs_size_to_hpages: bytes, or a percentage of the pool.
    let huge_pages = |val: &str| -> Result<u64, abi::errno::Errno> {
        Ok(match val.strip_suffix('%') {
            Some(pct) => {
                let pct: u64 = pct.parse().map_err(|_| EINVAL)?;
                pool.counts().persistent.saturating_mul(pct) / 100
            }
            None => memparse(val).ok_or(EINVAL)? / hsize,
        })
    };
    for opt in data.split(',').filter(|o| !o.is_empty()) {
        let (key, val) = opt.split_once('=').unwrap_or((opt, ""));
        match key {
            "pagesize" => {}
            "size" => pages = Some(huge_pages(val)?),
            "min_size" => min_pages = huge_pages(val)?,
            "nr_inodes" => inodes = memparse(val).ok_or(EINVAL)?,
            "mode" => mode = u32::from_str_radix(val, 8).map_err(|_| EINVAL)? & 0o7777,
            "uid" => uid = val.parse().map_err(|_| EINVAL)?,
            "gid" => gid = val.parse().map_err(|_| EINVAL)?,
            "rw" if val.is_empty() => {}
            _ => return Err(EINVAL),
        }
    }
    // "Minimum size can't be greater than maximum size".
    if pages.is_some_and(|max| min_pages > max) {
        return Err(EINVAL);
    }
    if !at.inode.is_dir() {
        return Err(ENOTDIR);
    }
    let owner = crate::file::Owner { uid, gid };
    let root = crate::vfs::hugetlbfs::mount(mode, owner, pages, min_pages, inodes, pool.order())?;
    let mut opts = flag_words(flags);
    opts.push_str(if pool.is_gigantic() { ",pagesize=1024M" } else { ",pagesize=2M" });
    if let Some(p) = pages {
        opts.push_str(&format!(",size={}", p * hsize));
    }
    if min_pages > 0 {
        opts.push_str(&format!(",min_size={}", min_pages * hsize));
    }
    mount::mount(at.inode, at.path, "hugetlbfs", opts, flags & MS_NOEXEC != 0, root)?;
    Ok(0)
}

pub fn umount2(target: u64, flags: u32) -> SysResult {
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0 {
        return Err(EINVAL);
    }
    if flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0 {
        return Err(EINVAL);
    }
    let path = path_arg(target)?;
    let base = base_dir(abi::fcntl::AT_FDCWD, &path)?;
    let at = resolve(&path, &base, flags & UMOUNT_NOFOLLOW == 0)?;
    if !creds().is_root() {
        return Err(EPERM);
    }
    if flags & MNT_EXPIRE != 0 {
        // Linux marks the mount and answers EAGAIN the first time.
        return Err(EAGAIN);
    }
    mount::umount(&at.inode, flags & MNT_DETACH != 0)?;
    Ok(0)
}
