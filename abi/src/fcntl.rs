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
