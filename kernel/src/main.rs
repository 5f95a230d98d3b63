//! The kernel binary: the bootloader jumps to `kmain`.

#![no_std]
#![no_main]

use bootloader_api::{BootInfo, entry_point};

entry_point!(kmain, config = &kernel::BOOT_CONFIG);

fn kmain(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    log::info!("init done");
    kernel::init::start_init();
    kernel::idle()
}
