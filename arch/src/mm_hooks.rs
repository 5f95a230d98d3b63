//! What `mm` asks of the CPU, implemented for this one: `mm` never touches
//! hardware, it calls a TLB flusher and interrupt hooks through its own
//! traits and setters, and these are the x86_64 answers.

use mm::vm::tlb::TlbFlusher;

/// TLB invalidation after a change to the running CPU's address space:
/// here (`invlpg`, or a full flush; see `mmu`), then on every other CPU
/// running on the same root, by IPI (`ipi::shootdown`, one request per
/// range). An address space is only ever changed by one of its own
/// threads (or when no CPU runs it: fork's child, exit, exec's old one),
/// so "the running root" names it.
pub struct UserTlb;

/// The CPUs other than this one running on this CPU's root.
fn same_root_cpus() -> u64 {
    let n = crate::smp::online();
    if n <= 1 {
        return 0;
    }
    // The entries changed before this look (SeqCst): a CPU that loads the
    // root afterwards cannot cache the old ones.
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    let me = crate::percpu::cpu_id();
    // On the kernel's root, the address space being changed runs nowhere
    // (a dying one, exit's or exec's old image): nothing to shoot down.
    if crate::mmu::on_kernel_root(me) {
        return 0;
    }
    let root = crate::mmu::loaded_root(me);
    (0..n.min(64)).filter(|&c| c != me && crate::mmu::loaded_root(c) == root).fold(0, |m, c| m | 1u64 << c)
}

impl TlbFlusher for UserTlb {
    fn flush_page(&self, va: u64) {
        crate::mmu::flush_page(va);
        crate::ipi::shootdown(same_root_cpus(), va, va + 4096);
    }

    fn flush_all(&self) {
        crate::mmu::flush_all();
        crate::ipi::shootdown(same_root_cpus(), 0, 0);
    }

    fn flush_range(&self, start: u64, end: u64) {
        let mut va = start;
        while va < end {
            crate::mmu::flush_page(va);
            va += 4096;
        }
        crate::ipi::shootdown(same_root_cpus(), start, end);
    }
}

/// TLB invalidation after a change to the kernel half (vmalloc, kernel
/// stacks, the kernel image's protections): every CPU, since every root
/// shares it.
pub struct KernelTlb;

fn other_cpus() -> u64 {
    if crate::smp::online() <= 1 { 0 } else { crate::ipi::online_mask() }
}

impl TlbFlusher for KernelTlb {
    fn flush_page(&self, va: u64) {
        crate::mmu::flush_page(va);
        crate::ipi::shootdown(other_cpus(), va, va + 4096);
    }

    fn flush_all(&self) {
        crate::mmu::flush_all();
        crate::ipi::shootdown(other_cpus(), 0, 0);
    }

    fn flush_range(&self, start: u64, end: u64) {
        let mut va = start;
        while va < end {
            crate::mmu::flush_page(va);
            va += 4096;
        }
        crate::ipi::shootdown(other_cpus(), start, end);
    }
}

/// The flusher of user address spaces.
pub static USER_TLB: UserTlb = UserTlb;
/// The flusher of the kernel's address space.
pub static KERNEL_TLB: KernelTlb = KernelTlb;

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

/// TLB invalidation after a change made to an address space from outside
/// it (/proc/PID/mem, /proc/PID/clear_refs: another process holds the
/// address space's lock and changes its entries): every CPU running on
/// `root`, this one included when it does.
pub struct RootTlb {
    pub root: u64,
}

impl RootTlb {
    /// The CPUs running on this root now. A CPU that loads the root after
    /// the look starts without stale entries (no PCIDs: a CR3 load flushes
    /// the non-global ones, and user entries are never global).
    fn cpus(&self) -> u64 {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        let n = crate::smp::online().clamp(1, 64);
        (0..n).filter(|&c| crate::mmu::loaded_root(c) == self.root).fold(0, |m, c| m | 1u64 << c)
    }

    fn on_this_cpu(cpus: u64) -> bool {
        cpus & (1u64 << crate::percpu::cpu_id()) != 0
    }
}

impl TlbFlusher for RootTlb {
    fn flush_page(&self, va: u64) {
        let cpus = self.cpus();
        if Self::on_this_cpu(cpus) {
            crate::mmu::flush_page(va);
        }
        crate::ipi::shootdown(cpus, va, va + 4096);
    }

    fn flush_all(&self) {
        let cpus = self.cpus();
        if Self::on_this_cpu(cpus) {
            crate::mmu::flush_all();
        }
        crate::ipi::shootdown(cpus, 0, 0);
    }

    fn flush_range(&self, start: u64, end: u64) {
        let cpus = self.cpus();
        if Self::on_this_cpu(cpus) {
            let mut va = start;
            while va < end {
                crate::mmu::flush_page(va);
                va += 4096;
            }
        }
        crate::ipi::shootdown(cpus, start, end);
    }
}
