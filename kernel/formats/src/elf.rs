//! ELF64 executables (System V gABI, x86_64 psABI): the header and program
//! headers a loader needs, checked so that a malformed file is refused with
//! a reason instead of being trusted.
//!
//! ```text
//!   Elf64_Ehdr (64 bytes) -> e_phoff -> e_phnum x Elf64_Phdr (56 bytes)
//!   PT_LOAD: [p_vaddr, p_vaddr + p_memsz) mapped from
//!            [p_offset, p_offset + p_filesz) of the file, rest zero (bss)
//! ```
//!
//! What this module checks (everything a loader could otherwise trip on):
//! magic, class 64, little endian, version, x86_64 machine, type EXEC or DYN,
//! header sizes, every program header inside the file, `p_filesz <= p_memsz`,
//! file ranges of loadable segments inside the file, no address overflow,
//! `p_vaddr % p_align == p_offset % p_align`, PT_LOAD segments sorted and not
//! overlapping, and at least one PT_LOAD. Where segments may go in memory
//! (user half only) is the loader's policy, see [`Elf::check_user_range`].

use core::fmt;

pub const PT_NULL: u32 = 0;
pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_TLS: u32 = 7;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PT_GNU_RELRO: u32 = 0x6474_e552;

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const EM_X86_64: u16 = 62;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// Refuse absurd header counts (Linux caps the program header table at 64 KiB).
const MAX_PHNUM: usize = 65536 / PHDR_SIZE;
/// PATH_MAX: the longest interpreter path, its NUL included.
const PATH_MAX: u64 = 4096;

/// Why a file is not a loadable ELF64 x86_64 executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    TooShort,
    BadMagic,
    Not64Bit,
    NotLittleEndian,
    BadVersion,
    WrongMachine(u16),
    NotExecutable(u16),
    BadHeaderSize,
    ProgramHeadersOutOfFile,
    TooManyProgramHeaders,
    SegmentOutOfFile {
        index: usize,
    },
    FileSizeExceedsMemSize {
        index: usize,
    },
    AddressOverflow {
        index: usize,
    },
    BadAlignment {
        index: usize,
    },
    OverlappingSegments {
        index: usize,
    },
    Unsorted {
        index: usize,
    },
    NoLoadableSegment,
    /// A segment reaches outside the range the loader allows.
    SegmentOutOfRange {
        index: usize,
    },
    /// The PT_INTERP segment is not a sane NUL-terminated path inside the
    /// file (Linux: ENOEXEC).
    BadInterpreter,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::TooShort => write!(f, "file too short for an ELF header"),
            ElfError::BadMagic => write!(f, "not an ELF file (bad magic)"),
            ElfError::Not64Bit => write!(f, "not a 64-bit ELF file"),
            ElfError::NotLittleEndian => write!(f, "not little-endian"),
            ElfError::BadVersion => write!(f, "unknown ELF version"),
            ElfError::WrongMachine(m) => write!(f, "wrong machine {m} (want x86_64 = 62)"),
            ElfError::NotExecutable(t) => write!(f, "ELF type {t} is neither EXEC nor DYN"),
            ElfError::BadHeaderSize => write!(f, "unexpected ELF or program header size"),
            ElfError::ProgramHeadersOutOfFile => write!(f, "program headers lie outside the file (truncated?)"),
            ElfError::TooManyProgramHeaders => write!(f, "too many program headers"),
            ElfError::SegmentOutOfFile { index } => write!(f, "segment {index} lies outside the file (truncated?)"),
            ElfError::FileSizeExceedsMemSize { index } => write!(f, "segment {index} has p_filesz > p_memsz"),
            ElfError::AddressOverflow { index } => write!(f, "segment {index} wraps around the address space"),
            ElfError::BadAlignment { index } => {
                write!(f, "segment {index}: p_vaddr and p_offset disagree modulo p_align")
            }
            ElfError::OverlappingSegments { index } => {
                write!(f, "segment {index} overlaps the previous loadable segment")
            }
            ElfError::Unsorted { index } => write!(f, "loadable segment {index} is not in ascending address order"),
            ElfError::NoLoadableSegment => write!(f, "no loadable segment"),
            ElfError::SegmentOutOfRange { index } => write!(f, "segment {index} lies outside user space"),
            ElfError::BadInterpreter => write!(f, "PT_INTERP is not a NUL-terminated path inside the file"),
        }
    }
}

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl ProgramHeader {
    pub fn is_load(&self) -> bool {
        self.p_type == PT_LOAD
    }

    pub fn readable(&self) -> bool {
        self.flags & PF_R != 0
    }

    pub fn writable(&self) -> bool {
        self.flags & PF_W != 0
    }

    pub fn executable(&self) -> bool {
        self.flags & PF_X != 0
    }

    /// End of the segment in memory (saturating: `Elf::parse` refuses a
    /// loadable segment that wraps, other kinds are never mapped).
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.memsz)
    }
}

