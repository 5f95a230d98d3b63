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
//! [`Tty`] is pure state with no locking and no I/O: the kernel's console
//! (`kernel/src/vfs/console.rs`) owns the instance, writes the echo out,
//! sleeps readers until [`Tty::has_input`] and delivers the signals
//! [`Tty::receive`] returns. This file holds the queues and the reads;
//! `input.rs` the processing of each typed byte.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod input;
#[cfg(test)]
mod tests;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use abi::termios::{Termios, VMIN, VTIME};

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
    /// The session whose controlling terminal this is, once one took it.
    pub session: Option<u32>,
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
            session: None,
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

    /// A read that must not wait (O_NONBLOCK, cf. n_tty_read): a line or
    /// end of file in canonical mode, the queued bytes in raw mode. `None`
    /// (EAGAIN) when there is nothing, except in raw mode with VMIN and
    /// VTIME both 0, where an empty read is 0 since such a read never waits.
    pub fn read_nonblock(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.termios.is_canonical() {
            self.read_canonical(buf)
        } else {
            let polls = self.termios.cc[VMIN] == 0 && self.termios.cc[VTIME] == 0;
            let n = self.read_raw(buf);
            (n > 0 || polls).then_some(n)
        }
    }

    /// Raw bytes queued.
    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }
}
