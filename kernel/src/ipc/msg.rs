//! System V message queues (cf. ipc/msg.c): msgget, msgsnd, msgrcv,
//! msgctl and /proc/sysvipc/msg.
//!
//! ```text
//!   queue id -> [ (type, bytes) (type, bytes) ... ]   at most MSGMNB bytes
//!   msgsnd: append (a full queue: sleep, or EAGAIN with IPC_NOWAIT)
//!   msgrcv: msgtyp 0 the first message; > 0 the first of that type (with
//!           MSG_EXCEPT: of another type); < 0 the first of the lowest
//!           type at or below |msgtyp|; too long for the buffer: E2BIG
//!           unless MSG_NOERROR cuts it; none: sleep, or ENOMSG
//! ```
//!
//! Errors as Linux: msgget EEXIST, ENOENT, EACCES, ENOSPC; msgsnd EINVAL
//! (mtype < 1, size past MSGMAX), EACCES, EAGAIN, EINTR, EIDRM; msgrcv
//! E2BIG, ENOMSG, EINTR, EIDRM, EINVAL (MSG_COPY without IPC_NOWAIT,
//! MSG_COPY with MSG_EXCEPT); MSG_COPY takes the message at index msgtyp
//! without removing it.
//!
//! Locks: `TABLE`, a spin lock taken alone and never while sleeping;
//! blocked senders and receivers wait on `CHANGED` and look again.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use abi::errno::*;
use abi::ipc::{IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT};
use spin::Mutex;

use super::ids::{HasPerm, Ids};
use super::{Perm, SEQ_SHIFT, me, now};
use crate::proc::waitqueue::WaitQueue;
use crate::usercopy::{copy_from_user, copy_to_user, read_user, write_user};

/// Linux's defaults (kernel.msgmax, msgmnb, msgmni).
pub const MSGMAX: usize = 8192;
pub const MSGMNB: usize = 16384;
pub const MSGMNI: u32 = 32000;

const MSG_NOERROR: u32 = 0o10000;
const MSG_EXCEPT: u32 = 0o20000;
const MSG_COPY: u32 = 0o40000;

const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;

struct Queue {
    perm: Perm,
    msgs: VecDeque<(i64, Vec<u8>)>,
    bytes: usize,
    /// The queue's limit (msg_qbytes, IPC_SET may lower it; raise: root).
    qbytes: usize,
    stime: i64,
    rtime: i64,
    ctime: i64,
    lspid: u32,
    lrpid: u32,
}

impl HasPerm for Queue {
    fn perm(&self) -> &Perm {
        &self.perm
    }
}

static TABLE: Mutex<Ids<Queue>> = Mutex::new(Ids::new());
/// Woken whenever a queue changes or goes.
static CHANGED: WaitQueue = WaitQueue::new();

/// msgget(2).
pub fn msgget(key: i32, flags: u32) -> Result<u64, Errno> {
    let (creds, _) = me();
    let mut t = TABLE.lock();
    if key != IPC_PRIVATE {
        if let Some(q) = t.by_key(key) {
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(EEXIST);
            }
            q.perm.check(&creds, flags)?;
            return Ok(q.perm.id as u64);
        }
        if flags & IPC_CREAT == 0 {
            return Err(ENOENT);
        }
    }
    let (idx, seq, id) = t.alloc_id(MSGMNI)?;
    let q = Queue {
        perm: Perm::new(key, id, seq, flags, &creds),
        msgs: VecDeque::new(),
        bytes: 0,
        qbytes: MSGMNB,
        stime: 0,
        rtime: 0,
        ctime: now(),
        lspid: 0,
        lrpid: 0,
    };
    t.objs.insert(idx, q);
    Ok(id as u64)
}

