//! Trap entry: one 16-byte stub per IDT vector, a common register save, and
//! dispatch to a handler table.
//!
//! Every vector enters through the same path so that handlers see a uniform
//! [`TrapFrame`] holding all general registers (the exception report prints
//! them, and the scheduler switches processes by editing the frame's stack).
//!
//! ```text
//!   stub N:   [push 0 if the CPU pushed no error code]  push N  jmp common
//!   common:   clac (SMAP on), swapgs if we came from ring 3, push_regs!, call trap_dispatch,
//!             pop_regs!, swapgs back if returning to ring 3, drop vector+error, iretq
//! ```
//!
//! Handlers are plain `fn(&mut TrapFrame)` registered per vector. Vectors with
//! no handler get the default: a full register dump and a kernel panic for
//! exceptions, a log line for stray interrupts.

use core::fmt;

/// Saved state of the interrupted context, lowest address first: the
/// general registers ([`push_regs!`]), the vector and error code (the stub,
/// or the syscall entry), then the interrupt frame (the CPU, or the syscall
/// entry building the same five words).
///
/// ```text
///   rsp -> r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax   push_regs! / pop_regs!
///          vector error_code                                          stub or syscall entry
///          rip cs rflags rsp ss                                       CPU or syscall entry
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// The layout the entry code relies on.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(TrapFrame, r15) == 0);
    assert!(offset_of!(TrapFrame, rax) == 14 * 8);
    assert!(offset_of!(TrapFrame, vector) == 15 * 8);
    assert!(offset_of!(TrapFrame, rip) == 17 * 8);
    assert!(offset_of!(TrapFrame, ss) == 21 * 8);
};

/// Assembly (a string for `global_asm!`) that pushes the general registers
/// of a [`TrapFrame`], rax first, so that `rsp` then points at the frame.
/// Trap entry and syscall entry share it with [`pop_regs!`], its inverse.
macro_rules! push_regs {
    () => {
        "
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        "
    };
}

/// Assembly that pops the general registers [`push_regs!`] pushed, leaving
/// `rsp` at the frame's `vector`.
macro_rules! pop_regs {
    () => {
        "
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rbp
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rbx
        pop rax
        "
    };
}

pub(crate) use {pop_regs, push_regs};

impl TrapFrame {
    /// Whether the trap interrupted ring 3.
    pub fn is_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// Print the registers in the layout of a Linux oops.
    pub fn dump(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(
            w,
            "RIP: {:04x}:{:016x} RSP: {:04x}:{:016x} EFLAGS: {:08x}",
            self.cs, self.rip, self.ss, self.rsp, self.rflags
        )?;
        writeln!(w, "RAX: {:016x} RBX: {:016x} RCX: {:016x}", self.rax, self.rbx, self.rcx)?;
        writeln!(w, "RDX: {:016x} RSI: {:016x} RDI: {:016x}", self.rdx, self.rsi, self.rdi)?;
        writeln!(w, "RBP: {:016x} R08: {:016x} R09: {:016x}", self.rbp, self.r8, self.r9)?;
        writeln!(w, "R10: {:016x} R11: {:016x} R12: {:016x}", self.r10, self.r11, self.r12)?;
        writeln!(w, "R13: {:016x} R14: {:016x} R15: {:016x}", self.r13, self.r14, self.r15)?;
        let cr2 = x86_64::registers::control::Cr2::read_raw();
        let (cr3, _) = x86_64::registers::control::Cr3::read_raw();
        let cr0 = x86_64::registers::control::Cr0::read_raw();
        let cr4 = x86_64::registers::control::Cr4::read_raw();
        writeln!(w, "CR0: {:016x} CR2: {:016x} CR3: {:016x} CR4: {:016x}", cr0, cr2, cr3.start_address().as_u64(), cr4)
    }
}

