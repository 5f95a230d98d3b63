//! What a QEMU exit status means.
//!
//! The kernel leaves QEMU through isa-debug-exit: writing `v` to port 0xf4
//! makes QEMU exit with `(v << 1) | 1`. The kernel writes 0x10 for success and
//! 0x11 for failure (see `arch::qemu`), so QEMU exits 33 or 35. A plain 0 means
//! the guest reset or powered off without reporting (with `-no-reboot` a
//! triple fault looks like this), anything else is QEMU's own error.

/// QEMU's exit status for the kernel's success code 0x10.
pub const QEMU_EXIT_SUCCESS: i32 = (0x10 << 1) | 1;
/// QEMU's exit status for the kernel's failure code 0x11.
pub const QEMU_EXIT_FAILED: i32 = (0x11 << 1) | 1;

/// How a QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel reported success.
    Success,
    /// The kernel reported failure.
    Failure,
    /// The guest reset or shut down without reporting (e.g. triple fault).
    Reset,
    /// QEMU exited with a status of its own (bad arguments, missing file).
    QemuError(i32),
    /// QEMU was killed by a signal.
    Killed,
    /// The run exceeded its time limit and was killed.
    Timeout,
}

impl Outcome {
    /// Classify an exit status (`None` when killed by a signal).
    pub fn from_status(status: Option<i32>, timed_out: bool) -> Outcome {
        if timed_out {
            return Outcome::Timeout;
        }
        match status {
            Some(QEMU_EXIT_SUCCESS) => Outcome::Success,
            Some(QEMU_EXIT_FAILED) => Outcome::Failure,
            Some(0) => Outcome::Reset,
            Some(code) => Outcome::QemuError(code),
            None => Outcome::Killed,
        }
    }

    /// The exit status `boot` itself returns for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Reset => 2,
            Outcome::QemuError(_) | Outcome::Killed => 3,
            Outcome::Timeout => 124,
        }
    }

    pub fn is_success(self) -> bool {
        self == Outcome::Success
    }

    pub fn describe(self) -> String {
        match self {
            Outcome::Success => "kernel reported success".into(),
            Outcome::Failure => "kernel reported failure".into(),
            Outcome::Reset => "guest reset without reporting (triple fault?)".into(),
            Outcome::QemuError(c) => format!("QEMU failed with status {c}"),
            Outcome::Killed => "QEMU was killed by a signal".into(),
            Outcome::Timeout => "timed out".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_exit_codes_map_to_success_and_failure() {
        assert_eq!(Outcome::from_status(Some(33), false), Outcome::Success);
        assert_eq!(Outcome::from_status(Some(35), false), Outcome::Failure);
        assert_eq!(Outcome::from_status(Some(33), false).exit_code(), 0);
        assert_ne!(Outcome::from_status(Some(35), false).exit_code(), 0);
    }

    #[test]
    fn reset_qemu_errors_and_timeouts_are_failures() {
        for o in [
            Outcome::from_status(Some(0), false),
            Outcome::from_status(Some(1), false),
            Outcome::from_status(None, false),
            Outcome::from_status(Some(33), true),
        ] {
            assert!(!o.is_success(), "{o:?}");
            assert_ne!(o.exit_code(), 0, "{o:?}");
        }
        assert_eq!(Outcome::from_status(Some(33), true), Outcome::Timeout);
    }
}
