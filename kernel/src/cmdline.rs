//! The kernel command line. The bootloader has no way to pass one, so
//! `boot` stores it in the initrd as `/boot/cmdline`.
//!
//! Options the kernel itself understands are listed in [`KNOWN`]; everything
//! else goes to init as arguments or environment, as on Linux.

use alloc::string::String;

use formats::cmdline::Cmdline;
use spin::Once;

/// Parameters the kernel consumes (README, "Kernel command line").
pub const KNOWN: &[&str] = &[
    "loglevel",
    "log",
    "memblock",
    "init",
    "panic",
    "min_free_kbytes",
    "slub_debug",
    "exit_on_init",
    "mempic",
    "swapon",
    "hugepages",
    "hugepagesz",
    "default_hugepagesz",
];

static TEXT: Once<String> = Once::new();

/// Read `/boot/cmdline` from the initrd (empty if absent).
pub fn init() {
    TEXT.call_once(|| {
        let raw = crate::initrd::read_file("boot/cmdline").unwrap_or(b"");
        String::from(core::str::from_utf8(raw).unwrap_or("").trim())
    });
}

/// The raw command line.
pub fn text() -> &'static str {
    TEXT.get().map(String::as_str).unwrap_or("")
}

/// The parsed command line.
pub fn get() -> Cmdline<'static> {
    Cmdline::parse(text())
}

/// Value of `key`, if given.
pub fn value(key: &str) -> Option<&'static str> {
    get().get(key)
}
