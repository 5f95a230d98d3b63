//! Signals of x86_64 Linux: numbers (arch/x86/include/uapi/asm/signal.h),
//! `sigaction` flags, `sigaltstack` flags, `si_code` values
//! (include/uapi/asm-generic/siginfo.h), and the structures the kernel
//! copies to and from user memory: [`SigInfo`] (`siginfo_t`, 128 bytes),
//! [`SigAction`] (the kernel's `struct sigaction`), [`StackT`]
//! (`stack_t`), [`SigContext`] / [`UContext`] (the signal frame's saved
//! state) and [`SigEvent`] (`struct sigevent`).

pub const SIGHUP: u32 = 1;
pub const SIGINT: u32 = 2;
pub const SIGQUIT: u32 = 3;
pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGABRT: u32 = 6;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGUSR1: u32 = 10;
pub const SIGSEGV: u32 = 11;
pub const SIGUSR2: u32 = 12;
pub const SIGPIPE: u32 = 13;
pub const SIGALRM: u32 = 14;
pub const SIGTERM: u32 = 15;
pub const SIGSTKFLT: u32 = 16;
pub const SIGCHLD: u32 = 17;
pub const SIGCONT: u32 = 18;
pub const SIGSTOP: u32 = 19;
pub const SIGTSTP: u32 = 20;
pub const SIGTTIN: u32 = 21;
pub const SIGTTOU: u32 = 22;
pub const SIGURG: u32 = 23;
pub const SIGXCPU: u32 = 24;
pub const SIGXFSZ: u32 = 25;
pub const SIGVTALRM: u32 = 26;
pub const SIGPROF: u32 = 27;
pub const SIGWINCH: u32 = 28;
pub const SIGIO: u32 = 29;
pub const SIGPWR: u32 = 30;
pub const SIGSYS: u32 = 31;
/// The first real-time signal as the kernel numbers them (C libraries
/// reserve a few and report a larger `SIGRTMIN`).
pub const SIGRTMIN: u32 = 32;
/// Number of signals (`_NSIG`): valid numbers are 1..=NSIG.
pub const NSIG: u32 = 64;

/// The bit of `sig` in a 64-bit signal set.
pub const fn sigmask(sig: u32) -> u64 {
    1 << (sig - 1)
}

/// `sa_handler` value: the default action.
pub const SIG_DFL: u64 = 0;
/// `sa_handler` value: ignore the signal.
pub const SIG_IGN: u64 = 1;

/// `sa_flags`.
pub const SA_NOCLDSTOP: u64 = 0x0000_0001;
pub const SA_NOCLDWAIT: u64 = 0x0000_0002;
pub const SA_SIGINFO: u64 = 0x0000_0004;
pub const SA_UNSUPPORTED: u64 = 0x0000_0400;
pub const SA_EXPOSE_TAGBITS: u64 = 0x0000_0800;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// rt_sigprocmask's `how`.
pub const SIG_BLOCK: u32 = 0;
pub const SIG_UNBLOCK: u32 = 1;
pub const SIG_SETMASK: u32 = 2;

/// sigaltstack's `ss_flags`.
pub const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;
pub const SS_AUTODISARM: u32 = 1 << 31;
/// Smallest alternate stack sigaltstack accepts (x86's MINSIGSTKSZ).
pub const MINSIGSTKSZ: u64 = 2048;

