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
use crate::proc::Pid;
use crate::proc::waitqueue::WaitQueue;
use abi::signal::{SI_KERNEL, SIGTTIN, SIGTTOU, SigInfo};

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
const TIOCGSID: u32 = 0x5429;

/// The console's device number (5, 1), as `st_rdev` and stat's `tty_nr`.
const CONSOLE_RDEV: u64 = (5 << 8) | 1;

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

/// Whether a live process belongs to session `sid`.
fn session_alive(sid: Pid) -> bool {
    crate::proc::all_tasks().iter().any(|t| t.pid() != 0 && !t.is_dead() && t.inner.lock().sid == sid)
}

/// The console as the caller's controlling terminal: `Some((its group,
/// the foreground group))` if the caller's session controls it. A console
/// no live session controls is taken by the first caller's session, with
/// the caller's group in the foreground, as a session leader's first open
/// of a terminal takes it (the kernel's programs all start in session 0).
fn controlling() -> Option<(Pid, Pid)> {
    if crate::proc::current_pid() == 0 {
        return None;
    }
    let (pgid, sid) = {
        let me = crate::proc::current();
        let i = me.inner.lock();
        (i.pgid, i.sid)
    };
    let owner = TTY.lock().session;
    if owner.is_none_or(|s| s != sid && !session_alive(s)) {
        let mut tty = TTY.lock();
        tty.session = Some(sid);
        tty.fg_pgrp = Some(pgid);
    }
    let tty = TTY.lock();
    if tty.session != Some(sid) {
        return None;
    }
    let fg = match tty.fg_pgrp {
        Some(g) => g,
        None => pgid,
    };
    Some((pgid, fg))
}

/// Job control (Linux's `__tty_check_change`): a background group of the
/// controlling session that reads (SIGTTIN), or writes with TOSTOP or
/// changes the terminal (SIGTTOU), is sent the signal and the call
/// restarts once it is continued; EIO instead if the group is orphaned
/// or, for SIGTTIN, if the signal is ignored or blocked (an ignored
/// SIGTTOU lets the call go on).
fn job_check(sig: u32) -> Result<(), Errno> {
    let Some((pgid, fg)) = controlling() else { return Ok(()) };
    if pgid == fg || !crate::proc::pgrp::exists(fg) {
        return Ok(());
    }
    let refused = {
        let me = crate::proc::current();
        let i = me.inner.lock();
        i.sig.action(sig).handler == abi::signal::SIG_IGN || i.sig.blocked & abi::signal::sigmask(sig) != 0
    };
    if refused {
        return if sig == SIGTTIN { Err(EIO) } else { Ok(()) };
    }
    if crate::proc::pgrp::is_orphaned(pgid, None) {
        return Err(EIO);
    }
    crate::proc::signal::kill_pgrp(pgid, SigInfo::new(sig, SI_KERNEL));
    Err(ERESTARTSYS)
}

/// The leader of session `sid` exited (Linux's `disassociate_ctty`): if
/// the console is that session's controlling terminal, its foreground
/// group gets SIGHUP and the console belongs to no session any more.
pub fn hang_up(sid: Pid) {
    let fg = {
        let mut tty = TTY.lock();
        if tty.session != Some(sid) {
            return;
        }
        tty.session = None;
        tty.fg_pgrp.take()
    };
    if let Some(g) = fg {
        crate::proc::signal::kill_pgrp(g, SigInfo::new(abi::signal::SIGHUP, SI_KERNEL));
    }
}

/// /proc/PID/stat's `tty_nr` and `tpgid` for a process of session `sid`:
/// the console's device number and foreground group if it is that
/// session's controlling terminal, else 0 and -1.
pub fn stat_fields(sid: Pid) -> (u32, i32) {
    let tty = TTY.lock();
    match (tty.session, tty.fg_pgrp) {
        (Some(s), Some(g)) if s == sid => (CONSOLE_RDEV as u32, g as i32),
        (Some(s), None) if s == sid => (CONSOLE_RDEV as u32, -1),
        _ => (0, -1),
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
            st_rdev: CONSOLE_RDEV,
            st_blksize: 1024,
            st_dev: 5,
            ..Stat::default()
        }
    }

    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        job_check(SIGTTIN)?;
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
        job_check(SIGTTIN)?;
        crate::platform::input::poll();
        TTY.lock().read_nonblock(buf).ok_or(EAGAIN)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        if TTY.lock().termios.lflag & abi::termios::TOSTOP != 0 {
            job_check(SIGTTOU)?;
        }
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
                job_check(SIGTTOU)?;
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
                job_check(SIGTTOU)?;
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
                job_check(SIGTTOU)?;
                if arg != 1 {
                    TTY.lock().flush_input();
                }
                Ok(0)
            }
            TCXONC => job_check(SIGTTOU).map(|_| 0),
            TIOCSCTTY => {
                // A session leader takes the console as its controlling
                // terminal (stealing it needs root and arg 1, as Linux).
                let me = crate::proc::current();
                let (pgid, sid) = {
                    let i = me.inner.lock();
                    (i.pgid, i.sid)
                };
                if sid != me.pid() {
                    return Err(EPERM);
                }
                let owner = TTY.lock().session;
                let steal = arg == 1 && me.inner.lock().creds.is_root();
                if owner.is_some_and(|s| s != sid && session_alive(s)) && !steal {
                    return Err(EPERM);
                }
                let mut tty = TTY.lock();
                tty.session = Some(sid);
                tty.fg_pgrp = Some(pgid);
                Ok(0)
            }
            TIOCNOTTY => {
                if controlling().is_none() {
                    return Err(ENOTTY);
                }
                Ok(0)
            }
            FIONREAD => {
                let n = TTY.lock().readable_bytes() as i32;
                crate::usercopy::write_user(arg, &n)?;
                Ok(0)
            }
            TIOCGSID => {
                controlling().ok_or(ENOTTY)?;
                let sid = crate::proc::current().inner.lock().sid;
                crate::usercopy::write_user(arg, &(sid as i32))?;
                Ok(0)
            }
            TIOCGPGRP => {
                let (_, fg) = controlling().ok_or(ENOTTY)?;
                crate::usercopy::write_user(arg, &(fg as i32))?;
                Ok(0)
            }
            TIOCSPGRP => {
                // Linux's `tiocspgrp`: only for the controlling terminal,
                // a background caller gets SIGTTOU first, and the group
                // must exist (ESRCH) in the caller's session (EPERM).
                controlling().ok_or(ENOTTY)?;
                job_check(SIGTTOU)?;
                let g: i32 = crate::usercopy::read_user(arg)?;
                if g < 0 {
                    return Err(EINVAL);
                }
                let members = crate::proc::pgrp::members(g as Pid);
                let Some(leader) = members.first() else { return Err(ESRCH) };
                let my_sid = crate::proc::current().inner.lock().sid;
                if leader.inner.lock().sid != my_sid {
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
