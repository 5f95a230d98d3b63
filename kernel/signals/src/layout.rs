//! Where the signal frame goes (Linux's x86_64 `get_sigframe`):
//!
//! ```text
//!   interrupted rsp, less the 128-byte red zone, or the top of the
//!   alternate stack (SA_ONSTACK, not already on it)
//!   fpstate:  512-byte FXSAVE image, 64-byte aligned, below that
//!   frame:    rt_sigframe (pretcode, ucontext, siginfo) below fpstate,
//!             placed so that (frame + 8) % 16 == 0, as after a `call`
//! ```
//!
//! A frame for a handler on the alternate stack must fit on it, or the
//! signal cannot be delivered (the process gets SIGSEGV).

use abi::signal::SA_ONSTACK;

use crate::altstack::AltStack;

pub const RED_ZONE: u64 = 128;
pub const FPSTATE_SIZE: u64 = 512;
/// pretcode + ucontext + siginfo.
pub const FRAME_SIZE: u64 = 8 + 304 + 128;
/// The most stack one frame can take from an alternate stack's top,
/// alignment included (Linux's `get_sigframe_size`, given to programs as
/// AT_MINSIGSTKSZ): the FXSAVE image 64-byte aligned, then the frame
/// 16-byte aligned less 8.
pub const FRAME_STACK_MAX: u64 = (FPSTATE_SIZE + 63 + FRAME_SIZE + 15 + 8).next_multiple_of(16);
/// Offsets in the frame.
pub const UC_OFFSET: u64 = 8;
pub const INFO_OFFSET: u64 = 8 + 304;

/// The placement of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub fpstate: u64,
    pub frame: u64,
    /// The handler runs on the alternate stack and was not on it before.
    pub entering_alt: bool,
}

/// Place a frame for a handler with `sa_flags`, interrupting code at
/// `rsp`; `None` if it does not fit on the alternate stack.
pub fn place(rsp: u64, alt: &AltStack, sa_flags: u64) -> Option<Placement> {
    let was_on_alt = alt.contains(rsp);
    let mut sp = rsp.wrapping_sub(RED_ZONE);
    let mut entering_alt = false;
    if sa_flags & SA_ONSTACK != 0 && alt.enabled() && !was_on_alt {
        sp = alt.sp.wrapping_add(alt.size);
        entering_alt = true;
    }
    let fpstate = sp.wrapping_sub(FPSTATE_SIZE) & !63;
    let frame = (fpstate.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    let fits = frame > alt.sp && frame - alt.sp <= alt.size;
    if (entering_alt || was_on_alt) && !fits {
        return None;
    }
    Some(Placement { fpstate, frame, entering_alt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_the_stack_below_the_red_zone() {
        let p = place(0x7fff_0000, &AltStack::default(), 0).unwrap();
        assert!(!p.entering_alt);
        assert!(p.fpstate + FPSTATE_SIZE <= 0x7fff_0000 - RED_ZONE);
        assert_eq!(p.fpstate % 64, 0);
        assert!(p.frame + FRAME_SIZE <= p.fpstate);
        assert_eq!((p.frame + 8) % 16, 0, "the handler sees rsp as after a call");
        for rsp in 0x7fff_0000 - 64..0x7fff_0000 {
            let q = place(rsp, &AltStack::default(), 0).unwrap();
            assert_eq!((q.frame + 8) % 16, 0);
            assert!(q.fpstate + FPSTATE_SIZE <= rsp - RED_ZONE);
        }
    }

    #[test]
    fn onstack_moves_to_the_alternate_stack_once() {
        let alt = AltStack { sp: 0x10_0000, flags: 0, size: 0x4000 };
        let p = place(0x7fff_0000, &alt, SA_ONSTACK).unwrap();
        assert!(p.entering_alt);
        assert!(alt.contains(p.frame) && p.fpstate + FPSTATE_SIZE <= 0x10_4000);
        // A nested signal while on it stays on it, below the interrupted sp.
        let q = place(p.frame, &alt, SA_ONSTACK).unwrap();
        assert!(!q.entering_alt && q.fpstate + FPSTATE_SIZE <= p.frame - RED_ZONE && alt.contains(q.frame));
        // Without SA_ONSTACK the normal stack is used.
        assert!(!place(0x7fff_0000, &alt, 0).unwrap().entering_alt);
    }

    #[test]
    fn frame_stack_max_is_enough_and_tight() {
        for sp in 0x10_0000..0x10_0000 + 64 {
            let alt = AltStack { sp, flags: 0, size: FRAME_STACK_MAX };
            let p = place(0x7fff_0000, &alt, SA_ONSTACK).expect("a frame fits in FRAME_STACK_MAX");
            assert!(alt.contains(p.frame));
        }
        // Less than the worst case fails at the worst alignment.
        let tight = (0x10_0000..0x10_0000 + 64)
            .any(|sp| place(0x7fff_0000, &AltStack { sp, flags: 0, size: FRAME_STACK_MAX - 16 }, SA_ONSTACK).is_none());
        assert!(tight);
    }

    #[test]
    fn overflowing_the_alternate_stack_fails() {
        let alt = AltStack { sp: 0x10_0000, flags: 0, size: 0x300 };
        assert_eq!(place(0x7fff_0000, &alt, SA_ONSTACK), None);
        let roomy = AltStack { sp: 0x10_0000, flags: 0, size: 0x2000 };
        assert_eq!(place(0x10_0000 + 0x400, &roomy, SA_ONSTACK), None, "no room left below rsp");
    }
}
