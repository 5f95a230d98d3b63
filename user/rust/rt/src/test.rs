//! The user-level test protocol, shared with the C programs (user/c/check.h).
//!
//! One line per case and a summary line, which the kernel's harness and the
//! host runner parse:
//!
//! ```text
//! test PROGRAM::CASE ... ok
//! test PROGRAM::CASE ... ok (skipped: REASON)
//! test PROGRAM::CASE ... FAILED (REASON)
//! PROGRAM: N passed, M failed
//! ```
//!
//! The program exits with status 0 iff M == 0 ([`Suite::finish`]).

use core::fmt;

/// Counts and prints the cases of one test program.
pub struct Suite {
    prog: &'static str,
    passed: u32,
    failed: u32,
}

impl Suite {
    /// `prog` is one word (no spaces): the name printed before `::`.
    pub fn new(prog: &'static str) -> Suite {
        Suite { prog, passed: 0, failed: 0 }
    }

    /// Record case `name`; on failure the reason is `why` (formatted only then).
    pub fn check_msg(&mut self, name: &str, ok: bool, why: fmt::Arguments<'_>) -> bool {
        if ok {
            self.passed += 1;
            crate::println!("test {}::{} ... ok", self.prog, name);
        } else {
            self.failed += 1;
            crate::println!("test {}::{} ... FAILED ({})", self.prog, name, why);
        }
        ok
    }

    /// Record case `name` with a generic reason.
    pub fn check(&mut self, name: &str, ok: bool) -> bool {
        self.check_msg(name, ok, format_args!("condition false"))
    }

    /// Record case `name` from a result: `Err(e)` fails with `e` as reason.
    pub fn check_ok<T, E: fmt::Debug>(&mut self, name: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => {
                self.check(name, true);
                Some(v)
            }
            Err(e) => {
                self.check_msg(name, false, format_args!("{:?}", e));
                None
            }
        }
    }

    /// Record case `name` as passed without running it.
    pub fn skip(&mut self, name: &str, why: &str) {
        self.passed += 1;
        crate::println!("test {}::{} ... ok (skipped: {})", self.prog, name, why);
    }

    /// Print the summary line and return the exit status (0 iff no failure).
    pub fn finish(self) -> i32 {
        crate::println!("{}: {} passed, {} failed", self.prog, self.passed, self.failed);
        if self.failed == 0 { 0 } else { 1 }
    }
}
