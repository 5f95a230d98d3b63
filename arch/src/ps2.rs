//! The PS/2 keyboard: the 8042 controller at ports 0x60/0x64 and a decoder
//! from scancode set 1 to the bytes a terminal would send (cf. Linux's
//! drivers/input/serio/i8042.c and drivers/tty/vt/keyboard.c, in miniature).
//!
//! ```text
//!   key press -> keyboard (set 2) -> 8042 (translates to set 1) -> IRQ1
//!   -> read 0x60 -> Keyboard::feed -> bytes: 'a', 0x7f (Backspace),
//!      '\r' (Enter, like a serial terminal), ESC [ A (Up), ...
//! ```
//!
//! The decoder is pure (host-tested below); the controller code probes with
//! bounded waits, so a machine without an 8042 (many recent laptops) costs a
//! few milliseconds at boot and nothing else. US layout; Shift, Ctrl, Alt
//! (as an ESC prefix, like xterm's metaSendsEscape), Caps Lock and Num Lock;
//! no LEDs.

use x86_64::instructions::port::Port;

const DATA: u16 = 0x60;
const STATUS_CMD: u16 = 0x64;

const STATUS_OUTPUT_FULL: u8 = 1 << 0;
const STATUS_INPUT_FULL: u8 = 1 << 1;
/// The byte in the output buffer came from the second (mouse) port.
const STATUS_AUX_DATA: u8 = 1 << 5;

const CMD_READ_CONFIG: u8 = 0x20;
const CMD_WRITE_CONFIG: u8 = 0x60;
const CMD_DISABLE_PORT2: u8 = 0xa7;
const CMD_ENABLE_PORT1: u8 = 0xae;
const CMD_DISABLE_PORT1: u8 = 0xad;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_TEST_PORT1: u8 = 0xab;

const CONFIG_IRQ1: u8 = 1 << 0;
const CONFIG_IRQ12: u8 = 1 << 1;
const CONFIG_PORT1_CLOCK_OFF: u8 = 1 << 4;
const CONFIG_TRANSLATE: u8 = 1 << 6;

const KBD_ENABLE_SCANNING: u8 = 0xf4;
const KBD_ACK: u8 = 0xfa;

/// How long one controller handshake may take before the 8042 is declared
/// absent (real controllers answer in well under a millisecond).
const TIMEOUT_US: u64 = 20_000;

fn inb(port: u16) -> u8 {
    // SAFETY: reading the 8042's data or status port has no effect beyond
    // the controller's (consuming the byte in its output buffer).
    unsafe { Port::<u8>::new(port).read() }
}

fn outb(port: u16, v: u8) {
    // SAFETY: the 8042's command and data ports; only this driver uses them.
    unsafe { Port::<u8>::new(port).write(v) }
}

/// Wait until `done(status)` holds, for at most [`TIMEOUT_US`].
fn wait_status(done: impl Fn(u8) -> bool) -> bool {
    let hz = crate::time::tsc_hz().max(1_000_000);
    let end = crate::time::rdtsc() + hz / 1_000_000 * TIMEOUT_US;
    loop {
        let s = inb(STATUS_CMD);
        if done(s) {
            return true;
        }
        if crate::time::rdtsc() >= end {
            return false;
        }
        core::hint::spin_loop();
    }
}

fn write_cmd(cmd: u8) -> bool {
    wait_status(|s| s & STATUS_INPUT_FULL == 0) && {
        outb(STATUS_CMD, cmd);
        true
    }
}

fn write_data(v: u8) -> bool {
    wait_status(|s| s & STATUS_INPUT_FULL == 0) && {
        outb(DATA, v);
        true
    }
}

fn read_data() -> Option<u8> {
    wait_status(|s| s & STATUS_OUTPUT_FULL != 0).then(|| inb(DATA))
}

/// Drop whatever the controller holds (keys pressed during boot).
fn flush() {
    for _ in 0..32 {
        if inb(STATUS_CMD) & STATUS_OUTPUT_FULL == 0 {
            break;
        }
        let _ = inb(DATA);
    }
}

/// Why the keyboard was not set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ps2Error {
    /// The status port floats (reads 0xff): no 8042 on this machine.
    NoController,
    /// The controller stopped answering within the timeout.
    Timeout,
    /// The controller's self test did not return 0x55.
    SelfTestFailed(u8),
    /// The first port's interface test did not return 0.
    PortTestFailed(u8),
}

