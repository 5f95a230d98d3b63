//! Clock ids of clock_gettime and friends, clock_nanosleep's and
//! timer_settime's flag, and the interval timers of setitimer
//! (include/uapi/linux/time.h).

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
pub const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
pub const CLOCK_MONOTONIC_RAW: i32 = 4;
pub const CLOCK_REALTIME_COARSE: i32 = 5;
pub const CLOCK_MONOTONIC_COARSE: i32 = 6;
pub const CLOCK_BOOTTIME: i32 = 7;
/// REALTIME and BOOTTIME that wake a suspended machine (CAP_WAKE_ALARM).
pub const CLOCK_REALTIME_ALARM: i32 = 8;
pub const CLOCK_BOOTTIME_ALARM: i32 = 9;

/// clock_nanosleep, timer_settime: the time is absolute, not relative.
pub const TIMER_ABSTIME: u32 = 1;

/// getitimer/setitimer's `which` (include/uapi/linux/time.h): wall time
/// (SIGALRM), user CPU time (SIGVTALRM), user and system CPU time
/// (SIGPROF).
pub const ITIMER_REAL: i32 = 0;
pub const ITIMER_VIRTUAL: i32 = 1;
pub const ITIMER_PROF: i32 = 2;

/// timer_getoverrun's ceiling (`DELAYTIMER_MAX`): larger counts read as it.
pub const DELAYTIMER_MAX: i32 = i32::MAX;
