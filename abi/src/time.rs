//! Clock ids of clock_gettime and friends, and clock_nanosleep's flag
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

/// clock_nanosleep: the time is absolute, not relative.
pub const TIMER_ABSTIME: u32 = 1;