/// Names of the architecturally defined exception vectors (Intel SDM Vol. 3A,
/// Table 6-1).
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        9 => "coprocessor segment overrun",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating-point error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating-point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        28 => "#HV hypervisor injection",
        29 => "#VC VMM communication",
        30 => "#SX security",
        0..=31 => "reserved",
        _ => "interrupt",
    }
}

/// Non-zero once SMAP is on (entry code then executes `clac`).
#[unsafe(no_mangle)]
pub static SMAP_CLAC: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Number of vectors below which the CPU raises exceptions.
pub const FIRST_IRQ_VECTOR: u64 = 32;

/// A trap handler.
pub type Handler = fn(&mut TrapFrame);

/// One vector's handler. Written with interrupts off, so on this CPU a
/// trap never finds the lock held by a writer (an NMI during the boot-time
/// registration of the NMI handler itself is the one exception, and it is
/// registered before NMIs are expected); other CPUs wait for the single
/// store to finish.
struct Slot(spin::RwLock<Option<Handler>>);

impl Slot {
    const fn new() -> Slot {
        Slot(spin::RwLock::new(None))
    }

    fn set(&self, h: Option<Handler>) {
        x86_64::instructions::interrupts::without_interrupts(|| *self.0.write() = h);
    }

    fn get(&self) -> Option<Handler> {
        *self.0.read()
    }
}

static HANDLERS: [Slot; 256] = [const { Slot::new() }; 256];
static DEFAULT_EXCEPTION: Slot = Slot::new();
static USER_RETURN: Slot = Slot::new();

/// Set what runs after every trap that interrupted user mode, just before
/// the return to it (Linux's `exit_to_user_mode`): the kernel delivers
/// signals there. Not for NMIs, double faults and machine checks, which
/// may interrupt anything and must not take locks.
pub fn set_user_return_hook(hook: Handler) {
    USER_RETURN.set(Some(hook));
}

/// Register `handler` for `vector`, replacing any earlier one.
pub fn set_handler(vector: u8, handler: Handler) {
    HANDLERS[vector as usize].set(Some(handler));
}

/// Remove the handler of `vector`.
pub fn clear_handler(vector: u8) {
    HANDLERS[vector as usize].set(None);
}

/// Set what runs for an exception vector without a handler of its own. The
/// kernel installs its oops path here; before that, [`report_and_halt`].
pub fn set_default_exception_handler(handler: Handler) {
    DEFAULT_EXCEPTION.set(Some(handler));
}

/// Last resort for an exception nobody handles: dump the frame on serial and
/// stop the machine.
pub fn report_and_halt(frame: &mut TrapFrame) {
    let mut w = crate::serial::SerialWriter;
    let _ = fmt::Write::write_fmt(
        &mut w,
        format_args!(
            "\nunhandled exception {} ({}) error_code {:#x}\n",
            frame.vector,
            exception_name(frame.vector),
            frame.error_code
        ),
    );
    let _ = frame.dump(&mut w);
    crate::halt_forever();
}

/// Traps taken per CPU and vector since boot (/proc/interrupts); each
/// CPU increments only its own row.
static COUNTS: [[core::sync::atomic::AtomicU64; 256]; mm::percpu::MAX_CPUS] =
    [const { [const { core::sync::atomic::AtomicU64::new(0) }; 256] }; mm::percpu::MAX_CPUS];

/// How many times `vector` was taken, on all CPUs.
pub fn count(vector: u8) -> u64 {
    COUNTS.iter().map(|c| c[vector as usize].load(core::sync::atomic::Ordering::Relaxed)).sum()
}

/// How many times `vector` was taken on CPU `cpu`.
pub fn count_on(cpu: usize, vector: u8) -> u64 {
    COUNTS[cpu][vector as usize].load(core::sync::atomic::Ordering::Relaxed)
}

