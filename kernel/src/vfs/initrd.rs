//! The initrd as a read-only file tree. Files are read in place from the
//! archive; mapping one goes through its page cache, a `MemObject` made
//! with the inode (as Linux's `address_space` is part of the inode), so
//! every process running /bin/x shares its pages and running a program for
//! the first time allocates no kernel object that outlives it.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Once;

use abi::errno::Errno;
use abi::stat::{S_IFDIR, S_IFMT, S_IFREG, Stat};
use formats::cpio;
use mm::shrinker::Shrinker;
use mm::vm::file::MemObject;

use super::{Inode, MemDir};

/// A regular file of the initrd.
pub struct InitrdFile {
    pub path: String,
    pub data: &'static [u8],
    pub mode: u32,
    pub ino: u64,
    object: Arc<MemObject>,
}

impl Inode for InitrdFile {
    fn stat(&self) -> Stat {
        Stat {
            st_dev: 1,
            st_ino: self.ino,
            st_nlink: 1,
            st_mode: S_IFREG | (self.mode & 0o7777),
            st_size: self.data.len() as i64,
            st_blksize: 4096,
            st_blocks: (self.data.len() as i64 + 511) / 512,
            ..Stat::default()
        }
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let start = (off as usize).min(self.data.len());
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }

    fn mem_object(&self) -> Option<Arc<MemObject>> {
        Some(self.object.clone())
    }
}

/// The page cache of the initrd's files: clean pages no one maps.
struct PageCacheShrinker;

impl Shrinker for PageCacheShrinker {
    fn name(&self) -> &'static str {
        "page cache"
    }

    fn count(&self) -> u64 {
        crate::mem::page_alloc().vmstat.file_pages.get()
    }

    fn scan(&self, nr_to_scan: u64) -> u64 {
        let mut freed = 0;
        for file in FILES.get().into_iter().flatten() {
            if freed >= nr_to_scan {
                break;
            }
            freed += file.object.shrink();
        }
        freed
    }
}

static FILES: Once<Vec<Arc<InitrdFile>>> = Once::new();

/// The tree while it is being built.
enum Node {
    Dir(BTreeMap<String, Node>),
    File(Arc<InitrdFile>),
}

fn freeze(entries: BTreeMap<String, Node>, next_ino: &mut u64) -> MemDir {
    *next_ino += 1;
    let ino = *next_ino;
    let entries = entries
        .into_iter()
        .map(|(name, node)| {
            let inode: Arc<dyn Inode> = match node {
                Node::Dir(e) => Arc::new(freeze(e, next_ino)),
                Node::File(f) => f,
            };
            (name, inode)
        })
        .collect();
    MemDir { ino, entries }
}

/// Build the directory tree from the archive. A later entry of the same
/// path replaces an earlier one; a file where a directory is needed is
/// replaced by the directory.
pub fn build_tree() -> MemDir {
    let mut top: BTreeMap<String, Node> = BTreeMap::new();
    let mut files = Vec::new();
    let mut next_ino = 1_000;
    for e in crate::initrd::archive().map(cpio::Reader::new).into_iter().flatten().filter_map(Result::ok) {
        let parts: Vec<&str> = e.name.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        let Some((last, dirs)) = parts.split_last() else { continue };
        let mut dir = &mut top;
        for d in dirs {
            let slot = dir.entry(d.to_string()).or_insert_with(|| Node::Dir(BTreeMap::new()));
            if matches!(slot, Node::File(_)) {
                *slot = Node::Dir(BTreeMap::new());
            }
            let Node::Dir(next) = slot else { unreachable!("initrd: just made a directory") };
            dir = next;
        }
        match e.mode & S_IFMT {
            S_IFDIR => {
                dir.entry(last.to_string()).or_insert_with(|| Node::Dir(BTreeMap::new()));
            }
            S_IFREG => {
                next_ino += 1;
                let path = alloc::format!("/{}", parts.join("/"));
                let object = MemObject::file(&path, e.data, next_ino, crate::mem::page_alloc());
                let f = Arc::new(InitrdFile { path, data: e.data, mode: e.mode, ino: next_ino, object });
                files.push(f.clone());
                dir.insert(last.to_string(), Node::File(f));
            }
            _ => {}
        }
    }
    FILES.call_once(|| files);
    crate::mem::shrinkers().register(&PageCacheShrinker);
    let mut root = freeze(top, &mut next_ino);
    root.ino = 1;
    root
}
