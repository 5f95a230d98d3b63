//! The line discipline against Linux's N_TTY (drivers/tty/n_tty.c, termios(3)):
//! each test types bytes into a fresh [`Tty`] with `stty sane` settings
//! (unless it changes them) and checks the exact bytes echoed and read.

use abi::termios::*;

use crate::{BUF_SIZE, Tty, TtySignal};

/// What typing `input` did: the echo and the signals, in order.
fn type_bytes(tty: &mut Tty, input: &[u8]) -> (Vec<u8>, Vec<TtySignal>) {
    let mut echo = Vec::new();
    let mut signals = Vec::new();
    for &b in input {
        signals.extend(tty.receive(b, &mut echo));
    }
    (echo, signals)
}

/// The next canonical line, as a read of a large buffer returns it.
fn read_line(tty: &mut Tty) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2 * BUF_SIZE];
    tty.read_canonical(&mut buf).map(|n| buf[..n].to_vec())
}

fn read_all_raw(tty: &mut Tty) -> Vec<u8> {
    let mut buf = [0u8; 2 * BUF_SIZE];
    let n = tty.read_raw(&mut buf);
    buf[..n].to_vec()
}

/// A tty in non-canonical mode with the given VMIN and VTIME, echo on.
fn raw_tty(vmin: u8, vtime: u8) -> Tty {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag &= !ICANON;
    t.cc[VMIN] = vmin;
    t.cc[VTIME] = vtime;
    tty.set_termios(t);
    tty
}

#[test]
fn canonical_line_is_read_only_once_complete() {
    let mut tty = Tty::new();
    let (echo, signals) = type_bytes(&mut tty, b"ls -l");
    assert_eq!(echo, b"ls -l");
    assert!(signals.is_empty());
    assert!(!tty.has_input());
    assert_eq!(read_line(&mut tty), None);
    let (echo, _) = type_bytes(&mut tty, b"\n");
    assert_eq!(echo, b"\n");
    assert_eq!(tty.readable_bytes(), 6);
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"ls -l\n"[..]));
    assert_eq!(read_line(&mut tty), None);
}

#[test]
fn canonical_read_returns_one_line_at_a_time_in_pieces() {
    let mut tty = Tty::new();
    type_bytes(&mut tty, b"abc\nde\n");
    let mut buf = [0u8; 2];
    assert_eq!(tty.read_canonical(&mut buf), Some(2));
    assert_eq!(&buf, b"ab");
    assert_eq!(tty.readable_bytes(), 5);
    assert_eq!(tty.read_canonical(&mut buf), Some(2));
    assert_eq!(&buf, b"c\n");
    // A read never crosses a line end.
    let mut big = [0u8; 16];
    assert_eq!(tty.read_canonical(&mut big), Some(3));
    assert_eq!(&big[..3], b"de\n");
}

#[test]
fn eof_ends_line_without_newline_and_alone_reads_zero() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"ab\x04\x04");
    // ^D is not echoed in canonical mode.
    assert_eq!(echo, b"ab");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"ab"[..]));
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b""[..]));
    assert_eq!(read_line(&mut tty), None);
}

#[test]
fn erase_removes_last_byte_with_backspace_space_backspace() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"cat\x7fr\n");
    assert_eq!(echo, b"cat\x08 \x08r\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"car\n"[..]));
}

#[test]
fn backspace_byte_erases_like_verase() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"ab\x08\n");
    assert_eq!(echo, b"ab\x08 \x08\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"a\n"[..]));
}

#[test]
fn erase_at_line_start_does_nothing() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"\x7f\x7fx\n");
    assert_eq!(echo, b"x\n");
    // Nor does it reach back into a finished line.
    let (echo, _) = type_bytes(&mut tty, b"\x7f");
    assert_eq!(echo, b"");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"x\n"[..]));
}

#[test]
fn erase_of_control_char_under_echoctl_wipes_both_columns() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"a\x01\x7f");
    assert_eq!(echo, b"a^A\x08 \x08\x08 \x08");
}

#[test]
fn erase_without_echoe_echoes_the_erase_char() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag &= !(ECHOE | ECHOCTL);
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"ab\x7f\n");
    assert_eq!(echo, b"ab\x7f\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"a\n"[..]));
}

#[test]
fn kill_with_echoke_erases_the_whole_line_on_screen() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"rm x\x15ls\n");
    assert_eq!(echo, b"rm x\x08 \x08\x08 \x08\x08 \x08\x08 \x08ls\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"ls\n"[..]));
}

#[test]
fn kill_without_echoke_echoes_kill_char_and_newline_under_echok() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag &= !ECHOKE;
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"rm x\x15ls\n");
    assert_eq!(echo, b"rm x^U\nls\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"ls\n"[..]));
}