/// Probe and program the 8042 for an interrupt-driven keyboard on IRQ1
/// with set-1 translation; the mouse port stays off. Call with interrupts
/// disabled, before IRQ1 is routed. Every wait is bounded.
pub fn init() -> Result<(), Ps2Error> {
    if inb(STATUS_CMD) == 0xff {
        return Err(Ps2Error::NoController);
    }
    if !write_cmd(CMD_DISABLE_PORT1) || !write_cmd(CMD_DISABLE_PORT2) {
        return Err(Ps2Error::Timeout);
    }
    flush();
    if !write_cmd(CMD_READ_CONFIG) {
        return Err(Ps2Error::Timeout);
    }
    let config = read_data().ok_or(Ps2Error::Timeout)?;
    // Interrupts off while testing, so the answers stay in the buffer.
    let quiet = config & !(CONFIG_IRQ1 | CONFIG_IRQ12);
    if !write_cmd(CMD_WRITE_CONFIG) || !write_data(quiet) {
        return Err(Ps2Error::Timeout);
    }
    if !write_cmd(CMD_SELF_TEST) {
        return Err(Ps2Error::Timeout);
    }
    match read_data() {
        Some(0x55) => {}
        Some(v) => return Err(Ps2Error::SelfTestFailed(v)),
        None => return Err(Ps2Error::Timeout),
    }
    if !write_cmd(CMD_TEST_PORT1) {
        return Err(Ps2Error::Timeout);
    }
    match read_data() {
        Some(0) => {}
        Some(v) => return Err(Ps2Error::PortTestFailed(v)),
        None => return Err(Ps2Error::Timeout),
    }
    // The self test may have reset the configuration: write it again, with
    // the keyboard's clock and IRQ1 on and translation to set 1.
    let config = (quiet | CONFIG_IRQ1 | CONFIG_TRANSLATE) & !CONFIG_PORT1_CLOCK_OFF;
    if !write_cmd(CMD_WRITE_CONFIG) || !write_data(config) || !write_cmd(CMD_ENABLE_PORT1) {
        return Err(Ps2Error::Timeout);
    }
    // Scanning is on after a keyboard's power-on reset; ask anyway (some
    // firmware leaves it off) and take the ACK if it comes.
    if write_data(KBD_ENABLE_SCANNING) {
        if let Some(b) = read_data() {
            if b != KBD_ACK {
                log::debug!("ps2: keyboard answered {:#x} to enable-scanning", b);
            }
        }
    }
    flush();
    Ok(())
}

/// The next byte from the keyboard, if one is waiting (mouse bytes are
/// read and dropped).
pub fn read_scancode() -> Option<u8> {
    let s = inb(STATUS_CMD);
    if s & STATUS_OUTPUT_FULL == 0 {
        return None;
    }
    let b = inb(DATA);
    (s & STATUS_AUX_DATA == 0).then_some(b)
}

/// The bytes one scancode turns into (at most an escape sequence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyBytes {
    buf: [u8; 6],
    len: u8,
}

