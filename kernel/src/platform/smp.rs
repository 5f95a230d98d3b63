//! Bringing up the application processors (APs) the ACPI MADT lists.
//!
//! The boot CPU installs the real-mode trampoline (`arch::smp`) in low
//! memory (the first 1 MiB is reserved in memblock from the start, so
//! nothing else owns it) and starts the APs one at a time with
//! INIT-SIPI-SIPI, waiting for each to come online or giving up after
//! [`START_TIMEOUT_MS`]. CPU numbers are dense, in MADT order, boot CPU 0;
//! a CPU that does not start gets no number.
//!
//! Each AP: the kernel page tables and the boot CPU's CR0/CR4/EFER, its
//! own per-CPU area (GS), GDT and TSS with its own IST stacks, the shared
//! IDT, the syscall MSRs, its local APIC (timer masked until the
//! scheduler takes it), then online. It idles in `hlt`, answering IPIs
//! (`arch::ipi`), until the scheduler's AP entry is installed
//! ([`set_ap_main`]); then it runs that (its own idle task, its timer,
//! tasks from the shared run queue) and never comes back.
//!
//! Locking: `start_aps` runs once on the boot CPU before anything else
//! could use the other CPUs; `NEXT` hands one AP its IST stacks and is
//! only touched while that AP starts.
//!
//! `unsafe` here: writing the trampoline into low memory, and an AP's
//! first load of the kernel's CR3 and control registers.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use log::{info, warn};
use mm::percpu::MAX_CPUS;
use spin::{Mutex, Once};

use arch::smp::{CpuState, TRAMPOLINE_PAGES};

use crate::layout::PAGE_OFFSET;

/// How long an AP may take to come online (TCG is slow; a real CPU takes
/// microseconds).
const START_TIMEOUT_MS: u64 = 1000;

static STATE: Once<CpuState> = Once::new();
/// IST stacks (`[bottom, top)`: double fault, NMI, machine check) of the
/// AP being started.
static NEXT_IST: Mutex<[(u64, u64); 3]> = Mutex::new([(0, 0); 3]);
/// What an AP runs once the scheduler is ready (`proc::sched::ap_main`;
/// proc is above this layer, so it is handed down).
static AP_MAIN: Once<fn(usize) -> !> = Once::new();

/// Install the scheduler's AP entry and wake every AP to take it.
pub fn set_ap_main(f: fn(usize) -> !) {
    AP_MAIN.call_once(|| f);
    for cpu in 1..arch::smp::online() {
        arch::ipi::send_reschedule(cpu);
    }
}

/// Uptime (ns) at which each CPU came online, for idle accounting.
static ONLINE_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Nanoseconds CPU `cpu` has been online.
pub fn online_ns(cpu: usize) -> u64 {
    arch::time::uptime_ns().saturating_sub(ONLINE_AT[cpu].load(Ordering::Relaxed))
}

/// NUMA node of online CPU `cpu`, from SRAT's processor affinity (node 0
/// without SRAT, or for a CPU it does not list).
pub fn node_of(cpu: usize) -> u32 {
    arch::smp::apic_id_of(cpu).map_or(0, |id| crate::mem::page_alloc().topology.node_of_cpu(id))
}

/// The first `TRAMPOLINE_PAGES` consecutive usable RAM pages in
/// `[4 KiB, 640 KiB)` of the firmware map (a start-up IPI can only name a
/// page below 1 MiB, and the VGA hole starts at 640 KiB).
fn trampoline_base(e820: &mm::phys::e820::E820Table) -> Option<u64> {
    let need = TRAMPOLINE_PAGES * 4096;
    e820.entries().iter().filter(|e| e.kind == mm::phys::e820::E820Type::Usable).find_map(|e| {
        let start = e.start.max(0x1000).next_multiple_of(4096);
        (start + need <= e.end.min(0xa_0000)).then_some(start)
    })
}

/// Make the boot CPU CPU 0 and set up the IPI vectors (after its local
/// APIC is up).
pub fn init_boot_cpu() {
    mm::percpu::set_cpu_hook(arch::percpu::cpu_id);
    arch::ipi::init();
    mm::percpu::set_call_hook(arch::ipi::mm_call_on);
    // A CPU spinning on a kernel lock with interrupts off still answers
    // TLB shootdowns and mm's calls (see `arch::ipi`).
    mm::sync::set_spin_hook(arch::ipi::serve_polled);
    arch::smp::set_online(0, arch::apic::id());
    crate::mem::page_alloc().set_cpu_node(0, node_of(0));
    mm::percpu::set_nr_cpus(1);
}

