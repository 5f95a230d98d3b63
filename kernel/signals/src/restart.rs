//! What happens to a system call that returned a restart code when a
//! signal interrupted it (the table is in abi/src/errno.rs): Linux's
//! `handle_signal` (a handler runs) and `arch_do_signal_or_restart` (none
//! does).

use abi::errno::{ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, Errno};
use abi::signal::SA_RESTART;

/// The outcome for the interrupted call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Return -EINTR.
    Eintr,
    /// Run the same call again (rip back to `syscall`, its number in rax).
    Again,
    /// Run restart_syscall(2), which goes on from the saved restart block.
    RestartBlock,
    /// Not a restart code: return it as it is.
    Keep,
}

/// `handler_flags`: the sa_flags of the handler about to run, or `None`
/// if no handler runs.
pub fn decide(code: Errno, handler_flags: Option<u64>) -> Restart {
    match (code, handler_flags) {
        (ERESTARTNOINTR, _) => Restart::Again,
        (ERESTARTSYS, Some(f)) if f & SA_RESTART != 0 => Restart::Again,
        (ERESTARTSYS | ERESTARTNOHAND | ERESTART_RESTARTBLOCK, Some(_)) => Restart::Eintr,
        (ERESTARTSYS | ERESTARTNOHAND, None) => Restart::Again,
        (ERESTART_RESTARTBLOCK, None) => Restart::RestartBlock,
        _ => Restart::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::errno::EINTR;

    #[test]
    fn linux_table() {
        let restart = Some(SA_RESTART);
        let plain = Some(0);
        assert_eq!(decide(ERESTARTSYS, restart), Restart::Again);
        assert_eq!(decide(ERESTARTSYS, plain), Restart::Eintr);
        assert_eq!(decide(ERESTARTSYS, None), Restart::Again);
        assert_eq!(decide(ERESTARTNOINTR, plain), Restart::Again);
        assert_eq!(decide(ERESTARTNOHAND, restart), Restart::Eintr);
        assert_eq!(decide(ERESTARTNOHAND, None), Restart::Again);
        assert_eq!(decide(ERESTART_RESTARTBLOCK, restart), Restart::Eintr);
        assert_eq!(decide(ERESTART_RESTARTBLOCK, None), Restart::RestartBlock);
        assert_eq!(decide(EINTR, None), Restart::Keep);
    }
}
