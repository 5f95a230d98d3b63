//! x87/SSE state of user tasks.
//!
//! The kernel itself never touches floating point or SIMD registers (the
//! x86_64-unknown-none target is soft-float), so a user task's FPU state
//! stays in the registers while the kernel runs and only needs saving and
//! restoring when the scheduler switches tasks (`fxsave64` / `fxrstor64`).
//! A new process starts from a clean state captured at boot after `fninit`
//! with the default MXCSR, so no process ever sees another's registers.

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

/// One task's saved FPU/SSE registers (the FXSAVE area).
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState(pub [u8; 512]);

static mut CLEAN: FpuState = FpuState([0; 512]);

/// Enable SSE for ring 3 and capture the clean initial state.
pub fn init() {
    // SAFETY: turning on FXSR/SSE support and clearing EM only allows the
    // instructions; the kernel does not use them.
    unsafe {
        Cr0::update(|c| {
            c.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            c.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR);
        });
        Cr4::update(|c| c.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
        let mxcsr: u32 = 0x1f80;
        core::arch::asm!("fninit", "ldmxcsr [{}]", in(reg) &mxcsr, options(nostack));
        core::arch::asm!("fxsave64 [{}]", in(reg) core::ptr::addr_of_mut!(CLEAN), options(nostack));
    }
}

impl FpuState {
    /// The clean state a new process starts with.
    pub fn clean() -> FpuState {
        // SAFETY: CLEAN is written once in `init` before any task exists.
        unsafe { (*core::ptr::addr_of!(CLEAN)).clone() }
    }

    /// The MXCSR bits this CPU accepts (FXSAVE's MXCSR_MASK; a CPU that
    /// stores 0 there accepts 0xffbf, as the SDM says). Loading a state with
    /// other bits set would fault in FXRSTOR: check with [`Self::valid`].
    pub fn mxcsr_mask() -> u32 {
        let clean = Self::clean();
        let m = u32::from_le_bytes([clean.0[28], clean.0[29], clean.0[30], clean.0[31]]);
        if m == 0 { 0xffbf } else { m }
    }

    /// Whether FXRSTOR accepts this image (Linux's check of a signal
    /// frame's FPU state before loading it): no reserved MXCSR bit set.
    pub fn valid(&self) -> bool {
        let mxcsr = u32::from_le_bytes([self.0[24], self.0[25], self.0[26], self.0[27]]);
        mxcsr & !Self::mxcsr_mask() == 0
    }

    /// Save the CPU's current FPU/SSE registers here.
    pub fn save(&mut self) {
        // SAFETY: a 512-byte, 16-byte aligned buffer, as FXSAVE requires.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// Load these registers into the CPU.
    pub fn restore(&self) {
        // SAFETY: the buffer holds a state produced by FXSAVE (or the clean
        // template); reserved MXCSR bits are never set by user code because
        // LDMXCSR would #GP first.
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack)) };
    }
}
