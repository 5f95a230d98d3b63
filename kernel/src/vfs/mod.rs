//! A small virtual file system: enough for Linux programs to open, read,
//! stat and map files.
//!
//! ```text
//!   /           the initrd's tree (read-only), plus:
//!   /dev        console (console.rs; line discipline in tty.rs), null, zero
//!   (no name)   pipes (pipe.rs)
//!   /proc       live views of the kernel (procfs.rs)
//! ```
//!
//! An [`Inode`] is a file or directory; an [`OpenFile`] is one open(2) of
//! it (offset, access mode); an [`FdTable`] maps a process's descriptors
//! to open files.

pub mod console;
pub mod dev;
pub mod initrd;
pub mod pipe;
pub mod procfs;
pub mod tty;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::{Mutex, Once};

use mm::file::MemObject;

use crate::errno::*;
use crate::usercopy::Pod;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;

pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_CLOEXEC: u32 = 0o2000000;

/// `struct stat` of x86_64 Linux (144 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub unused: [i64; 3],
}

// SAFETY: repr(C), integers only, no implicit padding (pad0 is explicit).
unsafe impl Pod for Stat {}

const _: () = assert!(core::mem::size_of::<Stat>() == 144);

/// A directory entry.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    /// DT_* type (4 dir, 8 regular, 2 char device).
    pub dtype: u8,
}

/// A file or directory.
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

    fn ioctl(&self, _cmd: u32, _arg: u64) -> Result<u64, Errno> {
        Err(ENOTTY)
    }

    /// Contents are generated on open (procfs): read from a snapshot.
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }
}

/// One open(2).
pub struct OpenFile {
    pub inode: Arc<dyn Inode>,
    pub offset: Mutex<u64>,
    pub flags: u32,
    pub path: String,
    /// For generated files: the text as of open.
    pub snapshot: Option<Vec<u8>>,
}

impl OpenFile {
    pub fn new(inode: Arc<dyn Inode>, flags: u32, path: &str) -> Arc<OpenFile> {
        let snapshot = inode.snapshot();
        Arc::new(OpenFile { inode, offset: Mutex::new(0), flags, path: path.to_string(), snapshot })
    }

    pub fn readable(&self) -> bool {
        self.flags & O_ACCMODE != O_WRONLY
    }

    pub fn writable(&self) -> bool {
        matches!(self.flags & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    /// Read at `off` (from the snapshot for generated files).
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match &self.snapshot {
            Some(s) => {
                let start = (off as usize).min(s.len());
                let n = buf.len().min(s.len() - start);
                buf[..n].copy_from_slice(&s[start..start + n]);
                Ok(n)
            }
            None => self.inode.read_at(off, buf),
        }
    }

    pub fn size(&self) -> u64 {
        match &self.snapshot {
            Some(s) => s.len() as u64,
            None => self.inode.stat().st_size.max(0) as u64,
        }
    }
}

/// A descriptor slot.
#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

/// A process's descriptors.
#[derive(Clone, Default)]
pub struct FdTable {
    fds: Vec<Option<FdEntry>>,
}

impl FdTable {
    /// Descriptors 0, 1, 2 on the console.
    pub fn with_console() -> FdTable {
        let con = console::open();
        let mut t = FdTable::default();
        for _ in 0..3 {
            t.fds.push(Some(FdEntry { file: con.clone(), cloexec: false }));
        }
        t
    }

    pub fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.fds.get(fd as usize).and_then(|e| e.as_ref()).map(|e| e.file.clone()).ok_or(EBADF)
    }

    /// Lowest free descriptor (EMFILE past `limit`).
    pub fn install(&mut self, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        let slot = self.fds.iter().position(Option::is_none).unwrap_or(self.fds.len());
        if slot as u64 >= limit {
            return Err(EMFILE);
        }
        if slot == self.fds.len() {
            self.fds.push(None);
        }
        self.fds[slot] = Some(FdEntry { file, cloexec });
        Ok(slot as i32)
    }

