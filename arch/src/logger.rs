//! The kernel log: `log` records to the serial port and the framebuffer
//! console, each line stamped with the time since boot as Linux's `dmesg`
//! does (`[    1.234567] message`).
//!
//! Info lines print bare like Linux's; other levels carry a tag so that
//! warnings and errors stand out on serial, and colours on the framebuffer.

use core::fmt::{self, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};
use spin::Mutex;

use crate::{fbcon, serial, time};

struct KernelLogger;

static LOGGER: KernelLogger = KernelLogger;
/// Serialises whole records so lines from an interrupt never interleave.
static LINE_LOCK: Mutex<()> = Mutex::new(());

/// Writes to both sinks.
pub struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        serial::write_str(s);
        fbcon::write_str(s);
        Ok(())
    }
}

fn tag(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR: ",
        Level::Warn => "WARNING: ",
        Level::Info => "",
        Level::Debug => "debug: ",
        Level::Trace => "trace: ",
    }
}

impl Log for KernelLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ns = time::uptime_ns();
        x86_64::instructions::interrupts::without_interrupts(|| {
            let _guard = LINE_LOCK.lock();
            fbcon::set_level_colour(record.level());
            let _ = write!(
                ConsoleWriter,
                "[{:5}.{:06}] {}{}\n",
                ns / 1_000_000_000,
                (ns / 1000) % 1_000_000,
                tag(record.level()),
                record.args()
            );
            fbcon::set_level_colour(Level::Info);
        });
    }

    fn flush(&self) {}
}

/// Install the logger with the given maximum level.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Change the maximum level (from the kernel command line).
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// Whether a log line is being written right now (an NMI that interrupted
/// it must not log: it would wait for itself).
pub fn busy() -> bool {
    LINE_LOCK.is_locked() || crate::serial::busy()
}

/// The line lock for NMI context, which must not wait on itself: taken
/// if whoever holds it lets go within `wait_ns` and the serial port is
/// free then too; `None` if not (this CPU may be the holder). Write to
/// `serial` only while holding it (the framebuffer has its own lock).
pub fn try_lock_line(wait_ns: u64) -> Option<spin::MutexGuard<'static, ()>> {
    let end = time::uptime_ns().saturating_add(wait_ns);
    while time::uptime_ns() < end {
        if let Some(g) = LINE_LOCK.try_lock() {
            if !serial::busy() {
                return Some(g);
            }
        }
        core::hint::spin_loop();
    }
    None
}

/// Break the line lock from the panic path, where its holder may be the
/// code that panicked.
pub fn force_unlock() {
    if LINE_LOCK.is_locked() {
        // SAFETY: only called by the panic handler with interrupts off on
        // the only CPU running kernel code; the holder will not resume.
        unsafe { LINE_LOCK.force_unlock() };
    }
}

/// Parse a level name (`error`, `warn`, `info`, `debug`, `trace`, `off`) or a
/// Linux console loglevel digit (0..=8).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    Some(match s {
        // Linux's loglevel=N shows messages of priority below N (KERN_ERR
        // is 3, KERN_WARNING 4, KERN_INFO 6, KERN_DEBUG 7).
        "off" | "0" => LevelFilter::Off,
        "error" | "1" | "2" | "3" | "4" => LevelFilter::Error,
        "warn" | "5" => LevelFilter::Warn,
        "info" | "6" | "7" => LevelFilter::Info,
        "debug" | "8" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        _ => return None,
    })
}

/// `print!` to every console (serial and framebuffer), without a timestamp.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::logger::ConsoleWriter, $($arg)*);
    }};
}

/// `println!` to every console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => {{ $crate::kprint!($($arg)*); $crate::kprint!("\n"); }};
}

/// A `fmt::Write` that turns each complete line into one log record at
/// `level`, so multi-line reports (the E820 table, memblock dump) get a
/// timestamp per line like Linux's. Lines longer than the buffer are split.
pub struct LineLogger {
    level: Level,
    buf: [u8; 256],
    len: usize,
}

impl LineLogger {
    pub const fn new(level: Level) -> Self {
        LineLogger { level, buf: [0; 256], len: 0 }
    }

    fn emit(&mut self) {
        let text = core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<invalid utf-8>");
        log::log!(self.level, "{}", text);
        self.len = 0;
    }
}

impl Write for LineLogger {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if b == b'\n' {
                self.emit();
            } else {
                if self.len == self.buf.len() {
                    self.emit();
                }
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        if self.len > 0 {
            self.emit();
        }
    }
}
