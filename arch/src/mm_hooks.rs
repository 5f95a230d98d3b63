//! What `mm` asks of the CPU, implemented for this one: `mm` never touches
//! hardware, it calls a TLB flusher and interrupt hooks through its own
//! traits and setters, and these are the x86_64 answers.

use mm::vm::tlb::TlbFlusher;

/// TLB invalidation on this CPU (`invlpg`, or a full flush with global
/// pages; see `mmu`). Remote CPUs are the SMP issue's.
pub struct LocalTlb;

impl TlbFlusher for LocalTlb {
    fn flush_page(&self, va: u64) {
        crate::mmu::flush_page(va);
    }

    fn flush_all(&self) {
        crate::mmu::flush_all();
    }
}

/// The flusher every address space of this kernel uses.
pub static LOCAL_TLB: LocalTlb = LocalTlb;

/// Let `mm`'s locks (`mm::sync::IrqLock`) keep interrupts off while held,
/// like Linux's `spin_lock_irqsave`. Called once at boot, before any mm
/// lock is shared with an interrupt handler.
pub fn install_irq_hooks() {
    fn save() -> bool {
        let was = x86_64::instructions::interrupts::are_enabled();
        x86_64::instructions::interrupts::disable();
        was
    }
    fn restore(was: bool) {
        if was {
            x86_64::instructions::interrupts::enable();
        }
    }
    mm::sync::set_irq_hooks(save, restore);
}
