//! The kernel heap behind Rust's `alloc`.
//!
//! ```text
//!   boot ──> bootstrap heap (linked_list_allocator over 512 KiB of .bss)
//!   slab up ──> kmalloc (slab caches, large sizes from the buddy allocator)
//! ```
//!
//! Early in boot nothing but the bootstrap heap exists (512 KiB: the
//! firmware map, NUMA tables and command line need a few KiB, but the
//! per-CPU page lists of every zone and the per-CPU slots of the first
//! slab caches are sized for `MAX_CPUS` and come from here too: about
//! 25 KiB per zone, 4 KiB per cache; three NUMA nodes passed 256 KiB). Once the slab
//! caches are up, every new allocation goes to kmalloc. Objects allocated
//! before the switch may be freed at any time later: a free is routed by
//! address, so bootstrap objects go back to the bootstrap heap and never
//! reach kfree.
//!
//! Inside a system call that charges kernel memory to the caller's memory
//! cgroup, new objects come from the group's copy of the kmalloc caches
//! (`kmemcg`); kfree finds either kind from the slab page.
//!
//! A failed allocation returns null: `try_reserve` and friends turn it
//! into an error the caller handles (ENOMEM for a system call). Only an
//! infallible allocation that fails reaches [`alloc_error`], which names
//! the request and the process before the panic (a kernel allocation that
//! must not fail did).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use linked_list_allocator::LockedHeap;

/// Size of the bootstrap heap.
pub const BOOTSTRAP_HEAP_SIZE: usize = 512 * 1024;

#[repr(C, align(4096))]
struct HeapArea([u8; BOOTSTRAP_HEAP_SIZE]);

static mut BOOTSTRAP_AREA: HeapArea = HeapArea([0; BOOTSTRAP_HEAP_SIZE]);
static BOOTSTRAP: LockedHeap = LockedHeap::empty();
static USE_KMALLOC: AtomicBool = AtomicBool::new(false);

fn bootstrap_range() -> (usize, usize) {
    let start = core::ptr::addr_of!(BOOTSTRAP_AREA) as usize;
    (start, start + BOOTSTRAP_HEAP_SIZE)
}

fn in_bootstrap(p: *mut u8) -> bool {
    let (s, e) = bootstrap_range();
    (s..e).contains(&(p as usize))
}

struct KernelAllocator;

// SAFETY: both back ends are correct allocators; a pointer is always
// returned to the one that produced it (by address range).
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if USE_KMALLOC.load(Ordering::Acquire) {
            if let Some(k) = super::slab::kmalloc() {
                let caches = super::kmemcg::current_set().unwrap_or(k.caches());
                return k
                    .alloc_from(caches, layout.size(), layout.align(), false)
                    .map_or(core::ptr::null_mut(), NonNull::as_ptr);
            }
        }
        // SAFETY: forwarded contract.
        unsafe { BOOTSTRAP.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if USE_KMALLOC.load(Ordering::Acquire) {
            if let Some(k) = super::slab::kmalloc() {
                let caches = super::kmemcg::current_set().unwrap_or(k.caches());
                return k
                    .alloc_from(caches, layout.size(), layout.align(), true)
                    .map_or(core::ptr::null_mut(), NonNull::as_ptr);
            }
        }
        // SAFETY: forwarded contract.
        unsafe { BOOTSTRAP.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_bootstrap(ptr) {
            // SAFETY: the pointer came from the bootstrap heap.
            unsafe { BOOTSTRAP.dealloc(ptr, layout) };
        } else if let (Some(k), Some(p)) = (super::slab::kmalloc(), NonNull::new(ptr)) {
            if let Err(e) = k.free(p) {
                log::error!("heap: kfree({:#x}) refused: {:?}", ptr as u64, e);
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !in_bootstrap(ptr) {
            if let (Some(k), Some(p)) = (super::slab::kmalloc(), NonNull::new(ptr)) {
                let caches = super::kmemcg::current_set().unwrap_or(k.caches());
                return k
                    .realloc_from(caches, p, new_size, layout.align())
                    .map_or(core::ptr::null_mut(), NonNull::as_ptr);
            }
        }
        // Bootstrap objects move to whichever heap is current.
        // SAFETY: forwarded contract; `alloc` picks the current heap.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;

/// Hand the bootstrap area to the bootstrap heap. Call once, first thing.
pub fn init_bootstrap() {
    let (start, _) = bootstrap_range();
    // SAFETY: called once before any allocation; the area is a static that
    // nothing else references.
    unsafe { BOOTSTRAP.lock().init(start as *mut u8, BOOTSTRAP_HEAP_SIZE) };
}

/// Route new allocations to kmalloc from now on.
pub fn switch_to_kmalloc() {
    USE_KMALLOC.store(true, Ordering::Release);
    let (used, free) = {
        let h = BOOTSTRAP.lock();
        (h.used(), h.free())
    };
    log::info!(
        "heap: switched to kmalloc; bootstrap heap keeps {} KiB of early objects ({} KiB free)",
        used / 1024,
        free / 1024
    );
}

/// Whether the heap is kmalloc now.
pub fn is_kmalloc() -> bool {
    USE_KMALLOC.load(Ordering::Acquire)
}

/// Bytes in use in the bootstrap heap.
pub fn bootstrap_used() -> usize {
    BOOTSTRAP.lock().used()
}
