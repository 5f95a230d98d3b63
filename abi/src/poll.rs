//! Readiness: poll(2)'s event bits and `struct pollfd`, select(2)'s set
//! size, epoll(7)'s flags, operations and `struct epoll_event`, and the
//! flags of eventfd(2), timerfd_create(2) and pidfd_open(2)
//! (include/uapi/asm-generic/poll.h, linux/eventpoll.h, linux/eventfd.h,
//! linux/timerfd.h, linux/pidfd.h).

use crate::fcntl::{O_CLOEXEC, O_NONBLOCK};

/// Event bits: what `pollfd.events` asks for and `revents` reports; the
/// low 16 bits of `epoll_event.events` are the same values.
pub const POLLIN: u32 = 0x0001;
pub const POLLPRI: u32 = 0x0002;
pub const POLLOUT: u32 = 0x0004;
pub const POLLERR: u32 = 0x0008;
pub const POLLHUP: u32 = 0x0010;
pub const POLLNVAL: u32 = 0x0020;
pub const POLLRDNORM: u32 = 0x0040;
pub const POLLRDBAND: u32 = 0x0080;
pub const POLLWRNORM: u32 = 0x0100;
pub const POLLWRBAND: u32 = 0x0200;
pub const POLLMSG: u32 = 0x0400;
pub const POLLRDHUP: u32 = 0x2000;

/// What a file without a poll method reports: always readable and
/// writable (Linux's DEFAULT_POLLMASK).
pub const DEFAULT_POLLMASK: u32 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/// `struct pollfd`: 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// Descriptors an `fd_set` holds (glibc's and musl's FD_SETSIZE).
pub const FD_SETSIZE: usize = 1024;

/// epoll_create1's flag.
pub const EPOLL_CLOEXEC: u32 = O_CLOEXEC;

/// epoll_ctl's operations.
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

/// `epoll_event.events` bits beyond the poll bits.
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// `struct epoll_event`: packed on x86_64, 12 bytes (events, then the
/// caller's data word).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollEvent {
    pub events: u32,
    pub data: u64,
}

/// eventfd2's flags.
pub const EFD_SEMAPHORE: u32 = 1;
pub const EFD_CLOEXEC: u32 = O_CLOEXEC;
pub const EFD_NONBLOCK: u32 = O_NONBLOCK;

/// timerfd_create's flags.
pub const TFD_CLOEXEC: u32 = O_CLOEXEC;
pub const TFD_NONBLOCK: u32 = O_NONBLOCK;
/// timerfd_settime's flags.
pub const TFD_TIMER_ABSTIME: u32 = 1;
pub const TFD_TIMER_CANCEL_ON_SET: u32 = 2;

/// pidfd_open's flag.
pub const PIDFD_NONBLOCK: u32 = O_NONBLOCK;

const _: () = {
    assert!(core::mem::size_of::<PollFd>() == 8);
    assert!(core::mem::size_of::<EpollEvent>() == 12);
};
