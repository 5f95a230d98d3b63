//! Files as processes hold them: the object model every file system
//! implements, below the processes that hold files and above memory.
//!
//! An [`Inode`] is a file or directory; an [`OpenFile`] is one open(2) of
//! it (offset, access mode, a reader's place in a generated file); an
//! [`FdTable`] maps a process's descriptors to open files; `path` turns
//! names into absolute components; `poll` is how a file reports its
//! readiness and names the wait queues a poller sleeps on. Nothing here knows a particular file
//! system: those (the initrd, /dev, /proc, pipes, the console) live in
//! `vfs`, which sits above `proc`.

mod fdtable;
pub mod flock;
pub mod path;
pub mod poll;
pub mod record_lock;
pub mod write_access;

pub use fdtable::{FdEntry, FdTable};
pub use poll::{PollQueue, PollTable, Wake};

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;

use mm::vm::file::MemObject;

use abi::errno::*;
use abi::fcntl::{O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_EXCL, O_NOCTTY, O_NONBLOCK, O_RDWR, O_TRUNC, O_WRONLY};
use abi::poll::DEFAULT_POLLMASK;
use abi::stat::{S_IFDIR, S_IFLNK, S_IFMT, Stat, Statfs};

/// A directory entry.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    /// DT_* type (4 dir, 8 regular, 2 char device).
    pub dtype: u8,
}

/// Who creates a file: its owner and group (the caller's fsuid and
/// fsgid, or the directory's group under set-group-ID).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// A time to set: seconds and nanoseconds since the epoch.
pub type Time = (i64, i64);

/// What setattr changes (chmod, chown, truncate, utimensat); the change
/// time moves with any of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<Time>,
    pub mtime: Option<Time>,
}

/// Linux's RAMFS_MAGIC: what statfs shows of the boot file systems (the
/// initrd tree, /dev, /proc's directories here).
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// The answer of a file system with no writable namespace: EROFS in a
/// directory, ENOTDIR elsewhere (the caller has checked the type, so this
/// is the read-only case).
fn read_only(dir: &(impl Inode + ?Sized)) -> Errno {
    if dir.is_dir() { EROFS } else { ENOTDIR }
}

/// A file or directory.
///
/// The namespace operations (create .. rename) are called on the parent
/// directory, after the caller checked its search and write permission;
/// read-only file systems keep their defaults (EROFS).
pub trait Inode: Send + Sync {
    fn stat(&self) -> Stat;

    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn write_at(&self, _off: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn is_dir(&self) -> bool {
        self.stat().st_mode & S_IFMT == S_IFDIR
    }

    /// Whether lseek makes sense (not for the console).
    fn seekable(&self) -> bool {
        true
    }

    /// Whether the file may be opened for writing.
    fn writable(&self) -> bool {
        false
    }

    /// Linux's `inode_permission` at open: `mask` is MAY_READ (4) and/or
    /// MAY_WRITE (2). EACCES if the caller may not (procfs checks modes,
    /// owners and ptrace rights; other files allow everything).
    fn permission(&self, _mask: u32) -> Result<(), Errno> {
        Ok(())
    }

    fn lookup(&self, _name: &str) -> Option<Arc<dyn Inode>> {
        None
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        None
    }

    /// The memory object to map (files of the initrd).
    fn mem_object(&self) -> Option<Arc<MemObject>> {
        None
    }

    /// The hugetlb object to map (a hugetlbfs file).
    fn huge_object(&self) -> Option<Arc<mm::vm::hugetlb::HugeObject>> {
        None
    }

    fn ioctl(&self, _cmd: u32, _arg: u64) -> Result<u64, Errno> {
        Err(ENOTTY)
    }

    /// Where SEEK_END points when it is not `st_size` (a block device's
    /// size: its stat says 0, as on Linux).
    fn seek_end(&self) -> Option<u64> {
        None
    }

    /// fsync(2) of a device file: make written data durable.
    fn sync(&self) -> Result<(), Errno> {
        Ok(())
    }

    /// Contents are generated on open (procfs): read from a snapshot.
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }

    /// Contents are generated one record at a time as they are read
    /// (Linux's seq_file), for views too large to build at once: render
    /// the record at cursor `key` (0 first) into `out` and return the next
    /// cursor, or `None` past the last record. Inodes answering `true`
    /// from `is_seq` implement this.
    fn seq_show(&self, _key: u64, _out: &mut String) -> Option<u64> {
        None
    }

    fn is_seq(&self) -> bool {
        false
    }

