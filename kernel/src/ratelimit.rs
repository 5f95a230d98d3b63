//! Rate-limited log lines for anything user space can trigger at will
//! (cf. `printk_ratelimited`): 10 lines per 5 seconds per call site, then
//! one "N callbacks suppressed" line when the next interval opens.
//!
//! ```text
//!   crate::ratelimited!(log::Level::Warn, "{}[{}]: unknown system call {}", ...);
//! ```
//!
//! The logic lives in `mm::ratelimit` (host-tested); this adds the clock
//! and the per-call-site state.

pub use mm::ratelimit::{RateLimit, Verdict};

/// Whether the call site owning `rl` may log now; reports a suppressed
/// stretch (under `site`) before saying yes.
pub fn allow(rl: &RateLimit, level: log::Level, site: &str) -> bool {
    match rl.check(arch::time::uptime_ns()) {
        Verdict::Print { suppressed } => {
            if suppressed > 0 {
                log::log!(level, "{}: {} callbacks suppressed", site, suppressed);
            }
            true
        }
        Verdict::Suppress => false,
    }
}

/// `log::log!` with printk_ratelimit's budget for this call site.
#[macro_export]
macro_rules! ratelimited {
    ($level:expr, $($arg:tt)+) => {{
        static RL: $crate::ratelimit::RateLimit = $crate::ratelimit::RateLimit::printk();
        if $crate::ratelimit::allow(&RL, $level, module_path!()) {
            log::log!($level, $($arg)+);
        }
    }};
}