/// msgsnd(2): `msgp` points at `struct msgbuf { long mtype; char mtext[] }`.
pub fn msgsnd(id: i32, msgp: u64, size: u64, flags: u32) -> Result<u64, Errno> {
    if id < 0 || size as usize > MSGMAX || (size as i64) < 0 {
        return Err(EINVAL);
    }
    let mtype: i64 = read_user(msgp)?;
    if mtype < 1 {
        return Err(EINVAL);
    }
    let mut text = alloc::vec![0u8; size as usize];
    copy_from_user(&mut text, msgp + 8)?;
    let (creds, tgid) = me();
    let mut text = Some(text);
    let mut try_send = || -> Result<bool, Errno> {
        let mut t = TABLE.lock();
        let q = t.by_id(id)?;
        q.perm.check(&creds, 0o222)?;
        let len = text.as_ref().map_or(0, Vec::len);
        // Room: bytes within qbytes, and (as Linux) messages within it too.
        if q.bytes + len > q.qbytes || q.msgs.len() + 1 > q.qbytes {
            return Ok(false);
        }
        q.bytes += len;
        q.msgs.push_back((mtype, text.take().unwrap_or_default()));
        q.lspid = tgid;
        q.stime = now();
        Ok(true)
    };
    if try_send()? {
        CHANGED.wake_all();
        return Ok(0);
    }
    if flags & IPC_NOWAIT != 0 {
        return Err(EAGAIN);
    }
    let r = CHANGED.wait_until(None, || match try_send() {
        Ok(true) => Some(Ok(())),
        Ok(false) => None,
        Err(EINVAL) => Some(Err(EIDRM)),
        Err(e) => Some(Err(e)),
    })?;
    r.unwrap_or(Err(EINTR))?;
    CHANGED.wake_all();
    Ok(0)
}

/// Which message `msgtyp` and `flags` select (its index), if any.
fn select(q: &Queue, msgtyp: i64, flags: u32) -> Option<usize> {
    if flags & MSG_COPY != 0 {
        return (msgtyp >= 0 && (msgtyp as usize) < q.msgs.len()).then_some(msgtyp as usize);
    }
    match msgtyp {
        0 => (!q.msgs.is_empty()).then_some(0),
        t if t > 0 && flags & MSG_EXCEPT != 0 => q.msgs.iter().position(|m| m.0 != t),
        t if t > 0 => q.msgs.iter().position(|m| m.0 == t),
        t => {
            let limit = t.checked_neg().unwrap_or(i64::MAX);
            let best = q.msgs.iter().filter(|m| m.0 <= limit).map(|m| m.0).min()?;
            q.msgs.iter().position(|m| m.0 == best)
        }
    }
}

/// msgrcv(2): returns the bytes of text copied to `msgp + 8`.
pub fn msgrcv(id: i32, msgp: u64, size: u64, msgtyp: i64, flags: u32) -> Result<u64, Errno> {
    if id < 0 || (size as i64) < 0 {
        return Err(EINVAL);
    }
    if flags & MSG_COPY != 0 && (flags & IPC_NOWAIT == 0 || flags & MSG_EXCEPT != 0) {
        return Err(EINVAL);
    }
    let (creds, tgid) = me();
    let try_recv = || -> Result<Option<(i64, Vec<u8>)>, Errno> {
        let mut t = TABLE.lock();
        let q = t.by_id(id)?;
        q.perm.check(&creds, 0o444)?;
        let Some(i) = select(q, msgtyp, flags) else { return Ok(None) };
        if q.msgs[i].1.len() > size as usize && flags & MSG_NOERROR == 0 {
            return Err(E2BIG);
        }
        if flags & MSG_COPY != 0 {
            return Ok(Some(q.msgs[i].clone()));
        }
        let m = q.msgs.remove(i).unwrap_or_default();
        q.bytes -= m.1.len();
        q.lrpid = tgid;
        q.rtime = now();
        if q.msgs.is_empty() {
            q.msgs = VecDeque::new();
        }
        Ok(Some(m))
    };
    let got = match try_recv()? {
        Some(m) => m,
        None if flags & IPC_NOWAIT != 0 => return Err(ENOMSG),
        None => CHANGED
            .wait_until(None, || match try_recv() {
                Ok(Some(m)) => Some(Ok(m)),
                Ok(None) => None,
                Err(EINVAL) => Some(Err(EIDRM)),
                Err(e) => Some(Err(e)),
            })?
            .unwrap_or(Err(EINTR))?,
    };
    if flags & MSG_COPY == 0 {
        CHANGED.wake_all();
    }
    let n = got.1.len().min(size as usize);
    write_user(msgp, &got.0)?;
    copy_to_user(msgp + 8, &got.1[..n])?;
    Ok(n as u64)
}

