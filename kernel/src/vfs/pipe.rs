//! Pipes: pipe(2) and pipe2(2) (cf. fs/pipe.c).
//!
//! ```text
//!   write end --write()--> [ bounded buffer, 64 KiB ] --read()--> read end
//! ```
//!
//! One [`Pipe`] holds the bytes; each end is its own inode, so that when
//! the last open file of an end goes away (close, exit, exec with
//! O_CLOEXEC) its `Drop` tells the other side: readers then see end of
//! file once the buffer is empty, writers get EPIPE and SIGPIPE.
//!
//! Reads block until there is data or no writer; writes block until all
//! their bytes are in (a write of at most PIPE_BUF = 4096 bytes is never
//! interleaved with another writer's). A fatal signal ends a blocked call
//! with EINTR, or with the count moved so far. O_NONBLOCK (pipe2) makes a
//! call that would block fail with EAGAIN.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use mm::sync::IrqLock;

use super::{Inode, O_RDONLY, O_WRONLY, OpenFile, Stat};
use crate::errno::*;
use crate::proc::waitqueue::WaitQueue;

pub const S_IFIFO: u32 = 0o010000;
/// Bytes a pipe holds (Linux's default: 16 pages).
pub const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

struct State {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

/// The shared part of a pipe.
pub struct Pipe {
    state: IrqLock<State>,
    /// Readers waiting for data, writers waiting for room.
    waiters: WaitQueue,
    ino: u64,
}

static NEXT_INO: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

fn stat(ino: u64) -> Stat {
    Stat { st_dev: 12, st_ino: ino, st_nlink: 1, st_mode: S_IFIFO | 0o600, st_blksize: PIPE_BUF as i64, ..Stat::default() }
}

/// The read end.
pub struct ReadEnd {
    pipe: Arc<Pipe>,
    nonblock: bool,
}

/// The write end.
pub struct WriteEnd {
    pipe: Arc<Pipe>,
    nonblock: bool,
}

impl Drop for ReadEnd {
    fn drop(&mut self) {
        self.pipe.state.lock().readers -= 1;
        self.pipe.waiters.wake_all();
    }
}

impl Drop for WriteEnd {
    fn drop(&mut self) {
        self.pipe.state.lock().writers -= 1;
        self.pipe.waiters.wake_all();
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

    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let step = |buf: &mut [u8]| {
            let mut s = self.pipe.state.lock();
            if !s.buf.is_empty() {
                let n = s.buf.len().min(buf.len());
                for (d, b) in buf.iter_mut().zip(s.buf.drain(..n)) {
                    *d = b;
                }
                Some(ReadStep::Data(n))
            } else if s.writers == 0 {
                Some(ReadStep::Eof)
            } else {
                None
            }
        };
        if self.nonblock {
            return match step(buf) {
                Some(ReadStep::Data(n)) => {
                    self.pipe.waiters.wake_all();
                    Ok(n)
                }
                Some(ReadStep::Eof) => Ok(0),
                None => Err(EAGAIN),
            };
        }
        let r = self.pipe.waiters.wait_until(None, || step(buf))?;
        match r {
            Some(ReadStep::Data(n)) => {
                // Room for blocked writers.
                self.pipe.waiters.wake_all();
                Ok(n)
            }
            _ => Ok(0),
        }
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
                let room = PIPE_CAPACITY - s.buf.len();
                if room < need {
                    return None;
                }
                let n = room.min(rest.len());
                s.buf.extend(&rest[..n]);
                Some(Ok(n))
            };
            let r = if self.nonblock {
                match step() {
                    Some(r) => r,
                    None if done > 0 => break,
                    None => return Err(EAGAIN),
                }
            } else {
                match self.pipe.waiters.wait_until(None, step) {
                    Ok(Some(r)) => r,
                    Ok(None) => unreachable!("pipe: a wait without deadline timed out"),
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            };
            match r {
                Ok(n) => {
                    done += n;
                    self.pipe.waiters.wake_all();
                }
                Err(EPIPE) => {
                    crate::proc::signal::send(crate::proc::current_pid(), crate::proc::signal::SIGPIPE);
                    return if done > 0 { Ok(done) } else { Err(EPIPE) };
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// A new pipe: (read end, write end) as open files.
pub fn create(nonblock: bool) -> (Arc<OpenFile>, Arc<OpenFile>) {
    let ino = NEXT_INO.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let pipe = Arc::new(Pipe { state: IrqLock::new(State { buf: VecDeque::new(), readers: 1, writers: 1 }), waiters: WaitQueue::new(), ino });
    let flags = if nonblock { super::O_NONBLOCK } else { 0 };
    let r = OpenFile::new(Arc::new(ReadEnd { pipe: pipe.clone(), nonblock }), O_RDONLY | flags, "pipe:");
    let w = OpenFile::new(Arc::new(WriteEnd { pipe, nonblock }), O_WRONLY | flags, "pipe:");
    (r, w)
}
