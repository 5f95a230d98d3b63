//! The console, `/dev/console` and `/dev/tty`: writes go to the kernel's
//! consoles (serial and framebuffer); input comes from the PS/2 keyboard
//! and COM1 (`platform::input`, by interrupt) through the line discipline of
//! the `tty` crate, which also holds the termios that TCGETS / TCSETS read and
//! change.
//!
//! ```text
//!   IRQ1 / IRQ4 -> input -> push_input -> Tty::receive -> echo, signals
//!                                            | wake READERS
//!   read(0) -> sleep on READERS until Tty has a line (ICANON) or bytes (raw)
//!   poll    -> hook on READERS; POLLIN as n_tty_poll: a line, or VMIN bytes
//!              (raw, VTIME 0), else one byte; output never waits: POLLOUT
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::fcntl::O_RDWR;
use abi::poll::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use abi::stat::{S_IFCHR, Stat};
use abi::termios::{Termios, VMIN, VTIME};
use mm::sync::IrqLock;
use spin::Once;
use tty::{Tty, TtySignal};

use super::{Inode, OpenFile, PollTable};
use crate::proc::waitqueue::WaitQueue;

const TCGETS: u32 = 0x5401;
const TCSETS: u32 = 0x5402;
const TCSETSW: u32 = 0x5403;
const TCSETSF: u32 = 0x5404;
const TCXONC: u32 = 0x540a;
const TCFLSH: u32 = 0x540b;
const TIOCSCTTY: u32 = 0x540e;
const TIOCGPGRP: u32 = 0x540f;
const TIOCSPGRP: u32 = 0x5410;
const TIOCGWINSZ: u32 = 0x5413;
const TIOCSWINSZ: u32 = 0x5414;
const FIONREAD: u32 = 0x541b;
const TIOCNOTTY: u32 = 0x5422;

static TTY: IrqLock<Tty> = IrqLock::new(Tty::new());
static READERS: WaitQueue = WaitQueue::new();

/// Write to every console (serial and framebuffer).
fn output(bytes: &[u8]) {
    let text = alloc::string::String::from_utf8_lossy(bytes);
    arch::serial::write_str(&text);
    arch::fbcon::write_str(&text);
}

/// Feed input bytes (keyboard, serial) through the line discipline: echo,
/// signal characters, then wake readers. Safe in interrupt handlers.
pub fn push_input(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let mut echo = Vec::new();
    let mut signals = Vec::new();
    let fg = {
        let mut tty = TTY.lock();
        for &b in bytes {
            if let Some(s) = tty.receive(b, &mut echo) {
                signals.push(s);
            }
        }
        tty.fg_pgrp
    };
    if !echo.is_empty() {
        output(&echo);
    }
    if let Some(pgrp) = fg {
        for s in signals {
            let sig = match s {
                TtySignal::Int => abi::signal::SIGINT,
                TtySignal::Quit => abi::signal::SIGQUIT,
                TtySignal::Tstp => abi::signal::SIGTSTP,
            };
            crate::proc::signal::send_to_group_from_irq(pgrp, sig);
        }
    }
    READERS.wake_all();
}

/// Make the caller's process group the console's foreground group if
/// there is none, or none of its processes is left: the first reader
/// acquires the terminal, as a session leader opening its controlling tty
/// would; TIOCSPGRP moves it explicitly.
fn adopt_caller_group() {
    if crate::proc::current_pid() == 0 {
        return;
    }
    let fg = TTY.lock().fg_pgrp;
    let alive = fg.is_some_and(|g| {
        crate::proc::all_tasks()
            .iter()
            .any(|t| t.pid != 0 && t.state() != crate::proc::ZOMBIE && t.inner.lock().pgid == g)
    });
    if !alive {
        let mine = crate::proc::current().inner.lock().pgid;
        TTY.lock().fg_pgrp = Some(mine);
    }
}

/// A bound for one sleep when nothing interrupts on input: poll each tick.
fn poll_deadline() -> Option<u64> {
    (!crate::platform::input::is_interrupt_driven()).then(|| crate::proc::sched::ticks() + 1)
}

fn read_canonical(buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // Some(Some(n)): a line (or end of file); Some(None): someone
        // switched the terminal to raw mode meanwhile.
        let got = READERS.wait_until(poll_deadline(), || {
            crate::platform::input::poll();
            let mut tty = TTY.lock();
            if !tty.termios.is_canonical() {
                return Some(None);
            }
            tty.read_canonical(buf).map(Some)
        })?;
        match got {
            Some(Some(n)) => return Ok(n),
            Some(None) => return read_raw(buf),
            None => {}
        }
    }
}