    /// A read through an open file with O_NONBLOCK: EAGAIN where
    /// `read_at` would wait. Inodes that never wait keep the default.
    fn read_nonblock(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read_at(off, buf)
    }

    /// Writes vanish unread (/dev/null, /dev/zero): write(2) reports the
    /// whole count without touching the buffer, as Linux's `write_null`.
    fn discards_writes(&self) -> bool {
        false
    }

    /// O_NONBLOCK changed on the one open file of this inode (fcntl
    /// F_SETFL). Only inodes that can block care: pipe ends, whose inode
    /// belongs to exactly one open file.
    fn set_nonblock(&self, _on: bool) {}

    /// F_GETPIPE_SZ: the capacity of the pipe behind this inode (EBADF
    /// if it is not a pipe, as Linux).
    fn pipe_size(&self) -> Result<u64, Errno> {
        Err(EBADF)
    }

    /// F_SETPIPE_SZ: resize the pipe behind this inode; `privileged`
    /// callers may pass /proc/sys/fs/pipe-max-size. Returns the new size.
    fn set_pipe_size(&self, _size: u32, _privileged: bool) -> Result<u64, Errno> {
        Err(EBADF)
    }

    /// Linux's `f_op->poll`: the events (POLLIN, POLLOUT, POLLHUP ...)
    /// that hold now, after hooking `pt` on every wait queue a change of
    /// them wakes (see `poll`). `None`: the file has no poll method, it
    /// never makes a caller wait (regular files, /dev/null): poll and
    /// select see DEFAULT_POLLMASK, epoll refuses it with EPERM.
    fn poll(&self, _pt: &PollTable) -> Option<u32> {
        None
    }

    /// The file's own type, for the calls that act on one kind of file
    /// (epoll_ctl, timerfd_settime, pidfd_send_signal ...) and downcast.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }

    fn is_symlink(&self) -> bool {
        self.stat().st_mode & S_IFMT == S_IFLNK
    }

    /// A regular file `name` in this directory (EEXIST if the name is
    /// taken), mode bits already masked by the umask; `path` is its
    /// absolute path, the name /proc/PID/maps shows for its mappings.
    fn create(&self, _name: &str, _path: &str, _mode: u32, _owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        Err(read_only(self))
    }

    fn mkdir(&self, _name: &str, _mode: u32, _owner: Owner) -> Result<(), Errno> {
        Err(read_only(self))
    }

    fn symlink(&self, _name: &str, _target: &str, _owner: Owner) -> Result<(), Errno> {
        Err(read_only(self))
    }

    /// O_TMPFILE: an unnamed regular file on this directory's file system
    /// (`dir_path` is this directory's absolute path).
    fn tmpfile(&self, _dir_path: &str, _mode: u32, _owner: Owner) -> Result<Arc<dyn Inode>, Errno> {
        Err(EOPNOTSUPP)
    }

    /// A new name for `target` (EXDEV if it lives elsewhere).
    fn link(&self, _name: &str, _target: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(read_only(self))
    }

    /// Remove the name of a non-directory.
    fn unlink(&self, _name: &str) -> Result<(), Errno> {
        Err(read_only(self))
    }

    /// Remove an empty directory (ENOTEMPTY otherwise).
    fn rmdir(&self, _name: &str) -> Result<(), Errno> {
        Err(read_only(self))
    }

    /// renameat2 of `old` here to `new` in `new_dir` (RENAME_NOREPLACE,
    /// RENAME_EXCHANGE), with Linux's EEXIST, ENOTDIR, EISDIR, ENOTEMPTY.
    fn rename(&self, _old: &str, _new_dir: &Arc<dyn Inode>, _new: &str, _flags: u32) -> Result<(), Errno> {
        Err(read_only(self))
    }

    /// The target of a symbolic link (EINVAL for other files).
    fn readlink(&self) -> Result<String, Errno> {
        Err(EINVAL)
    }

    /// A "magic" link (/proc/PID/fd/N): path walks that follow it land on
    /// this inode itself rather than on the text `readlink` gives, as
    /// Linux's `nd_jump_link`, so a pipe or a deleted file opens again.
    fn magic_link(&self) -> Option<Arc<dyn Inode>> {
        None
    }

    /// chmod, chown, truncate, utimensat (permission already checked).
    /// By default a size change of a writable file is accepted and
    /// ignored (its writes are commands, as /proc/sys: Linux's
    /// proc_sys_setattr), so open with O_TRUNC works there; any other
    /// change is EROFS.
    fn setattr(&self, attr: &SetAttr) -> Result<(), Errno> {
        let size_only = attr.size.is_some() && SetAttr { size: None, ..*attr } == SetAttr::default();
        if size_only && self.writable() { Ok(()) } else { Err(EROFS) }
    }

