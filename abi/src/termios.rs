//! The kernel's `struct termios` (include/uapi/asm-generic/termbits.h, the
//! 36 bytes TCGETS and TCSETS copy: not libc's larger `struct termios`),
//! its mode flags and the indices of its control characters.

// c_iflag
pub const INLCR: u32 = 0o100;
pub const IGNCR: u32 = 0o200;
pub const ICRNL: u32 = 0o400;
pub const IXON: u32 = 0o2000;
// c_oflag
pub const OPOST: u32 = 0o1;
pub const ONLCR: u32 = 0o4;
// c_lflag
pub const ISIG: u32 = 0o1;
pub const ICANON: u32 = 0o2;
pub const ECHO: u32 = 0o10;
pub const ECHOE: u32 = 0o20;
pub const ECHOK: u32 = 0o40;
pub const ECHONL: u32 = 0o100;
pub const NOFLSH: u32 = 0o200;
pub const TOSTOP: u32 = 0o400;
pub const ECHOCTL: u32 = 0o1000;
pub const ECHOKE: u32 = 0o4000;
pub const IEXTEN: u32 = 0o100000;
// c_cc indices
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VDISCARD: usize = 13;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;
/// Number of control characters (`NCCS`).
pub const NCCS: usize = 19;

/// The kernel's `struct termios`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

const _: () = assert!(core::mem::size_of::<Termios>() == 36);

impl Termios {
    /// Linux's defaults for a console (`stty sane`, cf. tty_std_termios):
    /// ICRNL IXON, OPOST ONLCR, B38400 CS8 CREAD, ISIG ICANON ECHO ECHOE
    /// ECHOK ECHOCTL ECHOKE IEXTEN.
    pub const fn sane() -> Termios {
        let mut cc = [0u8; NCCS];
        cc[VINTR] = 0x03;
        cc[VQUIT] = 0x1c;
        cc[VERASE] = 0x7f;
        cc[VKILL] = 0x15;
        cc[VEOF] = 0x04;
        cc[VTIME] = 0;
        cc[VMIN] = 1;
        cc[VSTART] = 0x11;
        cc[VSTOP] = 0x13;
        cc[VSUSP] = 0x1a;
        cc[VREPRINT] = 0x12;
        cc[VDISCARD] = 0x0f;
        cc[VWERASE] = 0x17;
        cc[VLNEXT] = 0x16;
        Termios {
            iflag: ICRNL | IXON,
            oflag: OPOST | ONLCR,
            cflag: 0o277,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            cc,
        }
    }

    /// Whether input is read a line at a time (ICANON).
    pub fn is_canonical(&self) -> bool {
        self.lflag & ICANON != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn layout_matches_kernel_termios() {
        assert_eq!(core::mem::size_of::<Termios>(), 36);
        assert_eq!(offset_of!(Termios, line), 16);
        assert_eq!(offset_of!(Termios, cc), 17);
    }

    /// `stty -g` on Linux's console after `stty sane`: 500:5:bf:8a3b:...
    #[test]
    fn sane_is_linux_console_default() {
        let t = Termios::sane();
        assert_eq!((t.iflag, t.oflag, t.cflag, t.lflag), (0x500, 0x5, 0xbf, 0x8a3b));
        assert!(t.is_canonical());
        assert_eq!(&t.cc[..7], &[3, 0x1c, 0x7f, 0x15, 4, 0, 1]);
    }
}
