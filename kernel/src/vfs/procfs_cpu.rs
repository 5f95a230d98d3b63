//! The CPU views of /proc, in Linux's formats: `cpuinfo` (what CPUID
//! says of each CPU), `stat` (time per CPU in USER_HZ ticks, interrupts,
//! context switches, boot time, processes) and `interrupts` (per vector
//! and CPU). The kernel runs on one CPU so far: each view lists CPU 0, and
//! the TLB shootdown line stays 0 until other CPUs exist.

use alloc::string::String;
use core::fmt::Write;

use arch::cpuinfo::Identity;

use crate::proc::{self, sched};

pub fn cpuinfo(s: &mut String) -> core::fmt::Result {
    let id: Identity = arch::cpuinfo::identify();
    let mut brand = [0u8; 48];
    let name = arch::cpu::brand(&mut brand);
    let mhz = arch::time::tsc_hz() / 1000;
    let cpu = 0;
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
    writeln!(s, "physical id\t: 0\nsiblings\t: 1\ncore id\t\t: {cpu}\ncpu cores\t: 1")?;
    writeln!(s, "apicid\t\t: {}\ninitial apicid\t: {}", id.apic_id, id.apic_id)?;
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

pub fn interrupts(s: &mut String) -> core::fmt::Result {
    writeln!(s, "{:>15}", "CPU0")?;
    for &(irq, name) in ISA_LINES {
        let n = arch::trap::count(arch::ioapic::ISA_VECTOR_BASE + irq);
        writeln!(s, "{:>3}: {:>10}   IO-APIC {:>4}-edge      {}", irq, n, irq, name)?;
    }
    let line = |s: &mut String, name: &str, n: u64, what: &str| writeln!(s, "{:>3}: {:>10}   {}", name, n, what);
    line(s, "NMI", arch::trap::count(2), "Non-maskable interrupts")?;
    line(s, "LOC", arch::trap::count(arch::apic::TIMER_VECTOR), "Local timer interrupts")?;
    line(s, "SPU", arch::trap::count(arch::apic::SPURIOUS_VECTOR), "Spurious interrupts")?;
    line(s, "MCE", arch::trap::count(18), "Machine check exceptions")?;
    line(s, "TLB", 0, "TLB shootdowns")?;
    writeln!(s, "ERR: {:>10}\nMIS: {:>10}", 0, 0)
}

pub fn stat(s: &mut String) -> core::fmt::Result {
    let (user, system, idle) = sched::cpu_ticks();
    // user nice system idle iowait irq softirq steal guest guest_nice
    writeln!(s, "cpu  {user} 0 {system} {idle} 0 0 0 0 0 0")?;
    writeln!(s, "cpu0 {user} 0 {system} {idle} 0 0 0 0 0 0")?;
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
