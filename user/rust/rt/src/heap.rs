//! The user-space heap: `malloc` / `free` and Rust's `#[global_allocator]`.
//!
//! Policy as in glibc's malloc (M_MMAP_THRESHOLD = 128 KiB):
//!
//! - requests below [`MMAP_THRESHOLD`] come from the brk heap, a first-fit
//!   free list grown with brk(2); no pointer ever lies outside
//!   `[initial break, current break)`;
//! - requests of [`MMAP_THRESHOLD`] bytes and more get their own private
//!   anonymous mapping, munmap'ed again on free.
//!
//! Every allocation is preceded by a 16-byte header, so `free` needs no size:
//!
//! ```text
//!   brk block:   s                       p-16          p
//!                | padding for alignment | start=s | size | payload ...  | (rest) |
//!                '---------------------- size bytes from s ------------------'
//!
//!   mmap block:  base                    p-16          p
//!                | padding (align - 16)  | base | len|1  | payload ...  |
//!                '---------------- len bytes (whole pages) from base -------'
//! ```
//!
//! Bit 0 of the size word marks an mmap block (sizes are multiples of 16).
//! Free brk blocks form a list ordered by address; `free` coalesces a block
//! with both neighbours and reports a double free or a foreign pointer
//! (overlap with a free block, start outside the heap) by panicking.
//! Alignments up to 4096 are supported; larger ones fail (null).
//!
//! The heap never gives memory back to the kernel through brk (glibc trims
//! the top; this one keeps it simple). Programs that move the break
//! themselves must put it back before allocating again.

