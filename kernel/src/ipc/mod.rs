//! System V IPC (cf. ipc/util.c): the permissions every IPC object
//! carries and the checks made against them; `ids.rs` is the table of
//! objects by id. Shared memory is `shm/`, semaphores `sem.rs`, message
//! queues `msg.rs`.
//!
//! Ids are Linux's: an object at index `idx` of its table has the id
//! `seq << 15 | idx`, where `seq` moves on whenever an index at or below
//! the last one handed out is reused (`ipc_idr_alloc`), so a stale id
//! rarely names a new object: looking it up gives EINVAL.
//!
//! Locks: none here (a `Perm` is a value inside its table's entry).

pub mod ids;
pub mod msg;
pub mod sem;
pub mod shm;

use abi::errno::{EACCES, Errno};
use abi::ipc::IpcPerm;

use crate::proc::Creds;

/// Where the sequence number starts in an id (IPCMNI_SHIFT).
pub const SEQ_SHIFT: u32 = 15;
/// Largest sequence number (INT_MAX >> IPCMNI_SHIFT).
pub const SEQ_MAX: u32 = (i32::MAX as u32) >> SEQ_SHIFT;

/// `struct kern_ipc_perm`: key, owner, creator, mode and id of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub key: i32,
    pub id: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// rwx bits for owner, group, others, plus the object's state bits
    /// (SHM_DEST, SHM_LOCKED).
    pub mode: u32,
    pub seq: u16,
}

impl Perm {
    /// A new object's permissions: owned and created by the caller's
    /// effective ids, with the rwx bits of `flags`.
    pub fn new(key: i32, id: i32, seq: u16, flags: u32, c: &Creds) -> Perm {
        Perm { key, id, uid: c.euid, gid: c.egid, cuid: c.euid, cgid: c.egid, mode: flags & 0o777, seq }
    }

    /// `kernel_to_ipc64_perm`.
    pub fn to_abi(&self) -> IpcPerm {
        IpcPerm {
            key: self.key,
            uid: self.uid,
            gid: self.gid,
            cuid: self.cuid,
            cgid: self.cgid,
            mode: self.mode,
            seq: self.seq,
            ..IpcPerm::default()
        }
    }

    /// Linux's `ipcperms`: every rwx bit asked for in `flag` (in any of its
    /// three triplets) must be granted by the owner's bits if the caller
    /// is the owner or creator, else the group's if its group is the
    /// object's or the creator's, else the others'. Root
    /// (CAP_IPC_OWNER) passes. EACCES otherwise.
    pub fn check(&self, c: &Creds, flag: u32) -> Result<(), Errno> {
        let requested = (flag >> 6) | (flag >> 3) | flag;
        let granted = if c.euid == self.cuid || c.euid == self.uid {
            self.mode >> 6
        } else if c.in_group(self.cgid) || c.in_group(self.gid) {
            self.mode >> 3
        } else {
            self.mode
        };
        if requested & !granted & 0o7 != 0 && !c.is_root() { Err(EACCES) } else { Ok(()) }
    }

    /// `ipcctl_obtain_check`: IPC_SET and IPC_RMID belong to the owner,
    /// the creator and root (CAP_SYS_ADMIN).
    pub fn may_change(&self, c: &Creds) -> bool {
        c.euid == self.uid || c.euid == self.cuid || c.is_root()
    }
}

/// Seconds since the epoch, for an object's time stamps.
pub fn now() -> i64 {
    (crate::platform::clock::realtime_ns() / 1_000_000_000) as i64
}

/// The caller's credentials and process id.
pub fn me() -> (Creds, u32) {
    let t = crate::proc::current();
    let c = t.inner.lock().creds.clone();
    (c, t.tgid())
}