#[test]
fn werase_removes_trailing_blanks_then_one_word() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"echo hi there \x17");
    let mut want = b"echo hi there ".to_vec();
    for _ in 0.."there ".len() {
        want.extend_from_slice(b"\x08 \x08");
    }
    assert_eq!(echo, want);
    let (echo, _) = type_bytes(&mut tty, b"\x17you\n");
    assert_eq!(echo, b"\x08 \x08\x08 \x08\x08 \x08you\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"echo you\n"[..]));
}

#[test]
fn werase_stops_at_punctuation_as_n_tty_does() {
    let mut tty = Tty::new();
    type_bytes(&mut tty, b"cd foo/bar\x17");
    let (_, _) = type_bytes(&mut tty, b"\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"cd foo/\n"[..]));
    // Punctuation before the cursor goes with the word behind it.
    type_bytes(&mut tty, b"a.b-- \x17\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"a.\n"[..]));
    type_bytes(&mut tty, b"x_1 \x17\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"\n"[..]));
}

#[test]
fn werase_needs_iexten() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag &= !IEXTEN;
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"a b\x17\n");
    // Without IEXTEN ^W is an ordinary byte.
    assert_eq!(echo, b"a b^W\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"a b\x17\n"[..]));
}

#[test]
fn intr_signals_echoes_and_flushes_input() {
    let mut tty = Tty::new();
    type_bytes(&mut tty, b"done\n");
    let (echo, signals) = type_bytes(&mut tty, b"sleep 9\x03");
    assert_eq!(echo, b"sleep 9^C");
    assert_eq!(signals, [TtySignal::Int]);
    // Both the finished line and the one being typed are gone.
    assert!(!tty.has_input());
    assert_eq!(tty.readable_bytes(), 0);
    type_bytes(&mut tty, b"x\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"x\n"[..]));
}

#[test]
fn quit_and_susp_signal_too() {
    let mut tty = Tty::new();
    let (echo, signals) = type_bytes(&mut tty, b"\x1c\x1a");
    assert_eq!(echo, b"^\\^Z");
    assert_eq!(signals, [TtySignal::Quit, TtySignal::Tstp]);
}

#[test]
fn noflsh_keeps_input_across_a_signal() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag |= NOFLSH;
    tty.set_termios(t);
    let (echo, signals) = type_bytes(&mut tty, b"one\ntw\x03o\n");
    assert_eq!(echo, b"one\ntw^Co\n");
    assert_eq!(signals, [TtySignal::Int]);
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"one\n"[..]));
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"two\n"[..]));
}

#[test]
fn without_isig_intr_is_an_ordinary_byte() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag &= !ISIG;
    tty.set_termios(t);
    let (echo, signals) = type_bytes(&mut tty, b"\x03\n");
    assert_eq!(echo, b"^C\n");
    assert!(signals.is_empty());
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"\x03\n"[..]));
}

#[test]
fn echoctl_shows_control_chars_as_caret_letter() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"\x01\x1b[A\t\n");
    assert_eq!(echo, b"^A^[[A\t\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"\x01\x1b[A\t\n"[..]));
}

#[test]
fn without_echoctl_control_chars_echo_as_themselves() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag &= !ECHOCTL;
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"\x01\x1b\n");
    assert_eq!(echo, b"\x01\x1b\n");
}

#[test]
fn without_echo_nothing_is_echoed_but_echonl_echoes_newline() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.lflag &= !ECHO;
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"secret\x7f\x15pw\n");
    assert_eq!(echo, b"");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"pw\n"[..]));
    t.lflag |= ECHONL;
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"pw\n");
    assert_eq!(echo, b"\n");
}

#[test]
fn icrnl_turns_return_into_newline() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"pwd\r");
    assert_eq!(echo, b"pwd\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"pwd\n"[..]));
}

#[test]
fn without_icrnl_return_is_an_ordinary_byte() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.iflag &= !ICRNL;
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"a\r\n");
    assert_eq!(echo, b"a^M\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"a\r\n"[..]));
}

#[test]
fn igncr_drops_return_and_inlcr_maps_newline_to_return() {
    let mut tty = raw_tty(1, 0);
    let mut t = tty.termios;
    t.iflag = IGNCR | INLCR;
    t.lflag &= !(ECHO | ISIG);
    tty.set_termios(t);
    type_bytes(&mut tty, b"a\rb\n");
    assert_eq!(read_all_raw(&mut tty), b"ab\r");
}

#[test]
fn lnext_takes_the_next_byte_literally() {
    let mut tty = Tty::new();
    let (echo, signals) = type_bytes(&mut tty, b"\x16\x03\x16\x7f\n");
    // LNEXT echoes "^\b", then the quoted byte overwrites the caret.
    assert_eq!(echo, b"^\x08^C^\x08^?\n");
    assert!(signals.is_empty());
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"\x03\x7f\n"[..]));
}

