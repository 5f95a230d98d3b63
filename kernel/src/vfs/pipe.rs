//! Pipes: pipe(2) and pipe2(2), F_SETPIPE_SZ / F_GETPIPE_SZ (cf. fs/pipe.c).
//!
//! ```text
//!   write end --write()--> [ ring of page buffers, 16 by default ] --read()--> read end
//! ```
//!
//! One [`Pipe`] holds the bytes in a ring of page-sized buffers, as
//! Linux's `pipe_buffer` ring: a small write merges into the last page, a
//! page is freed once read, and the ring has `max_usage` slots (16 pages
//! by default, F_SETPIPE_SZ changes it). Each end is its own inode, so
//! that when the last open file of an end goes away (close, exit, exec
//! with O_CLOEXEC) its `Drop` tells the other side: readers then see end
//! of file once the buffer is empty, writers get EPIPE and SIGPIPE.
//!
//! Reads block until there is data or no writer; writes block until all
//! their bytes are in (a write of at most PIPE_BUF = 4096 bytes is never
//! interleaved with another writer's). A fatal signal ends a blocked call
//! with EINTR, or with the count moved so far. O_NONBLOCK (pipe2 or
//! F_SETFL) makes a call that would block fail with EAGAIN.
//!
//! Readiness (`pipe_poll`): the read end is POLLIN when bytes wait and
//! POLLHUP once no writer is left; the write end is POLLOUT while a slot
//! of the ring is free (so a PIPE_BUF write fits) and POLLERR once no
//! reader is left. Readers sleep on `rd_wait`, which writes and the last
//! writer's close wake; writers on `wr_wait`, which reads, resizes and the
//! last reader's close wake, as Linux's two queues (an edge-triggered
//! epoll on the read end sees a write, not a read).
//!
//! Kernel memory held in pipes is bounded as in Linux: an unprivileged
//! F_SETPIPE_SZ stays within `fs.pipe-max-size`, and the pages each user's
//! pipes may hold are counted (`user->pipe_bufs`): past
//! `fs.pipe-user-pages-soft` a new pipe gets 2 pages and no pipe may grow;
//! past `fs.pipe-user-pages-hard` (when set) no new pipe is made (ENFILE).
//! Root is exempt from these limits, as with CAP_SYS_RESOURCE.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::errno::*;
use abi::fcntl::{O_NONBLOCK, O_RDONLY, O_WRONLY};
use abi::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use abi::stat::{S_IFIFO, Stat};
use mm::sync::IrqLock;

use super::{Inode, OpenFile, PollTable};
use crate::proc::waitqueue::WaitQueue;
use crate::sysctl;

const PAGE_SIZE: usize = 4096;
/// Pages a new pipe holds (Linux's PIPE_DEF_BUFFERS).
pub const PIPE_DEF_BUFFERS: usize = 16;
/// Pages of a new pipe whose user is past the soft limit.
pub const PIPE_MIN_DEF_BUFFERS: usize = 2;
/// Bytes a default pipe holds.
pub const PIPE_CAPACITY: usize = PIPE_DEF_BUFFERS * PAGE_SIZE;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

/// One page of the ring: bytes `[read, data.len())` are unread.
struct PipeBuf {
    data: Vec<u8>,
    read: usize,
}

struct State {
    bufs: VecDeque<PipeBuf>,
    /// Unread bytes in `bufs`.
    len: usize,
    /// Slots of the ring (`pipe->max_usage`).
    max_usage: usize,
    /// Pages counted against the user (`pipe->nr_accounted`).
    nr_accounted: usize,
    readers: usize,
    writers: usize,
}

impl State {
    /// Bytes a write may add now: the tail of the last page and the free
    /// slots.
    fn room(&self) -> usize {
        let tail = self.bufs.back().map_or(0, |b| PAGE_SIZE - b.data.len());
        tail + self.max_usage.saturating_sub(self.bufs.len()) * PAGE_SIZE
    }

