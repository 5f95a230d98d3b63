//! The kernel heap seen by Rust's `alloc`.
//!
//! Early in boot a small `linked_list_allocator` heap in the kernel's .bss
//! serves every allocation; it needs no page allocator, so it works before
//! memblock exists.

use core::alloc::{GlobalAlloc, Layout};

use linked_list_allocator::LockedHeap;

/// Size of the bootstrap heap.
pub const BOOTSTRAP_HEAP_SIZE: usize = 1024 * 1024;

#[repr(C, align(4096))]
struct HeapArea([u8; BOOTSTRAP_HEAP_SIZE]);

static mut BOOTSTRAP_AREA: HeapArea = HeapArea([0; BOOTSTRAP_HEAP_SIZE]);
static BOOTSTRAP: LockedHeap = LockedHeap::empty();

struct KernelAllocator;

// SAFETY: delegates to a `LockedHeap`, which is a correct allocator.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { BOOTSTRAP.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { BOOTSTRAP.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;

/// Hand the bootstrap area to the bootstrap heap. Call once, first thing.
pub fn init_bootstrap() {
    // SAFETY: called once before any allocation; the area is a static that
    // nothing else references.
    unsafe {
        let start = core::ptr::addr_of_mut!(BOOTSTRAP_AREA) as *mut u8;
        BOOTSTRAP.lock().init(start, BOOTSTRAP_HEAP_SIZE);
    }
}
