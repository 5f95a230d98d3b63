//! wait4(2)'s options (include/uapi/linux/wait.h).

pub const WNOHANG: u32 = 1;
pub const WUNTRACED: u32 = 2;
pub const WCONTINUED: u32 = 8;
pub const WNOTHREAD: u32 = 0x2000_0000;
pub const WALL: u32 = 0x4000_0000;
pub const WCLONE: u32 = 0x8000_0000;
/// waitid(2): which state changes to report (WSTOPPED is WUNTRACED).
pub const WSTOPPED: u32 = 2;
pub const WEXITED: u32 = 4;
/// waitid(2): leave the child waitable.
pub const WNOWAIT: u32 = 0x0100_0000;

/// waitid(2)'s `idtype`.
pub const P_ALL: u32 = 0;
pub const P_PID: u32 = 1;
pub const P_PGID: u32 = 2;
pub const P_PIDFD: u32 = 3;
