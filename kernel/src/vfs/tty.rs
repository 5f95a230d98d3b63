//! The console's line discipline: termios and what it does to input bytes
//! (cf. drivers/tty/n_tty.c, for one terminal).
//!
//! ```text
//!   keyboard / serial bytes --receive()--> iflag (ICRNL, IGNCR, INLCR)
//!     ISIG:   ^C ^\ ^Z  -> signal to the foreground process group, flush
//!     ICANON: edit line (ERASE ^?, KILL ^U, WERASE ^W, LNEXT ^V, REPRINT ^R)
//!             '\n' or EOL ends a line, ^D ends it without a newline
//!             (on an empty line: end of file)  -> lines -> read()
//!     raw:    bytes -> raw queue -> read() (VMIN / VTIME)
//!     ECHO:   what was typed goes back out (control characters as ^X with
//!             ECHOCTL, erase as "\b \b" with ECHOE)
//! ```
//!
//! [`Tty`] is pure state; `console.rs` owns the instance, does the output
//! and the sleeping, and delivers the signals.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use abi::termios::*;

/// Most bytes held for reading (Linux's N_TTY_BUF_SIZE); more are dropped.
pub const BUF_SIZE: usize = 4096;

/// A signal the input asked for (ISIG).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtySignal {
    Int,
    Quit,
    Tstp,
}

/// Line discipline state.
pub struct Tty {
    pub termios: Termios,
    /// Canonical mode: the line being typed.
    edit: Vec<u8>,
    /// Canonical mode: finished lines; an empty one is an end of file.
    lines: VecDeque<Vec<u8>>,
    /// Bytes of the front line already read.
    line_pos: usize,
    /// Non-canonical mode: the bytes as they came.
    raw: VecDeque<u8>,
    /// The previous byte was LNEXT (^V): take this one literally.
    literal_next: bool,
    /// Foreground process group (TIOCSPGRP), once known.
    pub fg_pgrp: Option<u32>,
    /// TIOCSWINSZ's value, if any was set.
    pub winsize: Option<[u16; 4]>,
}

impl Default for Tty {
    fn default() -> Self {
        Self::new()
    }
}

impl Tty {
    pub const fn new() -> Tty {
        Tty {
            termios: Termios::sane(),
            edit: Vec::new(),
            lines: VecDeque::new(),
            line_pos: 0,
            raw: VecDeque::new(),
            literal_next: false,
            fg_pgrp: None,
            winsize: None,
        }
    }

    fn held(&self) -> usize {
        self.edit.len() + self.raw.len() + self.lines.iter().map(Vec::len).sum::<usize>()
    }

    /// Bytes a read could return now (FIONREAD).
    pub fn readable_bytes(&self) -> usize {
        if self.termios.is_canonical() {
            self.lines.iter().map(Vec::len).sum::<usize>() - self.line_pos
        } else {
            self.raw.len()
        }
    }

    /// Whether a read would return at once (data, or an end of file).
    pub fn has_input(&self) -> bool {
        if self.termios.is_canonical() { !self.lines.is_empty() } else { !self.raw.is_empty() }
    }

    /// Drop all pending input (TCSETSF, TCFLSH, a signal character).
    pub fn flush_input(&mut self) {
        self.edit.clear();
        self.lines.clear();
        self.line_pos = 0;
        self.raw.clear();
        self.literal_next = false;
    }

    /// Install new settings (TCSETS). Switching between canonical and raw
    /// mode keeps what was typed: a raw reader gets the pending lines and
    /// the line being edited as bytes; a canonical reader gets the raw bytes
    /// as lines (the last one still open for editing).
    pub fn set_termios(&mut self, t: Termios) {
        let was_canonical = self.termios.is_canonical();
        self.termios = t;
        match (was_canonical, t.is_canonical()) {
            (true, false) => {
                let pos = core::mem::take(&mut self.line_pos);
                for (i, l) in core::mem::take(&mut self.lines).into_iter().enumerate() {
                    self.raw.extend(l.iter().skip(if i == 0 { pos } else { 0 }));
                }
                self.raw.extend(self.edit.drain(..));
            }
            (false, true) => {
                for b in core::mem::take(&mut self.raw) {
                    self.edit.push(b);
                    if b == b'\n' {
                        self.lines.push_back(core::mem::take(&mut self.edit));
                    }
                }
            }
            _ => {}
        }
    }