/// `struct msqid64_ds` as x86_64 lays it out (120 bytes).
fn msqid_ds(q: &Queue) -> [u8; 120] {
    let mut b = [0u8; 120];
    b[..48].copy_from_slice(abi::pod::Pod::as_bytes(&q.perm.to_abi()));
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(48, q.stime as u64);
    put(56, q.rtime as u64);
    put(64, q.ctime as u64);
    put(72, q.bytes as u64);
    put(80, q.msgs.len() as u64);
    put(88, q.qbytes as u64);
    // The two pids are ints, side by side.
    b[96..100].copy_from_slice(&q.lspid.to_le_bytes());
    b[100..104].copy_from_slice(&q.lrpid.to_le_bytes());
    b
}

/// msgctl(2).
pub fn msgctl(id: i32, cmd: i32, buf: u64) -> Result<u64, Errno> {
    let (creds, _) = me();
    let mut t = TABLE.lock();
    match cmd {
        IPC_INFO | MSG_INFO => {
            let live = cmd == MSG_INFO;
            let (queues, msgs, bytes) =
                t.objs.values().fold((0, 0, 0), |(a, m, b), q| (a + 1, m + q.msgs.len() as i32, b + q.bytes as i32));
            // struct msginfo: msgpool msgmap msgmax msgmnb msgmni msgssz msgtql msgseg.
            let v: [i32; 8] = [
                if live { queues } else { (MSGMNI as i32 * MSGMNB as i32) / 1024 },
                if live { msgs } else { MSGMNI as i32 * 4 },
                MSGMAX as i32,
                MSGMNB as i32,
                MSGMNI as i32,
                16,
                if live { bytes } else { MSGMNI as i32 * 4 },
                0xffff,
            ];
            let max = t.max_idx().max(0) as u64;
            drop(t);
            let mut b = [0u8; 32];
            for (i, x) in v.iter().enumerate() {
                b[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
            }
            copy_to_user(buf, &b)?;
            return Ok(max);
        }
        MSG_STAT | MSG_STAT_ANY => {
            let q = t.objs.get(&(id as u32)).ok_or(EINVAL)?;
            if cmd == MSG_STAT {
                q.perm.check(&creds, 0o444)?;
            }
            let (b, qid) = (msqid_ds(q), q.perm.id);
            drop(t);
            copy_to_user(buf, &b)?;
            return Ok(qid as u64);
        }
        _ => {}
    }
    let q = t.by_id(id)?;
    match cmd {
        IPC_STAT => {
            q.perm.check(&creds, 0o444)?;
            let b = msqid_ds(q);
            drop(t);
            copy_to_user(buf, &b)?;
            Ok(0)
        }
        IPC_SET => {
            if !q.perm.may_change(&creds) {
                return Err(EPERM);
            }
            drop(t);
            let mut b = [0u8; 120];
            copy_from_user(&mut b, buf)?;
            let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            let qbytes = u64::from_le_bytes(b[88..96].try_into().unwrap_or([0; 8])) as usize;
            let mut t = TABLE.lock();
            let q = t.by_id(id)?;
            if qbytes > MSGMNB && !creds.is_root() {
                return Err(EPERM);
            }
            q.qbytes = qbytes;
            q.perm.uid = word(4);
            q.perm.gid = word(8);
            q.perm.mode = (q.perm.mode & !0o777) | (word(20) & 0o777);
            q.ctime = now();
            drop(t);
            CHANGED.wake_all();
            Ok(0)
        }
        IPC_RMID => {
            if !q.perm.may_change(&creds) {
                return Err(EPERM);
            }
            t.objs.remove(&((id as u32) & ((1 << SEQ_SHIFT) - 1)));
            t.tidy();
            drop(t);
            CHANGED.wake_all();
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// /proc/sysvipc/msg, in Linux's layout.
pub fn render(s: &mut String) -> core::fmt::Result {
    writeln!(
        s,
        "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime"
    )?;
    let t = TABLE.lock();
    for q in t.objs.values() {
        let p = &q.perm;
        writeln!(
            s,
            "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}",
            p.key,
            p.id,
            p.mode & 0o777,
            q.bytes,
            q.msgs.len(),
            q.lspid,
            q.lrpid,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            q.stime,
            q.rtime,
            q.ctime
        )?;
    }
    Ok(())
}
