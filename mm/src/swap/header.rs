//! The first page of a swap area, in Linux's on-disk format (`union
//! swap_header` in include/linux/swap.h, written by util-linux's mkswap,
//! read by mm/swapfile.c `read_swap_header`).
//!
//! ```text
//!   0     .. 1024   boot bits (left alone: a boot sector may live there)
//!   1024  version        u32  (1)
//!   1028  last_page      u32  (the last usable page's index)
//!   1032  nr_badpages    u32
//!   1036  uuid           [u8; 16]
//!   1052  volume label   [u8; 16]
//!   1068  padding        [u32; 117]
//!   1536  badpages       [u32; nr_badpages]   page indices never used
//!   4086  magic          "SWAPSPACE2"
//! ```
//!
//! Values are little-endian as written by an x86 mkswap; an area written
//! by a big-endian machine (version 1 byte-swapped) is refused, as Linux
//! refuses it unless it was built for that byte order.

use crate::addr::PAGE_SIZE;

pub const MAGIC: &[u8; 10] = b"SWAPSPACE2";
const MAGIC_AT: usize = PAGE_SIZE as usize - 10;
const VERSION_AT: usize = 1024;
const LAST_PAGE_AT: usize = 1028;
const NR_BAD_AT: usize = 1032;
const UUID_AT: usize = 1036;
const LABEL_AT: usize = 1052;
const BADPAGES_AT: usize = 1536;
/// Most bad pages the header can list (Linux's MAX_SWAP_BADPAGES).
pub const MAX_BADPAGES: usize = (MAGIC_AT - BADPAGES_AT) / 4;

/// What a valid header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapHeader {
    pub last_page: u32,
    pub uuid: [u8; 16],
    pub label: [u8; 16],
    pub bad_pages: alloc::vec::Vec<u32>,
}

/// Why a page is not a usable swap header (swapon's EINVAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// No "SWAPSPACE2" at the end of the page.
    NoSignature,
    /// A version other than 1.
    Version(u32),
    /// More bad pages than the header can hold.
    TooManyBadPages,
    /// A bad page beyond `last_page`, or the header page itself.
    BadPageOutside,
    /// `last_page` is 0: no page to swap to.
    Empty,
}

