//! The initial ramdisk: a cpio newc archive the bootloader loaded into
//! memory. The kernel reads it in place (no copy) as a read-only file tree.

use spin::Mutex;

use formats::cpio;

/// The archive bytes: mapped by the bootloader at first, then by the
/// kernel's own page tables (see `relocate`).
static INITRD: Mutex<Option<&'static [u8]>> = Mutex::new(None);

/// Take the ramdisk the bootloader loaded (`mem::boot::ramdisk`), if any,
/// and check it is a valid archive. A bad archive is reported and
/// ignored, never trusted.
pub fn init(ramdisk: Option<&'static [u8]>) {
    let Some(bytes) = ramdisk else {
        log::info!("initrd: none loaded");
        return;
    };
    match cpio::validate(bytes) {
        Ok(n) => {
            log::info!("initrd: {} KiB cpio archive at {:p}, {} entries", bytes.len() / 1024, bytes.as_ptr(), n);
            *INITRD.lock() = Some(bytes);
        }
        Err(e) => log::error!("initrd: ignoring the ramdisk: {}", e),
    }
}

/// The archive, if a valid one was loaded.
pub fn archive() -> Option<&'static [u8]> {
    *INITRD.lock()
}

/// The same archive bytes, now mapped by the kernel's own page tables.
pub fn relocate(bytes: &'static [u8]) {
    let mut g = INITRD.lock();
    if g.is_some() {
        *g = Some(bytes);
    }
}

/// Contents of a file in the initrd.
pub fn read_file(path: &str) -> Option<&'static [u8]> {
    let a = archive()?;
    cpio::find(a, path).filter(|e| e.is_file()).map(|e| e.data)
}
