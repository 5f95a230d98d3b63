//! Reading `cpio -H newc` archives (the initramfs format; see Linux's
//! Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! ```text
//! header: "070701" then 13 fields of 8 hex digits:
//!   ino mode uid gid nlink mtime filesize devmajor devminor
//!   rdevmajor rdevminor namesize check
//! name (namesize bytes, NUL included), padded to 4
//! data (filesize bytes), padded to 4
//! ... until the entry named "TRAILER!!!"
//! ```
//!
//! The reader borrows the archive: file contents are slices of it, so the
//! initrd is never copied.

use core::fmt;

const HEADER_LEN: usize = 110;
const MAGIC: &[u8; 6] = b"070701";
const TRAILER: &str = "TRAILER!!!";

/// File type bits of `mode`.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

/// What is wrong with an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// An entry does not start with "070701" at this offset.
    BadMagic { offset: usize },
    /// A header field is not 8 hex digits.
    BadField { offset: usize },
    /// A header, name or data runs past the end of the archive.
    Truncated { offset: usize },
    /// A name is not NUL-terminated UTF-8.
    BadName { offset: usize },
    /// The archive ends without a trailer.
    NoTrailer,
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioError::BadMagic { offset } => write!(f, "no newc magic at offset {offset}"),
            CpioError::BadField { offset } => write!(f, "bad header field at offset {offset}"),
            CpioError::Truncated { offset } => write!(f, "entry at offset {offset} runs past the end"),
            CpioError::BadName { offset } => write!(f, "bad file name at offset {offset}"),
            CpioError::NoTrailer => write!(f, "archive has no TRAILER!!! entry"),
        }
    }
}

/// One archive member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Path without a leading `/` (as stored, with any `./` removed).
    pub name: &'a str,
    pub mode: u32,
    pub ino: u32,
    pub data: &'a [u8],
}

impl Entry<'_> {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

fn hex_field(bytes: &[u8], offset: usize) -> Result<u32, CpioError> {
    let mut v: u32 = 0;
    for &b in bytes {
        let d = (b as char).to_digit(16).ok_or(CpioError::BadField { offset })?;
        v = (v << 4) | d;
    }
    Ok(v)
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}