use crate::syscall::{self, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

/// Requests of this many bytes or more are served by their own mmap.
pub const MMAP_THRESHOLD: usize = 128 * 1024;
/// The largest supported alignment.
pub const MAX_ALIGN: usize = 4096;

const HDR: usize = 16;
const MIN_ALIGN: usize = 16;
/// The smallest block: a header (or a `FreeBlock`) and 16 bytes.
const MIN_BLOCK: usize = 32;
/// Grow the break by at least this much at a time.
const BRK_GROW_MIN: usize = 64 * 1024;
const PAGE: usize = 4096;
const FLAG_MMAP: usize = 1;

fn align_up(x: usize, align: usize) -> usize {
    x.wrapping_add(align - 1) & !(align - 1)
}

/// A free brk block, stored in the block itself.
#[repr(C)]
struct FreeBlock {
    size: usize,
    next: *mut FreeBlock,
}

struct Heap {
    /// The break when the heap was first used (0 before that).
    start: usize,
    /// The break as this allocator last set it.
    end: usize,
    /// Free blocks ordered by address, never adjacent (they are merged).
    free: *mut FreeBlock,
}

/// The heap behind a spin lock. rt programs are single-threaded, so the
/// lock is never contended; it only keeps `GlobalAlloc`'s `Sync` honest.
struct LockedHeap {
    locked: AtomicBool,
    heap: UnsafeCell<Heap>,
}

// SAFETY: every access to `heap` goes through `with`, which holds the lock.
unsafe impl Sync for LockedHeap {}

static HEAP: LockedHeap = LockedHeap {
    locked: AtomicBool::new(false),
    heap: UnsafeCell::new(Heap { start: 0, end: 0, free: ptr::null_mut() }),
};

impl LockedHeap {
    fn with<R>(&self, f: impl FnOnce(&mut Heap) -> R) -> R {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference.
        let r = f(unsafe { &mut *self.heap.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

impl Heap {
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        if self.start == 0 {
            let brk = syscall::brk(0);
            self.start = brk;
            self.end = brk;
        }
        loop {
            if let Some(p) = self.take_fit(size, align) {
                return p;
            }
            if !self.grow(size + align + HDR + MIN_ALIGN) {
                return ptr::null_mut();
            }
        }
    }

    /// First fit: carve `size` bytes aligned to `align` out of a free block.
    fn take_fit(&mut self, size: usize, align: usize) -> Option<*mut u8> {
        let mut link: *mut *mut FreeBlock = &mut self.free;
        // SAFETY: the free list only holds blocks inside [start, end) that
        // this heap owns and that nobody else references.
        unsafe {
            while !(*link).is_null() {
                let block = *link;
                let (s, block_size, next) = (block as usize, (*block).size, (*block).next);
                let p = align_up(s + HDR, align);
                let used_end = align_up(p + size, MIN_ALIGN);
                if used_end <= s + block_size {
                    let rest = s + block_size - used_end;
                    let taken = if rest >= MIN_BLOCK {
                        let tail = used_end as *mut FreeBlock;
                        tail.write(FreeBlock { size: rest, next });
                        *link = tail;
                        used_end - s
                    } else {
                        *link = next;
                        block_size
                    };
                    let hdr = (p - HDR) as *mut usize;
                    hdr.write(s);
                    hdr.add(1).write(taken);
                    return Some(p as *mut u8);
                }
                link = &mut (*block).next;
            }
        }
        None
    }

    /// Move the break up by at least `need` bytes and free the new space.
    fn grow(&mut self, need: usize) -> bool {
        // Checked: a kernel without brk may report a nonsense break (such
        // as -ENOSYS); then allocation fails instead of overflowing.
        let region = align_up(self.end, MIN_ALIGN);
        let Some(want) = region.checked_add(need.max(BRK_GROW_MIN) + PAGE).map(|w| w & !(PAGE - 1)) else {
            return false;
        };
        let got = syscall::brk(want);
        if got < want {
            return false;
        }
        self.end = got;
        self.insert_free(region, got - region);
        true
    }

    /// Put `[s, s + size)` on the free list, merging with its neighbours.
    fn insert_free(&mut self, s: usize, size: usize) {
        // SAFETY: as in take_fit; [s, s + size) is a block this heap owns
        // that the caller no longer uses (checked against the list below).
        unsafe {
            let mut prev: *mut FreeBlock = ptr::null_mut();
            let mut next = self.free;
            while !next.is_null() && (next as usize) < s {
                prev = next;
                next = (*next).next;
            }
            if (!next.is_null() && s + size > next as usize) || (!prev.is_null() && prev as usize + (*prev).size > s) {
                panic!("free(): double free or corruption (block {:#x}, {} bytes)", s, size);
            }
            let mut size = size;
            let mut after = next;
            if !next.is_null() && s + size == next as usize {
                size += (*next).size;
                after = (*next).next;
            }
            if !prev.is_null() && prev as usize + (*prev).size == s {
                (*prev).size += size;
                (*prev).next = after;
            } else {
                let block = s as *mut FreeBlock;
                block.write(FreeBlock { size, next: after });
                if prev.is_null() {
                    self.free = block;
                } else {
                    (*prev).next = block;
                }
            }
        }
    }
}

fn alloc_mmap(size: usize, align: usize) -> *mut u8 {
    // align >= HDR, so the header fits in front of the payload.
    let offset = align;
    let Some(len) = size.checked_add(offset + PAGE - 1).map(|l| l & !(PAGE - 1)) else {
        return ptr::null_mut();
    };
    // SAFETY: a fresh mapping (no MAP_FIXED) replaces nothing.
    let base = match unsafe { syscall::mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) } {
        Ok(b) => b as usize,
        Err(_) => return ptr::null_mut(),
    };
    let p = base + offset;
    // SAFETY: [base, base + len) is our new mapping and p - HDR >= base.
    unsafe {
        let hdr = (p - HDR) as *mut usize;
        hdr.write(base);
        hdr.add(1).write(len | FLAG_MMAP);
    }
    p as *mut u8
}

/// Allocate `size` bytes aligned to `align` (a power of two up to 4096;
/// at least 16 is always given). Returns null when out of memory or for a
/// bad alignment. Zero-byte requests get a unique one-byte allocation.
pub fn malloc_aligned(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return ptr::null_mut();
    }
    let (size, align) = (size.max(1), align.max(MIN_ALIGN));
    if size >= MMAP_THRESHOLD { alloc_mmap(size, align) } else { HEAP.with(|h| h.alloc(size, align)) }
}

/// Allocate `size` bytes aligned to 16, like C's malloc.
pub fn malloc(size: usize) -> *mut u8 {
    malloc_aligned(size, MIN_ALIGN)
}

/// The header of allocation `p`: (block start, size word).
///
/// # Safety
/// `p` must come from this allocator and not be freed yet.
unsafe fn header(p: *mut u8) -> (usize, usize) {
    let hdr = (p as usize - HDR) as *const usize;
    // SAFETY: the caller guarantees a live allocation, which has a header.
    unsafe { (hdr.read(), hdr.add(1).read()) }
}

/// How many bytes from `p` the allocation can hold (at least its size).
///
/// # Safety
/// As [`free`], but `p` must not be null.
pub unsafe fn usable_size(p: *mut u8) -> usize {
    // SAFETY: forwarded from the caller.
    let (start, word) = unsafe { header(p) };
    start + (word & !FLAG_MMAP) - p as usize
}

/// Whether allocation `p` is an mmap block.
///
/// # Safety
/// As [`usable_size`].
pub unsafe fn is_mmapped(p: *mut u8) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { header(p).1 & FLAG_MMAP != 0 }
}

/// Release an allocation (null is ignored).
///
/// # Safety
/// `p` must be null or come from [`malloc`] / [`malloc_aligned`] / the
/// global allocator, and must not be used or freed again.
pub unsafe fn free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: the caller guarantees a live allocation.
    let (start, word) = unsafe { header(p) };
    if word & FLAG_MMAP != 0 {
        let len = word & !FLAG_MMAP;
        // SAFETY: the mapping belongs to this allocation alone.
        if let Err(e) = unsafe { syscall::munmap(start as *mut u8, len) } {
            panic!("free(): munmap({:#x}, {}) failed: {}", start, len, e);
        }
        return;
    }
    HEAP.with(|h| {
        let p = p as usize;
        if start < h.start || start + HDR > p || word < MIN_BLOCK || start + word > h.end {
            panic!("free(): invalid pointer {:#x}", p);
        }
        h.insert_free(start, word);
    });
}

/// The brk heap's range `[start, end)`: the break when the heap was first
/// used and the break it has now set; (0, 0) before the first allocation.
pub fn brk_heap_range() -> (usize, usize) {
    HEAP.with(|h| (h.start, h.end))
}

/// `#[global_allocator]` on top of [`malloc_aligned`] and [`free`].
pub struct RtAlloc;

// SAFETY: malloc_aligned returns null or a block of at least `size` bytes
// aligned to `align` that nothing else uses until it is freed.
unsafe impl GlobalAlloc for RtAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        malloc_aligned(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, p: *mut u8, _layout: Layout) {
        // SAFETY: GlobalAlloc's contract: p came from alloc and is dead now.
        unsafe { free(p) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: p is a live allocation of `layout`.
        let (usable, mmapped) = unsafe { (usable_size(p), is_mmapped(p)) };
        // Stay in place when the block is big enough and keeps the policy
        // (a brk block never holds a request above the mmap threshold).
        if new_size <= usable && (mmapped || new_size < MMAP_THRESHOLD) {
            return p;
        }
        let new = malloc_aligned(new_size, layout.align());
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe {
                ptr::copy_nonoverlapping(p, new, layout.size().min(new_size));
                free(p);
            }
        }
        new
    }
}

#[global_allocator]
static GLOBAL: RtAlloc = RtAlloc;
