//! COM1 serial console (16550 UART at I/O port 0x3f8).
//!
//! The serial port is the primary log and test channel: `boot` reads it from
//! QEMU's stdio. A real machine may have no UART at all, so initialisation
//! failure is remembered and every later write becomes a no-op.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};

const COM1_PORT: u16 = 0x3f8;

static COM1: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);
static PRESENT: AtomicBool = AtomicBool::new(false);

/// Probe and program COM1 (115200 8N1). Returns whether a UART answered.
pub fn init() -> bool {
    // SAFETY: 0x3f8..0x3ff is the standard COM1 register block on PCs, and
    // nothing else in the kernel drives those ports.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1_PORT) }) else {
        return false;
    };
    if uart.init(Config::default()).is_err() {
        return false;
    }
    *COM1.lock() = Some(uart);
    PRESENT.store(true, Ordering::Release);
    true
}

/// Whether a UART was found at boot.
pub fn is_present() -> bool {
    PRESENT.load(Ordering::Acquire)
}

fn send(uart: &mut Uart16550<PioBackend>, s: &str) {
    for b in s.bytes() {
        if b == b'\n' {
            uart.send_bytes_exact(b"\r");
        }
        uart.send_bytes_exact(&[b]);
    }
}

/// Write a string, translating `\n` to `\r\n`. Interrupts are held off while
/// the port is locked so that a handler that logs cannot deadlock on it.
pub fn write_str(s: &str) {
    if !is_present() {
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(uart) = COM1.lock().as_mut() {
            send(uart, s);
        }
    });
}

/// Whether someone holds the port (for NMI context, which must not wait).
pub fn busy() -> bool {
    COM1.is_locked()
}

/// Read one byte if the UART has one waiting.
pub fn try_read_byte() -> Option<u8> {
    if !is_present() {
        return None;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        COM1.lock().as_mut().and_then(|uart| uart.try_receive_byte().ok())
    })
}

/// Let COM1 raise IRQ4 when a byte arrives (OUT2, the line to the
/// interrupt controller, is already on after `init`). Returns whether a
/// UART is there to ask.
pub fn enable_rx_interrupt() -> bool {
    if !is_present() {
        return false;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        COM1.lock().as_mut().map(|uart| uart.enable_interrupts(uart_16550::spec::registers::IER::DATA_READY)).is_some()
    })
}

/// `core::fmt::Write` adapter over the serial port.
pub struct SerialWriter;

impl fmt::Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_str(s);
        Ok(())
    }
}

/// `print!` to serial only, for code that runs before the logger exists.
#[macro_export]
macro_rules! serial_print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::serial::SerialWriter, $($arg)*);
    }};
}

/// `println!` to serial only.
#[macro_export]
macro_rules! serial_println {
    () => { $crate::serial_print!("\n") };
    ($($arg:tt)*) => {{ $crate::serial_print!($($arg)*); $crate::serial_print!("\n"); }};
}