impl KeyBytes {
    fn push(&mut self, b: u8) {
        if (self.len as usize) < self.buf.len() {
            self.buf[self.len as usize] = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.push(b));
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// Scancode set 1 to ASCII, US layout: (plain, shifted); 0 for keys that
/// produce no character.
const KEYMAP: [(u8, u8); 0x3a] = {
    let mut m = [(0u8, 0u8); 0x3a];
    m[0x01] = (0x1b, 0x1b);
    let digits = *b"1234567890-=";
    let shifted = *b"!@#$%^&*()_+";
    let mut i = 0;
    while i < 12 {
        m[0x02 + i] = (digits[i], shifted[i]);
        i += 1;
    }
    m[0x0e] = (0x7f, 0x7f); // Backspace: DEL, like a Linux console
    m[0x0f] = (b'\t', b'\t');
    let row1 = *b"qwertyuiop[]";
    let row1s = *b"QWERTYUIOP{}";
    let mut i = 0;
    while i < 12 {
        m[0x10 + i] = (row1[i], row1s[i]);
        i += 1;
    }
    m[0x1c] = (b'\r', b'\r'); // Enter: CR, like a serial terminal
    let row2 = *b"asdfghjkl;'`";
    let row2s = *b"ASDFGHJKL:\"~";
    let mut i = 0;
    while i < 12 {
        m[0x1e + i] = (row2[i], row2s[i]);
        i += 1;
    }
    m[0x2b] = (b'\\', b'|');
    let row3 = *b"zxcvbnm,./";
    let row3s = *b"ZXCVBNM<>?";
    let mut i = 0;
    while i < 10 {
        m[0x2c + i] = (row3[i], row3s[i]);
        i += 1;
    }
    m[0x37] = (b'*', b'*');
    m[0x39] = (b' ', b' ');
    m
};

/// Keypad 0x47..=0x53 with Num Lock on.
const KEYPAD_DIGITS: &[u8; 13] = b"789-456+1230.";

/// Decoder state: modifiers, lock keys and a pending prefix.
#[derive(Clone, Debug, Default)]
pub struct Keyboard {
    shift_left: bool,
    shift_right: bool,
    ctrl_left: bool,
    ctrl_right: bool,
    alt_left: bool,
    alt_right: bool,
    caps_lock: bool,
    num_lock: bool,
    /// The previous byte was 0xe0.
    extended: bool,
    /// Bytes of a Pause sequence (0xe1 ...) still to skip.
    skip: u8,
}

impl Keyboard {
    /// A decoder with Num Lock on (what most firmware leaves).
    pub const fn new() -> Keyboard {
        Keyboard {
            shift_left: false,
            shift_right: false,
            ctrl_left: false,
            ctrl_right: false,
            alt_left: false,
            alt_right: false,
            caps_lock: false,
            num_lock: true,
            extended: false,
            skip: 0,
        }
    }

    fn shift(&self) -> bool {
        self.shift_left || self.shift_right
    }

    fn ctrl(&self) -> bool {
        self.ctrl_left || self.ctrl_right
    }

    fn alt(&self) -> bool {
        self.alt_left || self.alt_right
    }

    /// Take one byte from the keyboard; returns what a terminal would send.
    pub fn feed(&mut self, sc: u8) -> KeyBytes {
        let mut out = KeyBytes::default();
        if self.skip > 0 {
            self.skip -= 1;
            return out;
        }
        match sc {
            0xe0 => {
                self.extended = true;
                return out;
            }
            // Pause/Break: e1 1d 45 e1 9d c5, no release.
            0xe1 => {
                self.skip = 5;
                return out;
            }
            // Keyboard replies (error, ACK, resend, error). The self-test
            // reply 0xaa is also Left Shift's release code: taken as such.
            0x00 | 0xfa | 0xfe | 0xff => return out,
            _ => {}
        }
        let extended = core::mem::take(&mut self.extended);
        let released = sc & 0x80 != 0;
        let code = sc & 0x7f;
        // Modifiers first: they act on press and release.
        let modifier = match (extended, code) {
            (false, 0x2a) => Some(&mut self.shift_left),
            (false, 0x36) => Some(&mut self.shift_right),
            (false, 0x1d) => Some(&mut self.ctrl_left),
            (true, 0x1d) => Some(&mut self.ctrl_right),
            (false, 0x38) => Some(&mut self.alt_left),
            (true, 0x38) => Some(&mut self.alt_right),
            // The fake shifts some keyboards wrap extended keys in.
            (true, 0x2a) | (true, 0x36) => return out,
            _ => None,
        };
        if let Some(m) = modifier {
            *m = !released;
            return out;
        }
        if released {
            return out;
        }
        match (extended, code) {
            (false, 0x3a) => self.caps_lock = !self.caps_lock,
            (false, 0x45) => self.num_lock = !self.num_lock,
            (true, 0x48) => out.extend(b"\x1b[A"),
            (true, 0x50) => out.extend(b"\x1b[B"),
            (true, 0x4d) => out.extend(b"\x1b[C"),
            (true, 0x4b) => out.extend(b"\x1b[D"),
            (true, 0x47) => out.extend(b"\x1b[H"),
            (true, 0x4f) => out.extend(b"\x1b[F"),
            (true, 0x52) => out.extend(b"\x1b[2~"),
            (true, 0x53) => out.extend(b"\x1b[3~"),
            (true, 0x49) => out.extend(b"\x1b[5~"),
            (true, 0x51) => out.extend(b"\x1b[6~"),
            (true, 0x1c) => out.push(b'\r'), // keypad Enter
            (true, 0x35) => out.push(b'/'),  // keypad /
            (false, 0x3b..=0x3e) => out.extend(&[0x1b, b'O', b'P' + (code - 0x3b)]), // F1..F4
            (false, 0x47..=0x53) if self.num_lock && !self.shift() => {
                self.char_out(KEYPAD_DIGITS[(code - 0x47) as usize], &mut out)
            }
            (false, 0x47..=0x53) => {
                // Keypad as cursor keys (Num Lock off).
                let seq: &[u8] = match code {
                    0x47 => b"\x1b[H",
                    0x48 => b"\x1b[A",
                    0x49 => b"\x1b[5~",
                    0x4b => b"\x1b[D",
                    0x4d => b"\x1b[C",
                    0x4f => b"\x1b[F",
                    0x50 => b"\x1b[B",
                    0x51 => b"\x1b[6~",
                    0x52 => b"\x1b[2~",
                    0x53 => b"\x1b[3~",
                    0x4a => b"-",
                    0x4e => b"+",
                    _ => b"",
                };
                out.extend(seq);
            }
            (false, c) if (c as usize) < KEYMAP.len() => {
                let (plain, shifted) = KEYMAP[c as usize];
                if plain != 0 {
                    let letter = plain.is_ascii_lowercase();
                    let upper = self.shift() ^ (letter && self.caps_lock);
                    self.char_out(if upper { shifted } else { plain }, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    /// Emit `c` with Ctrl and Alt applied.
    fn char_out(&self, c: u8, out: &mut KeyBytes) {
        let c = if self.ctrl() {
            match c {
                b'?' => 0x7f,
                b' ' | b'2' | b'@' => 0,
                b'a'..=b'z' => c - b'a' + 1,
                0x40..=0x5f => c & 0x1f,
                _ => c,
            }
        } else {
            c
        };
        if self.alt() {
            out.push(0x1b);
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn typed(codes: &[u8]) -> Vec<u8> {
        let mut k = Keyboard::new();
        codes.iter().flat_map(|&c| k.feed(c).as_bytes().to_vec()).collect()
    }

    #[test]
    fn letters_digits_and_release_codes() {
        // h, i (press and release), space, 4, 2
        assert_eq!(typed(&[0x23, 0xa3, 0x17, 0x97, 0x39, 0xb9, 0x05, 0x85, 0x03, 0x83]), b"hi 42");
    }

    #[test]
    fn shift_caps_lock_and_their_combination() {
        // Shift-a, a, Shift-1
        assert_eq!(typed(&[0x2a, 0x1e, 0xaa, 0x1e, 0x36, 0x02, 0xb6]), b"Aa!");
        // Caps Lock on: a -> A, Shift-a -> a, 1 unaffected
        assert_eq!(typed(&[0x3a, 0xba, 0x1e, 0x2a, 0x1e, 0xaa, 0x02]), b"Aa1");
    }

    #[test]
    fn ctrl_makes_control_characters() {
        // Ctrl-C, Ctrl-A (left ctrl), Ctrl-D with right ctrl (e0 1d)
        assert_eq!(typed(&[0x1d, 0x2e, 0x1e, 0x9d, 0xe0, 0x1d, 0x20, 0xe0, 0x9d, 0x20]), &[3, 1, 4, b'd']);
    }

    #[test]
    fn enter_backspace_and_arrows_are_terminal_bytes() {
        assert_eq!(typed(&[0x1c, 0x0e]), b"\r\x7f");
        assert_eq!(typed(&[0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0x50, 0xe0, 0x4d, 0xe0, 0x4b]), b"\x1b[A\x1b[B\x1b[C\x1b[D");
        // Fake shift around an extended key changes nothing.
        assert_eq!(typed(&[0xe0, 0x2a, 0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0xaa, 0x1e]), b"\x1b[Aa");
    }

    #[test]
    fn keypad_follows_num_lock_and_pause_is_skipped() {
        assert_eq!(typed(&[0x47, 0x45, 0xc5, 0x48]), b"7\x1b[A");
        assert_eq!(typed(&[0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5, 0x1e]), b"a");
    }

    #[test]
    fn alt_prefixes_escape() {
        assert_eq!(typed(&[0x38, 0x30, 0xb8, 0x30]), b"\x1bbb");
    }
}
