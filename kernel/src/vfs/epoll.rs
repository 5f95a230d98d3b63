//! epoll(7): an interest list of open files and the ready list of those
//! whose events fired (cf. fs/eventpoll.c).
//!
//! ```text
//!   epoll_ctl(ADD fd)  -> EpItem, hooked on the file's wait queues (Inode::poll)
//!   file state change  -> queue.wake_poll(key) -> EpItem::wake: onto `ready`,
//!                         wake `wq` (epoll_wait sleepers, pollers of the epoll fd)
//!   epoll_wait         -> take items off `ready`, ask each file again
//!                         (PollTable::none); report events & interest;
//!                         level-triggered items go back on `ready`,
//!                         EPOLLET ones wait for the next wake-up,
//!                         EPOLLONESHOT ones are disabled until EPOLL_CTL_MOD
//! ```
//!
//! An item is keyed by (descriptor, open file) as Linux's `epitem` and
//! holds the file weakly: when the file's last reference goes (every
//! descriptor for it closed), the item is dropped at the next epoll_ctl or
//! when it turns up on the ready list, so it never reports again, and the
//! hooks it left on the file's queues die with it. An epoll file may watch
//! another; a cycle or a chain deeper than EP_MAX_NESTS is ELOOP.
//!
//! Locks: `items` (a spin lock, task context only) before `ready` and an
//! item's `st` (`IrqLock`s: `EpItem::wake` takes them from interrupt
//! handlers), never `ready` and `st` together. No file is asked for its
//! events with `ready` or `st` held.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;

use spin::Mutex;

use abi::errno::*;
use abi::fcntl::O_RDWR;
use abi::poll::{EPOLLET, EPOLLEXCLUSIVE, EPOLLONESHOT, EPOLLWAKEUP, EpollEvent, POLLERR, POLLHUP, POLLIN, POLLRDNORM};
use abi::stat::Stat;
use mm::sync::IrqLock;

use super::{Inode, OpenFile, PollTable, Wake};
use crate::proc::waitqueue::WaitQueue;

/// Deepest chain of epoll files watching epoll files (Linux's EP_MAX_NESTS).
const EP_MAX_NESTS: usize = 4;
/// Bits of an item's events that are not events: a one-shot item whose
/// events are reduced to these is disabled.
const EP_PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;

/// What epoll_ctl asks for an item.
struct ItemState {
    events: u32,
    data: u64,
    /// On the epoll's ready list.
    queued: bool,
}

/// One watched (descriptor, file).
struct EpItem {
    file: Weak<OpenFile>,
    ep: Weak<Epoll>,
    me: Weak<EpItem>,
    st: IrqLock<ItemState>,
}

/// An epoll instance.
pub struct Epoll {
    me: Weak<Epoll>,
    items: Mutex<BTreeMap<(i32, usize), Arc<EpItem>>>,
    ready: IrqLock<VecDeque<Weak<EpItem>>>,
    /// epoll_wait's sleepers and the pollers of the epoll file itself.
    pub wq: WaitQueue,
}

fn key(fd: i32, file: &Arc<OpenFile>) -> (i32, usize) {
    (fd, Arc::as_ptr(file) as usize)
}

impl Wake for EpItem {
    /// Linux's `ep_poll_callback`: the file's events may have changed.
    fn wake(&self, key: u32) {
        let Some(ep) = self.ep.upgrade() else { return };
        {
            let mut st = self.st.lock();
            if st.events & !EP_PRIVATE_BITS == 0 || (key != 0 && key & st.events == 0) {
                return;
            }
            if st.queued {
                drop(st);
                ep.wq.wake_poll(POLLIN | POLLRDNORM);
                return;
            }
            st.queued = true;
        }
        ep.ready.lock().push_back(self.me.clone());
        ep.wq.wake_poll(POLLIN | POLLRDNORM);
    }
}

impl Epoll {
    /// Put `item` on the ready list unless it is there; true if it was
    /// added.
    fn enqueue(&self, item: &EpItem) -> bool {
        {
            let mut st = item.st.lock();
            if st.queued {
                return false;
            }
            st.queued = true;
        }
        self.ready.lock().push_back(item.me.clone());
        true
    }

    /// Forget items whose file has no reference left.
    fn prune(&self) {
        self.items.lock().retain(|_, i| i.file.strong_count() > 0);
    }

