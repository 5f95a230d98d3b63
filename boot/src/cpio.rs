//! Writing initrd archives in the `cpio -H newc` format that Linux's
//! initramfs uses (see Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! ```text
//! "070701" ino mode uid gid nlink mtime filesize devmajor devminor
//!          rdevmajor rdevminor namesize check      (13 x 8 hex digits)
//! name\0, padded to 4 bytes; data, padded to 4 bytes
//! ... "TRAILER!!!" entry last
//! ```
//!
//! Parent directories are added automatically so the kernel sees a
//! complete tree. Paths are stored without a leading `/`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

#[derive(Clone, Debug)]
enum Node {
    Dir,
    File { data: Vec<u8>, mode: u32 },
}

/// An archive being assembled.
#[derive(Default)]
pub struct CpioWriter {
    nodes: BTreeMap<String, Node>,
}

fn normalise(dest: &str) -> Result<String> {
    let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() {
        bail!("empty archive path '{dest}'");
    }
    if parts.contains(&"..") {
        bail!("archive path '{dest}' contains '..'");
    }
    Ok(parts.join("/"))
}

impl CpioWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn add_parents(&mut self, path: &str) {
        let mut acc = String::new();
        let comps: Vec<&str> = path.split('/').collect();
        for c in &comps[..comps.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(c);
            self.nodes.entry(acc.clone()).or_insert(Node::Dir);
        }
    }

    /// Add a directory (and its parents).
    pub fn add_dir(&mut self, dest: &str) -> Result<()> {
        let p = normalise(dest)?;
        self.add_parents(&p);
        self.nodes.insert(p, Node::Dir);
        Ok(())
    }

    /// Add a file with permission bits `mode` (e.g. 0o755), replacing any
    /// earlier file at the same path.
    pub fn add_file(&mut self, dest: &str, data: Vec<u8>, mode: u32) -> Result<()> {
        let p = normalise(dest)?;
        if let Some(Node::Dir) = self.nodes.get(&p) {
            bail!("'{p}' is already a directory in the archive");
        }
        self.add_parents(&p);
        self.nodes.insert(p, Node::File { data, mode: mode & 0o7777 });
        Ok(())
    }

    /// Add a host file or a whole host directory tree under `dest`.
    pub fn add_host_path(&mut self, host: &Path, dest: &str) -> Result<()> {
        let meta = std::fs::metadata(host).with_context(|| format!("reading {}", host.display()))?;
        if meta.is_dir() {
            self.add_dir(dest)?;
            let mut entries: Vec<_> = std::fs::read_dir(host)?.collect::<std::io::Result<_>>()?;
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                self.add_host_path(&e.path(), &format!("{}/{}", dest.trim_end_matches('/'), name))?;
            }
        } else {
            use std::os::unix::fs::PermissionsExt;
            let data = std::fs::read(host).with_context(|| format!("reading {}", host.display()))?;
            self.add_file(dest, data, meta.permissions().mode())?;
        }
        Ok(())
    }

    /// Paths in the archive, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Serialise the archive.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, node)) in self.nodes.iter().enumerate() {
            let (mode, nlink, data): (u32, u32, &[u8]) = match node {
                Node::Dir => (S_IFDIR | 0o755, 2, &[]),
                Node::File { data, mode } => (S_IFREG | mode, 1, data),
            };
            write_entry(&mut out, ino as u32 + 1, mode, nlink, path, data);
        }
        write_entry(&mut out, 0, 0, 1, "TRAILER!!!", &[]);
        out
    }
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn write_entry(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, name: &str, data: &[u8]) {
    let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::cpio::{self as reader, Entry};

    /// Read an archive back with the kernel's parser (`formats::cpio`), so
    /// writer and reader are checked against each other.
    fn read(archive: &[u8]) -> Vec<Entry<'_>> {
        assert_eq!(archive.len() % 4, 0, "archives end on a 4-byte boundary");
        reader::Reader::new(archive).collect::<Result<_, _>>().unwrap()
    }

    fn names<'a>(entries: &[Entry<'a>]) -> Vec<&'a str> {
        entries.iter().map(|e| e.name).collect()
    }

    #[test]
    fn files_get_parent_directories_and_round_trip() {
        let mut w = CpioWriter::new();
        w.add_file("/bin/hello", b"ELF...".to_vec(), 0o755).unwrap();
        w.add_file("boot/cmdline", b"init=/bin/hello\n".to_vec(), 0o644).unwrap();
        let a = w.finish();
        let entries = read(&a);
        assert_eq!(names(&entries), vec!["bin", "bin/hello", "boot", "boot/cmdline"]);
        assert!(entries[0].is_dir() && entries[2].is_dir());
        assert_eq!(entries[0].mode, reader::S_IFDIR | 0o755);
        assert_eq!(entries[1].mode, reader::S_IFREG | 0o755);
        assert_eq!(entries[1].data, b"ELF...");
        assert_eq!(reader::find(&a, "/boot/cmdline").unwrap().data, b"init=/bin/hello\n");
        let mut inos: Vec<u32> = entries.iter().map(|e| e.ino).collect();
        inos.sort_unstable();
        inos.dedup();
        assert_eq!(inos.len(), entries.len(), "every member has its own inode number");
    }

    #[test]
    fn every_name_and_data_length_is_padded_so_the_reader_follows() {
        // Header (110 bytes) + name + NUL, then data: each length mod 4 hits
        // a different padding of both.
        let mut w = CpioWriter::new();
        let mut expected = Vec::new();
        for name_len in 1..=8 {
            for data_len in 0..=8 {
                let name = format!("{}{data_len}", "n".repeat(name_len));
                let data: Vec<u8> = (0..data_len as u8).map(|b| b ^ 0x5a).collect();
                w.add_file(&name, data.clone(), 0o600).unwrap();
                expected.push((name, data));
            }
        }
        let a = w.finish();
        assert_eq!(reader::validate(&a), Ok(expected.len()));
        expected.sort();
        let got: Vec<(String, Vec<u8>)> = read(&a).iter().map(|e| (e.name.to_string(), e.data.to_vec())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn later_files_replace_earlier_ones_and_modes_keep_only_permissions() {
        let mut w = CpioWriter::new();
        w.add_file("etc/motd", b"old".to_vec(), 0o644).unwrap();
        w.add_file("etc/motd", b"new".to_vec(), 0o100_4755).unwrap();
        let a = w.finish();
        let motd = reader::find(&a, "etc/motd").unwrap();
        assert_eq!((motd.data, motd.mode), (&b"new"[..], reader::S_IFREG | 0o4755));
        assert_eq!(reader::validate(&a), Ok(2));
    }

    #[test]
    fn an_empty_archive_is_just_the_trailer() {
        let a = CpioWriter::new().finish();
        assert_eq!(reader::validate(&a), Ok(0));
    }

    #[test]
    fn bad_paths_are_refused() {
        let mut w = CpioWriter::new();
        assert!(w.add_file("../etc/passwd", vec![], 0o644).is_err());
        assert!(w.add_file("/", vec![], 0o644).is_err());
        w.add_dir("bin").unwrap();
        assert!(w.add_file("bin", vec![], 0o644).is_err());
    }

    #[test]
    fn host_directories_are_added_recursively() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), b"a").unwrap();
        std::fs::write(dir.path().join("b"), b"bb").unwrap();
        std::fs::set_permissions(dir.path().join("b"), std::fs::Permissions::from_mode(0o750)).unwrap();
        let mut w = CpioWriter::new();
        w.add_host_path(dir.path(), "extra").unwrap();
        assert_eq!(w.paths(), vec!["extra", "extra/b", "extra/sub", "extra/sub/a.txt"]);
        let a = w.finish();
        let entries = read(&a);
        assert_eq!(names(&entries), w.paths());
        assert_eq!((entries[1].data, entries[1].mode), (&b"bb"[..], reader::S_IFREG | 0o750));
        assert!(entries[2].is_dir());
        assert_eq!(entries[3].data, b"a");
    }
}
