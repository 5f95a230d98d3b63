//! System V IPC: `struct ipc64_perm`, `struct shmid64_ds`, `struct
//! shminfo64`, `struct shm_info` and the IPC_/SHM_ constants
//! (include/uapi/linux/ipc.h, shm.h; asm-generic/ipcbuf.h, shmbuf.h as
//! x86_64 lays them out).

/// Key that always makes a new segment.
pub const IPC_PRIVATE: i32 = 0;

// shmget / shmat flags
pub const IPC_CREAT: u32 = 0o1000;
pub const IPC_EXCL: u32 = 0o2000;
pub const IPC_NOWAIT: u32 = 0o4000;
pub const SHM_HUGETLB: u32 = 0o4000;
pub const SHM_NORESERVE: u32 = 0o10000;
pub const SHM_RDONLY: u32 = 0o10000;
pub const SHM_RND: u32 = 0o20000;
pub const SHM_REMAP: u32 = 0o40000;
pub const SHM_EXEC: u32 = 0o100000;

// ipc_perm.mode bits of a segment beyond rwx
pub const SHM_DEST: u32 = 0o1000;
pub const SHM_LOCKED: u32 = 0o2000;

// shmctl commands
pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;
pub const SHM_LOCK: i32 = 11;
pub const SHM_UNLOCK: i32 = 12;
pub const SHM_STAT: i32 = 13;
pub const SHM_INFO: i32 = 14;
pub const SHM_STAT_ANY: i32 = 15;

/// Attach addresses are multiples of this (x86: a page).
pub const SHMLBA: u64 = 4096;
/// Smallest segment.
pub const SHMMIN: u64 = 1;
/// Default `kernel.shmmni`: segments in the system.
pub const SHMMNI: u64 = 4096;
/// Default `kernel.shmmax` and `kernel.shmall` (ULONG_MAX - 2^24).
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
pub const SHMALL: u64 = u64::MAX - (1 << 24);

/// `struct ipc64_perm` (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
    pub pad2: u16,
    pub unused1: u64,
    pub unused2: u64,
}

/// `struct shmid64_ds` (112 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmidDs {
    pub shm_perm: IpcPerm,
    pub shm_segsz: u64,
    pub shm_atime: i64,
    pub shm_dtime: i64,
    pub shm_ctime: i64,
    pub shm_cpid: i32,
    pub shm_lpid: i32,
    pub shm_nattch: u64,
    pub unused4: u64,
    pub unused5: u64,
}

/// `struct shminfo64` (IPC_INFO, 72 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmInfo64 {
    pub shmmax: u64,
    pub shmmin: u64,
    pub shmmni: u64,
    pub shmseg: u64,
    pub shmall: u64,
    pub unused: [u64; 4],
}

/// `struct shm_info` (SHM_INFO, 48 bytes; the int is padded explicitly).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmInfo {
    pub used_ids: i32,
    pub pad: u32,
    pub shm_tot: u64,
    pub shm_rss: u64,
    pub shm_swp: u64,
    pub swap_attempts: u64,
    pub swap_successes: u64,
}

const _: () = assert!(core::mem::size_of::<IpcPerm>() == 48);
const _: () = assert!(core::mem::size_of::<ShmidDs>() == 112);
const _: () = assert!(core::mem::size_of::<ShmInfo64>() == 72);
const _: () = assert!(core::mem::size_of::<ShmInfo>() == 48);