/// A checked ELF file.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    pub data: &'a [u8],
    pub e_type: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phentsize: u16,
    pub phnum: u16,
}

fn u16_at(d: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([d[off], d[off + 1]])
}

fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

fn u64_at(d: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[off..off + 8]);
    u64::from_le_bytes(b)
}

impl<'a> Elf<'a> {
    /// Parse and check `data`.
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if data.len() < EHDR_SIZE {
            return Err(ElfError::TooShort);
        }
        if &data[..4] != b"\x7fELF" {
            return Err(ElfError::BadMagic);
        }
        if data[4] != 2 {
            return Err(ElfError::Not64Bit);
        }
        if data[5] != 1 {
            return Err(ElfError::NotLittleEndian);
        }
        if data[6] != 1 || u32_at(data, 20) != 1 {
            return Err(ElfError::BadVersion);
        }
        let e_type = u16_at(data, 16);
        let machine = u16_at(data, 18);
        if machine != EM_X86_64 {
            return Err(ElfError::WrongMachine(machine));
        }
        if e_type != ET_EXEC && e_type != ET_DYN {
            return Err(ElfError::NotExecutable(e_type));
        }
        let elf = Elf {
            data,
            e_type,
            entry: u64_at(data, 24),
            phoff: u64_at(data, 32),
            phentsize: u16_at(data, 54),
            phnum: u16_at(data, 56),
        };
        if u16_at(data, 52) as usize != EHDR_SIZE || elf.phentsize as usize != PHDR_SIZE {
            return Err(ElfError::BadHeaderSize);
        }
        if elf.phnum as usize > MAX_PHNUM {
            return Err(ElfError::TooManyProgramHeaders);
        }
        let table_len = elf.phnum as u64 * PHDR_SIZE as u64;
        let table_end = elf.phoff.checked_add(table_len).ok_or(ElfError::ProgramHeadersOutOfFile)?;
        if table_end > data.len() as u64 {
            return Err(ElfError::ProgramHeadersOutOfFile);
        }
        elf.check_segments()?;
        elf.interpreter()?;
        Ok(elf)
    }

    /// Program header `i` (the table was bounds-checked by `parse`).
    pub fn program_header(&self, i: usize) -> ProgramHeader {
        let o = self.phoff as usize + i * PHDR_SIZE;
        let d = self.data;
        ProgramHeader {
            p_type: u32_at(d, o),
            flags: u32_at(d, o + 4),
            offset: u64_at(d, o + 8),
            vaddr: u64_at(d, o + 16),
            filesz: u64_at(d, o + 32),
            memsz: u64_at(d, o + 40),
            align: u64_at(d, o + 48),
        }
    }

    pub fn program_headers(&self) -> impl Iterator<Item = ProgramHeader> + '_ {
        (0..self.phnum as usize).map(|i| self.program_header(i))
    }

    /// The loadable segments, in address order.
    pub fn load_segments(&self) -> impl Iterator<Item = (usize, ProgramHeader)> + '_ {
        self.program_headers().enumerate().filter(|(_, p)| p.is_load())
    }

    fn check_segments(&self) -> Result<(), ElfError> {
        let mut prev_end: Option<u64> = None;
        let mut loads = 0;
        for (i, p) in self.program_headers().enumerate() {
            if !p.is_load() {
                continue;
            }
            loads += 1;
            if p.filesz > p.memsz {
                return Err(ElfError::FileSizeExceedsMemSize { index: i });
            }
            let file_end = p.offset.checked_add(p.filesz).ok_or(ElfError::SegmentOutOfFile { index: i })?;
            if file_end > self.data.len() as u64 {
                return Err(ElfError::SegmentOutOfFile { index: i });
            }
            let end = p.vaddr.checked_add(p.memsz).ok_or(ElfError::AddressOverflow { index: i })?;
            if p.align > 1 && (!p.align.is_power_of_two() || p.vaddr % p.align != p.offset % p.align) {
                return Err(ElfError::BadAlignment { index: i });
            }
            if let Some(pe) = prev_end {
                // Segments may share a page but their bytes may not overlap.
                if p.vaddr < pe {
                    let prev_start =
                        self.load_segments().take_while(|(j, _)| *j < i).last().map(|(_, q)| q.vaddr).unwrap_or(0);
                    return Err(if p.vaddr < prev_start {
                        ElfError::Unsorted { index: i }
                    } else {
                        ElfError::OverlappingSegments { index: i }
                    });
                }
            }
            prev_end = Some(end);
        }
        if loads == 0 {
            return Err(ElfError::NoLoadableSegment);
        }
        Ok(())
    }

    /// The interpreter path of a dynamically linked program: the first
    /// PT_INTERP segment's bytes without their NUL (`load_elf_binary`: at
    /// least 2 and at most PATH_MAX bytes, inside the file, NUL-terminated;
    /// else ENOEXEC). `None` for a static program.
    pub fn interpreter(&self) -> Result<Option<&'a [u8]>, ElfError> {
        let Some(p) = self.program_headers().find(|p| p.p_type == PT_INTERP) else { return Ok(None) };
        if p.filesz < 2 || p.filesz > PATH_MAX {
            return Err(ElfError::BadInterpreter);
        }
        let end = p.offset.checked_add(p.filesz).filter(|&e| e <= self.data.len() as u64);
        let end = end.ok_or(ElfError::BadInterpreter)? as usize;
        let bytes = &self.data[p.offset as usize..end];
        match bytes.split_last() {
            Some((0, path)) if !path.contains(&0) => Ok(Some(path)),
            _ => Err(ElfError::BadInterpreter),
        }
    }

    /// Lowest and highest (exclusive) address of the loadable segments.
    pub fn load_extent(&self) -> (u64, u64) {
        let lo = self.load_segments().map(|(_, p)| p.vaddr).min().unwrap_or(0);
        let hi = self.load_segments().map(|(_, p)| p.end()).max().unwrap_or(0);
        (lo, hi)
    }

    /// Whether the file is position independent (static-pie).
    pub fn is_pie(&self) -> bool {
        self.e_type == ET_DYN
    }

    /// Check that every loadable segment, moved by `bias`, lies inside
    /// `[lo, hi)`. The bias is added modulo 2^64 as Linux's unsigned
    /// `load_bias` is: a position-independent file linked high gets a
    /// "negative" bias (the result is still checked against the range).
    /// The entry point is the loader's business: Linux does not refuse the
    /// file for it (the new program dies with SIGSEGV).
    pub fn check_user_range(&self, bias: u64, lo: u64, hi: u64) -> Result<(), ElfError> {
        for (i, p) in self.load_segments() {
            let start = p.vaddr.wrapping_add(bias);
            let end = start.checked_add(p.memsz).ok_or(ElfError::AddressOverflow { index: i })?;
            if start < lo || end > hi {
                return Err(ElfError::SegmentOutOfRange { index: i });
            }
        }
        Ok(())
    }

    /// The PT_PHDR segment's address, or where the program headers land
    /// when the first segment maps the start of the file.
    pub fn phdr_vaddr(&self) -> Option<u64> {
        if let Some(p) = self.program_headers().find(|p| p.p_type == PT_PHDR) {
            return Some(p.vaddr);
        }
        self.load_segments()
            .map(|(_, p)| p)
            .find(|p| {
                p.offset <= self.phoff && self.phoff + (self.phnum as u64 * PHDR_SIZE as u64) <= p.offset + p.filesz
            })
            .map(|p| p.vaddr + (self.phoff - p.offset))
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Build a minimal ELF: header + program headers + `payload`.
    pub fn build(e_type: u16, machine: u16, segs: &[(u32, u32, u64, u64, u64, u64)]) -> Vec<u8> {
        let phoff = 64u64;
        let data_start = phoff + segs.len() as u64 * 56;
        let mut out = vec![0u8; data_start as usize];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&e_type.to_le_bytes());
        out[18..20].copy_from_slice(&machine.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[24..32].copy_from_slice(&0x401000u64.to_le_bytes());
        out[32..40].copy_from_slice(&phoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        out[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        for (i, &(ty, flags, offset, vaddr, filesz, memsz)) in segs.iter().enumerate() {
            let o = 64 + i * 56;
            out[o..o + 4].copy_from_slice(&ty.to_le_bytes());
            out[o + 4..o + 8].copy_from_slice(&flags.to_le_bytes());
            out[o + 8..o + 16].copy_from_slice(&offset.to_le_bytes());
            out[o + 16..o + 24].copy_from_slice(&vaddr.to_le_bytes());
            out[o + 32..o + 40].copy_from_slice(&filesz.to_le_bytes());
            out[o + 40..o + 48].copy_from_slice(&memsz.to_le_bytes());
            out[o + 48..o + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        }
        let max_file = segs.iter().map(|s| s.2 + s.4).max().unwrap_or(0);
        if (out.len() as u64) < max_file {
            out.resize(max_file as usize, 0xcc);
        }
        out
    }

    fn good() -> Vec<u8> {
        build(
            ET_EXEC,
            EM_X86_64,
            &[
                (PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x2000, 0x2000),
                (PT_LOAD, PF_R | PF_W, 0x2000, 0x402000, 0x100, 0x3000),
            ],
        )
    }

    #[test]
    fn valid_static_executable_parses() {
        let d = good();
        let e = Elf::parse(&d).unwrap();
        assert_eq!(e.entry, 0x401000);
        let segs: Vec<ProgramHeader> = e.load_segments().map(|(_, p)| p).collect();
        assert_eq!(segs.len(), 2);
        assert!(segs[0].executable() && !segs[0].writable());
        assert_eq!(e.load_extent(), (0x400000, 0x405000));
        assert_eq!(e.phdr_vaddr(), Some(0x400040));
        assert!(e.check_user_range(0, 0x1000, 0x8000_0000_0000).is_ok());
        assert!(matches!(
            e.check_user_range(0xffff_8000_0000_0000, 0x1000, 0x8000_0000_0000),
            Err(ElfError::SegmentOutOfRange { .. }) | Err(ElfError::AddressOverflow { .. })
        ));
    }

    #[test]
    fn truncation_at_any_length_is_refused() {
        let d = good();
        for len in 0..d.len() {
            assert!(Elf::parse(&d[..len]).is_err(), "accepted {len} bytes");
        }
    }

    #[test]
    fn wrong_machine_type_and_class_are_named() {
        let mut d = good();
        d[18] = 3; // EM_386
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::WrongMachine(3));
        let mut d = good();
        d[16] = 1; // ET_REL
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::NotExecutable(1));
        let mut d = good();
        d[4] = 1;
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::Not64Bit);
        assert_eq!(Elf::parse(b"#!/bin/sh\n").unwrap_err(), ElfError::TooShort);
    }

    #[test]
    fn overlapping_and_bad_segments_are_refused() {
        let o = build(
            ET_EXEC,
            EM_X86_64,
            &[(PT_LOAD, PF_R, 0, 0x400000, 0x2000, 0x2000), (PT_LOAD, PF_R, 0, 0x401000, 0x1000, 0x1000)],
        );
        assert_eq!(Elf::parse(&o).unwrap_err(), ElfError::OverlappingSegments { index: 1 });
        let f = build(ET_EXEC, EM_X86_64, &[(PT_LOAD, PF_R, 0, 0x400000, 0x2000, 0x1000)]);
        assert_eq!(Elf::parse(&f).unwrap_err(), ElfError::FileSizeExceedsMemSize { index: 0 });
        let w = build(ET_EXEC, EM_X86_64, &[(PT_LOAD, PF_R, 0, u64::MAX - 10, 0x10, 0x100)]);
        assert_eq!(Elf::parse(&w).unwrap_err(), ElfError::AddressOverflow { index: 0 });
        let a = build(ET_EXEC, EM_X86_64, &[(PT_LOAD, PF_R, 0x10, 0x400000, 0x10, 0x10)]);
        assert_eq!(Elf::parse(&a).unwrap_err(), ElfError::BadAlignment { index: 0 });
        let n = build(ET_EXEC, EM_X86_64, &[(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0)]);
        assert_eq!(Elf::parse(&n).unwrap_err(), ElfError::NoLoadableSegment);
        let i = build(ET_DYN, EM_X86_64, &[(PT_INTERP, PF_R, 0, 0, 0, 0), (PT_LOAD, PF_R, 0, 0, 0x100, 0x100)]);
        assert_eq!(Elf::parse(&i).unwrap_err(), ElfError::BadInterpreter);
        let mut oob = good();
        oob.truncate(0x2000 + 0x50);
        assert_eq!(Elf::parse(&oob).unwrap_err(), ElfError::SegmentOutOfFile { index: 1 });
    }

    #[test]
    fn interpreter_path_is_checked() {
        let mut e = build(ET_DYN, EM_X86_64, &[(PT_INTERP, PF_R, 0x100, 0, 8, 8), (PT_LOAD, PF_R, 0, 0, 0x200, 0x200)]);
        e[0x100..0x108].copy_from_slice(b"/lib/ld\0");
        assert_eq!(Elf::parse(&e).unwrap().interpreter().unwrap(), Some(&b"/lib/ld"[..]));
        let mut no_nul = e.clone();
        no_nul[0x107] = b'x';
        assert_eq!(Elf::parse(&no_nul).unwrap_err(), ElfError::BadInterpreter);
        let mut inner_nul = e.clone();
        inner_nul[0x102] = 0;
        assert_eq!(Elf::parse(&inner_nul).unwrap_err(), ElfError::BadInterpreter);
        let outside =
            build(ET_DYN, EM_X86_64, &[(PT_INTERP, PF_R, 0x1000, 0, 8, 8), (PT_LOAD, PF_R, 0, 0, 0x200, 0x200)]);
        assert_eq!(Elf::parse(&outside[..0x300]).unwrap_err(), ElfError::BadInterpreter);
        let long =
            build(ET_DYN, EM_X86_64, &[(PT_INTERP, PF_R, 0, 0, 4097, 4097), (PT_LOAD, PF_R, 0, 0, 0x200, 0x200)]);
        assert_eq!(Elf::parse(&long).unwrap_err(), ElfError::BadInterpreter);
        assert_eq!(Elf::parse(&good()).unwrap().interpreter().unwrap(), None);
    }

    /// Set a 64-bit header field.
    fn put64(d: &mut [u8], off: usize, v: u64) {
        d[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn hostile_header_fields_are_refused_without_overflow() {
        // e_phoff near u64::MAX: phoff + phnum * 56 would wrap.
        let mut d = good();
        put64(&mut d, 32, u64::MAX - 8);
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::ProgramHeadersOutOfFile);
        // e_phnum 0xffff: past Linux's 64 KiB table.
        let mut d = good();
        d[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::TooManyProgramHeaders);
        // A table that fits the count limit but not the file.
        let mut d = good();
        d[56..58].copy_from_slice(&1000u16.to_le_bytes());
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::ProgramHeadersOutOfFile);
        // e_phentsize other than 56 (Linux: ENOEXEC).
        let mut d = good();
        d[54..56].copy_from_slice(&57u16.to_le_bytes());
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::BadHeaderSize);
        // p_offset + p_filesz wraps.
        let w = build(ET_EXEC, EM_X86_64, &[(PT_LOAD, PF_R, 0, 0x400000, 0x100, 0x100)]);
        let mut d = w.clone();
        put64(&mut d, 64 + 8, u64::MAX - 0x10);
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::SegmentOutOfFile { index: 0 });
        // p_memsz so big that p_vaddr + p_memsz wraps.
        let mut d = w.clone();
        put64(&mut d, 64 + 40, u64::MAX);
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::AddressOverflow { index: 0 });
        // p_align not a power of two.
        let mut d = w.clone();
        put64(&mut d, 64 + 48, 0x3000);
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::BadAlignment { index: 0 });
        // p_align = 2^63 with p_vaddr % align != p_offset % align.
        let mut d = w;
        put64(&mut d, 64 + 48, 1 << 63);
        assert_eq!(Elf::parse(&d).unwrap_err(), ElfError::BadAlignment { index: 0 });
    }

    #[test]
    fn segments_outside_user_space_are_refused_whatever_the_bias() {
        const TASK_SIZE: u64 = 0x7fff_ffff_f000;
        const BASE: u64 = 0x5555_5555_4000;
        // A kernel-half or non-canonical segment in an ET_EXEC file.
        for va in [0xffff_ffff_8000_0000u64, 0x8000_0000_0000, TASK_SIZE - 0x1000] {
            let d = build(ET_EXEC, EM_X86_64, &[(PT_LOAD, PF_R, 0, va, 0x100, 0x2000)]);
            let e = Elf::parse(&d).unwrap();
            assert!(e.check_user_range(0, 0x10000, TASK_SIZE).is_err(), "{va:#x}");
        }
        // A PIE linked high: the loader's bias is BASE - vaddr modulo 2^64
        // and the segment lands at BASE, without an overflow panic.
        let d = build(ET_DYN, EM_X86_64, &[(PT_LOAD, PF_R, 0, 0xffff_ffff_8000_0000, 0x100, 0x100)]);
        let e = Elf::parse(&d).unwrap();
        let bias = BASE.wrapping_sub(e.load_extent().0);
        assert!(e.check_user_range(bias, 0x10000, TASK_SIZE).is_ok());
        assert_eq!(e.load_segments().next().unwrap().1.vaddr.wrapping_add(bias), BASE);
        // The same PIE with a huge p_memsz ends past TASK_SIZE.
        let d = build(ET_DYN, EM_X86_64, &[(PT_LOAD, PF_R, 0, 0x1000, 0x100, 0x7000_0000_0000)]);
        let e = Elf::parse(&d).unwrap();
        let bias = BASE.wrapping_sub(0x1000);
        assert_eq!(e.check_user_range(bias, 0x10000, TASK_SIZE).unwrap_err(), ElfError::SegmentOutOfRange { index: 0 });
        // A PT_PHDR at a hostile address is only reported, never added to.
        let d = build(
            ET_EXEC,
            EM_X86_64,
            &[(PT_PHDR, PF_R, 64, u64::MAX, 56, 56), (PT_LOAD, PF_R, 0, 0x400000, 0x100, 0x100)],
        );
        assert_eq!(Elf::parse(&d).unwrap().phdr_vaddr(), Some(u64::MAX));
    }

    proptest::proptest! {
        #[test]
        fn hostile_segment_fields_never_panic(vaddr: u64, memsz: u64, filesz: u64, offset: u64, align: u64, entry: u64, pie: bool) {
            let mut d = build(if pie { ET_DYN } else { ET_EXEC }, EM_X86_64, &[(PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x100, 0x100)]);
            put64(&mut d, 24, entry);
            put64(&mut d, 64 + 8, offset);
            put64(&mut d, 64 + 16, vaddr);
            put64(&mut d, 64 + 32, filesz);
            put64(&mut d, 64 + 40, memsz);
            put64(&mut d, 64 + 48, align);
            if let Ok(e) = Elf::parse(&d) {
                let (lo, hi) = e.load_extent();
                let bias = if pie { 0x5555_5555_4000u64.wrapping_sub(lo & !0xfff) } else { 0 };
                if e.check_user_range(bias, 0x10000, 0x7fff_ffff_f000).is_ok() {
                    // What the loader then computes must not overflow.
                    let p = e.load_segments().next().unwrap().1;
                    let start = p.vaddr.wrapping_add(bias);
                    proptest::prop_assert!(start.checked_add(p.memsz).is_some_and(|end| end <= 0x7fff_ffff_f000));
                    proptest::prop_assert!(hi >= lo);
                }
                let _ = e.phdr_vaddr();
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_corruption_never_panics(pos in 0usize..300, byte: u8, len in 0usize..400) {
            let mut d = good();
            if pos < d.len() { d[pos] = byte; }
            d.truncate(len.max(1).min(d.len()));
            let _ = Elf::parse(&d).map(|e| { let _ = e.load_extent(); let _ = e.phdr_vaddr(); });
        }
    }
}
