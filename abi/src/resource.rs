//! Resource limits (include/uapi/asm-generic/resource.h): the RLIMIT_*
//! numbers of getrlimit, setrlimit and prlimit64, which also index a
//! process's table of limits.

pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_CORE: usize = 4;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_MEMLOCK: usize = 8;
pub const RLIMIT_AS: usize = 9;
pub const RLIMIT_SIGPENDING: usize = 11;
/// Ceiling on raising the nice value: 20 - rlim_cur is the lowest nice an
/// unprivileged process may set.
pub const RLIMIT_NICE: usize = 13;
/// Highest real-time priority an unprivileged process may set.
pub const RLIMIT_RTPRIO: usize = 14;

/// getpriority/setpriority `which`.
pub const PRIO_PROCESS: i32 = 0;
pub const PRIO_PGRP: i32 = 1;
pub const PRIO_USER: i32 = 2;
/// Number of limits (`RLIM_NLIMITS`).
pub const RLIM_NLIMITS: usize = 16;
/// No limit.
pub const RLIM_INFINITY: u64 = u64::MAX;
