//! The application processors: every CPU the MADT lists comes online with
//! a dense number, runs a function sent by call-function IPI (and answers
//! with its own number, from its own per-CPU area), and counts the TLB
//! flush IPIs it receives. Run with smp=2 and smp=4 (and smp=1: no APs).

#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};

use arch::ipi::{self, Kind};
use bootloader_api::{BootInfo, entry_point};
use kernel::ktest;

entry_point!(main, config = &kernel::BOOT_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    x86_64::instructions::interrupts::enable();
    ktest::run(
        "smp",
        &[
            ktest!(nr_cpus_is_the_madt_count),
            ktest!(every_cpu_is_online_with_its_apic_id),
            ktest!(call_function_runs_on_each_cpu),
            ktest!(call_function_on_others_reaches_every_ap),
            ktest!(each_cpu_has_its_own_gs_area_and_ist_stacks),
            ktest!(tlb_ipi_round_trip_is_counted_on_the_receiver),
            ktest!(reschedule_ipi_reaches_each_ap),
            ktest!(interrupts_lists_a_column_per_cpu),
            ktest!(affinity_covers_every_online_cpu),
            ktest!(every_cpu_takes_timer_ticks),
            ktest!(cpus_sit_on_the_numa_nodes_qemu_gave_them),
        ],
    )
}

fn madt_cpus() -> usize {
    kernel::platform::acpi_info().expect("no ACPI tables").cpu_apic_ids.len()
}

fn nr_cpus_is_the_madt_count() {
    assert_eq!(mm::percpu::nr_cpus(), madt_cpus());
    assert_eq!(arch::smp::online(), madt_cpus());
    assert_eq!(mm::percpu::this_cpu(), 0);
}

fn every_cpu_is_online_with_its_apic_id() {
    let ids = &kernel::platform::acpi_info().unwrap().cpu_apic_ids;
    let bsp = arch::apic::id();
    assert_eq!(arch::smp::apic_id_of(0), Some(bsp));
    let aps = ids.iter().filter(|&&id| id != bsp);
    for (cpu, &id) in (1..).zip(aps) {
        assert_eq!(arch::smp::apic_id_of(cpu), Some(id), "CPU {cpu}");
    }
    assert_eq!(arch::smp::apic_id_of(ids.len()), None);
}

/// The CPU number the mm hook reports, and the APIC id, packed.
fn whoami(tag: u64) -> u64 {
    ((arch::apic::id() as u64) << 32) | (mm::percpu::this_cpu() as u64) << 8 | tag
}

fn call_function_runs_on_each_cpu() {
    for cpu in 0..mm::percpu::nr_cpus() {
        let before = ipi::received(cpu, Kind::CallFunction);
        let r = ipi::call_on(cpu, whoami, 0x5a);
        let want = ((arch::smp::apic_id_of(cpu).unwrap() as u64) << 32) | (cpu as u64) << 8 | 0x5a;
        assert_eq!(r, want, "CPU {cpu}");
        // CPU 0 runs the function directly; every AP takes one IPI.
        assert_eq!(ipi::received(cpu, Kind::CallFunction), before + (cpu != 0) as u64, "CPU {cpu}");
    }
}

fn paranoid_id(_: u64) -> u64 {
    arch::percpu::cpu_id_paranoid() as u64
}

fn nmi_stack(_: u64) -> u64 {
    arch::gdt::ist_stack_range(arch::gdt::IST_NMI).1
}

fn each_cpu_has_its_own_gs_area_and_ist_stacks() {
    let mut tops = alloc::vec::Vec::new();
    for cpu in 0..mm::percpu::nr_cpus() {
        assert_eq!(ipi::call_on(cpu, paranoid_id, 0), cpu as u64);
        let top = ipi::call_on(cpu, nmi_stack, 0);
        assert!(top != 0 && !tops.contains(&top), "CPU {cpu}: NMI stack top {top:#x} in {tops:x?}");
        tops.push(top);
    }
}

static HITS: AtomicU64 = AtomicU64::new(0);

