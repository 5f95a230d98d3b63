//! A small virtual file system: enough for Linux programs to open, read,
//! stat and map files.
//!
//! ```text
//!   /           the initrd's tree (read-only), plus:
//!   /dev        console (console.rs; line discipline: the tty crate), null, zero
//!   /tmp, /dev/shm  tmpfs (tmpfs/): writable files in memory
//!   (no name)   pipes (pipe.rs), and the anonymous files: eventfd.rs,
//!               timerfd.rs, pidfd.rs, epoll.rs
//!   /proc       live views of the kernel (procfs.rs)
//! ```
//!
//! The object model (inodes, open files, descriptor tables, path names)
//! is `crate::file`, one layer down, re-exported here; this module holds
//! the file systems and the namespace (`init`, `lookup`; path walks with
//! symbolic links in namei.rs).

pub mod blockdev;
pub mod cgroupfs;
pub mod console;
pub mod dev;
pub mod epoll;
pub mod eventfd;
pub mod hugetlbfs;
pub mod initrd;
pub mod mount;
pub mod namei;
pub mod pidfd;
pub mod pipe;
pub mod procfs;
pub mod procfs_cpu;
pub mod procfs_pagemap;
pub mod signalfd;
pub mod sysfs;
pub mod sysfs_hugetlb;
pub mod sysfs_thp;
pub mod timerfd;
pub mod tmpfs;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Once;

use abi::errno::*;
use abi::stat::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, Stat};

pub use crate::file::path::{absolute, components};
pub use crate::file::*;

/// What fstat(2) shows of an anonymous file (eventfd, timerfd, pidfd,
/// epoll): Linux's anon_inode, mode 0600 and no file type.
pub fn anon_inode_stat() -> Stat {
    Stat { st_dev: 13, st_ino: 1, st_nlink: 1, st_mode: 0o600, st_blksize: 4096, ..Stat::default() }
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
                        S_IFLNK => 10,
                        _ => 8,
                    };
                    DirEntry { name: n.clone(), ino: st.st_ino, dtype }
                })
                .collect(),
        )
    }
}

static ROOT: Once<Arc<dyn Inode>> = Once::new();

pub use mount::{Mount, mounts};

/// Build the tree: the initrd plus /dev (and /proc once registered), and
/// take the console's input.
pub fn init(extra: Vec<(String, Arc<dyn Inode>)>) {
    crate::platform::input::set_sink(console::push_input);
    crate::proc::exit::on_session_leader_exit(console::hang_up);
    ROOT.call_once(|| {
        let mut root = initrd::build_tree();
        let shm = tmpfs::mount_default();
        let tmp = tmpfs::mount_default();
        // memfd's internal mount, after the visible ones (their device
        // numbers stay as they were).
        tmpfs::memfd_sb();
        root.entries.insert("dev".to_string(), dev::dev_dir(shm.clone()));
        root.entries.insert("tmp".to_string(), tmp.clone());
        let sys = sysfs::sys_root();
        root.entries.insert("sys".to_string(), sys.clone());
        let mut proc_root = None;
        for (name, inode) in extra {
            if name == "proc" {
                proc_root = Some(inode.clone());
            }
            root.entries.insert(name, inode);
        }
        let root: Arc<dyn Inode> = Arc::new(root);
        mount::add_boot("/", "rootfs", "ro", root.clone());
        if let Some(p) = proc_root {
            mount::add_boot("/proc", "proc", "rw,nosuid,nodev,noexec", p);
        }
        mount::add_boot("/sys", "sysfs", "rw,nosuid,nodev,noexec", sys);
        // An entry of /sys/fs (sysfs.rs), as the other boot mounts.
        mount::add_boot("/sys/fs/cgroup", "cgroup2", "rw,nosuid,nodev,noexec", cgroupfs::root());
        mount::add_boot("/dev/shm", "tmpfs", "rw,nosuid,nodev", shm);
        mount::add_boot("/tmp", "tmpfs", "rw,nosuid,nodev", tmp);
        root
    });
}

pub fn root() -> Arc<dyn Inode> {
    ROOT.get().cloned().expect("vfs: lookup before vfs::init")
}

/// Resolve a path, following symbolic links (ENOENT, ENOTDIR, ELOOP,
/// ENAMETOOLONG, EACCES as Linux).
pub fn lookup(path: &str, cwd: &str) -> Result<Arc<dyn Inode>, Errno> {
    namei::resolve(path, cwd, true).map(|r| r.inode)
}
