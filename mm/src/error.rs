//! The error values mm operations return, and the errno each becomes at
//! the system-call edge (numbers from include/uapi/asm-generic/errno-base.h).

use core::fmt;

/// An mm operation's failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmError {
    /// ENOMEM: no memory, no room in the address space, a limit hit.
    NoMemory,
    /// EINVAL: bad arguments.
    Invalid,
    /// EEXIST: MAP_FIXED_NOREPLACE over an existing mapping.
    Exists,
    /// EACCES: the file does not allow the access.
    Access,
    /// EFAULT: a bad address.
    Fault,
    /// EAGAIN: a lock limit (RLIMIT_MEMLOCK) or a transient shortage.
    Again,
    /// EPERM: not allowed (mmap below mmap_min_addr, mlock without right).
    Perm,
    /// EBADF: not an open file.
    BadFd,
    /// ENODEV: the file cannot be mapped.
    NoDevice,
    /// EOPNOTSUPP: an unknown flag with MAP_SHARED_VALIDATE.
    NotSupported,
    /// EOVERFLOW: offset + length overflows.
    Overflow,
    /// EBUSY: e.g. MADV_REMOVE... on locked pages.
    Busy,
}

impl MmError {
    /// The positive errno value.
    pub fn errno(self) -> i32 {
        match self {
            MmError::Perm => 1,
            MmError::BadFd => 9,
            MmError::Again => 11,
            MmError::NoMemory => 12,
            MmError::Access => 13,
            MmError::Fault => 14,
            MmError::Busy => 16,
            MmError::Exists => 17,
            MmError::NoDevice => 19,
            MmError::Invalid => 22,
            MmError::Overflow => 75,
            MmError::NotSupported => 95,
        }
    }
}

impl fmt::Display for MmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (errno {})", self, self.errno())
    }
}
