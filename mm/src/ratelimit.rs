//! Rate limiting of log lines (cf. lib/ratelimit.c `___ratelimit`).
//!
//! A line a process can trigger at will (an unknown system call, a
//! segfault report) must not let it stall the machine on the serial port.
//! Each call site owns a [`RateLimit`]: at most `burst` lines per
//! `interval`; the first line allowed after a suppressed stretch learns how
//! many were dropped so the caller can print "N callbacks suppressed".
//!
//! The logic takes the time as an argument, so it is tested on the host.
//! A contended state (another CPU, or an NMI inside the check) counts as
//! "suppress", as Linux's trylock does: the check never waits.

use spin::Mutex;

/// Linux's DEFAULT_RATELIMIT_INTERVAL (5 s) and DEFAULT_RATELIMIT_BURST.
pub const DEFAULT_INTERVAL_NS: u64 = 5_000_000_000;
pub const DEFAULT_BURST: u32 = 10;

struct State {
    /// Start of the current interval; `None` before the first call.
    begin: Option<u64>,
    printed: u32,
    missed: u32,
}

/// One call site's budget.
pub struct RateLimit {
    interval_ns: u64,
    burst: u32,
    state: Mutex<State>,
}

/// What the caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print the line; `suppressed` lines were dropped before it (report
    /// them first when non-zero).
    Print { suppressed: u32 },
    /// Drop the line.
    Suppress,
}

impl RateLimit {
    pub const fn new(interval_ns: u64, burst: u32) -> Self {
        RateLimit { interval_ns, burst, state: Mutex::new(State { begin: None, printed: 0, missed: 0 }) }
    }

    /// printk_ratelimit's budget: 10 lines per 5 seconds.
    pub const fn printk() -> Self {
        Self::new(DEFAULT_INTERVAL_NS, DEFAULT_BURST)
    }

    /// Whether a line may be printed at time `now_ns` (any monotonic clock).
    pub fn check(&self, now_ns: u64) -> Verdict {
        let Some(mut s) = self.state.try_lock() else { return Verdict::Suppress };
        let begin = *s.begin.get_or_insert(now_ns);
        let mut suppressed = 0;
        // `now_ns - begin` rather than `begin + interval`: no overflow for
        // any clock value, and a clock that went back counts as 0.
        if now_ns.saturating_sub(begin) >= self.interval_ns {
            suppressed = s.missed;
            s.begin = Some(now_ns);
            s.printed = 0;
            s.missed = 0;
        }
        if s.printed < self.burst {
            s.printed += 1;
            Verdict::Print { suppressed }
        } else {
            s.missed = s.missed.saturating_add(1);
            Verdict::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn burst_then_suppress_then_report() {
        let rl = RateLimit::printk();
        for i in 0..10 {
            assert_eq!(rl.check(i), Verdict::Print { suppressed: 0 }, "line {i}");
        }
        for i in 0..25 {
            assert_eq!(rl.check(S + i), Verdict::Suppress);
        }
        // A new interval: the first line learns about the 25 dropped ones.
        assert_eq!(rl.check(5 * S), Verdict::Print { suppressed: 25 });
        assert_eq!(rl.check(5 * S + 1), Verdict::Print { suppressed: 0 });
    }

    #[test]
    fn interval_starts_at_first_use_and_survives_odd_clocks() {
        let rl = RateLimit::new(10, 1);
        assert_eq!(rl.check(u64::MAX - 5), Verdict::Print { suppressed: 0 });
        assert_eq!(rl.check(u64::MAX), Verdict::Suppress);
        // The clock went back: still the same interval, no overflow.
        assert_eq!(rl.check(0), Verdict::Suppress);
    }

    #[test]
    fn contended_state_suppresses_instead_of_waiting() {
        let rl = RateLimit::printk();
        let _held = rl.state.lock();
        assert_eq!(rl.check(0), Verdict::Suppress);
    }
}
