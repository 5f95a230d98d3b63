//! open(2)'s O_* flags, the *at calls' AT_* values and lseek's SEEK_*
//! (include/uapi/asm-generic/fcntl.h, linux/fcntl.h, linux/fs.h).

/// Mask of the access mode (O_RDONLY, O_WRONLY or O_RDWR).
pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
/// An unnamed file in the directory named (includes O_DIRECTORY).
pub const O_TMPFILE: u32 = 0o20000000 | O_DIRECTORY;
pub const O_CLOEXEC: u32 = 0o2000000;

/// The `dirfd` meaning "the current directory".
pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// unlinkat: remove a directory; faccessat: check with the effective ids
/// (AT_EACCESS has the same value).
pub const AT_REMOVEDIR: u32 = 0x200;
pub const AT_EACCESS: u32 = 0x200;
/// linkat: follow a symbolic link at the old name.
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
/// Do not trigger automounts (no meaning here: there are none).
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
pub const AT_EMPTY_PATH: u32 = 0x1000;
/// statx: the synchronisation wanted (AS_STAT 0, FORCE_SYNC, DONT_SYNC;
/// both bits together are invalid).
pub const AT_STATX_SYNC_TYPE: u32 = 0x6000;

// lseek: whence
pub const SEEK_SET: u32 = 0;
pub const SEEK_CUR: u32 = 1;
pub const SEEK_END: u32 = 2;
pub const SEEK_DATA: u32 = 3;
pub const SEEK_HOLE: u32 = 4;

// renameat2: flags
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;
pub const RENAME_WHITEOUT: u32 = 4;

// fallocate: mode
pub const FALLOC_FL_KEEP_SIZE: u32 = 1;
pub const FALLOC_FL_PUNCH_HOLE: u32 = 2;

// utimensat: tv_nsec values
pub const UTIME_NOW: i64 = (1 << 30) - 1;
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

// fcntl: file seals (memfd and tmpfs files)
pub const F_ADD_SEALS: u32 = 1033;
pub const F_GET_SEALS: u32 = 1034;
/// No more seals may be added.
pub const F_SEAL_SEAL: u32 = 0x0001;
/// The size may not shrink.
pub const F_SEAL_SHRINK: u32 = 0x0002;
/// The size may not grow.
pub const F_SEAL_GROW: u32 = 0x0004;
/// No writes (write(2), shared writable mappings) at all.
pub const F_SEAL_WRITE: u32 = 0x0008;
/// No new writes; existing shared writable mappings keep writing.
pub const F_SEAL_FUTURE_WRITE: u32 = 0x0010;
/// The execute bits of the mode may not change.
pub const F_SEAL_EXEC: u32 = 0x0020;
pub const F_ALL_SEALS: u32 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

// memfd_create: flags
pub const MFD_CLOEXEC: u32 = 0x0001;
pub const MFD_ALLOW_SEALING: u32 = 0x0002;
pub const MFD_HUGETLB: u32 = 0x0004;
pub const MFD_NOEXEC_SEAL: u32 = 0x0008;
pub const MFD_EXEC: u32 = 0x0010;
