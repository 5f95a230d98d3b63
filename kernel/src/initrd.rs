//! The initial ramdisk: a cpio newc archive the bootloader loaded into
//! memory. The kernel reads it in place (no copy) as a read-only file tree.

use spin::Mutex;

use formats::cpio;

/// The archive bytes: mapped by the bootloader at first, then by the
/// kernel's own page tables (see `relocate`).
static INITRD: Mutex<Option<&'static [u8]>> = Mutex::new(None);

/// Take the ramdisk the bootloader loaded, if any, and check it is a valid
/// archive. A bad archive is reported and ignored, never trusted.
pub fn init(addr: Option<u64>, len: u64) {
    let Some(addr) = addr else {
        log::info!("initrd: none loaded");
        return;
    };
    // SAFETY: the bootloader mapped `len` bytes of ramdisk at `addr` and
    // never touches them again; nothing in the kernel writes to them.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) };
    match cpio::validate(bytes) {
        Ok(n) => {
            log::info!("initrd: {} KiB cpio archive at {:#x}, {} entries", len / 1024, addr, n);
            *INITRD.lock() = Some(bytes);
        }
        Err(e) => log::error!("initrd: ignoring the ramdisk: {}", e),
    }
}

/// The archive, if a valid one was loaded.
pub fn archive() -> Option<&'static [u8]> {
    *INITRD.lock()
}

/// The initrd is now mapped at `va` (same bytes).
pub fn relocate(va: u64) {
    let mut g = INITRD.lock();
    if let Some(old) = *g {
        // SAFETY: `va` maps the same `old.len()` bytes, read-only, for the
        // rest of the run.
        *g = Some(unsafe { core::slice::from_raw_parts(va as *const u8, old.len()) });
    }
}

/// Contents of a file in the initrd.
pub fn read_file(path: &str) -> Option<&'static [u8]> {
    let a = archive()?;
    cpio::find(a, path).filter(|e| e.is_file()).map(|e| e.data)
}
