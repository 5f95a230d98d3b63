//! `struct stat` of x86_64 Linux (arch/x86/include/uapi/asm/stat.h) and the
//! file-type bits of `st_mode` (include/uapi/linux/stat.h).

/// File-type mask of `st_mode`.
pub const S_IFMT: u32 = 0o170000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;
/// FIFO (pipe).
pub const S_IFIFO: u32 = 0o010000;

/// `struct stat` as stat, fstat and newfstatat fill it (144 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub unused: [i64; 3],
}

const _: () = assert!(core::mem::size_of::<Stat>() == 144);

/// statx's `stx_mask` bits (include/uapi/linux/stat.h): the basic fields
/// (type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks).
pub const STATX_BASIC_STATS: u32 = 0x7ff;
/// A mask bit reserved for a future struct statx extension (EINVAL).
pub const STATX_RESERVED: u32 = 0x8000_0000;

/// `struct statx_timestamp`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub reserved: i32,
}

/// `struct statx` (256 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub spare: [u64; 14],
}

const _: () = assert!(core::mem::size_of::<Statx>() == 256);

/// Linux's `new_encode_dev` split: major is bits 8..20 (and 32..), minor
/// bits 0..8 and 20..32 of a `dev_t` as `stat` gives it.
pub fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

pub fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

impl Statx {
    /// The basic fields of `st` (what every file here has: no birth time).
    pub fn from_stat(st: &Stat) -> Statx {
        let ts = |sec: i64, nsec: i64| StatxTimestamp { tv_sec: sec, tv_nsec: nsec as u32, reserved: 0 };
        Statx {
            stx_mask: STATX_BASIC_STATS,
            stx_blksize: st.st_blksize as u32,
            stx_nlink: st.st_nlink as u32,
            stx_uid: st.st_uid,
            stx_gid: st.st_gid,
            stx_mode: st.st_mode as u16,
            stx_ino: st.st_ino,
            stx_size: st.st_size as u64,
            stx_blocks: st.st_blocks as u64,
            stx_atime: ts(st.st_atime, st.st_atime_nsec),
            stx_ctime: ts(st.st_ctime, st.st_ctime_nsec),
            stx_mtime: ts(st.st_mtime, st.st_mtime_nsec),
            stx_rdev_major: dev_major(st.st_rdev),
            stx_rdev_minor: dev_minor(st.st_rdev),
            stx_dev_major: dev_major(st.st_dev),
            stx_dev_minor: dev_minor(st.st_dev),
            ..Statx::default()
        }
    }
}

/// tmpfs's `f_type` (include/uapi/linux/magic.h).
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// `struct statfs` of x86_64 Linux (120 bytes), as statfs and fstatfs
/// fill it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

const _: () = assert!(core::mem::size_of::<Statfs>() == 120);

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    /// Offsets from x86_64's asm/stat.h (what glibc and musl also use).
    #[test]
    fn layout_matches_x86_64_linux() {
        assert_eq!(core::mem::size_of::<Stat>(), 144);
        assert_eq!(offset_of!(Stat, st_mode), 24);
        assert_eq!(offset_of!(Stat, st_rdev), 40);
        assert_eq!(offset_of!(Stat, st_size), 48);
        assert_eq!(offset_of!(Stat, st_blocks), 64);
        assert_eq!(offset_of!(Stat, st_mtime), 88);
        assert_eq!(offset_of!(Stat, unused), 120);
    }
}