    fn statfs(&self) -> Statfs {
        Statfs { f_type: RAMFS_MAGIC, f_bsize: 4096, f_namelen: 255, f_frsize: 4096, ..Statfs::default() }
    }

    /// fallocate(2): mode 0 or FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE.
    fn fallocate(&self, _mode: u32, _off: u64, _len: u64) -> Result<(), Errno> {
        Err(EOPNOTSUPP)
    }

    /// lseek SEEK_DATA (`data`) or SEEK_HOLE from `off`: Linux's generic
    /// answer is all data and one hole at the end; ENXIO at or past it.
    fn seek_data_hole(&self, data: bool, off: u64) -> Result<u64, Errno> {
        let size = self.stat().st_size.max(0) as u64;
        if off >= size {
            return Err(ENXIO);
        }
        Ok(if data { off } else { size })
    }

    /// The count of writers against running programs, for a file that can
    /// be both (write_access.rs); None for the others.
    fn write_count(&self) -> Option<&write_access::WriteCount> {
        None
    }

    /// F_ADD_SEALS (the open file is writable; `memfd_add_seals`): files
    /// without seals (not tmpfs) answer EINVAL.
    fn add_seals(&self, _seals: u32) -> Result<(), Errno> {
        Err(EINVAL)
    }

    /// F_GET_SEALS: EINVAL for files without seals.
    fn get_seals(&self) -> Result<u32, Errno> {
        Err(EINVAL)
    }

    /// The root of a mounted file system (rmdir and rename of it: EBUSY).
    fn is_mount_root(&self) -> bool {
        false
    }
}

/// Open flags F_SETFL may change (Linux's SETFL_MASK, less the ones with
/// no meaning here: O_DIRECT, O_NOATIME, FASYNC are ignored).
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK;
/// Flags that only matter during open(2) and are not kept in the open
/// file (do_dentry_open clears them; O_CLOEXEC lives in the fd table).
const OPEN_ONLY_FLAGS: u32 = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC;

/// One open(2).
pub struct OpenFile {
    pub inode: Arc<dyn Inode>,
    pub offset: Mutex<u64>,
    /// `f_flags`: access mode and the status flags F_GETFL reports.
    flags: AtomicU32,
    pub path: String,
    /// For generated files: the text as of open.
    pub snapshot: Option<Vec<u8>>,
    /// For record-at-a-time files: where the reader is.
    seq: Option<Mutex<SeqState>>,
    /// Opened for writing a file that can also run (ETXTBSY rules); held
    /// for as long as the open file lives.
    _write: Option<write_access::WriteGuard>,
    /// flock(2) was called on it: its lock goes when it does.
    flocked: core::sync::atomic::AtomicBool,
    /// An F_OFD_SETLK(W) set a record lock owned by this description.
    ofd_locked: core::sync::atomic::AtomicBool,
}

/// A reader's place in a record-at-a-time file: the text of the records
/// rendered but not read yet starts at file offset `pos`; `next` is the
/// cursor of the record after them (`None`: the end was reached).
struct SeqState {
    pos: u64,
    pending: String,
    next: Option<u64>,
}

impl SeqState {
    fn rewind(&mut self) {
        *self = SeqState { pos: 0, pending: String::new(), next: Some(0) };
    }

    /// Copy the file's bytes at `off` into `buf`, rendering records as
    /// needed; memory held is one record plus what `buf` did not take.
    fn read(&mut self, inode: &dyn Inode, off: u64, buf: &mut [u8]) -> usize {
        if off < self.pos {
            self.rewind();
        }
        let mut done = 0;
        while done < buf.len() {
            let end = self.pos + self.pending.len() as u64;
            let want = off + done as u64;
            if want < end {
                let from = (want - self.pos) as usize;
                let n = (buf.len() - done).min(self.pending.len() - from);
                buf[done..done + n].copy_from_slice(&self.pending.as_bytes()[from..from + n]);
                done += n;
                continue;
            }
            // Everything pending is behind the reader: render the next record.
            let Some(key) = self.next else { break };
            self.pos = end;
            self.pending.clear();
            self.next = inode.seq_show(key, &mut self.pending);
            if self.pending.is_empty() && self.next.is_none() {
                break;
            }
        }
        done
    }
}

