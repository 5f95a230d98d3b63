//! clone(2)'s flags (include/uapi/linux/sched.h).

/// Scheduling policies (sched_setscheduler).
pub const SCHED_OTHER: i32 = 0;
pub const SCHED_FIFO: i32 = 1;
pub const SCHED_RR: i32 = 2;
pub const SCHED_BATCH: i32 = 3;
pub const SCHED_IDLE: i32 = 5;
pub const SCHED_DEADLINE: i32 = 6;
/// Or'ed into the policy: a fork child starts with SCHED_OTHER and nice 0.
pub const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;
/// Real-time priorities of SCHED_FIFO and SCHED_RR.
pub const MAX_RT_PRIO: i32 = 99;

/// Low byte of the flags: the signal sent to the parent when the child exits.
pub const CSIGNAL: u64 = 0xff;
pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_PTRACE: u64 = 0x2000;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x1_0000;
pub const CLONE_NEWNS: u64 = 0x2_0000;
pub const CLONE_SYSVSEM: u64 = 0x4_0000;
pub const CLONE_SETTLS: u64 = 0x0008_0000;
pub const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
/// Ignored since Linux 2.6.2 (musl still passes it for threads).
pub const CLONE_DETACHED: u64 = 0x0040_0000;
pub const CLONE_UNTRACED: u64 = 0x0080_0000;
pub const CLONE_CHILD_SETTID: u64 = 0x0100_0000;
pub const CLONE_IO: u64 = 0x8000_0000;
/// clone3 only: put the child in the cgroup `cgroup` names.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The namespace flags (CLONE_NEWNS, CLONE_NEWCGROUP, UTS, IPC, USER,
/// PID, NET; CLONE_NEWTIME is 0x80, inside CSIGNAL, clone3 only):
/// namespaces do not exist here.
pub const CLONE_NAMESPACES: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// `struct clone_args` of clone3(2), by field (all u64): flags, pidfd,
/// child_tid, parent_tid, exit_signal, stack, stack_size, tls,
/// set_tid, set_tid_size, cgroup. Sizes Linux accepts: 64 (VER0), 80
/// (VER1, set_tid), 88 (VER2, cgroup).
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
pub const CLONE_ARGS_SIZE_VER2: usize = 88;
