//! Default actions (signal(7)'s table) and the signal masks with special
//! rules.

use abi::signal::{
    SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGILL, SIGKILL, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU,
    SIGURG, SIGWINCH, sigmask,
};

/// Signals that can never be caught, blocked or ignored.
pub const UNBLOCKABLE: u64 = sigmask(SIGKILL) | sigmask(SIGSTOP);
/// The job-control stop signals.
pub const STOP_MASK: u64 = sigmask(SIGSTOP) | sigmask(SIGTSTP) | sigmask(SIGTTIN) | sigmask(SIGTTOU);
/// Signals a CPU exception raises: delivered before any other.
pub const SYNCHRONOUS_MASK: u64 =
    sigmask(SIGSEGV) | sigmask(SIGBUS) | sigmask(SIGILL) | sigmask(SIGTRAP) | sigmask(SIGFPE) | sigmask(SIGSYS);

/// What the default action of a signal is. Core-dumping signals
/// terminate (RLIMIT_CORE is 0: no core is written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT => DefaultAction::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        _ => DefaultAction::Terminate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::signal::{SIGALRM, SIGHUP, SIGRTMIN, SIGUSR1};

    #[test]
    fn signal7_table() {
        assert_eq!(default_action(SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(SIGWINCH), DefaultAction::Ignore);
        assert_eq!(default_action(SIGCONT), DefaultAction::Continue);
        for s in [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU] {
            assert_eq!(default_action(s), DefaultAction::Stop);
        }
        for s in [SIGHUP, SIGUSR1, SIGALRM, SIGSEGV, SIGKILL, SIGRTMIN, 64] {
            assert_eq!(default_action(s), DefaultAction::Terminate);
        }
    }

    #[test]
    fn masks() {
        assert_eq!(UNBLOCKABLE, (1 << 8) | (1 << 18));
        assert_eq!(STOP_MASK.count_ones(), 4);
        assert!(SYNCHRONOUS_MASK & sigmask(SIGSEGV) != 0 && SYNCHRONOUS_MASK & sigmask(SIGUSR1) == 0);
    }
}
