//! The in-kernel test harness.
//!
//! A test kernel lists its cases and calls [`run`]. Each case runs inside a
//! recovery point (`arch::recover::catch`), so a panic or a fatal trap ends
//! only that case. The protocol on the console, parsed by `boot`:
//!
//! ```text
//! ktest: suite basic: 5 cases
//! test basic::breakpoint_returns ... ok
//! test basic::something ... FAILED (assertion failed: x == 1 at tests/src/bin/basic.rs:10)
//! ktest: 4 passed, 1 failed
//! ```
//!
//! then QEMU exits through isa-debug-exit with the success or failure code.
//! A case that hangs is killed by `boot`'s timeout and counts as failed.

use arch::qemu::{self, ExitCode};
use arch::{kprintln, recover};

use crate::panic::{LAST_MESSAGE, RECOVERED_FROM_PANIC, RECOVERED_FROM_TRAP};

struct NamedCase<'a> {
    name: &'a str,
    expect: Expect,
}

/// What a case must do to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Return normally.
    Pass,
    /// Panic (Rust's `#[should_panic]`).
    Panic,
    /// Take a fatal CPU exception (e.g. a kernel stack overflow).
    Trap,
}

/// One test case.
#[derive(Clone, Copy)]
pub struct TestCase {
    pub name: &'static str,
    pub run: fn(),
    pub expect: Expect,
}

impl TestCase {
    pub const fn new(name: &'static str, run: fn()) -> Self {
        TestCase { name, run, expect: Expect::Pass }
    }

    pub const fn should_panic(name: &'static str, run: fn()) -> Self {
        TestCase { name, run, expect: Expect::Panic }
    }

    pub const fn should_trap(name: &'static str, run: fn()) -> Self {
        TestCase { name, run, expect: Expect::Trap }
    }
}

/// Build a `TestCase` named after the function.
#[macro_export]
macro_rules! ktest {
    ($f:path) => {
        $crate::ktest::TestCase::new(stringify!($f), $f)
    };
    ($f:path, should_panic) => {
        $crate::ktest::TestCase::should_panic(stringify!($f), $f)
    };
    ($f:path, should_trap) => {
        $crate::ktest::TestCase::should_trap(stringify!($f), $f)
    };
}

fn outcome(expect: Expect, result: Result<(), u64>) -> Result<(), &'static str> {
    match (expect, result) {
        (Expect::Pass, Ok(())) => Ok(()),
        (Expect::Pass, Err(RECOVERED_FROM_TRAP)) => Err("fatal exception"),
        (Expect::Pass, Err(_)) => Err("panicked"),
        (Expect::Panic, Err(RECOVERED_FROM_PANIC)) => Ok(()),
        (Expect::Panic, Ok(())) => Err("should have panicked but returned"),
        (Expect::Panic, Err(_)) => Err("took a fatal exception instead of panicking"),
        (Expect::Trap, Err(RECOVERED_FROM_TRAP)) => Ok(()),
        (Expect::Trap, Ok(())) => Err("should have trapped but returned"),
        (Expect::Trap, Err(_)) => Err("panicked instead of trapping"),
    }
}

/// Run every case, print the summary line and leave QEMU.
pub fn run(suite: &str, cases: &[TestCase]) -> ! {
    let dynamic: alloc::vec::Vec<(alloc::string::String, alloc::boxed::Box<dyn Fn()>, Expect)> = cases
        .iter()
        .map(|c| {
            (
                alloc::string::String::from(c.name),
                alloc::boxed::Box::new(c.run) as alloc::boxed::Box<dyn Fn()>,
                c.expect,
            )
        })
        .collect();
    run_dyn(suite, dynamic)
}

/// `run` for cases made at run time (one per user program, say).
pub fn run_dyn(suite: &str, cases: alloc::vec::Vec<(alloc::string::String, alloc::boxed::Box<dyn Fn()>, Expect)>) -> ! {
    crate::panic::set_exit_on_panic(true);
    kprintln!("ktest: suite {}: {} cases", suite, cases.len());
    let (mut passed, mut failed) = (0usize, 0usize);
    for (name, run, expect) in &cases {
        let case = NamedCase { name, expect: *expect };
        LAST_MESSAGE.lock().clear();
        let result = recover::catch(|| run());
        // A recovered trap or panic leaves interrupts off, and possibly a
        // lock held by the abandoned frames.
        if result.is_err() {
            crate::mem::force_unlock_after_recovery();
        }
        x86_64::instructions::interrupts::enable();
        match outcome(case.expect, result) {
            Ok(()) => {
                passed += 1;
                kprintln!("test {}::{} ... ok", suite, case.name);
            }
            Err(why) => {
                failed += 1;
                let msg = LAST_MESSAGE.lock();
                if msg.as_str().is_empty() {
                    kprintln!("test {}::{} ... FAILED ({})", suite, case.name, why);
                } else {
                    kprintln!("test {}::{} ... FAILED ({}: {})", suite, case.name, why, msg.as_str());
                }
            }
        }
    }
    kprintln!("ktest: {} passed, {} failed", passed, failed);
    qemu::exit(if failed == 0 { ExitCode::Success } else { ExitCode::Failed })
}