    /// Append up to `data.len()` bytes (the caller checked `room`). Pages
    /// are allocated as needed; if none can be had the count stops short
    /// (ENOMEM when nothing went in).
    fn push(&mut self, data: &[u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while done < data.len() {
            let last_has_room = self.bufs.back().is_some_and(|b| b.data.len() < PAGE_SIZE);
            if !last_has_room {
                if self.bufs.len() >= self.max_usage {
                    break;
                }
                let mut page = Vec::new();
                if page.try_reserve_exact(PAGE_SIZE).is_err() || self.bufs.try_reserve(1).is_err() {
                    break;
                }
                self.bufs.push_back(PipeBuf { data: page, read: 0 });
            }
            let b = self.bufs.back_mut().expect("pipe: a page was just ensured");
            let n = (PAGE_SIZE - b.data.len()).min(data.len() - done);
            b.data.extend_from_slice(&data[done..done + n]);
            done += n;
        }
        self.len += done;
        if done == 0 && !data.is_empty() {
            return Err(ENOMEM);
        }
        Ok(done)
    }

    /// Move up to `out.len()` bytes out, freeing pages read to the end.
    fn pop(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        while done < out.len() {
            let Some(b) = self.bufs.front_mut() else { break };
            let n = (b.data.len() - b.read).min(out.len() - done);
            out[done..done + n].copy_from_slice(&b.data[b.read..b.read + n]);
            b.read += n;
            done += n;
            if b.read == b.data.len() {
                self.bufs.pop_front();
            }
        }
        self.len -= done;
        done
    }
}

/// The shared part of a pipe.
pub struct Pipe {
    state: IrqLock<State>,
    /// Readers waiting for data or end of file.
    rd_wait: WaitQueue,
    /// Writers waiting for room or for the last reader to go.
    wr_wait: WaitQueue,
    ino: u64,
    /// The user whose pages these are (`pipe->user`, the real uid).
    uid: u32,
}

static NEXT_INO: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// Pipe pages per user (`user_struct.pipe_bufs`).
static USER_PIPE_PAGES: spin::Mutex<BTreeMap<u32, u64>> = spin::Mutex::new(BTreeMap::new());

/// `account_pipe_buffers`: replace `old` pages of `uid` by `new`; the
/// user's new total.
fn account_pipe_buffers(uid: u32, old: usize, new: usize) -> u64 {
    let mut m = USER_PIPE_PAGES.lock();
    let total = m.get(&uid).copied().unwrap_or(0).saturating_sub(old as u64).saturating_add(new as u64);
    if total == 0 {
        m.remove(&uid);
        if m.is_empty() {
            // A BTreeMap keeps its last node when its last entry goes.
            *m = BTreeMap::new();
        }
    } else {
        m.insert(uid, total);
    }
    total
}

fn too_many_soft(user_pages: u64) -> bool {
    let soft = sysctl::pipe_user_pages_soft();
    soft != 0 && user_pages > soft
}

fn too_many_hard(user_pages: u64) -> bool {
    let hard = sysctl::pipe_user_pages_hard();
    hard != 0 && user_pages > hard
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let n = self.state.lock().nr_accounted;
        account_pipe_buffers(self.uid, n, 0);
    }
}

impl Pipe {
    /// F_GETPIPE_SZ: the capacity in bytes.
    pub fn size(&self) -> u64 {
        (self.state.lock().max_usage * PAGE_SIZE) as u64
    }

