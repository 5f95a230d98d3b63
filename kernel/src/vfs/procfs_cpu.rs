//! The CPU views of /proc, in Linux's formats: `cpuinfo` (what CPUID
//! says of each CPU), `stat` (time per CPU in USER_HZ ticks, interrupts,
//! context switches, boot time, processes) and `interrupts` (per vector
//! and CPU). Every online CPU is listed; tasks run on CPU 0 only so far,
//! so the others' time is all idle (since they came online).

use alloc::string::String;
use core::fmt::Write;

use arch::cpuinfo::Identity;

use crate::proc::{self, sched};

/// Every online CPU is the same model as the boot CPU (CPUID is read
/// there); only the numbers and APIC ids differ.
pub fn cpuinfo(s: &mut String) -> core::fmt::Result {
    (0..arch::smp::online()).try_for_each(|cpu| cpuinfo_one(s, cpu))
}

fn cpuinfo_one(s: &mut String, cpu: usize) -> core::fmt::Result {
    let id: Identity = arch::cpuinfo::identify();
    let mut brand = [0u8; 48];
    let name = arch::cpu::brand(&mut brand);
    let mhz = arch::time::tsc_hz() / 1000;
    let n = arch::smp::online();
    let apic = arch::smp::apic_id_of(cpu).unwrap_or(id.apic_id);
    writeln!(s, "processor\t: {cpu}")?;
    writeln!(s, "vendor_id\t: {}", id.vendor())?;
    writeln!(s, "cpu family\t: {}", id.family)?;
    writeln!(s, "model\t\t: {}", id.model)?;
    writeln!(s, "model name\t: {name}")?;
    writeln!(s, "stepping\t: {}", id.stepping)?;
    writeln!(s, "cpu MHz\t\t: {}.{:03}", mhz / 1000, mhz % 1000)?;
    if id.l2_kb != 0 {
        writeln!(s, "cache size\t: {} KB", id.l2_kb)?;
    }
    writeln!(s, "physical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {cpu}\ncpu cores\t: {n}")?;
    writeln!(s, "apicid\t\t: {apic}\ninitial apicid\t: {apic}")?;
    writeln!(s, "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes", id.cpuid_level)?;
    s.push_str("flags\t\t:");
    id.flags(|f| {
        s.push(' ');
        s.push_str(f);
    });
    s.push('\n');
    writeln!(s, "bugs\t\t:")?;
    writeln!(s, "bogomips\t: {}.{:02}", mhz * 2 / 1000, (mhz * 2 % 1000) / 10)?;
    writeln!(s, "clflush size\t: {}\ncache_alignment\t: {}", id.clflush, id.clflush)?;
    writeln!(s, "address sizes\t: {} bits physical, {} bits virtual", id.phys_bits, id.virt_bits)?;
    writeln!(s, "power management:\n")
}

/// The ISA interrupt lines the I/O APIC routes, with Linux's driver names.
const ISA_LINES: &[(u8, &str)] = &[(1, "i8042"), (4, "ttyS0")];

/// One column per online CPU, as Linux prints them.
pub fn interrupts(s: &mut String) -> core::fmt::Result {
    let cpus = arch::smp::online();
    s.push_str("    ");
    for cpu in 0..cpus {
        write!(s, " {:>10}", alloc::format!("CPU{cpu}"))?;
    }
    s.push('\n');
    let counts = |s: &mut String, name: &str, count: &dyn Fn(usize) -> u64| {
        write!(s, "{:>3}:", name)?;
        (0..cpus).try_for_each(|cpu| write!(s, " {:>10}", count(cpu)))
    };
    for &(irq, name) in ISA_LINES {
        counts(s, &alloc::format!("{irq}"), &|cpu| arch::trap::count_on(cpu, arch::ioapic::ISA_VECTOR_BASE + irq))?;
        writeln!(s, "   IO-APIC {:>4}-edge      {}", irq, name)?;
    }
    let vector = |s: &mut String, name: &str, v: u8, what: &str| {
        counts(s, name, &|cpu| arch::trap::count_on(cpu, v))?;
        writeln!(s, "   {what}")
    };
    vector(s, "NMI", 2, "Non-maskable interrupts")?;
    vector(s, "LOC", arch::apic::TIMER_VECTOR, "Local timer interrupts")?;
    vector(s, "SPU", arch::apic::SPURIOUS_VECTOR, "Spurious interrupts")?;
    for kind in arch::ipi::Kind::ALL {
        let (name, what) = kind.label();
        counts(s, name, &|cpu| arch::ipi::received(cpu, kind))?;
        writeln!(s, "   {what}")?;
    }
    vector(s, "MCE", 18, "Machine check exceptions")?;
    writeln!(s, "ERR: {:>10}\nMIS: {:>10}", 0, 0)
}

pub fn stat(s: &mut String) -> core::fmt::Result {
    let (user, system, idle) = sched::cpu_ticks();
    // The other CPUs run no tasks: idle since they came online.
    let ap_idle = |cpu: usize| crate::platform::smp::online_ns(cpu) / (1_000_000_000 / sched::HZ);
    let aps = 1..arch::smp::online();
    let all_idle = idle + aps.clone().map(ap_idle).sum::<u64>();
    // user nice system idle iowait irq softirq steal guest guest_nice
    writeln!(s, "cpu  {user} 0 {system} {all_idle} 0 0 0 0 0 0")?;
    writeln!(s, "cpu0 {user} 0 {system} {idle} 0 0 0 0 0 0")?;
    for cpu in aps {
        writeln!(s, "cpu{cpu} 0 0 0 {} 0 0 0 0 0 0", ap_idle(cpu))?;
    }
    // intr: the total, then each interrupt number from 0 (the ISA lines).
    let isa: [u64; 16] = core::array::from_fn(|irq| arch::trap::count(arch::ioapic::ISA_VECTOR_BASE + irq as u8));
    let total: u64 = (0..=255u8).filter(|&v| v >= 32).map(arch::trap::count).sum();
    write!(s, "intr {total}")?;
    for n in isa {
        write!(s, " {n}")?;
    }
    writeln!(s)?;
    writeln!(s, "ctxt {}", sched::CONTEXT_SWITCHES.load(core::sync::atomic::Ordering::Relaxed))?;
    let boot = arch::rtc::read_unix_time().saturating_sub(arch::time::uptime_ns() / 1_000_000_000);
    writeln!(s, "btime {boot}")?;
    writeln!(s, "processes {}", proc::processes_created())?;
    let running = proc::all_tasks().iter().filter(|t| t.pid() != 0 && t.state() == proc::RUNNABLE).count();
    writeln!(s, "procs_running {}\nprocs_blocked 0", running.max(1))?;
    writeln!(s, "softirq 0 0 0 0 0 0 0 0 0 0 0")
}