/// Iterator over the members of an archive. Yields an error once and then
/// stops if the archive is malformed.
pub struct Reader<'a> {
    archive: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Reader<'a> {
    pub fn new(archive: &'a [u8]) -> Self {
        Reader { archive, offset: 0, done: false }
    }

    fn parse_at(&self, at: usize) -> Result<(Option<Entry<'a>>, usize), CpioError> {
        let a = self.archive;
        let header = a.get(at..at + HEADER_LEN).ok_or(CpioError::Truncated { offset: at })?;
        if &header[..6] != MAGIC {
            return Err(CpioError::BadMagic { offset: at });
        }
        let field = |i: usize| hex_field(&header[6 + i * 8..14 + i * 8], at + 6 + i * 8);
        let ino = field(0)?;
        let mode = field(1)?;
        let filesize = field(6)? as usize;
        let namesize = field(11)? as usize;
        let name_start = at + HEADER_LEN;
        let name_end = name_start.checked_add(namesize).ok_or(CpioError::Truncated { offset: at })?;
        let raw_name = a.get(name_start..name_end).ok_or(CpioError::Truncated { offset: at })?;
        let (last, body) = raw_name.split_last().ok_or(CpioError::BadName { offset: at })?;
        if *last != 0 {
            return Err(CpioError::BadName { offset: at });
        }
        let name = core::str::from_utf8(body).map_err(|_| CpioError::BadName { offset: at })?;
        let data_start = align4(name_end).ok_or(CpioError::Truncated { offset: at })?;
        let data_end = data_start.checked_add(filesize).ok_or(CpioError::Truncated { offset: at })?;
        let data = a.get(data_start..data_end).ok_or(CpioError::Truncated { offset: at })?;
        let next = align4(data_end).ok_or(CpioError::Truncated { offset: at })?;
        if name == TRAILER {
            return Ok((None, next));
        }
        let name = name.trim_start_matches("./").trim_start_matches('/');
        Ok((Some(Entry { name, mode, ino, data }), next))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.offset >= self.archive.len() {
            self.done = true;
            return Some(Err(CpioError::NoTrailer));
        }
        match self.parse_at(self.offset) {
            Ok((Some(e), next)) => {
                self.offset = next;
                Some(Ok(e))
            }
            Ok((None, _)) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Check the whole archive and count its members.
pub fn validate(archive: &[u8]) -> Result<usize, CpioError> {
    let mut n = 0;
    for e in Reader::new(archive) {
        e?;
        n += 1;
    }
    Ok(n)
}

/// Find a member by path (leading `/` optional).
pub fn find<'a>(archive: &'a [u8], path: &str) -> Option<Entry<'a>> {
    let path = path.trim_start_matches('/');
    Reader::new(archive).filter_map(Result::ok).find(|e| e.name == path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// Build an archive the way `boot`'s writer does.
    pub fn archive(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |name: &str, mode: u32, data: &[u8], ino: u32| {
            out.extend_from_slice(MAGIC);
            for f in [ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0] {
                out.extend_from_slice(alloc::format!("{f:08x}").as_bytes());
            }
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            while out.len() % 4 != 0 {
                out.push(0);
            }
            out.extend_from_slice(data);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        };
        for (i, (n, m, d)) in entries.iter().enumerate() {
            put(n, *m, d, i as u32 + 1);
        }
        put(TRAILER, 0, &[], 0);
        out
    }

    #[test]
    fn reads_members_and_finds_by_path() {
        let a = archive(&[
            ("bin", S_IFDIR | 0o755, b""),
            ("bin/hello", S_IFREG | 0o755, b"\x7fELF"),
            ("boot/cmdline", S_IFREG | 0o644, b"init=/bin/hello\n"),
        ]);
        let names: Vec<&str> = Reader::new(&a).map(|e| e.unwrap().name).collect();
        assert_eq!(names, ["bin", "bin/hello", "boot/cmdline"]);
        assert_eq!(validate(&a), Ok(3));
        let e = find(&a, "/bin/hello").unwrap();
        assert!(e.is_file());
        assert_eq!(e.data, b"\x7fELF");
        assert!(find(&a, "bin").unwrap().is_dir());
        assert!(find(&a, "nope").is_none());
    }

    #[test]
    fn truncated_archives_are_refused_at_every_length() {
        let a = archive(&[("file", S_IFREG | 0o644, b"0123456789")]);
        for len in 0..a.len() {
            assert!(validate(&a[..len]).is_err(), "accepted a {len}-byte prefix");
        }
    }

    #[test]
    fn bad_magic_and_fields_are_named() {
        let mut a = archive(&[("f", S_IFREG, b"x")]);
        a[0] = b'1';
        assert_eq!(validate(&a), Err(CpioError::BadMagic { offset: 0 }));
        let mut b = archive(&[("f", S_IFREG, b"x")]);
        b[6 + 6 * 8] = b'z';
        assert!(matches!(validate(&b), Err(CpioError::BadField { .. })));
    }

    #[test]
    fn huge_sizes_do_not_overflow() {
        let mut a = archive(&[("f", S_IFREG, b"x")]);
        // filesize = 0xffffffff
        a[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"ffffffff");
        assert!(matches!(validate(&a), Err(CpioError::Truncated { .. })));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = validate(&bytes);
            let mut with_magic = Vec::from(&MAGIC[..]);
            with_magic.extend_from_slice(&bytes);
            let _ = validate(&with_magic);
        }

        #[test]
        fn any_name_and_data_round_trip(name in "[a-z]{1,12}(/[a-z]{1,12}){0,3}", data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let a = archive(&[(name.as_str(), S_IFREG | 0o644, &data)]);
            let e = find(&a, &name).unwrap();
            proptest::prop_assert_eq!(e.data, &data[..]);
            let _ = String::from(e.name);
        }
    }
}