/// `si_code` values for any signal.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TIMER: i32 = -2;
pub const SI_MESGQ: i32 = -3;
pub const SI_ASYNCIO: i32 = -4;
pub const SI_SIGIO: i32 = -5;
pub const SI_TKILL: i32 = -6;
/// SIGILL.
pub const ILL_ILLOPC: i32 = 1;
pub const ILL_ILLOPN: i32 = 2;
pub const ILL_PRVOPC: i32 = 5;
/// SIGFPE.
pub const FPE_INTDIV: i32 = 1;
pub const FPE_INTOVF: i32 = 2;
pub const FPE_FLTDIV: i32 = 3;
pub const FPE_FLTOVF: i32 = 4;
pub const FPE_FLTUND: i32 = 5;
pub const FPE_FLTRES: i32 = 6;
pub const FPE_FLTINV: i32 = 7;
pub const FPE_FLTSUB: i32 = 8;
/// SIGSEGV.
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
/// SIGBUS.
pub const BUS_ADRALN: i32 = 1;
pub const BUS_ADRERR: i32 = 2;
pub const BUS_OBJERR: i32 = 3;
/// SIGTRAP.
pub const TRAP_BRKPT: i32 = 1;
pub const TRAP_TRACE: i32 = 2;
/// SIGCHLD.
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_TRAPPED: i32 = 4;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
/// SIGPOLL / SIGIO.
pub const POLL_IN: i32 = 1;

/// `sigev_notify`.
pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
pub const SIGEV_THREAD: i32 = 2;
pub const SIGEV_THREAD_ID: i32 = 4;

/// `siginfo_t`: signal number, errno, code, then a union whose fields
/// depend on the code. Stored here as the three ints, padding, and the
/// union as 14 eight-byte words; the accessors name the union members
/// x86_64 lays out at byte 16 (`si_pid`, `si_addr`, `si_tid`, `si_band`)
/// and after.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub _pad: i32,
    pub fields: [u64; 14],
}

const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);

impl SigInfo {
    /// Just the number and code.
    pub const fn new(signo: u32, code: i32) -> SigInfo {
        SigInfo { signo: signo as i32, errno: 0, code, _pad: 0, fields: [0; 14] }
    }

    /// kill(2), tkill(2), sigqueue(3): the sender's pid and real uid
    /// (`_kill` / `_rt`).
    pub const fn from_process(signo: u32, code: i32, pid: u32, uid: u32) -> SigInfo {
        let mut i = SigInfo::new(signo, code);
        i.fields[0] = pid as u64 | (uid as u64) << 32;
        i
    }

    /// A fault (`_sigfault`): the address.
    pub const fn fault(signo: u32, code: i32, addr: u64) -> SigInfo {
        let mut i = SigInfo::new(signo, code);
        i.fields[0] = addr;
        i
    }

    /// SIGCHLD (`_sigchld`): child pid and uid, status (exit code or
    /// signal), user and system time in clock ticks.
    pub const fn child(code: i32, pid: u32, uid: u32, status: i32, utime: u64, stime: u64) -> SigInfo {
        let mut i = SigInfo::from_process(SIGCHLD, code, pid, uid);
        i.fields[1] = status as u32 as u64;
        i.fields[2] = utime;
        i.fields[3] = stime;
        i
    }

    /// A POSIX timer (`_timer`): timer id, overrun count, sigev_value.
    pub const fn timer(signo: u32, id: i32, overrun: i32, value: u64) -> SigInfo {
        let mut i = SigInfo::new(signo, SI_TIMER);
        i.fields[0] = id as u32 as u64 | (overrun as u32 as u64) << 32;
        i.fields[1] = value;
        i
    }

    pub const fn pid(&self) -> u32 {
        self.fields[0] as u32
    }

    pub const fn uid(&self) -> u32 {
        (self.fields[0] >> 32) as u32
    }

    pub const fn addr(&self) -> u64 {
        self.fields[0]
    }

    /// `si_status` of SIGCHLD, `si_value` of a queued or timer signal
    /// (the low 32 bits as `sival_int`).
    pub const fn status(&self) -> i32 {
        self.fields[1] as i32
    }

    pub const fn value(&self) -> u64 {
        self.fields[1]
    }

    /// The timer overrun count of a SI_TIMER signal.
    pub fn set_overrun(&mut self, overrun: i32) {
        self.fields[0] = (self.fields[0] & 0xffff_ffff) | (overrun as u32 as u64) << 32;
    }
}

/// The kernel's `struct sigaction` on x86_64 (rt_sigaction(2)):
/// handler, flags, restorer, mask, 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// `stack_t` (sigaltstack(2), `uc_stack`): base, flags, size.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackT {
    pub sp: u64,
    pub flags: u32,
    pub _pad: u32,
    pub size: u64,
}