/// Start every other CPU of the MADT; `nr_cpus` becomes the number online.
pub fn start_aps(e820: &mm::phys::e820::E820Table) {
    let Some(acpi) = crate::platform::acpi_info() else { return };
    let bsp = arch::apic::id();
    let aps: alloc::vec::Vec<u32> = acpi.cpu_apic_ids.iter().copied().filter(|&id| id != bsp).collect();
    if aps.is_empty() {
        return;
    }
    let Some(base) = trampoline_base(e820) else {
        warn!("smp: no free low memory for the AP trampoline; running on one CPU");
        return;
    };
    let root = crate::mem::kvm::kernel_root().as_u64();
    let va = PAGE_OFFSET + base;
    // SAFETY: `base` is usable RAM below 1 MiB, reserved in memblock
    // ("first 1 MiB") so nothing else uses it; the direct map covers it;
    // the kernel root is live and mapped in the direct map.
    unsafe { arch::smp::install(va, base, (PAGE_OFFSET + root) as *const u64) };
    STATE.call_once(|| CpuState::capture(root));
    for apic_id in aps {
        let cpu = arch::smp::online();
        if cpu >= MAX_CPUS {
            warn!("smp: more than {} CPUs; APIC id {} and later ignored", MAX_CPUS, apic_id);
            break;
        }
        let t0 = arch::time::uptime_ns();
        match start_one(va, base, cpu, apic_id) {
            Ok(()) => {
                info!("smp: CPU {} (apic id {}) online in {} us", cpu, apic_id, (arch::time::uptime_ns() - t0) / 1000)
            }
            Err(()) => warn!("smp: CPU {} (apic id {}) did not start", cpu, apic_id),
        }
    }
    mm::percpu::set_nr_cpus(arch::smp::online());
    info!("smp: {} CPUs online", arch::smp::online());
}

fn stack(name: &'static str) -> Result<(u64, u64), ()> {
    crate::mem::kvm::alloc_kernel_stack(name).map_err(|e| warn!("smp: no stack for an AP: {:?}", e))
}

/// INIT-SIPI-SIPI (Intel SDM Vol. 3A, 9.4.4.1: INIT, 10 ms, SIPI, 200 us,
/// SIPI), then wait for CPU `cpu` to come online.
fn start_one(va: u64, base: u64, cpu: usize, apic_id: u32) -> Result<(), ()> {
    let (_, top) = stack("ap_stack")?;
    *NEXT_IST.lock() = [stack("ist_double_fault")?, stack("ist_nmi")?, stack("ist_machine_check")?];
    arch::smp::set_next(va, cpu, top, ap_entry);
    let page = (base >> 12) as u8;
    arch::apic::send_init(apic_id);
    arch::time::udelay(10_000);
    for _ in 0..2 {
        arch::apic::send_startup(apic_id, page);
        arch::time::udelay(200);
    }
    let deadline = arch::time::uptime_ns() + START_TIMEOUT_MS * 1_000_000;
    while arch::smp::online() <= cpu {
        if arch::time::uptime_ns() > deadline {
            // Park it again, so it cannot wake up later on the next AP's
            // stack. Its stacks stay allocated, in case it still touches them.
            arch::apic::send_init(apic_id);
            return Err(());
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// Where an AP lands in 64-bit mode, on its own stack, CPU number in `cpu`.
extern "C" fn ap_entry(cpu: u64) -> ! {
    let cpu = cpu as usize;
    let state = STATE.get().expect("smp: AP started without a CPU state");
    // SAFETY: first thing on this AP, on its kernel stack in the upper
    // half; the state was captured on the boot CPU.
    unsafe { state.apply() };
    arch::percpu::init(cpu);
    let ist = *NEXT_IST.lock();
    arch::gdt::init_cpu(cpu, Some(ist));
    arch::idt::init();
    arch::syscall::init();
    arch::apic::init_ap();
    ONLINE_AT[cpu].store(arch::time::uptime_ns(), Ordering::Relaxed);
    arch::mmu::note_root(x86_64::registers::control::Cr3::read().0.start_address().as_u64());
    arch::smp::set_online(cpu, arch::apic::id());
    // Its allocations are local to its node from now on.
    crate::mem::page_alloc().set_cpu_node(cpu, node_of(cpu));
    loop {
        if let Some(main) = AP_MAIN.get() {
            main(cpu);
        }
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}