    /// F_SETPIPE_SZ (`pipe_set_size`): the new capacity in bytes.
    /// `privileged` is CAP_SYS_RESOURCE (root here).
    pub fn set_size(&self, arg: u32, privileged: bool) -> Result<u64, Errno> {
        let size = sysctl::round_pipe_size(arg as u64);
        let nr_slots = (size / PAGE_SIZE as u64) as usize;
        if nr_slots == 0 {
            return Err(EINVAL);
        }
        let mut s = self.state.lock();
        // Growing past the system-wide maximum takes privilege; shrinking
        // is always allowed, even when over a limit.
        if nr_slots > s.max_usage && size > sysctl::pipe_max_size() && !privileged {
            return Err(EPERM);
        }
        let old_accounted = s.nr_accounted;
        let user_pages = account_pipe_buffers(self.uid, old_accounted, nr_slots);
        let revert = |e| {
            account_pipe_buffers(self.uid, nr_slots, old_accounted);
            Err(e)
        };
        if nr_slots > s.nr_accounted && (too_many_hard(user_pages) || too_many_soft(user_pages)) && !privileged {
            return revert(EPERM);
        }
        // pipe_resize_ring: the pages in use must fit the new ring.
        if s.bufs.len() > nr_slots {
            return revert(EBUSY);
        }
        let in_use = s.bufs.len();
        if nr_slots > in_use && s.bufs.try_reserve_exact(nr_slots - in_use).is_err() {
            return revert(ENOMEM);
        }
        s.bufs.shrink_to(nr_slots);
        s.max_usage = nr_slots;
        s.nr_accounted = nr_slots;
        drop(s);
        // Writers waiting for room may go on.
        self.wr_wait.wake_poll(POLLOUT | POLLWRNORM);
        Ok(size)
    }
}

fn stat(ino: u64) -> Stat {
    Stat {
        st_dev: 12,
        st_ino: ino,
        st_nlink: 1,
        st_mode: S_IFIFO | 0o600,
        st_blksize: PIPE_BUF as i64,
        ..Stat::default()
    }
}

/// The read end.
pub struct ReadEnd {
    pipe: Arc<Pipe>,
    nonblock: AtomicBool,
}

/// The write end.
pub struct WriteEnd {
    pipe: Arc<Pipe>,
    nonblock: AtomicBool,
}

impl Pipe {
    /// An end went away: whoever waits on either side looks again
    /// (`pipe_release`).
    fn wake_both(&self) {
        self.rd_wait.wake_all();
        self.wr_wait.wake_all();
    }
}

impl Drop for ReadEnd {
    fn drop(&mut self) {
        self.pipe.state.lock().readers -= 1;
        self.pipe.wake_both();
    }
}

impl Drop for WriteEnd {
    fn drop(&mut self) {
        self.pipe.state.lock().writers -= 1;
        self.pipe.wake_both();
    }
}

/// What a read found.
enum ReadStep {
    Data(usize),
    Eof,
}

impl Inode for ReadEnd {
    fn stat(&self) -> Stat {
        stat(self.pipe.ino)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn set_nonblock(&self, on: bool) {
        self.nonblock.store(on, Ordering::Relaxed);
    }

    fn pipe_size(&self) -> Result<u64, Errno> {
        Ok(self.pipe.size())
    }

    fn set_pipe_size(&self, size: u32, privileged: bool) -> Result<u64, Errno> {
        self.pipe.set_size(size, privileged)
    }

    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let step = |buf: &mut [u8]| {
            let mut s = self.pipe.state.lock();
            if s.len != 0 {
                Some(ReadStep::Data(s.pop(buf)))
            } else if s.writers == 0 {
                Some(ReadStep::Eof)
            } else {
                None
            }
        };
        let r = if self.nonblock.load(Ordering::Relaxed) {
            Some(step(buf).ok_or(EAGAIN)?)
        } else {
            self.pipe.rd_wait.wait_until(None, || step(buf))?
        };
        match r {
            Some(ReadStep::Data(n)) => {
                // Room for blocked writers.
                self.pipe.wr_wait.wake_poll(POLLOUT | POLLWRNORM);
                Ok(n)
            }
            _ => Ok(0),
        }
    }

    fn poll(&self, pt: &PollTable) -> Option<u32> {
        pt.wait(&self.pipe.rd_wait);
        let s = self.pipe.state.lock();
        let mut mask = 0;
        if s.len != 0 {
            mask |= POLLIN | POLLRDNORM;
        }
        if s.writers == 0 {
            mask |= POLLHUP;
        }
        Some(mask)
    }
}