#[test]
fn reprint_echoes_the_line_being_typed_again() {
    let mut tty = Tty::new();
    let (echo, _) = type_bytes(&mut tty, b"ab\x12");
    assert_eq!(echo, b"ab^R\nab");
    type_bytes(&mut tty, b"\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"ab\n"[..]));
}

#[test]
fn eol_char_ends_a_line_and_stays_in_it() {
    let mut tty = Tty::new();
    let mut t = Termios::sane();
    t.cc[VEOL] = b';';
    tty.set_termios(t);
    let (echo, _) = type_bytes(&mut tty, b"a;b");
    assert_eq!(echo, b"a;b");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"a;"[..]));
    assert_eq!(read_line(&mut tty), None);
}

#[test]
fn non_canonical_bytes_are_readable_at_once_without_editing() {
    let mut tty = raw_tty(1, 0);
    let (echo, _) = type_bytes(&mut tty, b"q\x7f\x15\x04");
    assert_eq!(echo, b"q^?^U^D");
    assert!(tty.has_input());
    assert_eq!(tty.readable_bytes(), 4);
    let mut buf = [0u8; 3];
    assert_eq!(tty.read_raw(&mut buf), 3);
    assert_eq!(&buf, b"q\x7f\x15");
    assert_eq!(tty.raw_len(), 1);
    assert_eq!(read_all_raw(&mut tty), b"\x04");
    assert_eq!(tty.read_raw(&mut buf), 0);
}

#[test]
fn nonblocking_read_is_eagain_when_empty_unless_vmin_and_vtime_are_zero() {
    let mut buf = [0u8; 8];
    assert_eq!(Tty::new().read_nonblock(&mut buf), None);
    assert_eq!(raw_tty(1, 0).read_nonblock(&mut buf), None);
    assert_eq!(raw_tty(0, 5).read_nonblock(&mut buf), None);
    assert_eq!(raw_tty(0, 0).read_nonblock(&mut buf), Some(0));
    let mut tty = raw_tty(4, 0);
    type_bytes(&mut tty, b"xy");
    // VMIN is for blocking reads: a non-blocking one takes what is there.
    assert_eq!(tty.read_nonblock(&mut buf), Some(2));
    assert_eq!(&buf[..2], b"xy");
    let mut tty = Tty::new();
    type_bytes(&mut tty, b"partial");
    assert_eq!(tty.read_nonblock(&mut buf), None);
    type_bytes(&mut tty, b"\x04");
    assert_eq!(tty.read_nonblock(&mut buf), Some(7));
}

#[test]
fn switching_to_raw_keeps_unread_lines_and_the_edit_line() {
    let mut tty = Tty::new();
    type_bytes(&mut tty, b"abc\nde\nfg");
    let mut buf = [0u8; 1];
    assert_eq!(tty.read_canonical(&mut buf), Some(1));
    let mut t = Termios::sane();
    t.lflag &= !ICANON;
    tty.set_termios(t);
    assert_eq!(read_all_raw(&mut tty), b"bc\nde\nfg");
}

#[test]
fn switching_to_canonical_turns_raw_bytes_into_lines() {
    let mut tty = raw_tty(1, 0);
    type_bytes(&mut tty, b"ab\ncd");
    tty.set_termios(Termios::sane());
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"ab\n"[..]));
    assert_eq!(read_line(&mut tty), None);
    // The rest is still open for editing.
    type_bytes(&mut tty, b"\x7fe\n");
    assert_eq!(read_line(&mut tty).as_deref(), Some(&b"ce\n"[..]));
}

#[test]
fn flush_input_drops_everything_pending() {
    let mut tty = Tty::new();
    type_bytes(&mut tty, b"a\nb\x16");
    tty.flush_input();
    assert!(!tty.has_input());
    // The pending LNEXT went too: ^C signals again.
    let (_, signals) = type_bytes(&mut tty, b"\x03");
    assert_eq!(signals, [TtySignal::Int]);
}

#[test]
fn full_canonical_line_drops_bytes_but_takes_the_newline() {
    let mut tty = Tty::new();
    let typed = [b'a'; BUF_SIZE + 100];
    let (echo, _) = type_bytes(&mut tty, &typed);
    // One byte is kept free for the newline; the dropped bytes are not echoed.
    assert_eq!(echo, [b'a'; BUF_SIZE - 1]);
    let (echo, _) = type_bytes(&mut tty, b"\n");
    assert_eq!(echo, b"\n");
    let line = read_line(&mut tty).unwrap();
    assert_eq!(line.len(), BUF_SIZE);
    assert_eq!(&line[..BUF_SIZE - 1], &[b'a'; BUF_SIZE - 1][..]);
    assert_eq!(line[BUF_SIZE - 1], b'\n');
}

#[test]
fn full_raw_queue_drops_further_bytes() {
    let mut tty = raw_tty(1, 0);
    let mut t = tty.termios;
    t.lflag &= !ECHO;
    tty.set_termios(t);
    let typed: Vec<u8> = (0..BUF_SIZE + 10).map(|i| b'0' + (i % 10) as u8).collect();
    type_bytes(&mut tty, &typed);
    assert_eq!(tty.raw_len(), BUF_SIZE);
    assert_eq!(read_all_raw(&mut tty), &typed[..BUF_SIZE]);
}
