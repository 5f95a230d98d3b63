//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait and
//! epoll_pwait2 (cf. fs/eventpoll.c); the instance is `vfs::epoll`.
//!
//! Checks in Linux's order: epoll_ctl reads the event (EFAULT), then
//! needs both descriptors (EBADF), a target with a poll method (EPERM:
//! regular files, /dev/null), an epoll file that is not the target
//! (EINVAL), EPOLLEXCLUSIVE only on ADD with in/out/error/hang-up/ET bits
//! and not on an epoll target (EINVAL), no cycle (ELOOP); then EEXIST or
//! ENOENT. epoll_wait takes 1..=INT_MAX/12 events (EINVAL) into writable
//! memory (EFAULT) and returns EINTR when a signal ends the wait.

use abi::errno::*;
use abi::poll::{
    EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLET, EPOLLEXCLUSIVE, EPOLLWAKEUP, EpollEvent,
    POLLERR, POLLHUP, POLLIN, POLLOUT,
};

use super::SysResult;
use super::fs::{file, install_file};
use super::poll::{Timeout, read_sigset, with_sigmask};
use crate::proc::waitqueue::Poller;
use crate::usercopy::{access_ok, read_user, write_user};
use crate::vfs::epoll::{self, Epoll};
use crate::vfs::{PollQueue, PollTable};

/// Most events one epoll_wait returns (Linux's EP_MAX_EVENTS).
const EP_MAX_EVENTS: i32 = i32::MAX / core::mem::size_of::<EpollEvent>() as i32;
/// The bits EPOLLEXCLUSIVE may come with.
const EPOLLEXCLUSIVE_OK_BITS: u32 = POLLIN | POLLOUT | POLLERR | POLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

pub fn epoll_create(size: i32) -> SysResult {
    if size <= 0 {
        return Err(EINVAL);
    }
    install_file(epoll::create(), false)
}

pub fn epoll_create1(flags: u32) -> SysResult {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    install_file(epoll::create(), flags & EPOLL_CLOEXEC != 0)
}

pub fn epoll_ctl(epfd: i32, op: i32, fd: i32, event: u64) -> SysResult {
    let has_event = op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD;
    let ev: EpollEvent = if has_event { read_user(event)? } else { EpollEvent::default() };
    let (events, data) = (ev.events, ev.data);
    let epf = file(epfd)?;
    let tf = file(fd)?;
    if !tf.can_poll() {
        return Err(EPERM);
    }
    let ep = epf.downcast::<Epoll>().ok_or(EINVAL)?;
    if core::ptr::eq(&*epf, &*tf) {
        return Err(EINVAL);
    }
    let target_ep = tf.downcast::<Epoll>();
    if has_event && events & EPOLLEXCLUSIVE != 0 {
        if op == EPOLL_CTL_MOD || target_ep.is_some() || events & !EPOLLEXCLUSIVE_OK_BITS != 0 {
            return Err(EINVAL);
        }
    }
    match op {
        EPOLL_CTL_ADD => {
            if let Some(t) = target_ep {
                ep.check_loop(t)?;
            }
            ep.add(fd, &tf, epoll::interest(events), data)
        }
        EPOLL_CTL_MOD => ep.modify(fd, &tf, epoll::interest(events), data),
        EPOLL_CTL_DEL => ep.remove(fd, &tf),
        _ => Err(EINVAL),
    }
    .map(|_| 0)
}

/// `do_epoll_wait`.
fn do_wait(epfd: i32, events: u64, maxevents: i32, timeout: &Timeout) -> SysResult {
    if maxevents <= 0 || maxevents > EP_MAX_EVENTS {
        return Err(EINVAL);
    }
    let size = core::mem::size_of::<EpollEvent>() as u64;
    if !access_ok(events, maxevents as u64 * size) {
        return Err(EFAULT);
    }
    let epf = file(epfd)?;
    let ep = epf.downcast::<Epoll>().ok_or(EINVAL)?;
    let poller = Poller::new();
    if !timeout.is_zero() {
        PollTable::new(poller.waker()).wait(&ep.wq as &dyn PollQueue);
    }
    loop {
        let got = ep.collect(maxevents as usize);
        if !got.is_empty() {
            for (i, ev) in got.iter().enumerate() {
                if let Err(e) = write_user(events + i as u64 * size, ev) {
                    return if i == 0 { Err(e) } else { Ok(i as u64) };
                }
            }
            return Ok(got.len() as u64);
        }
        if timeout.expired() {
            return Ok(0);
        }
        // Linux's epoll_wait never restarts, SA_RESTART or not.
        poller.sleep(timeout.deadline_tick()).map_err(|_| EINTR)?;
    }
}

pub fn epoll_wait(epfd: i32, events: u64, maxevents: i32, timeout_ms: i32) -> SysResult {
    do_wait(epfd, events, maxevents, &Timeout::from_ms(timeout_ms))
}

pub fn epoll_pwait(epfd: i32, events: u64, maxevents: i32, timeout_ms: i32, sigmask: u64, size: u64) -> SysResult {
    let mask = read_sigset(sigmask, size)?;
    with_sigmask(mask, || do_wait(epfd, events, maxevents, &Timeout::from_ms(timeout_ms)))
}

pub fn epoll_pwait2(epfd: i32, events: u64, maxevents: i32, tsp: u64, sigmask: u64, size: u64) -> SysResult {
    let timeout = Timeout::from_timespec(tsp)?;
    let mask = read_sigset(sigmask, size)?;
    with_sigmask(mask, || do_wait(epfd, events, maxevents, &timeout))
}
