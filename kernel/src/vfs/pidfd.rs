//! Process file descriptors: pidfd_open(2) and what a pidfd answers
//! (cf. kernel/pid.c `pidfd_create`, kernel/fork.c `pidfd_poll`).
//!
//! A pidfd names one process for as long as it is open: it keeps the
//! pid and a weak reference to the task, so that once the task is reaped
//! the pidfd never names a later process that reuses the pid. Readiness:
//! POLLIN | POLLRDNORM once the process has exited (a zombie), plus
//! POLLHUP once it has been reaped; pollers hook on
//! `proc::waitqueue::TASK_EXIT`, which every exit wakes. read(2) is
//! EINVAL, as on Linux. pidfd_send_signal and waitid(P_PIDFD) find the
//! process through [`pidfd_pid`] / [`PidFd::task`].

use alloc::sync::{Arc, Weak};
use core::any::Any;

use abi::errno::*;
use abi::fcntl::{O_NONBLOCK, O_RDWR};
use abi::poll::{POLLHUP, POLLIN, POLLRDNORM};
use abi::stat::Stat;

use super::{Inode, OpenFile, PollTable};
use crate::proc::waitqueue::TASK_EXIT;
use crate::proc::{self, Pid, Task};

pub struct PidFd {
    pub pid: Pid,
    task: Weak<Task>,
}

impl PidFd {
    /// The process, unless it has been reaped.
    pub fn task(&self) -> Option<Arc<Task>> {
        let t = self.task.upgrade()?;
        proc::task(self.pid).filter(|live| Arc::ptr_eq(live, &t))
    }
}

impl Inode for PidFd {
    fn stat(&self) -> Stat {
        super::anon_inode_stat()
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self, pt: &PollTable) -> Option<u32> {
        pt.wait(&TASK_EXIT);
        Some(match self.task() {
            None => POLLIN | POLLRDNORM | POLLHUP,
            Some(t) if t.is_dead() => POLLIN | POLLRDNORM,
            Some(_) => 0,
        })
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// pidfd_open: a pidfd for process `pid` (ESRCH if there is none; a
/// zombie not yet reaped still has one). The caller installs it close-on-exec, as Linux;
/// `nonblock` only shows in F_GETFL (waitid(P_PIDFD) reads it).
pub fn open(pid: Pid, nonblock: bool) -> Result<Arc<OpenFile>, Errno> {
    let task = proc::task(pid).filter(|_| pid != 0).ok_or(ESRCH)?;
    let pidfd = PidFd { pid, task: Arc::downgrade(&task) };
    let flags = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
    Ok(OpenFile::new(Arc::new(pidfd), flags, "anon_inode:[pidfd]"))
}

/// The pid a descriptor of the current process names, if it is a pidfd
/// (EBADF otherwise or if it is not open), for waitid(P_PIDFD).
pub fn pidfd_pid(fd: i32) -> Result<Pid, Errno> {
    let f = proc::current().inner.lock().files.get(fd)?;
    f.downcast::<PidFd>().map(|p| p.pid).ok_or(EBADF)
}