impl Drop for OpenFile {
    /// The last descriptor of this description closed: its flock and its
    /// OFD record locks go.
    fn drop(&mut self) {
        if self.flocked.load(Ordering::Relaxed) {
            let (file, owner) = self.flock_keys();
            flock::unlock(file, owner);
        }
        if self.ofd_locked.load(Ordering::Relaxed) {
            record_lock::release_file(self.lock_key(), record_lock::Owner::Ofd(self as *const OpenFile as usize));
        }
    }
}

impl OpenFile {
    pub fn new(inode: Arc<dyn Inode>, flags: u32, path: &str) -> Arc<OpenFile> {
        OpenFile::with_write(inode, flags, path, None)
    }

    /// As `new`, holding the write access open(2) took (`write`).
    pub fn with_write(
        inode: Arc<dyn Inode>,
        flags: u32,
        path: &str,
        write: Option<write_access::WriteGuard>,
    ) -> Arc<OpenFile> {
        let seq = inode.is_seq().then(|| Mutex::new(SeqState { pos: 0, pending: String::new(), next: Some(0) }));
        let snapshot = if seq.is_some() { None } else { inode.snapshot() };
        let flags = AtomicU32::new(flags & !OPEN_ONLY_FLAGS);
        Arc::new(OpenFile {
            inode,
            offset: Mutex::new(0),
            flags,
            path: path.to_string(),
            snapshot,
            seq,
            _write: write,
            flocked: core::sync::atomic::AtomicBool::new(false),
            ofd_locked: core::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The keys of flock(2): the file (its inode's address) and this open
    /// file description.
    pub fn flock_keys(&self) -> (usize, usize) {
        (Arc::as_ptr(&self.inode) as *const () as usize, self as *const OpenFile as usize)
    }

    /// The file a record lock is on (its inode's address).
    pub fn lock_key(&self) -> usize {
        Arc::as_ptr(&self.inode) as *const () as usize
    }

    /// The record-lock owner of this description's OFD locks, marking
    /// that it may hold some.
    pub fn ofd_owner(&self) -> record_lock::Owner {
        self.ofd_locked.store(true, Ordering::Relaxed);
        record_lock::Owner::Ofd(self as *const OpenFile as usize)
    }

    /// flock(2) took or may hold a lock through this description.
    pub fn mark_flocked(&self) {
        self.flocked.store(true, Ordering::Relaxed);
    }

    /// F_GETFL.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// F_SETFL: only the bits of SETFL_MASK change; the inode hears about
    /// O_NONBLOCK so that a blocking call sees it.
    pub fn set_status_flags(&self, arg: u32) {
        let old = self.flags();
        let new = (old & !SETFL_MASK) | (arg & SETFL_MASK);
        self.flags.store(new, Ordering::Relaxed);
        if (old ^ new) & O_NONBLOCK != 0 {
            self.inode.set_nonblock(new & O_NONBLOCK != 0);
        }
    }

    pub fn readable(&self) -> bool {
        self.flags() & O_ACCMODE != O_WRONLY
    }

    pub fn writable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    /// Read at `off` (from the snapshot for generated files).
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if let Some(seq) = &self.seq {
            return Ok(seq.lock().read(&*self.inode, off, buf));
        }
        match &self.snapshot {
            Some(s) => {
                let start = (off as usize).min(s.len());
                let n = buf.len().min(s.len() - start);
                buf[..n].copy_from_slice(&s[start..start + n]);
                Ok(n)
            }
            None if self.flags() & O_NONBLOCK != 0 => self.inode.read_nonblock(off, buf),
            None => self.inode.read_at(off, buf),
        }
    }

    /// `vfs_poll`: the file's events, DEFAULT_POLLMASK if it has no poll
    /// method.
    pub fn poll(&self, pt: &PollTable) -> u32 {
        self.inode.poll(pt).unwrap_or(DEFAULT_POLLMASK)
    }

    /// `file_can_poll`: whether the file has a poll method (epoll takes
    /// only those).
    pub fn can_poll(&self) -> bool {
        self.inode.poll(&PollTable::none()).is_some()
    }

    /// The inode as its concrete type `T`, if it is one.
    pub fn downcast<T: 'static>(&self) -> Option<&T> {
        self.inode.as_any()?.downcast_ref::<T>()
    }

    pub fn size(&self) -> u64 {
        match &self.snapshot {
            Some(s) => s.len() as u64,
            None => self.inode.seek_end().unwrap_or_else(|| self.inode.stat().st_size.max(0) as u64),
        }
    }
}
