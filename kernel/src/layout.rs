//! The kernel's virtual address layout (x86_64, 4-level paging).
//!
//! ```text
//! 0x0000_0000_0000_0000 - 0x0000_7fff_ffff_ffff   user space (128 TiB)
//!                        ... non-canonical hole ...
//! 0xffff_8880_0000_0000 - ...                     direct map of all physical memory
//! 0xffff_c900_0000_0000 - 0xffff_e8ff_ffff_ffff   vmalloc area (32 TiB)
//! 0xffff_f000_0000_0000 - 0xffff_f7ff_ffff_ffff   bootloader window (boot info,
//!                                                 boot stack, framebuffer, ramdisk)
//! 0xffff_ffff_8000_0000 - ...                     kernel image
//! ```
//!
//! The direct map and the kernel image sit where Linux puts them
//! (`page_offset_base`, `__START_KERNEL_map`), so addresses in a backtrace or
//! an oops look familiar to a Linux reader.

/// Start of the direct map of physical memory (Linux's `PAGE_OFFSET`).
pub const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
/// Virtual base of the kernel image.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// vmalloc area.
pub const VMALLOC_START: u64 = 0xffff_c900_0000_0000;
pub const VMALLOC_END: u64 = 0xffff_e900_0000_0000;
/// Where the bootloader may place its dynamic mappings.
pub const BOOTLOADER_WINDOW_START: u64 = 0xffff_f000_0000_0000;
pub const BOOTLOADER_WINDOW_END: u64 = 0xffff_f7ff_ffff_f000;

/// Kernel address of physical address `pa` in the direct map.
#[inline]
pub const fn phys_to_virt(pa: u64) -> u64 {
    pa + PAGE_OFFSET
}
