//! Physical memory: the seam between mm and the machine, and the layer
//! that manages page frames, bottom up:
//!
//! ```text
//! e820       firmware memory map
//! memblock   boot-time allocator: memory and reserved region arrays
//! numa       nodes, their memory ranges and SLIT distances
//! page       page descriptors (struct page) in per-section arrays
//! zone       zones per node, spans, watermarks, counters
//! buddy      per-zone free lists by order and migrate type
//! frag       fragmentation measures, compaction tunables, free-block isolation
//! pcp        per-zone, per-CPU lists of small free blocks in front of the buddy
//! gfp        allocation flags
//! hugetlb    the pool of 2 MiB pages behind hugetlb mappings
//! page_alloc zonelists, the allocation entry points, hand-off
//! lru        per-node LRU lists of user pages (reclaim's order)
//! vmstat     page counters by use
//! ```
//!
//! The seam: how mm reaches physical memory.
//!
//! mm never dereferences a physical address itself. It asks a [`PhysMem`]
//! for the kernel-virtual address of a physical range. In the kernel that is
//! the direct map (`PAGE_OFFSET + pa`); in host tests it is an offset into a
//! `Vec<u8>` arena that plays the role of RAM (see `testing`), so every
//! page-table entry, free-list link and page descriptor mm writes can be
//! checked by the tests.
//!
//! Every access to page contents goes through the methods here, so mm's
//! `unsafe` is in this file (and in the memmap's and memblock's typed arrays,
//! which call [`place_array`]). The byte methods ([`PhysMem::read`],
//! [`PhysMem::write`], [`PhysMem::fill`], [`PhysMem::copy`] and the page and
//! `u64` forms built on them) are safe to call: the range is checked against
//! the window, which covers only RAM, and each access is a raw copy that forms
//! no Rust reference to the memory. Which frames a caller may touch is mm's
//! own bookkeeping (the page's owner and reference count), as it is for a
//! page-table entry: a wrong frame number corrupts data, which no type can
//! prevent, but it cannot reach memory outside RAM.

pub mod buddy;
pub mod e820;
pub mod frag;
pub mod gfp;
pub mod hugetlb;
pub mod lru;
pub mod memblock;
pub mod numa;
pub mod page;
pub mod page_alloc;
pub mod pcp;
pub mod vmstat;
pub mod zone;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use x86_64::structures::paging::PageTable;

/// A physical range that the window does not wholly cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsideWindow {
    pub pa: PhysAddr,
    pub len: usize,
}

/// A window onto physical memory.
///
/// An implementation supplies [`PhysMem::ptr`] and [`PhysMem::phys_of`]; the
/// accessors are provided on top of them and are not meant to be overridden.
pub trait PhysMem: Sync {
    /// Kernel pointer to `len` bytes at physical address `pa`, or `None` if
    /// the range is not covered by the window.
    fn ptr(&self, pa: PhysAddr, len: usize) -> Option<*mut u8>;

    /// Physical address of a kernel pointer obtained from [`PhysMem::ptr`].
    fn phys_of(&self, va: *const u8) -> Option<PhysAddr>;

    /// The window as one linear map, if it is one: hot paths (kfree) then
    /// translate with an add and a compare instead of a call through the
    /// seam.
    fn linear(&self) -> Option<LinearWindow> {
        None
    }

