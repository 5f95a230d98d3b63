//! Plain old data: the types the kernel copies to and from user memory as
//! bytes (cf. the kernel's `copy_{to,from}_user` on uapi structures).
//!
//! The only `unsafe` of the crate: the byte views below rely on the
//! promise an implementor of [`Pod`] makes, and the implementations for
//! the ABI's structures make it here, next to the trait.

use crate::poll::{EpollEvent, PollFd};
use crate::signal::{SigAction, SigContext, SigEvent, SigInfo, SignalfdSiginfo, StackT, UContext};
use crate::stat::{Stat, Statfs, Statx};
use crate::termios::Termios;

/// Types that are any bit pattern and contain no pointers into the kernel.
///
/// # Safety
/// Implementors must be integers, arrays of `Pod`, or `repr(C)` structures
/// of `Pod` fields with no padding bytes (explicit padding fields are
/// fine), so that every byte is initialised and every bit pattern is a
/// valid value.
pub unsafe trait Pod: Copy + 'static {
    /// The all-zero value.
    fn zeroed() -> Self {
        // SAFETY: the trait promises that every bit pattern, all zeros
        // included, is a valid value.
        unsafe { core::mem::zeroed() }
    }

    /// The value's bytes.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: a Pod value has no padding, so all size_of::<Self>()
        // bytes behind `self` are initialised; the slice borrows `self`.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, core::mem::size_of::<Self>()) }
    }

    /// The value's bytes, writable: any bytes written leave a valid value.
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_bytes`; every bit pattern is a valid value, so
        // whatever is written through the slice keeps `self` valid.
        unsafe { core::slice::from_raw_parts_mut(self as *mut Self as *mut u8, core::mem::size_of::<Self>()) }
    }
}

macro_rules! pod {
    ($($t:ty),*) => { $(
        // SAFETY: primitive integers accept any bit pattern and have no padding.
        unsafe impl Pod for $t {}
    )* };
}
pod!(u8, u16, u32, u64, i8, i16, i32, i64, usize, isize);
// SAFETY: an array of Pod has no padding between its elements and accepts
// any bit pattern in each.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
// SAFETY: repr(C), integers only, no implicit padding (pad0 is explicit);
// the size is checked in stat.rs.
unsafe impl Pod for Stat {}
// SAFETY: repr(C), integers only; spare0 and the timestamps' reserved
// fields are explicit, so there is no implicit padding (size checked in
// stat.rs: 256).
unsafe impl Pod for Statx {}
// SAFETY: repr(C), integers only; f_fsid's two i32 fill 8 bytes between
// u64 fields, so no implicit padding (the size is checked in stat.rs).
unsafe impl Pod for Statfs {}
// SAFETY: repr(C), integers only, no padding (4 * 4 + 1 + 19 = 36, checked
// in termios.rs).
unsafe impl Pod for Termios {}
// SAFETY: repr(C) structures of integers (and arrays of them) with
// explicit padding fields; their sizes and offsets are checked in
// signal.rs, so no implicit padding exists.
unsafe impl Pod for SigInfo {}
// SAFETY: as above.
unsafe impl Pod for SigAction {}
// SAFETY: as above.
unsafe impl Pod for StackT {}
// SAFETY: as above (four u16 fill the 8 bytes between eflags and err).
unsafe impl Pod for SigContext {}
// SAFETY: as above.
unsafe impl Pod for UContext {}
// SAFETY: as above.
unsafe impl Pod for SigEvent {}
// SAFETY: as above (explicit padding fields; 128 bytes, checked in signal.rs).
unsafe impl Pod for SignalfdSiginfo {}
// SAFETY: repr(C), an i32 and two i16, 8 bytes (checked in poll.rs): no
// padding.
unsafe impl Pod for PollFd {}
// SAFETY: repr(C), integers only with explicit padding fields; the sizes
// are asserted in ipc.rs (48, 112, 72, 48 bytes), so no implicit padding.
unsafe impl Pod for crate::ipc::IpcPerm {}
// SAFETY: as above.
unsafe impl Pod for crate::ipc::ShmidDs {}
// SAFETY: as above.
unsafe impl Pod for crate::ipc::ShmInfo64 {}
// SAFETY: as above.
unsafe impl Pod for crate::ipc::ShmInfo {}
// SAFETY: repr(C, packed): a u32 and a u64 with no padding between or
// after them, 12 bytes (checked in poll.rs).
unsafe impl Pod for EpollEvent {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_little_endian_and_writable() {
        let mut v: u32 = 0x1234_5678;
        assert_eq!(v.as_bytes(), &[0x78, 0x56, 0x34, 0x12]);
        v.as_bytes_mut()[3] = 0xff;
        assert_eq!(v, 0xff34_5678);
        assert_eq!(<[u16; 3]>::zeroed(), [0; 3]);
        assert_eq!([1u16, 2].as_bytes(), &[1, 0, 2, 0]);
    }
}