    /// EPOLL_CTL_ADD (EEXIST if `fd` with `file` is there already).
    /// `events` includes EPOLLERR and EPOLLHUP.
    pub fn add(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> Result<(), Errno> {
        self.prune();
        let item = {
            let mut items = self.items.lock();
            if items.contains_key(&key(fd, file)) {
                return Err(EEXIST);
            }
            let item = Arc::new_cyclic(|me| EpItem {
                file: Arc::downgrade(file),
                ep: self.me.clone(),
                me: me.clone(),
                st: IrqLock::new(ItemState { events, data, queued: false }),
            });
            items.insert(key(fd, file), item.clone());
            item
        };
        let waker: Weak<EpItem> = Arc::downgrade(&item);
        if file.poll(&PollTable::new(waker)) & events != 0 && self.enqueue(&item) {
            self.wq.wake_poll(POLLIN | POLLRDNORM);
        }
        Ok(())
    }

    /// EPOLL_CTL_MOD (ENOENT if not watched; EINVAL for an item added
    /// with EPOLLEXCLUSIVE). Re-arms a disabled one-shot item.
    pub fn modify(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> Result<(), Errno> {
        self.prune();
        let item = self.items.lock().get(&key(fd, file)).cloned().ok_or(ENOENT)?;
        {
            let mut st = item.st.lock();
            if st.events & EPOLLEXCLUSIVE != 0 {
                return Err(EINVAL);
            }
            st.events = events;
            st.data = data;
        }
        if file.poll(&PollTable::none()) & events != 0 && self.enqueue(&item) {
            self.wq.wake_poll(POLLIN | POLLRDNORM);
        }
        Ok(())
    }

    /// EPOLL_CTL_DEL (ENOENT if not watched).
    pub fn remove(&self, fd: i32, file: &Arc<OpenFile>) -> Result<(), Errno> {
        self.prune();
        self.items.lock().remove(&key(fd, file)).map(|_| ()).ok_or(ENOENT)
    }

    /// Linux's `ep_loop_check`: would watching `target` from this epoll
    /// close a cycle or nest epoll files deeper than EP_MAX_NESTS?
    pub fn check_loop(&self, target: &Epoll) -> Result<(), Errno> {
        fn walk(cur: &Epoll, top: &Epoll, depth: usize) -> Result<(), Errno> {
            if core::ptr::eq(cur, top) || depth > EP_MAX_NESTS {
                return Err(ELOOP);
            }
            let files: Vec<Arc<OpenFile>> = cur.items.lock().values().filter_map(|i| i.file.upgrade()).collect();
            for f in &files {
                if let Some(inner) = f.downcast::<Epoll>() {
                    walk(inner, top, depth + 1)?;
                }
            }
            Ok(())
        }
        walk(target, self, 1)
    }

    /// Linux's `ep_send_events`: up to `max` events of the items on the
    /// ready list, asked afresh. Level-triggered items that reported go
    /// back on the list, one-shot items are disabled.
    pub fn collect(&self, max: usize) -> Vec<EpollEvent> {
        let mut out = Vec::new();
        let mut again = Vec::new();
        let mut dead = false;
        while out.len() < max {
            let Some(w) = self.ready.lock().pop_front() else { break };
            let Some(item) = w.upgrade() else { continue };
            let (events, data) = {
                let mut st = item.st.lock();
                st.queued = false;
                (st.events, st.data)
            };
            let Some(file) = item.file.upgrade() else {
                dead = true;
                continue;
            };
            let revents = file.poll(&PollTable::none()) & events;
            if revents == 0 {
                continue;
            }
            out.push(EpollEvent { events: revents, data });
            if events & EPOLLONESHOT != 0 {
                item.st.lock().events &= EP_PRIVATE_BITS;
            } else if events & EPOLLET == 0 {
                again.push(item);
            }
        }
        for item in again {
            self.enqueue(&item);
        }
        if dead {
            self.prune();
        }
        out
    }
}

impl Inode for Epoll {
    fn stat(&self) -> Stat {
        super::anon_inode_stat()
    }

    fn seekable(&self) -> bool {
        false
    }

    /// `ep_eventpoll_poll`: readable when an item on the ready list has
    /// events (asked without taking them off the list).
    fn poll(&self, pt: &PollTable) -> Option<u32> {
        pt.wait(&self.wq);
        let queued: Vec<Arc<EpItem>> = self.ready.lock().iter().filter_map(Weak::upgrade).collect();
        let ready = queued.iter().any(|item| {
            let events = item.st.lock().events;
            item.file.upgrade().is_some_and(|f| f.poll(&PollTable::none()) & events != 0)
        });
        Some(if ready { POLLIN | POLLRDNORM } else { 0 })
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// A new epoll instance as an open file.
pub fn create() -> Arc<OpenFile> {
    let ep = Arc::new_cyclic(|me| Epoll {
        me: me.clone(),
        items: Mutex::new(BTreeMap::new()),
        ready: IrqLock::new(VecDeque::new()),
        wq: WaitQueue::new(),
    });
    OpenFile::new(ep, O_RDWR, "anon_inode:[eventpoll]")
}

/// epoll_ctl's events for ADD and MOD: EPOLLERR and EPOLLHUP are always
/// reported.
pub fn interest(events: u32) -> u32 {
    events | POLLERR | POLLHUP
}
