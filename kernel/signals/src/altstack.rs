//! sigaltstack(2)'s alternate signal stack and its rules (Linux's
//! `do_sigaltstack`, `on_sig_stack`, `sas_ss_flags`).

use abi::errno::{EINVAL, ENOMEM, EPERM, Errno};
use abi::signal::{MINSIGSTKSZ, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, StackT};

/// Where handlers with SA_ONSTACK run. `flags` keeps only SS_AUTODISARM;
/// a size of 0 is SS_DISABLE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub flags: u32,
    pub size: u64,
}

impl AltStack {
    pub fn enabled(&self) -> bool {
        self.size != 0
    }

    /// Whether `sp` lies on it (an SS_AUTODISARM stack never counts: it is
    /// disarmed while a handler runs on it).
    pub fn contains(&self, sp: u64) -> bool {
        self.flags & SS_AUTODISARM == 0 && self.size != 0 && sp > self.sp && sp - self.sp <= self.size
    }

    /// `stack_t` as sigaltstack(2) and `uc_stack` report it to code
    /// running at `sp`.
    pub fn to_user(&self, sp: u64) -> StackT {
        let mode = if self.size == 0 {
            SS_DISABLE
        } else if self.contains(sp) {
            SS_ONSTACK
        } else {
            0
        };
        StackT { sp: self.sp, flags: mode | self.flags, _pad: 0, size: self.size }
    }

    /// The stack sigaltstack(2) sets from `new`, for code running at `sp`:
    /// EPERM while on the current one, EINVAL for unknown flags, ENOMEM
    /// below MINSIGSTKSZ.
    pub fn change(&self, new: &StackT, sp: u64) -> Result<AltStack, Errno> {
        if self.contains(sp) {
            return Err(EPERM);
        }
        let mode = new.flags & !SS_AUTODISARM;
        if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
            return Err(EINVAL);
        }
        if mode == SS_DISABLE {
            return Ok(AltStack::default());
        }
        if new.size < MINSIGSTKSZ {
            return Err(ENOMEM);
        }
        Ok(AltStack { sp: new.sp, flags: new.flags & SS_AUTODISARM, size: new.size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(sp: u64, flags: u32, size: u64) -> StackT {
        StackT { sp, flags, _pad: 0, size }
    }

    #[test]
    fn set_report_and_disable() {
        let none = AltStack::default();
        assert_eq!(none.to_user(0x7000).flags, SS_DISABLE);
        let a = none.change(&st(0x1000, 0, 0x2000), 0x7000).unwrap();
        assert_eq!(a.to_user(0x7000), st(0x1000, 0, 0x2000));
        assert_eq!(a.to_user(0x2000).flags, SS_ONSTACK);
        assert_eq!(a.to_user(0x3000).flags, SS_ONSTACK, "the top itself is on the stack");
        assert_eq!(a.to_user(0x1000).flags, 0, "the base is not");
        assert_eq!(a.change(&st(0, SS_DISABLE, 0), 0x7000), Ok(AltStack::default()));
    }

    #[test]
    fn errors() {
        let a = AltStack { sp: 0x1000, flags: 0, size: 0x2000 };
        assert_eq!(a.change(&st(0x9000, 0, 0x2000), 0x2000), Err(EPERM));
        assert_eq!(a.change(&st(0x9000, 4, 0x2000), 0x7000), Err(EINVAL));
        assert_eq!(a.change(&st(0x9000, 0, MINSIGSTKSZ - 1), 0x7000), Err(ENOMEM));
        assert!(a.change(&st(0x9000, SS_ONSTACK, MINSIGSTKSZ), 0x7000).is_ok(), "SS_ONSTACK is accepted as 0");
    }

    #[test]
    fn autodisarm() {
        let a = AltStack::default().change(&st(0x1000, SS_AUTODISARM, 0x2000), 0x7000).unwrap();
        assert_eq!(a.flags, SS_AUTODISARM);
        assert!(!a.contains(0x2000));
        assert_eq!(a.to_user(0x2000).flags, SS_AUTODISARM);
    }
}
