//! Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h).
//!
//! [`Errno`] is the positive number; a system call returns it as `-errno`
//! in rax ([`Errno::to_syscall_return`] on the kernel side,
//! [`Errno::from_syscall_return`] in the user runtime). Each value exists
//! twice under one name, as a module constant (`errno::ENOENT`, for
//! `use abi::errno::*` in the kernel) and as an associated constant
//! (`Errno::ENOENT`); both come from the one table below.

use core::fmt;

/// A Linux error number (the positive value).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Errno(pub i32);

/// Largest errno a system call may return: `-4095..=-1` in rax is an error.
pub const MAX_ERRNO: i32 = 4095;

macro_rules! errnos {
    ($($name:ident = $val:expr, $text:expr;)*) => {
        $(#[doc = $text] pub const $name: Errno = Errno($val);)*

        impl Errno {
            $(#[doc = $text] pub const $name: Errno = $name;)*

            /// The symbolic name (`"ENOENT"`), or `None` for a value not listed here.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $($name => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// The message of the kernel's errno.h comment (`"No such file or
            /// directory"`), or `None` for a value not listed here.
            pub fn message(self) -> Option<&'static str> {
                match self {
                    $($name => Some($text),)*
                    _ => None,
                }
            }
        }

        /// Every listed errno, in numerical order (for tests and tables).
        pub const ALL: &[Errno] = &[$($name),*];
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "I/O error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    ENOEXEC = 8, "Exec format error";
    EBADF = 9, "Bad file number";
    ECHILD = 10, "No child processes";
    EAGAIN = 11, "Try again";
    ENOMEM = 12, "Out of memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "File table overflow";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Not a typewriter";
    ETXTBSY = 26, "Text file busy";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    EPIPE = 32, "Broken pipe";
    ERANGE = 34, "Math result not representable";
    EDEADLK = 35, "Resource deadlock would occur";
    ENAMETOOLONG = 36, "File name too long";
    ENOLCK = 37, "No record locks available";
    ENOSYS = 38, "Invalid system call number";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many symbolic links encountered";
    ENOMSG = 42, "No message of desired type";
    EIDRM = 43, "Identifier removed";
    ENODATA = 61, "No data available";
    EOVERFLOW = 75, "Value too large for defined data type";
    ELIBBAD = 80, "Accessing a corrupted shared library";
    EOPNOTSUPP = 95, "Operation not supported on transport endpoint";
    ETIMEDOUT = 110, "Connection timed out";
}

/// Kernel-internal codes (include/linux/errno.h) a system call returns
/// when a signal interrupted it; they never reach user space. On the way
/// out, the signal code turns them into EINTR or restarts the call:
///
/// | code | handler ran, SA_RESTART | handler ran, no SA_RESTART | no handler ran |
/// |---|---|---|---|
/// | ERESTARTSYS | restart | EINTR | restart |
/// | ERESTARTNOINTR | restart | restart | restart |
/// | ERESTARTNOHAND | EINTR | EINTR | restart |
/// | ERESTART_RESTARTBLOCK | EINTR | EINTR | `restart_syscall` |
pub const ERESTARTSYS: Errno = Errno(512);
pub const ERESTARTNOINTR: Errno = Errno(513);
pub const ERESTARTNOHAND: Errno = Errno(514);
pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

impl Errno {
    /// Whether this is one of the kernel-internal restart codes.
    pub const fn is_restart(self) -> bool {
        matches!(self.0, 512 | 513 | 514 | 516)
    }

    /// The value a system call leaves in rax for this error: `-errno`.
    pub const fn to_syscall_return(self) -> u64 {
        (-(self.0 as i64)) as u64
    }

    /// Split a raw system-call return value into `Ok(value)` or
    /// `Err(errno)` (values in `-4095..=-1` are errors).
    pub const fn from_syscall_return(ret: isize) -> Result<usize, Errno> {
        if ret < 0 && ret >= -(MAX_ERRNO as isize) { Err(Errno(-ret as i32)) } else { Ok(ret as usize) }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({})", n, self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// `ENOENT (2)`: the name and the number (what rt's programs have always
/// printed); [`Errno::message`] gives strerror's text.
impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's numbers, written out once more by hand from errno-base.h and
    /// errno.h: a typo in the table above fails here.
    #[test]
    fn numbers_match_linux() {
        let linux: &[(&str, i32)] = &[
            ("EPERM", 1),
            ("ENOENT", 2),
            ("ESRCH", 3),
            ("EINTR", 4),
            ("EIO", 5),
            ("ENXIO", 6),
            ("E2BIG", 7),
            ("ENOEXEC", 8),
            ("EBADF", 9),
            ("ECHILD", 10),
            ("EAGAIN", 11),
            ("ENOMEM", 12),
            ("EACCES", 13),
            ("EFAULT", 14),
            ("EBUSY", 16),
            ("EEXIST", 17),
            ("EXDEV", 18),
            ("ENODEV", 19),
            ("ENOTDIR", 20),
            ("EISDIR", 21),
            ("EINVAL", 22),
            ("ENFILE", 23),
            ("EMFILE", 24),
            ("ENOTTY", 25),
            ("ETXTBSY", 26),
            ("EFBIG", 27),
            ("ENOSPC", 28),
            ("ESPIPE", 29),
            ("EROFS", 30),
            ("EMLINK", 31),
            ("EPIPE", 32),
            ("ERANGE", 34),
            ("EDEADLK", 35),
            ("ENAMETOOLONG", 36),
            ("ENOLCK", 37),
            ("ENOSYS", 38),
            ("ENOTEMPTY", 39),
            ("ELOOP", 40),
            ("ENOMSG", 42),
            ("EIDRM", 43),
            ("ENODATA", 61),
            ("EOVERFLOW", 75),
            ("ELIBBAD", 80),
            ("EOPNOTSUPP", 95),
            ("ETIMEDOUT", 110),
        ];
        assert_eq!(ALL.len(), linux.len());
        for (e, &(name, n)) in ALL.iter().zip(linux) {
            assert_eq!((e.name(), e.0), (Some(name), n));
            assert!(e.message().is_some_and(|m| !m.is_empty()), "{name} has no message");
        }
        assert!(ALL.windows(2).all(|w| w[0] < w[1]), "the table is in numerical order");
    }

    #[test]
    fn module_and_associated_constants_agree() {
        assert_eq!(Errno::ENOENT, ENOENT);
        assert_eq!(Errno::EOPNOTSUPP.0, 95);
    }

    #[test]
    fn syscall_return_round_trips() {
        assert_eq!(EINVAL.to_syscall_return(), (-22i64) as u64);
        assert_eq!(Errno::from_syscall_return(EINVAL.to_syscall_return() as isize), Err(EINVAL));
        assert_eq!(Errno::from_syscall_return(-4095), Err(Errno(4095)));
        assert_eq!(Errno::from_syscall_return(-4096), Ok((-4096isize) as usize));
        assert_eq!(Errno::from_syscall_return(0), Ok(0));
    }

    #[test]
    fn formats_name_and_number() {
        extern crate std;
        use std::format;
        assert_eq!(format!("{}", ENOENT), "ENOENT (2)");
        assert_eq!(format!("{:?}", Errno(200)), "errno 200");
        assert_eq!(ENOENT.message(), Some("No such file or directory"));
    }
}