/// Non-canonical read, with VMIN and VTIME as termios(3) describes them.
fn read_raw(buf: &mut [u8]) -> Result<usize, Errno> {
    let (vmin, vtime) = {
        let t = TTY.lock().termios;
        (t.cc[VMIN] as usize, t.cc[VTIME] as u64)
    };
    let want = vmin.min(buf.len());
    let timer = vtime * crate::proc::sched::HZ / 10;
    let ready = |n: usize| {
        move || {
            crate::platform::input::poll();
            (TTY.lock().raw_len() >= n).then_some(())
        }
    };
    if want == 0 {
        // VMIN 0: a poll, or a wait of at most VTIME for any byte.
        if timer > 0 {
            let deadline = crate::proc::sched::ticks() + timer;
            READERS.wait_until(Some(deadline), ready(1))?;
        }
        crate::platform::input::poll();
        return Ok(TTY.lock().read_raw(buf));
    }
    loop {
        // Block for the first byte; then VTIME (if set) bounds the wait
        // for the rest of VMIN.
        while READERS.wait_until(poll_deadline(), ready(1))?.is_none() {}
        if want > 1 {
            let deadline = (timer > 0).then(|| crate::proc::sched::ticks() + timer);
            loop {
                let step = match (deadline, poll_deadline()) {
                    (Some(d), Some(p)) => Some(d.min(p)),
                    (d, p) => d.or(p),
                };
                if READERS.wait_until(step, ready(want))?.is_some()
                    || deadline.is_some_and(|d| crate::proc::sched::ticks() >= d)
                {
                    break;
                }
            }
        }
        // Another reader may have taken the bytes meanwhile: wait again
        // rather than return 0, which would read as end of file.
        let n = TTY.lock().read_raw(buf);
        if n > 0 {
            return Ok(n);
        }
    }
}

pub struct Console;

impl Inode for Console {
    fn stat(&self) -> Stat {
        Stat {
            st_ino: 4,
            st_nlink: 1,
            st_mode: S_IFCHR | 0o620,
            st_rdev: (5 << 8) | 1,
            st_blksize: 1024,
            st_dev: 5,
            ..Stat::default()
        }
    }

    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        adopt_caller_group();
        let canonical = TTY.lock().termios.is_canonical();
        if canonical { read_canonical(buf) } else { read_raw(buf) }
    }

    /// O_NONBLOCK (n_tty_read): what is there now, else EAGAIN; in raw
    /// mode with VMIN and VTIME both 0 an empty read is 0, as it never
    /// waits.
    fn read_nonblock(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        adopt_caller_group();
        crate::platform::input::poll();
        TTY.lock().read_nonblock(buf).ok_or(EAGAIN)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        output(buf);
        Ok(buf.len())
    }

    fn poll(&self, pt: &PollTable) -> Option<u32> {
        pt.wait(&READERS);
        crate::platform::input::poll();
        let tty = TTY.lock();
        let t = tty.termios;
        let readable = if t.is_canonical() {
            tty.has_input()
        } else {
            // input_available_p: VMIN bytes when no VTIME is set, else one.
            let need = if t.cc[VTIME] == 0 && t.cc[VMIN] > 0 { t.cc[VMIN] as usize } else { 1 };
            tty.raw_len() >= need
        };
        Some(POLLOUT | POLLWRNORM | if readable { POLLIN | POLLRDNORM } else { 0 })
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
                let ws = TTY.lock().winsize.unwrap_or_else(|| {
                    let (cols, rows) = arch::fbcon::with_console(|c| c.grid()).unwrap_or((80, 24));
                    [rows as u16, cols as u16, 0, 0]
                });
                crate::usercopy::write_user(arg, &ws)?;
                Ok(0)
            }
            TIOCSWINSZ => {
                let ws: [u16; 4] = crate::usercopy::read_user(arg)?;
                TTY.lock().winsize = Some(ws);
                Ok(0)
            }
            TCGETS => {
                let t = TTY.lock().termios;
                crate::usercopy::write_user(arg, &t)?;
                Ok(0)
            }
            TCSETS | TCSETSW | TCSETSF => {
                let t: Termios = crate::usercopy::read_user(arg)?;
                adopt_caller_group();
                {
                    let mut tty = TTY.lock();
                    if cmd == TCSETSF {
                        tty.flush_input();
                    }
                    tty.set_termios(t);
                }
                READERS.wake_all();
                Ok(0)
            }
            TCFLSH => {
                if arg > 2 {
                    return Err(EINVAL);
                }
                if arg != 1 {
                    TTY.lock().flush_input();
                }
                Ok(0)
            }
            TCXONC | TIOCSCTTY | TIOCNOTTY => Ok(0),
            FIONREAD => {
                let n = TTY.lock().readable_bytes() as i32;
                crate::usercopy::write_user(arg, &n)?;
                Ok(0)
            }
            TIOCGPGRP => {
                adopt_caller_group();
                let g = TTY.lock().fg_pgrp;
                let g = g.unwrap_or_else(crate::proc::current_pid);
                crate::usercopy::write_user(arg, &(g as i32))?;
                Ok(0)
            }
            TIOCSPGRP => {
                let g: i32 = crate::usercopy::read_user(arg)?;
                if g < 0 {
                    return Err(EINVAL);
                }
                let exists = crate::proc::all_tasks().iter().any(|t| t.pid != 0 && t.inner.lock().pgid == g as u32);
                if !exists {
                    return Err(EPERM);
                }
                TTY.lock().fg_pgrp = Some(g as u32);
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