fn hit(cpu_bit_shift: u64) -> u64 {
    HITS.fetch_or(1 << (mm::percpu::this_cpu() as u64 + cpu_bit_shift), Ordering::Relaxed);
    0
}

fn call_function_on_others_reaches_every_ap() {
    HITS.store(0, Ordering::Relaxed);
    ipi::call_on_others(hit, 0);
    let n = mm::percpu::nr_cpus();
    let all_aps = ((1u64 << n) - 1) & !1;
    assert_eq!(HITS.load(Ordering::Relaxed), all_aps);
}

fn tlb_ipi_round_trip_is_counted_on_the_receiver() {
    let n = mm::percpu::nr_cpus();
    let before: alloc::vec::Vec<u64> = (0..n).map(|c| ipi::received(c, Kind::Tlb)).collect();
    for cpu in 1..n {
        ipi::flush_tlb_on(cpu, 0xffff_c900_0000_0000, 0xffff_c900_0000_2000);
    }
    ipi::flush_tlb_all_cpus(0, 0);
    // At least these (the kernel's own vmalloc changes shoot down too).
    for (cpu, b) in before.iter().enumerate().skip(1) {
        assert!(ipi::received(cpu, Kind::Tlb) >= b + 2, "CPU {cpu}");
    }
}

fn reschedule_ipi_reaches_each_ap() {
    for cpu in 1..mm::percpu::nr_cpus() {
        let before = ipi::received(cpu, Kind::Reschedule);
        ipi::send_reschedule(cpu);
        let deadline = arch::time::uptime_ns() + 1_000_000_000;
        while ipi::received(cpu, Kind::Reschedule) == before {
            assert!(arch::time::uptime_ns() < deadline, "CPU {cpu} did not take the reschedule IPI");
            core::hint::spin_loop();
        }
    }
}

fn interrupts_lists_a_column_per_cpu() {
    let mut s = alloc::string::String::new();
    kernel::vfs::procfs_cpu::interrupts(&mut s).unwrap();
    let header = s.lines().next().unwrap();
    assert_eq!(header.split_whitespace().count(), mm::percpu::nr_cpus(), "{header}");
    let tlb = s.lines().find(|l| l.trim_start().starts_with("TLB:")).expect("no TLB line");
    assert_eq!(tlb.split_whitespace().count(), 1 + mm::percpu::nr_cpus() + 2, "{tlb}");
    let mut st = alloc::string::String::new();
    kernel::vfs::procfs_cpu::stat(&mut st).unwrap();
    for cpu in 0..mm::percpu::nr_cpus() {
        assert!(st.contains(&alloc::format!("\ncpu{cpu} ")), "no cpu{cpu} line in /proc/stat");
    }
}

/// `boot` puts CPU c on node c % nodes (`-numa cpu`), APIC id = c.
fn cpus_sit_on_the_numa_nodes_qemu_gave_them() {
    let nodes = kernel::mem::page_alloc().topology.nr_nodes as usize;
    for cpu in 0..mm::percpu::nr_cpus() {
        assert_eq!(kernel::platform::smp::node_of(cpu) as usize, cpu % nodes, "CPU {cpu} of {nodes} nodes");
    }
}

fn affinity_covers_every_online_cpu() {
    let n = mm::percpu::nr_cpus();
    assert_eq!(kernel::proc::all_cpus_mask(), if n == 64 { u64::MAX } else { (1u64 << n) - 1 });
}

/// Every CPU runs the scheduler: its local timer ticks (LOC grows).
fn every_cpu_takes_timer_ticks() {
    let n = mm::percpu::nr_cpus();
    let before: alloc::vec::Vec<u64> = (0..n).map(|c| arch::trap::count_on(c, arch::apic::TIMER_VECTOR)).collect();
    let deadline = arch::time::uptime_ns() + 2_000_000_000;
    for (cpu, b) in before.iter().enumerate() {
        while arch::trap::count_on(cpu, arch::apic::TIMER_VECTOR) <= *b {
            assert!(arch::time::uptime_ns() < deadline, "CPU {cpu} takes no timer ticks");
            x86_64::instructions::interrupts::enable_and_hlt();
        }
    }
}
