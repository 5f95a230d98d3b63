//! What one typed byte does (cf. n_tty_receive_char and its helpers in
//! drivers/tty/n_tty.c): input mapping (ICRNL, IGNCR, INLCR), signal
//! characters (ISIG), canonical editing (ERASE, WERASE, KILL, LNEXT,
//! REPRINT, EOF, EOL) and the echo of it all (ECHO, ECHOE, ECHOK,
//! ECHOKE, ECHONL, ECHOCTL).

use alloc::vec::Vec;

use abi::termios::*;

use crate::{BUF_SIZE, Tty, TtySignal};

impl Tty {
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
            // n_tty's word erase: everything that is not part of a word
            // (letters, digits, `_`) goes, back to the last word, then the
            // word itself: `cd foo/bar^W` leaves `cd foo/`.
            let is_word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
            while self.edit.last().is_some_and(|&x| !is_word(x)) {
                self.erase(echo);
            }
            while self.edit.last().is_some_and(|&x| is_word(x)) {
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
}