impl Inode for WriteEnd {
    fn stat(&self) -> Stat {
        stat(self.pipe.ino)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn set_nonblock(&self, on: bool) {
        self.nonblock.store(on, Ordering::Relaxed);
    }

    fn pipe_size(&self) -> Result<u64, Errno> {
        Ok(self.pipe.size())
    }

    fn set_pipe_size(&self, size: u32, privileged: bool) -> Result<u64, Errno> {
        self.pipe.set_size(size, privileged)
    }

    fn write_at(&self, _off: u64, data: &[u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while done < data.len() {
            // An atomic write waits until it fits whole; a larger one takes
            // whatever room there is.
            let rest = &data[done..];
            let need = if rest.len() <= PIPE_BUF { rest.len() } else { 1 };
            let step = || {
                let mut s = self.pipe.state.lock();
                if s.readers == 0 {
                    return Some(Err(EPIPE));
                }
                let room = s.room();
                if room < need {
                    return None;
                }
                Some(s.push(&rest[..room.min(rest.len())]))
            };
            let r = if self.nonblock.load(Ordering::Relaxed) {
                match step() {
                    Some(r) => r,
                    None if done > 0 => break,
                    None => return Err(EAGAIN),
                }
            } else {
                match self.pipe.wr_wait.wait_until(None, step) {
                    Ok(Some(r)) => r,
                    Ok(None) => unreachable!("pipe: a wait without deadline timed out"),
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            };
            match r {
                Ok(n) => {
                    done += n;
                    self.pipe.rd_wait.wake_poll(POLLIN | POLLRDNORM);
                }
                Err(EPIPE) => {
                    crate::proc::signal::send_thread(crate::proc::current_pid(), abi::signal::SIGPIPE);
                    return if done > 0 { Ok(done) } else { Err(EPIPE) };
                }
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn poll(&self, pt: &PollTable) -> Option<u32> {
        pt.wait(&self.pipe.wr_wait);
        let s = self.pipe.state.lock();
        let mut mask = 0;
        if s.bufs.len() < s.max_usage {
            mask |= POLLOUT | POLLWRNORM;
        }
        if s.readers == 0 {
            mask |= POLLERR;
        }
        Some(mask)
    }
}

/// A new pipe of user `uid`: (read end, write end) as open files
/// (`alloc_pipe_info`). `privileged` exempts from the per-user limits.
pub fn create(nonblock: bool, uid: u32, privileged: bool) -> Result<(Arc<OpenFile>, Arc<OpenFile>), Errno> {
    let mut pipe_bufs = PIPE_DEF_BUFFERS;
    let max_pages = (sysctl::pipe_max_size() / PAGE_SIZE as u64) as usize;
    if pipe_bufs > max_pages && !privileged {
        pipe_bufs = max_pages;
    }
    let mut user_pages = account_pipe_buffers(uid, 0, pipe_bufs);
    if too_many_soft(user_pages) && !privileged {
        user_pages = account_pipe_buffers(uid, pipe_bufs, PIPE_MIN_DEF_BUFFERS);
        pipe_bufs = PIPE_MIN_DEF_BUFFERS;
    }
    if too_many_hard(user_pages) && !privileged {
        account_pipe_buffers(uid, pipe_bufs, 0);
        return Err(ENFILE);
    }
    let ino = NEXT_INO.fetch_add(1, Ordering::Relaxed);
    let state =
        State { bufs: VecDeque::new(), len: 0, max_usage: pipe_bufs, nr_accounted: pipe_bufs, readers: 1, writers: 1 };
    let pipe =
        Arc::new(Pipe { state: IrqLock::new(state), rd_wait: WaitQueue::new(), wr_wait: WaitQueue::new(), ino, uid });
    let flags = if nonblock { O_NONBLOCK } else { 0 };
    let r = OpenFile::new(
        Arc::new(ReadEnd { pipe: pipe.clone(), nonblock: AtomicBool::new(nonblock) }),
        O_RDONLY | flags,
        "pipe:",
    );
    let w = OpenFile::new(Arc::new(WriteEnd { pipe, nonblock: AtomicBool::new(nonblock) }), O_WRONLY | flags, "pipe:");
    Ok((r, w))
}