/// `struct sigcontext` (arch/x86/include/uapi/asm/sigcontext.h), the
/// registers in a signal frame: 256 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    /// User address of the FXSAVE image (0: no FPU state saved).
    pub fpstate: u64,
    pub reserved1: [u64; 8],
}

/// `uc_flags`: the frame's `ss` is meaningful and restored strictly.
pub const UC_FP_XSTATE: u64 = 1;
pub const UC_SIGCONTEXT_SS: u64 = 2;
pub const UC_STRICT_RESTORE_SS: u64 = 4;

/// The kernel's `struct ucontext` (arch/x86/include/asm/ucontext.h):
/// flags, link, stack, machine context, signal mask; 304 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub stack: StackT,
    pub mcontext: SigContext,
    pub sigmask: u64,
}

/// `struct sigevent` (timer_create(2)): value, signal, notify, and the
/// thread id of SIGEV_THREAD_ID; 64 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigEvent {
    pub value: u64,
    pub signo: i32,
    pub notify: i32,
    pub tid: i32,
    pub _pad: [i32; 11],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<SigAction>() == 32);
    assert!(size_of::<StackT>() == 24);
    assert!(size_of::<SigContext>() == 256);
    assert!(offset_of!(SigContext, cs) == 144);
    assert!(offset_of!(SigContext, fpstate) == 184);
    assert!(size_of::<UContext>() == 304);
    assert!(offset_of!(UContext, mcontext) == 40);
    assert!(offset_of!(UContext, sigmask) == 296);
    assert!(size_of::<SigEvent>() == 64);
};

/// signalfd4's flags.
pub const SFD_CLOEXEC: u32 = 0o2000000;
pub const SFD_NONBLOCK: u32 = 0o4000;

/// `struct signalfd_siginfo` (include/uapi/linux/signalfd.h): what a read
/// of a signalfd returns per signal, 128 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalfdSiginfo {
    pub signo: u32,
    pub errno: i32,
    pub code: i32,
    pub pid: u32,
    pub uid: u32,
    pub fd: i32,
    pub tid: u32,
    pub band: u32,
    pub overrun: u32,
    pub trapno: u32,
    pub status: i32,
    pub int: i32,
    pub ptr: u64,
    pub utime: u64,
    pub stime: u64,
    pub addr: u64,
    pub addr_lsb: u16,
    pub _pad2: u16,
    pub syscall: i32,
    pub call_addr: u64,
    pub arch: u32,
    pub _pad: [u8; 28],
}

const _: () = assert!(core::mem::size_of::<SignalfdSiginfo>() == 128);

impl SignalfdSiginfo {
    /// The siginfo of a dequeued signal in signalfd's layout (Linux's
    /// `signalfd_copyinfo`): the fields of the union that the code says
    /// are there.
    pub fn from_info(i: &SigInfo) -> SignalfdSiginfo {
        let mut s = SignalfdSiginfo { signo: i.signo as u32, errno: i.errno, code: i.code, ..Default::default() };
        let sig = i.signo as u32;
        match i.code {
            SI_TIMER => {
                s.tid = i.fields[0] as u32;
                s.overrun = (i.fields[0] >> 32) as u32;
                s.ptr = i.value();
                s.int = i.value() as i32;
            }
            SI_QUEUE | SI_MESGQ => {
                s.pid = i.pid();
                s.uid = i.uid();
                s.ptr = i.value();
                s.int = i.value() as i32;
            }
            c if c > 0 && c != SI_KERNEL && sig == SIGCHLD => {
                s.pid = i.pid();
                s.uid = i.uid();
                s.status = i.status();
                s.utime = i.fields[2];
                s.stime = i.fields[3];
            }
            c if c > 0 && c != SI_KERNEL && matches!(sig, SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP) => {
                s.addr = i.addr();
            }
            _ => {
                s.pid = i.pid();
                s.uid = i.uid();
            }
        }
        s
    }
}