    /// Copy `buf.len()` bytes at `pa` into `buf`.
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) -> Result<(), OutsideWindow> {
        let src = self.ptr(pa, buf.len()).ok_or(OutsideWindow { pa, len: buf.len() })?;
        // SAFETY: the window covers `buf.len()` bytes at `src` (RAM, see the
        // module comment); `copy` allows the two ranges to overlap.
        unsafe { core::ptr::copy(src, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copy `data` to physical memory at `pa`.
    fn write(&self, pa: PhysAddr, data: &[u8]) -> Result<(), OutsideWindow> {
        let dst = self.ptr(pa, data.len()).ok_or(OutsideWindow { pa, len: data.len() })?;
        // SAFETY: the window covers `data.len()` bytes at `dst` (RAM, see the
        // module comment); `copy` allows the two ranges to overlap.
        unsafe { core::ptr::copy(data.as_ptr(), dst, data.len()) };
        Ok(())
    }

    /// Set `len` bytes at `pa` to `byte`.
    fn fill(&self, pa: PhysAddr, byte: u8, len: usize) -> Result<(), OutsideWindow> {
        let dst = self.ptr(pa, len).ok_or(OutsideWindow { pa, len })?;
        // SAFETY: the window covers `len` bytes at `dst` (RAM, see the module
        // comment).
        unsafe { core::ptr::write_bytes(dst, byte, len) };
        Ok(())
    }

    /// Copy `len` bytes from `src` to `dst`, both physical (the ranges may
    /// overlap).
    fn copy(&self, dst: PhysAddr, src: PhysAddr, len: usize) -> Result<(), OutsideWindow> {
        let from = self.ptr(src, len).ok_or(OutsideWindow { pa: src, len })?;
        let to = self.ptr(dst, len).ok_or(OutsideWindow { pa: dst, len })?;
        // SAFETY: the window covers both ranges (RAM, see the module
        // comment); `copy` is a memmove.
        unsafe { core::ptr::copy(from, to, len) };
        Ok(())
    }

    /// The 8 bytes at `pa` as a native-endian `u64` (a free pointer, a PTE).
    fn read_u64(&self, pa: PhysAddr) -> Result<u64, OutsideWindow> {
        let mut b = [0u8; 8];
        self.read(pa, &mut b)?;
        Ok(u64::from_ne_bytes(b))
    }

    /// Store `v` as 8 native-endian bytes at `pa`.
    fn write_u64(&self, pa: PhysAddr, v: u64) -> Result<(), OutsideWindow> {
        self.write(pa, &v.to_ne_bytes())
    }

    /// Zero the `2^order` pages at `pfn`.
    fn zero_pages(&self, pfn: Pfn, order: u32) -> Result<(), OutsideWindow> {
        self.fill(PhysAddr::new(pfn.phys()), 0, (PAGE_SIZE as usize) << order)
    }

    /// Copy the 4 KiB page `src` to the page `dst`.
    fn copy_page(&self, dst: Pfn, src: Pfn) -> Result<(), OutsideWindow> {
        self.copy(PhysAddr::new(dst.phys()), PhysAddr::new(src.phys()), PAGE_SIZE as usize)
    }

    /// The page table in the 4 KiB frame at `pa`.
    ///
    /// Page-table frames belong to the tree that links them: they are
    /// changed only by the owner of that address space (under its lock) or
    /// by the boot code before anyone else runs, which is what makes the
    /// `&mut` handed out here the only one in use.
    fn table(&self, pa: PhysAddr) -> Option<&'static mut PageTable> {
        let p = self.ptr(pa, core::mem::size_of::<PageTable>())? as *mut PageTable;
        if !p.is_aligned() {
            return None;
        }
        // SAFETY: the window covers the whole frame, `p` is aligned, every
        // bit pattern is a valid `PageTable`, and the frame's owner is the
        // only one touching it (see above).
        Some(unsafe { &mut *p })
    }
}

/// Kernel addresses `[start, start + len)` that a window covers, asked of
/// [`PhysMem::ptr`] once so that a hot path can read and write the 8-byte
/// words of that range without asking the window for each access (the slab
/// allocator's per-CPU fast path keeps its active slab's span and reaches
/// the free pointers in it through this).
///
/// The words are accessed as relaxed atomics (a plain `mov` on x86_64), so a
/// racy read of a word another CPU writes (a slab fast path reading a free
/// pointer it may have just lost to a flusher) is a stale value, never
/// undefined behaviour. A span stays valid while the window covers RAM,
/// which is for the whole run: a span of pages given back to the buddy
/// allocator still points at RAM (what is read there is the caller's
/// business, as for the other accessors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpan {
    start: u64,
    len: u64,
}

impl WindowSpan {
    /// The span that contains nothing.
    pub const EMPTY: WindowSpan = WindowSpan { start: 0, len: 0 };

    /// The kernel addresses of `len` bytes at physical address `pa`, if the
    /// window covers them all.
    pub fn of(phys: &dyn PhysMem, pa: PhysAddr, len: usize) -> Option<WindowSpan> {
        let p = phys.ptr(pa, len)?;
        Some(WindowSpan { start: p as u64, len: len as u64 })
    }

    /// A span rebuilt from the `start` of one that [`WindowSpan::of`]
    /// returned with this `len` (a hot path keeps only the start, in an
    /// atomic; the length is known to it), or from 0 (then empty).
    ///
    /// # Safety
    /// `start` is 0, or `WindowSpan::of(..., len)` returned a span with
    /// this `start` (so the window covers `[start, start + len)`).
    #[inline]
    pub unsafe fn from_start(start: u64, len: u64) -> WindowSpan {
        WindowSpan { start, len: if start == 0 { 0 } else { len } }
    }

    /// First kernel address of the span (0 for the empty span).
    #[inline]
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Offset of kernel address `va` in the span, if it lies inside.
    #[inline]
    pub fn offset_of(&self, va: u64) -> Option<u64> {
        let off = va.wrapping_sub(self.start);
        (off < self.len).then_some(off)
    }

    /// Whether the aligned word at `va` lies wholly inside the span.
    #[inline]
    fn has_word(&self, va: u64) -> bool {
        va % 8 == 0 && va.wrapping_sub(self.start) < self.len && self.len - va.wrapping_sub(self.start) >= 8
    }

