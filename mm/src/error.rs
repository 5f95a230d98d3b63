//! The error values mm operations return: [`MmError`], the `From`
//! conversions of each area's own error into it, and the one conversion
//! of `MmError` into an [`Errno`] that the system-call edge applies.

use core::fmt;

use abi::Errno;

use crate::vm::fault::FaultError;
use crate::vm::overcommit::OvercommitError;
use crate::vm::vma::VmaError;

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
    /// EIO: mbind's MPOL_MF_STRICT found pages it could not place.
    Io,
    /// A page of the range is on swap: the kernel reads it in with no lock
    /// held and runs the operation again (never reaches user space; EAGAIN
    /// if it did).
    SwapIn(crate::swap::entry::SwapEntry),
}

/// The one errno mapping of mm's errors, used at the system-call edge.
impl From<MmError> for Errno {
    fn from(e: MmError) -> Errno {
        match e {
            MmError::Perm => Errno::EPERM,
            MmError::BadFd => Errno::EBADF,
            MmError::Again | MmError::SwapIn(_) => Errno::EAGAIN,
            MmError::NoMemory => Errno::ENOMEM,
            MmError::Access => Errno::EACCES,
            MmError::Fault => Errno::EFAULT,
            MmError::Busy => Errno::EBUSY,
            MmError::Io => Errno::EIO,
            MmError::Exists => Errno::EEXIST,
            MmError::NoDevice => Errno::ENODEV,
            MmError::Invalid => Errno::EINVAL,
            MmError::Overflow => Errno::EOVERFLOW,
            MmError::NotSupported => Errno::EOPNOTSUPP,
        }
    }
}

/// A VMA tree refusal, as mmap and brk report it: too many areas is
/// ENOMEM (`do_mmap`'s map_count check), an overlap EEXIST.
impl From<VmaError> for MmError {
    fn from(e: VmaError) -> MmError {
        match e {
            VmaError::TooMany => MmError::NoMemory,
            VmaError::Overlap => MmError::Exists,
        }
    }
}

/// A fault while populating a range (MADV_POPULATE_*, as
/// `faultin_page_range`): past the end of a file is EFAULT, anything else
/// ENOMEM.
impl From<FaultError> for MmError {
    fn from(e: FaultError) -> MmError {
        match e {
            FaultError::Bus => MmError::Fault,
            FaultError::Segv(_) | FaultError::Oom | FaultError::ExpandStack => MmError::NoMemory,
            FaultError::SwapIn(e) => MmError::SwapIn(e),
        }
    }
}

/// The overcommit policy: a refused charge is ENOMEM, an unknown policy EINVAL.
impl From<OvercommitError> for MmError {
    fn from(e: OvercommitError) -> MmError {
        match e {
            OvercommitError::Refused => MmError::NoMemory,
            OvercommitError::UnknownMode => MmError::Invalid,
        }
    }
}

impl fmt::Display for MmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (errno {})", self, Errno::from(*self).0)
    }
}
