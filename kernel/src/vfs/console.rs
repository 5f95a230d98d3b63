//! The console: writes go to the kernel's consoles (serial and
//! framebuffer), reads come from the serial port (and, once a keyboard
//! driver feeds it, the keyboard) through a small input queue. A read
//! blocks until a byte arrives, then returns what is queued up to the end
//! of a line.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use spin::{Mutex, Once};

use super::{Inode, OpenFile, O_RDWR, S_IFCHR, Stat};
use crate::errno::*;

const TCGETS: u32 = 0x5401;
const TIOCGWINSZ: u32 = 0x5413;
const TIOCGPGRP: u32 = 0x540f;

static INPUT: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());

/// Queue input bytes (from the serial poller or the keyboard driver).
pub fn push_input(bytes: &[u8]) {
    INPUT.lock().extend(bytes.iter().copied());
}

fn poll_serial() {
    while let Some(b) = arch::serial::try_read_byte() {
        let b = if b == b'\r' { b'\n' } else { b };
        INPUT.lock().push_back(b);
    }
}

pub struct Console;

impl Inode for Console {
    fn stat(&self) -> Stat {
        Stat { st_ino: 4, st_nlink: 1, st_mode: S_IFCHR | 0o620, st_rdev: (5 << 8) | 1, st_blksize: 1024, st_dev: 5, ..Stat::default() }
    }

    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            poll_serial();
            {
                let mut q = INPUT.lock();
                if !q.is_empty() {
                    let mut n = 0;
                    while n < buf.len() {
                        let Some(b) = q.pop_front() else { break };
                        buf[n] = b;
                        n += 1;
                        if b == b'\n' {
                            break;
                        }
                    }
                    return Ok(n);
                }
            }
            crate::proc::sched::sleep_ticks(1);
        }
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let text = alloc::string::String::from_utf8_lossy(buf);
        arch::serial::write_str(&text);
        arch::fbcon::write_str(&text);
        Ok(buf.len())
    }

    fn writable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        false
    }

    fn ioctl(&self, cmd: u32, arg: u64) -> Result<u64, Errno> {
        match cmd {
            TIOCGWINSZ => {
                let (cols, rows) = arch::fbcon::with_console(|c| c.grid()).unwrap_or((80, 25));
                let ws: [u16; 4] = [rows as u16, cols as u16, 0, 0];
                crate::usercopy::write_user(arg, &ws)?;
                Ok(0)
            }
            TCGETS => {
                // A cooked terminal: c_iflag ICRNL, c_oflag OPOST|ONLCR,
                // c_cflag B38400|CS8|CREAD, c_lflag ISIG|ICANON|ECHO...
                let mut t = [0u8; 60];
                t[0..4].copy_from_slice(&0o400u32.to_le_bytes());
                t[4..8].copy_from_slice(&0o5u32.to_le_bytes());
                t[8..12].copy_from_slice(&0o277u32.to_le_bytes());
                t[12..16].copy_from_slice(&0o105073u32.to_le_bytes());
                crate::usercopy::copy_to_user(arg, &t)?;
                Ok(0)
            }
            TIOCGPGRP => {
                crate::usercopy::write_user(arg, &(crate::proc::current_pid() as i32))?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}

static CONSOLE: Once<Arc<dyn Inode>> = Once::new();

pub fn inode() -> Arc<dyn Inode> {
    CONSOLE.call_once(|| Arc::new(Console)).clone()
}

/// An open console for a new process's fds 0, 1 and 2.
pub fn open() -> Arc<OpenFile> {
    OpenFile::new(inode(), O_RDWR, "/dev/console")
}
