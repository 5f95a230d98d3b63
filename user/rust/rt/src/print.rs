//! `print!`, `println!`, `eprint!`, `eprintln!`: formatted output to fd 1
//! and fd 2.
//!
//! Each macro call formats into a 1 KiB buffer on the stack and issues one
//! write(2) at the end (more only if the text is longer than the buffer),
//! so lines from a parent and its children never interleave mid-line and
//! the output works before and without the heap (the panic handler uses it).

use core::fmt::{self, Write};

const BUF_LEN: usize = 1024;

/// A stack buffer that flushes to `fd` when full and when dropped.
pub struct FdWriter {
    fd: i32,
    len: usize,
    buf: [u8; BUF_LEN],
}

impl FdWriter {
    pub fn new(fd: i32) -> FdWriter {
        FdWriter { fd, len: 0, buf: [0; BUF_LEN] }
    }

    /// Write out what is buffered (errors are ignored: there is nowhere
    /// left to report them).
    pub fn flush(&mut self) {
        let _ = crate::syscall::write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for FdWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == BUF_LEN {
                self.flush();
            }
            let n = bytes.len().min(BUF_LEN - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

impl Drop for FdWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Format `args` (plus a newline if `newline`) to `fd` with one write.
#[doc(hidden)]
pub fn _print(fd: i32, args: fmt::Arguments<'_>, newline: bool) {
    let mut w = FdWriter::new(fd);
    let _ = w.write_fmt(args);
    if newline {
        let _ = w.write_str("\n");
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::_print(1, format_args!($($arg)*), false) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print::_print(1, format_args!(""), true) };
    ($($arg:tt)*) => { $crate::print::_print(1, format_args!($($arg)*), true) };
}

#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::print::_print(2, format_args!($($arg)*), false) };
}

#[macro_export]
macro_rules! eprintln {
    () => { $crate::print::_print(2, format_args!(""), true) };
    ($($arg:tt)*) => { $crate::print::_print(2, format_args!($($arg)*), true) };
}
