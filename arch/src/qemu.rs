//! Leaving QEMU through the isa-debug-exit device.
//!
//! QEMU is started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
//! Writing `v` to port 0xf4 makes QEMU exit with status `(v << 1) | 1`; `boot`
//! maps the two codes below back to 0 and 1. On a real machine the write goes
//! nowhere and the caller halts.

use x86_64::instructions::port::Port;

/// isa-debug-exit port.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Exit codes written to isa-debug-exit (QEMU turns them into 33 and 35).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Success = 0x10,
    Failed = 0x11,
}

/// Ask QEMU to exit with a test result; halts if no QEMU is listening.
pub fn exit(code: ExitCode) -> ! {
    exit_raw(code as u32)
}

fn exit_raw(value: u32) -> ! {
    // SAFETY: port 0xf4 is only ever the isa-debug-exit device under QEMU;
    // on real hardware nothing decodes it.
    unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(value) };
    crate::halt_forever()
}