#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as usize;
    // NMI, #DF and #MC can arrive before the syscall entry's `swapgs`.
    let cpu = if matches!(vector, 2 | 8 | 18) { crate::percpu::cpu_id_paranoid() } else { crate::percpu::cpu_id() };
    COUNTS[cpu][vector & 0xff].fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    if let Some(handler) = HANDLERS[vector].get() {
        handler(frame);
    } else if frame.vector < FIRST_IRQ_VECTOR {
        let handler = DEFAULT_EXCEPTION.get().unwrap_or(report_and_halt);
        handler(frame);
    } else {
        log::warn!("trap: stray interrupt on vector {}", vector);
    }
    if frame.is_user() && !matches!(frame.vector, 2 | 8 | 18) {
        if let Some(hook) = USER_RETURN.get() {
            hook(frame);
        }
    }
}

/// Address of the entry stub of `vector` (each stub is 16 bytes).
pub fn stub_address(vector: u8) -> u64 {
    unsafe extern "C" {
        fn trap_vector_0();
    }
    trap_vector_0 as *const () as u64 + 16 * vector as u64
}

/// Offset of `cs` in the frame as the entry code sees it before pushing the
/// general registers: vector, error code, rip, cs.
const CS_OFFSET_AT_ENTRY: usize = 24;

core::arch::global_asm!(
    r#"
    .section .text.trap_entry, "ax"
    .balign 16
    .global trap_vector_0
    .macro TRAP_STUB_NOERR n
    .balign 16
    trap_vector_\n:
        push 0
        push \n
        jmp trap_common
    .endm
    .macro TRAP_STUB_ERR n
    .balign 16
    trap_vector_\n:
        push \n
        jmp trap_common
    .endm
    // Stubs are emitted in vector order: stub_address() relies on it.
    .irp n, 0,1,2,3,4,5,6,7
    TRAP_STUB_NOERR \n
    .endr
    .irp n, 8
    TRAP_STUB_ERR \n
    .endr
    .irp n, 9
    TRAP_STUB_NOERR \n
    .endr
    .irp n, 10,11,12,13,14
    TRAP_STUB_ERR \n
    .endr
    .irp n, 15,16
    TRAP_STUB_NOERR \n
    .endr
    .irp n, 17
    TRAP_STUB_ERR \n
    .endr
    .irp n, 18,19,20
    TRAP_STUB_NOERR \n
    .endr
    .irp n, 21
    TRAP_STUB_ERR \n
    .endr
    .irp n, 22,23,24,25,26,27,28
    TRAP_STUB_NOERR \n
    .endr
    .irp n, 29,30
    TRAP_STUB_ERR \n
    .endr
    .irp n, 31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150,151,152,153,154,155,156,157,158,159,160,161,162,163,164,165,166,167,168,169,170,171,172,173,174,175,176,177,178,179,180,181,182,183,184,185,186,187,188,189,190,191,192,193,194,195,196,197,198,199,200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216,217,218,219,220,221,222,223,224,225,226,227,228,229,230,231,232,233,234,235,236,237,238,239,240,241,242,243,244,245,246,247,248,249,250,251,252,253,254,255
    TRAP_STUB_NOERR \n
    .endr
    .balign 16
    .global trap_common
trap_common:
    // Clear RFLAGS.AC on every entry so SMAP holds in the handler: from
    // ring 3 it is the user's flag; from ring 0 an interrupt may arrive
    // inside a uaccess window (stac). iretq restores the interrupted
    // context's AC.
    cmp byte ptr [rip + {smap}], 0
    je 1f
    clac
1:
    test byte ptr [rsp + {cs_off}], 3
    jz 2f
    swapgs
2:
"#,
    push_regs!(),
    r#"
    mov rdi, rsp
    cld
    call {dispatch}
    .global trap_return
trap_return:
"#,
    pop_regs!(),
    r#"
    test byte ptr [rsp + {cs_off}], 3
    jz 3f
    swapgs
3:
    add rsp, 16
    iretq
"#,
    cs_off = const CS_OFFSET_AT_ENTRY,
    dispatch = sym trap_dispatch,
    smap = sym SMAP_CLAC,
);
