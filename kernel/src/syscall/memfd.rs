//! memfd_create(2) (cf. mm/memfd.c): an anonymous file in memory, an
//! unlinked tmpfs file on an internal mount, so read, write, ftruncate and
//! mmap work on it as on any tmpfs file, and F_ADD_SEALS / F_GET_SEALS
//! (fcntl, `vfs::tmpfs`) seal it.

use abi::errno::*;
use abi::fcntl::{
    F_SEAL_EXEC, F_SEAL_SEAL, MFD_ALLOW_SEALING, MFD_CLOEXEC, MFD_EXEC, MFD_HUGETLB, MFD_NOEXEC_SEAL, O_RDWR,
};

use super::SysResult;
use super::fs::install_file;
use crate::proc::current;
use crate::usercopy::read_user_cstr;
use crate::vfs::{OpenFile, Owner, tmpfs};

const MFD_ALL_FLAGS: u32 = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
/// The huge page size MFD_HUGETLB may encode (MFD_HUGE_MASK << MFD_HUGE_SHIFT).
const MFD_HUGE_BITS: u32 = 0x3f << 26;
/// NAME_MAX less "memfd:".
const MFD_NAME_MAX_LEN: usize = 255 - 6;
/// O_LARGEFILE, which F_GETFL shows on a memfd.
const O_LARGEFILE: u32 = 0o100000;

/// memfd_create(2): EINVAL for unknown flags, MFD_EXEC with
/// MFD_NOEXEC_SEAL, a name longer than 249 bytes, and a huge page size
/// without a pool; EFAULT for an unreadable name. MFD_HUGETLB makes a
/// hugetlbfs file (vfs/hugetlbfs.rs).
pub fn memfd_create(uname: u64, flags: u32) -> SysResult {
    let allowed = if flags & MFD_HUGETLB == 0 { MFD_ALL_FLAGS } else { MFD_ALL_FLAGS | MFD_HUGE_BITS };
    if flags & !allowed != 0 {
        return Err(EINVAL);
    }
    if flags & MFD_EXEC != 0 && flags & MFD_NOEXEC_SEAL != 0 {
        return Err(EINVAL);
    }
    // vm.memfd_noexec is 0 here: neither flag means MFD_EXEC.
    let name = match read_user_cstr(uname, MFD_NAME_MAX_LEN) {
        Err(ENAMETOOLONG) => return Err(EINVAL),
        r => r?,
    };
    // The huge page size: MFD_HUGE_2MB, MFD_HUGE_1GB (when that pool
    // exists), or 0 for the default one; another is EINVAL.
    let mut huge_order = mm::phys::hugetlb::HPAGE_ORDER;
    if flags & MFD_HUGETLB != 0 {
        let pa = crate::mem::page_alloc();
        huge_order = match (flags >> 26) & 0x3f {
            0 => pa.default_hugetlb().order(),
            21 => mm::phys::hugetlb::HPAGE_ORDER,
            30 if pa.hugetlb_1g.is_registered() => mm::phys::hugetlb::GPAGE_ORDER,
            _ => return Err(EINVAL),
        };
    }
    // shmem_file_setup: S_IRWXUGO, no umask; MFD_NOEXEC_SEAL drops the x
    // bits and seals them, which allows sealing.
    let (mode, seals) = if flags & MFD_NOEXEC_SEAL != 0 {
        (0o666, F_SEAL_EXEC)
    } else if flags & MFD_ALLOW_SEALING != 0 {
        (0o777, 0)
    } else {
        (0o777, F_SEAL_SEAL)
    };
    let owner = {
        let c = current().inner.lock().creds.clone();
        Owner { uid: c.euid, gid: c.egid }
    };
    let inode = if flags & MFD_HUGETLB != 0 {
        crate::vfs::hugetlbfs::memfd_file(&name, mode, owner, huge_order)
    } else {
        tmpfs::memfd_file(&name, mode, owner, seals)?
    };
    let path = alloc::format!("/memfd:{name} (deleted)");
    let file = OpenFile::new(inode, O_RDWR | O_LARGEFILE, &path);
    install_file(file, flags & MFD_CLOEXEC != 0)
}