    /// Take one input byte. Echo goes to `echo`; a signal character is
    /// returned for the caller to deliver.
    pub fn receive(&mut self, b: u8, echo: &mut Vec<u8>) -> Option<TtySignal> {
        let t = self.termios;
        let mut c = b;
        if core::mem::take(&mut self.literal_next) {
            self.insert(c, echo);
            return None;
        }
        if c == b'\r' {
            if t.iflag & IGNCR != 0 {
                return None;
            }
            if t.iflag & ICRNL != 0 {
                c = b'\n';
            }
        } else if c == b'\n' && t.iflag & INLCR != 0 {
            c = b'\r';
        }
        if t.lflag & ISIG != 0 && c != 0 {
            let sig = if c == t.cc[VINTR] {
                Some(TtySignal::Int)
            } else if c == t.cc[VQUIT] {
                Some(TtySignal::Quit)
            } else if c == t.cc[VSUSP] {
                Some(TtySignal::Tstp)
            } else {
                None
            };
            if let Some(s) = sig {
                if t.lflag & NOFLSH == 0 {
                    self.flush_input();
                }
                self.echo_char(c, echo);
                return Some(s);
            }
        }
        if !t.is_canonical() {
            if self.raw.len() < BUF_SIZE {
                self.raw.push_back(c);
                self.echo_char(c, echo);
            }
            return None;
        }
        let special = |i: usize| t.cc[i] != 0 && c == t.cc[i];
        if special(VERASE) || c == 0x08 {
            self.erase(echo);
        } else if special(VWERASE) && t.lflag & IEXTEN != 0 {
            while self.edit.last().is_some_and(|&x| x == b' ' || x == b'\t') {
                self.erase(echo);
            }
            while self.edit.last().is_some_and(|&x| x != b' ' && x != b'\t') {
                self.erase(echo);
            }
        } else if special(VKILL) {
            if t.lflag & ECHOKE != 0 {
                while !self.edit.is_empty() {
                    self.erase(echo);
                }
            } else {
                self.edit.clear();
                self.echo_char(c, echo);
                if t.lflag & ECHOK != 0 && t.lflag & ECHO != 0 {
                    echo.push(b'\n');
                }
            }
        } else if special(VLNEXT) && t.lflag & IEXTEN != 0 {
            self.literal_next = true;
            if t.lflag & ECHO != 0 && t.lflag & ECHOCTL != 0 {
                echo.extend_from_slice(b"^\x08");
            }
        } else if special(VREPRINT) && t.lflag & IEXTEN != 0 {
            if t.lflag & ECHO != 0 {
                self.echo_char(c, echo);
                echo.push(b'\n');
                let line = self.edit.clone();
                line.iter().for_each(|&x| self.echo_char(x, echo));
            }
        } else if special(VEOF) {
            // The line ends here without the ^D; alone, it is end of file.
            self.lines.push_back(core::mem::take(&mut self.edit));
        } else if c == b'\n' || special(VEOL) || special(VEOL2) {
            if self.held() < BUF_SIZE || c == b'\n' {
                self.edit.push(c);
            }
            if t.lflag & (ECHO | ECHONL) != 0 && c == b'\n' {
                echo.push(b'\n');
            } else {
                self.echo_char(c, echo);
            }
            self.lines.push_back(core::mem::take(&mut self.edit));
        } else {
            self.insert(c, echo);
        }
        None
    }

    /// Add an ordinary byte to the input.
    fn insert(&mut self, c: u8, echo: &mut Vec<u8>) {
        // Keep room for the newline that ends the line.
        if self.held() + 1 >= BUF_SIZE {
            return;
        }
        if self.termios.is_canonical() {
            self.edit.push(c);
        } else {
            self.raw.push_back(c);
        }
        self.echo_char(c, echo);
    }

    /// Echo a byte as typed: control characters as ^X under ECHOCTL.
    fn echo_char(&self, c: u8, echo: &mut Vec<u8>) {
        let l = self.termios.lflag;
        if l & ECHO == 0 {
            return;
        }
        if (c < 0x20 || c == 0x7f) && c != b'\n' && c != b'\t' && l & ECHOCTL != 0 {
            echo.push(b'^');
            echo.push(c ^ 0x40);
        } else {
            echo.push(c);
        }
    }

    /// Remove the last byte of the line being edited, on screen too.
    fn erase(&mut self, echo: &mut Vec<u8>) {
        let Some(c) = self.edit.pop() else { return };
        let l = self.termios.lflag;
        if l & ECHO == 0 {
            return;
        }
        if l & ECHOE == 0 {
            self.echo_char(self.termios.cc[VERASE], echo);
            return;
        }
        let width = if (c < 0x20 || c == 0x7f) && c != b'\t' && l & ECHOCTL != 0 { 2 } else { 1 };
        for _ in 0..width {
            echo.extend_from_slice(b"\x08 \x08");
        }
    }

    /// Canonical read: up to one line. `None` when no line is complete;
    /// `Some(0)` at end of file.
    pub fn read_canonical(&mut self, buf: &mut [u8]) -> Option<usize> {
        let line = self.lines.front()?;
        let rest = &line[self.line_pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.line_pos += n;
        if self.line_pos >= line.len() {
            self.lines.pop_front();
            self.line_pos = 0;
        }
        Some(n)
    }

    /// Raw read: whatever is queued, up to `buf.len()` (0 if nothing).
    pub fn read_raw(&mut self, buf: &mut [u8]) -> usize {
        let n = self.raw.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(self.raw.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// Raw bytes queued.
    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }
}