    /// Put `file` at `fd` (dup2), closing what was there.
    pub fn install_at(&mut self, fd: i32, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> Result<i32, Errno> {
        if fd < 0 || fd as u64 >= limit {
            return Err(EBADF);
        }
        while self.fds.len() <= fd as usize {
            self.fds.push(None);
        }
        self.fds[fd as usize] = Some(FdEntry { file, cloexec });
        Ok(fd)
    }

    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        match self.fds.get_mut(fd as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Ok(())
            }
            _ => Err(EBADF),
        }
    }

    /// Drop close-on-exec descriptors (execve).
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.fds {
            if slot.as_ref().is_some_and(|e| e.cloexec) {
                *slot = None;
            }
        }
    }

    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        match self.fds.get_mut(fd as usize).and_then(|e| e.as_mut()) {
            Some(e) if fd >= 0 => {
                e.cloexec = on;
                Ok(())
            }
            _ => Err(EBADF),
        }
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.fds.get(fd as usize).and_then(|e| e.as_ref()).filter(|_| fd >= 0).map(|e| e.cloexec).ok_or(EBADF)
    }

    pub fn clear(&mut self) {
        self.fds.clear();
    }

    /// Open descriptors (for /proc/PID/fd-like views).
    pub fn count(&self) -> usize {
        self.fds.iter().filter(|f| f.is_some()).count()
    }
}

/// An immutable directory built at boot.
pub struct MemDir {
    pub ino: u64,
    pub entries: BTreeMap<String, Arc<dyn Inode>>,
}

impl Inode for MemDir {
    fn stat(&self) -> Stat {
        Stat { st_ino: self.ino, st_nlink: 2, st_mode: S_IFDIR | 0o755, st_blksize: 4096, st_dev: 1, ..Stat::default() }
    }

    fn lookup(&self, name: &str) -> Option<Arc<dyn Inode>> {
        self.entries.get(name).cloned()
    }

    fn readdir(&self) -> Option<Vec<DirEntry>> {
        Some(
            self.entries
                .iter()
                .map(|(n, i)| {
                    let st = i.stat();
                    let dtype = match st.st_mode & S_IFMT {
                        S_IFDIR => 4,
                        S_IFCHR => 2,
                        _ => 8,
                    };
                    DirEntry { name: n.clone(), ino: st.st_ino, dtype }
                })
                .collect(),
        )
    }
}

static ROOT: Once<Arc<dyn Inode>> = Once::new();

/// Build the tree: the initrd plus /dev (and /proc once registered).
pub fn init(extra: Vec<(String, Arc<dyn Inode>)>) {
    ROOT.call_once(|| {
        let mut root = initrd::build_tree();
        root.entries.insert("dev".to_string(), dev::dev_dir());
        for (name, inode) in extra {
            root.entries.insert(name, inode);
        }
        Arc::new(root)
    });
}

pub fn root() -> Arc<dyn Inode> {
    ROOT.get().cloned().expect("vfs: lookup before vfs::init")
}

/// Normalise `path` relative to `cwd` into absolute components.
pub fn components(path: &str, cwd: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let full = if path.starts_with('/') { String::from(path) } else { alloc::format!("{cwd}/{path}") };
    for c in full.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// Resolve a path (ENOENT, ENOTDIR, ENAMETOOLONG as Linux).
pub fn lookup(path: &str, cwd: &str) -> Result<Arc<dyn Inode>, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.len() >= 4096 {
        return Err(ENAMETOOLONG);
    }
    let mut node = root();
    let comps = components(path, cwd);
    for c in &comps {
        if c.len() > 255 {
            return Err(ENAMETOOLONG);
        }
        if !node.is_dir() {
            return Err(ENOTDIR);
        }
        node = node.lookup(c).ok_or(ENOENT)?;
    }
    if path.ends_with('/') && !node.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(node)
}

/// Absolute, normalised form of `path`.
pub fn absolute(path: &str, cwd: &str) -> String {
    let c = components(path, cwd);
    if c.is_empty() { String::from("/") } else { alloc::format!("/{}", c.join("/")) }
}
