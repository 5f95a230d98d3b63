//! Path walks (Linux's fs/namei.c, kept small): component by component
//! from the root or the base directory, following symbolic links (ELOOP
//! after 40), checking search permission on every directory passed, with
//! Linux's ENOENT, ENOTDIR and ENAMETOOLONG.
//!
//! A walk keeps the directories it went through, so `..` after a symbolic
//! link goes back to where the link's target led, as in Linux, and the
//! canonical path of the result is known (open files keep it for the *at
//! calls and /proc). File systems mounted at boot (/tmp, /dev/shm, /proc)
//! are entries of their parent directory; those mount(2) put over a
//! directory later are crossed into as the walk reaches it (mount.rs).
//!
//! Locks: none of its own; each `lookup` takes the directory's lock, and
//! crossing a mount point reads the mount table (never both at once).

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::stat::{S_IFDIR, S_IFMT, Stat};

use super::{Inode, root};
use crate::proc::Creds;

pub const MAY_EXEC: u32 = 1;
pub const MAY_WRITE: u32 = 2;
pub const MAY_READ: u32 = 4;

/// Symbolic links one walk may follow (Linux's MAXSYMLINKS).
const MAX_LINKS: u32 = 40;
const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

/// The caller's credentials (the effective ids act as fsuid and fsgid).
pub fn creds() -> Creds {
    crate::proc::current().inner.lock().creds.clone()
}

/// Linux's `generic_permission` for the current task: `mask` is MAY_READ,
/// MAY_WRITE and/or MAY_EXEC. Root (CAP_DAC_OVERRIDE) may read and write
/// anything, search any directory and execute a file with an x bit.
pub fn generic_permission(st: &Stat, mask: u32) -> Result<(), Errno> {
    permission_as(&creds(), st, mask)
}

/// `generic_permission` for credentials `c` (access(2) checks with the
/// real ids).
pub fn permission_as(c: &Creds, st: &Stat, mask: u32) -> Result<(), Errno> {
    if c.is_root() {
        let exec_ok = st.st_mode & S_IFMT == S_IFDIR || st.st_mode & 0o111 != 0;
        return if mask & MAY_EXEC == 0 || exec_ok { Ok(()) } else { Err(EACCES) };
    }
    let bits = if c.euid == st.st_uid {
        st.st_mode >> 6
    } else if c.in_group(st.st_gid) {
        st.st_mode >> 3
    } else {
        st.st_mode
    } & 7;
    if mask & !bits != 0 { Err(EACCES) } else { Ok(()) }
}

/// A resolved name: the file and its canonical absolute path.
pub struct Resolved {
    pub inode: Arc<dyn Inode>,
    pub path: String,
}

/// The directory a name is to be made or removed in, and the name (empty
/// for the root itself; "." and ".." are left for the caller to refuse).
pub struct Parent {
    pub dir: Arc<dyn Inode>,
    pub path: String,
    pub name: String,
    /// The name was followed by a slash ("dir/"): it must be a directory.
    pub trailing_slash: bool,
}

impl Parent {
    /// The canonical path of the name in the directory.
    pub fn child_path(&self) -> String {
        if self.path == "/" { alloc::format!("/{}", self.name) } else { alloc::format!("{}/{}", self.path, self.name) }
    }

    /// The file the name denotes now, if any (not following a final link).
    pub fn child(&self) -> Option<Arc<dyn Inode>> {
        match self.name.as_str() {
            "" | "." => Some(self.dir.clone()),
            ".." => None,
            n => self.dir.lookup(n),
        }
    }
}

struct Walk {
    stack: Vec<(String, Arc<dyn Inode>)>,
    root: Arc<dyn Inode>,
    links: u32,
}

fn split(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

impl Walk {
    /// Start at the root for an absolute path, else at `base` (a canonical
    /// absolute directory path).
    fn start(path: &str, base: &str) -> Result<Walk, Errno> {
        let mut w = Walk { stack: Vec::new(), root: root(), links: 0 };
        if !path.starts_with('/') {
            let comps: VecDeque<String> = split(base).map(ToString::to_string).collect();
            w.walk(comps, true)?;
        }
        Ok(w)
    }

    fn dir(&self) -> Arc<dyn Inode> {
        self.stack.last().map(|e| e.1.clone()).unwrap_or_else(|| self.root.clone())
    }

    fn path(&self) -> String {
        if self.stack.is_empty() {
            return String::from("/");
        }
        let mut p = String::new();
        for (name, _) in &self.stack {
            p.push('/');
            p.push_str(name);
        }
        p
    }

    fn walk(&mut self, mut pending: VecDeque<String>, follow_last: bool) -> Result<(), Errno> {
        while let Some(c) = pending.pop_front() {
            let dir = self.dir();
            if !dir.is_dir() {
                return Err(ENOTDIR);
            }
            dir.permission(MAY_EXEC)?;
            if c == ".." {
                self.stack.pop();
                continue;
            }
            if c.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            let child = super::mount::cross(dir.lookup(&c).ok_or(ENOENT)?);
            if child.is_symlink() && (!pending.is_empty() || follow_last) {
                self.links += 1;
                if self.links > MAX_LINKS {
                    return Err(ELOOP);
                }
                if let Some(target) = child.magic_link() {
                    self.stack.push((c, target));
                    continue;
                }
                let target = child.readlink()?;
                if target.is_empty() {
                    return Err(ENOENT);
                }
                if target.starts_with('/') {
                    self.stack.clear();
                }
                for t in split(&target).rev() {
                    pending.push_front(t.to_string());
                }
                continue;
            }
            self.stack.push((c, child));
        }
        Ok(())
    }
}

fn check_len(path: &str) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

/// Resolve `path` against `base`; a final symbolic link is followed if
/// `follow` (or the path ends in a slash).
pub fn resolve(path: &str, base: &str, follow: bool) -> Result<Resolved, Errno> {
    check_len(path)?;
    let mut w = Walk::start(path, base)?;
    let trailing = path.ends_with('/');
    w.walk(split(path).map(ToString::to_string).collect(), follow || trailing)?;
    let inode = w.dir();
    if trailing && !inode.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(Resolved { inode, path: w.path() })
}

/// Resolve all of `path` but its last component, which must then be
/// looked up (or made) in the directory returned.
pub fn resolve_parent(path: &str, base: &str) -> Result<Parent, Errno> {
    check_len(path)?;
    let trimmed = path.trim_end_matches('/');
    let trailing_slash = trimmed.len() != path.len();
    let (dir_part, name) = match trimmed.rfind('/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    let mut w = Walk::start(path, base)?;
    w.walk(split(dir_part).map(ToString::to_string).collect(), true)?;
    let dir = w.dir();
    if !dir.is_dir() {
        return Err(ENOTDIR);
    }
    dir.permission(MAY_EXEC)?;
    Ok(Parent { dir, path: w.path(), name: name.to_string(), trailing_slash })
}