    /// The 8-byte word at kernel address `va`, if it lies in the span and
    /// is aligned.
    #[inline]
    pub fn load_u64(&self, va: u64) -> Option<u64> {
        if !self.has_word(va) {
            return None;
        }
        // SAFETY: the window covers the span (see `from_start`) and the
        // word is inside it and aligned; the access is atomic, so a
        // concurrent write elsewhere is no data race.
        Some(
            unsafe { core::sync::atomic::AtomicU64::from_ptr(va as *mut u64) }
                .load(core::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Store `v` at kernel address `va`; false (nothing written) unless the
    /// word lies in the span and is aligned.
    #[inline]
    pub fn store_u64(&self, va: u64, v: u64) -> bool {
        if !self.has_word(va) {
            return false;
        }
        // SAFETY: as in `load_u64`.
        unsafe { core::sync::atomic::AtomicU64::from_ptr(va as *mut u64) }
            .store(v, core::sync::atomic::Ordering::Relaxed);
        true
    }
}

/// Put `n` values `init(0), init(1), ...` in physical memory at `pa` and
/// return them as a slice that lives for the rest of the run (the memmap's
/// descriptor arrays, memblock's grown region arrays). `None` if the window
/// does not cover the range or `pa` is not aligned for `T`.
///
/// # Safety
/// `[pa, pa + n * size_of::<T>())` must be RAM reserved for this array alone
/// that nothing else reads or writes from now on, except through the slice
/// (memory just reserved from memblock for it, never freed while the slice
/// is in use).
pub unsafe fn place_array<T>(
    phys: &dyn PhysMem,
    pa: PhysAddr,
    n: usize,
    mut init: impl FnMut(usize) -> T,
) -> Option<&'static mut [T]> {
    let p = phys.ptr(pa, n.checked_mul(core::mem::size_of::<T>())?)? as *mut T;
    if !p.is_aligned() {
        return None;
    }
    // SAFETY: the window covers `n` values at `p`, aligned; the caller gives
    // us the range for this array alone. Each element is written before the
    // slice that reads it is formed.
    unsafe {
        for i in 0..n {
            p.add(i).write(init(i));
        }
        Some(core::slice::from_raw_parts_mut(p, n))
    }
}

/// A linear window: physical address `pa` lives at `pa + offset` for
/// `pa` in `[start, end)`. The kernel's direct map is one; so is the host
/// test arena.
#[derive(Clone, Copy, Debug)]
pub struct LinearWindow {
    pub offset: u64,
    pub start: u64,
    pub end: u64,
}

impl PhysMem for LinearWindow {
    fn ptr(&self, pa: PhysAddr, len: usize) -> Option<*mut u8> {
        self.to_virt(pa, len)
    }

    fn phys_of(&self, va: *const u8) -> Option<PhysAddr> {
        self.to_phys(va)
    }

    fn linear(&self) -> Option<LinearWindow> {
        Some(*self)
    }
}

impl LinearWindow {
    /// [`PhysMem::ptr`], inlined.
    #[inline]
    pub fn to_virt(&self, pa: PhysAddr, len: usize) -> Option<*mut u8> {
        let pa = pa.as_u64();
        let end = pa.checked_add(len as u64)?;
        if pa < self.start || end > self.end {
            return None;
        }
        Some(pa.wrapping_add(self.offset) as *mut u8)
    }

    /// [`PhysMem::phys_of`], inlined.
    #[inline]
    pub fn to_phys(&self, va: *const u8) -> Option<PhysAddr> {
        let pa = (va as u64).wrapping_sub(self.offset);
        if pa < self.start || pa >= self.end {
            return None;
        }
        Some(PhysAddr::new(pa))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SimRam;

    #[test]
    fn a_window_span_reaches_only_aligned_words_wholly_inside_it() {
        let ram = SimRam::new(0, 1 << 20);
        let span = WindowSpan::of(ram.window, PhysAddr::new(0x1000), 64).unwrap();
        let start = span.start();
        assert_eq!(start, ram.window.ptr(PhysAddr::new(0x1000), 64).unwrap() as u64);
        assert!(span.store_u64(start + 56, 0x1234), "the last word");
        assert_eq!(ram.window.read_u64(PhysAddr::new(0x1000 + 56)), Ok(0x1234));
        assert_eq!(span.load_u64(start + 56), Some(0x1234));
        assert_eq!(span.load_u64(start + 64), None, "past the end");
        assert_eq!(span.load_u64(start + 4), None, "unaligned");
        assert_eq!(span.load_u64(start.wrapping_sub(8)), None, "before the start");
        assert!(!span.store_u64(start + 64, 1));
        assert_eq!((span.offset_of(start + 63), span.offset_of(start + 64)), (Some(63), None));
        assert_eq!(WindowSpan::EMPTY.load_u64(0), None);
        // SAFETY: 0 stands for the empty span.
        assert_eq!(unsafe { WindowSpan::from_start(0, 64) }, WindowSpan::EMPTY);
        assert!(WindowSpan::of(ram.window, PhysAddr::new((1 << 20) - 32), 64).is_none(), "outside the window");
    }
}