fn u32_at(p: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

impl SwapHeader {
    /// Read a header page (`page` is one page long).
    pub fn parse(page: &[u8]) -> Result<SwapHeader, HeaderError> {
        if page.len() < PAGE_SIZE as usize || &page[MAGIC_AT..MAGIC_AT + 10] != MAGIC {
            return Err(HeaderError::NoSignature);
        }
        let version = u32_at(page, VERSION_AT);
        if version != 1 {
            return Err(HeaderError::Version(version));
        }
        let last_page = u32_at(page, LAST_PAGE_AT);
        let nr_bad = u32_at(page, NR_BAD_AT) as usize;
        if nr_bad > MAX_BADPAGES {
            return Err(HeaderError::TooManyBadPages);
        }
        if last_page == 0 {
            return Err(HeaderError::Empty);
        }
        let bad_pages: alloc::vec::Vec<u32> = (0..nr_bad).map(|i| u32_at(page, BADPAGES_AT + 4 * i)).collect();
        if bad_pages.iter().any(|&b| b == 0 || b > last_page) {
            return Err(HeaderError::BadPageOutside);
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&page[UUID_AT..UUID_AT + 16]);
        let mut label = [0u8; 16];
        label.copy_from_slice(&page[LABEL_AT..LABEL_AT + 16]);
        Ok(SwapHeader { last_page, uuid, label, bad_pages })
    }

    /// Write the header into `page` (one page), leaving the boot bits.
    pub fn write(&self, page: &mut [u8]) {
        page[VERSION_AT..].fill(0);
        page[VERSION_AT..VERSION_AT + 4].copy_from_slice(&1u32.to_le_bytes());
        page[LAST_PAGE_AT..LAST_PAGE_AT + 4].copy_from_slice(&self.last_page.to_le_bytes());
        let n = self.bad_pages.len().min(MAX_BADPAGES);
        page[NR_BAD_AT..NR_BAD_AT + 4].copy_from_slice(&(n as u32).to_le_bytes());
        page[UUID_AT..UUID_AT + 16].copy_from_slice(&self.uuid);
        page[LABEL_AT..LABEL_AT + 16].copy_from_slice(&self.label);
        for (i, b) in self.bad_pages.iter().take(n).enumerate() {
            page[BADPAGES_AT + 4 * i..BADPAGES_AT + 4 * i + 4].copy_from_slice(&b.to_le_bytes());
        }
        page[MAGIC_AT..MAGIC_AT + 10].copy_from_slice(MAGIC);
    }

    /// Pages an area of `device_pages` pages offers: the header's pages
    /// that exist on the device, less the header page and the bad ones
    /// (Linux's `nr_good_pages`). Also returns how many page slots the
    /// map needs (`maxpages`).
    pub fn usable(&self, device_pages: u64) -> (u64, u64) {
        let maxpages = (self.last_page as u64 + 1).min(device_pages);
        let bad = self.bad_pages.iter().filter(|&&b| (b as u64) < maxpages).count() as u64;
        (maxpages.saturating_sub(1 + bad), maxpages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> alloc::vec::Vec<u8> {
        alloc::vec![0xeeu8; PAGE_SIZE as usize]
    }

    #[test]
    fn written_header_reads_back_and_keeps_boot_bits() {
        let h = SwapHeader {
            last_page: 4095,
            uuid: [7; 16],
            label: *b"swap0\0\0\0\0\0\0\0\0\0\0\0",
            bad_pages: alloc::vec![5, 9],
        };
        let mut p = page();
        h.write(&mut p);
        assert_eq!(SwapHeader::parse(&p), Ok(h.clone()));
        assert!(p[..1024].iter().all(|&b| b == 0xee), "boot bits untouched");
        assert_eq!(&p[4086..], b"SWAPSPACE2");
        assert_eq!(h.usable(4096), (4096 - 3, 4096));
        // A device smaller than the header says: only what exists counts.
        assert_eq!(h.usable(8), (8 - 2, 8));
    }

    /// An area made by util-linux's mkswap (when the host has it) reads
    /// as it says.
    #[test]
    fn reads_what_linux_mkswap_writes() {
        let path = std::env::temp_dir().join(format!("mm-swap-{}.img", std::process::id()));
        std::fs::write(&path, vec![0u8; 1 << 20]).unwrap();
        let run = std::process::Command::new("mkswap")
            .args(["-L", "mmtest", "-U", "01234567-89ab-cdef-0123-456789abcdef"])
            .arg(&path)
            .output();
        let Some(_) = run.ok().filter(|o| o.status.success()) else {
            eprintln!("mkswap not available: skipped");
            let _ = std::fs::remove_file(&path);
            return;
        };
        let data = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let h = SwapHeader::parse(&data[..PAGE_SIZE as usize]).expect("a valid header");
        assert_eq!(h.last_page, 255);
        assert_eq!(&h.label[..7], b"mmtest\0");
        assert_eq!(h.uuid[..4], [0x01, 0x23, 0x45, 0x67]);
        assert!(h.bad_pages.is_empty());
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut p = page();
        assert_eq!(SwapHeader::parse(&p), Err(HeaderError::NoSignature));
        let h = SwapHeader { last_page: 10, uuid: [0; 16], label: [0; 16], bad_pages: alloc::vec![] };
        h.write(&mut p);
        p[1024] = 2;
        assert_eq!(SwapHeader::parse(&p), Err(HeaderError::Version(2)));
        p[1024] = 1;
        p[1032..1036].copy_from_slice(&(MAX_BADPAGES as u32 + 1).to_le_bytes());
        assert_eq!(SwapHeader::parse(&p), Err(HeaderError::TooManyBadPages));
        SwapHeader { bad_pages: alloc::vec![11], ..h.clone() }.write(&mut p);
        assert_eq!(SwapHeader::parse(&p), Err(HeaderError::BadPageOutside));
        SwapHeader { last_page: 0, ..h.clone() }.write(&mut p);
        assert_eq!(SwapHeader::parse(&p), Err(HeaderError::Empty));
        // The old "SWAP-SPACE" (version 0) signature is not accepted.
        h.write(&mut p);
        p[4086..].copy_from_slice(b"SWAP-SPACE");
        assert_eq!(SwapHeader::parse(&p), Err(HeaderError::NoSignature));
    }
}
