//! What an NMI that nobody raised on purpose prints: Linux's "Uhhuh"
//! lines (`unknown_nmi_error`), then where this CPU was (Linux's
//! `nmi_cpu_backtrace`: the task, the registers, the call trace), the
//! same from every other CPU (asked by NMI IPI, as Linux's
//! `trigger_all_cpu_backtrace`; the external NMI line reaches only the
//! boot CPU), and every task with its state and, for a task that is
//! switched out, the call trace it sleeps in (sysrq-t's list).
//!
//! `boot` injects an NMI into every CPU (QMP `inject-nmi`) when a run
//! passes its timeout, so a hang leaves this report on serial: a spinning
//! CPU shows the loop it spins in, an idle machine shows who waits where.
//!
//! NMI context may interrupt any code, holding any lock, so nothing here
//! allocates or waits without a bound: the log line lock and the task
//! table are tried (the line lock for up to `LINE_WAIT_NS`, for another
//! CPU's report to finish) and the report is skipped when they stay busy;
//! task names are read only when their lock is free. Output goes to
//! serial alone (the framebuffer has a lock of its own).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use arch::trap::TrapFrame;
use mm::percpu::MAX_CPUS;

use crate::proc::{self, Task};

/// How long a CPU waits for another CPU's report to leave the line lock.
const LINE_WAIT_NS: u64 = 2_000_000_000;
/// Reports per CPU before NMIs go quiet (a storm must not flood serial).
const REPORTS_PER_CPU: u32 = 8;

static REPORTS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// The CPUs asked for their backtrace and not yet done.
static BACKTRACE_WANTED: AtomicU64 = AtomicU64::new(0);
/// One CPU at a time lists the tasks; the others' lists would repeat it.
static LISTING: AtomicBool = AtomicBool::new(false);

struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        arch::serial::write_str(s);
        Ok(())
    }
}

/// Handle an NMI (vector 2): a backtrace another CPU asked for (false),
/// or one with no known source (true; `reason`: port 0x61's bits).
pub fn nmi(frame: &TrapFrame, reason: u8) -> bool {
    let cpu = arch::percpu::cpu_id_paranoid() % MAX_CPUS;
    let bit = 1u64 << (cpu % 64);
    if BACKTRACE_WANTED.load(Ordering::Acquire) & bit != 0 {
        if let Some(line) = arch::logger::try_lock_line(LINE_WAIT_NS) {
            let _ = this_cpu(&mut Serial, cpu, frame);
            drop(line);
        }
        BACKTRACE_WANTED.fetch_and(!bit, Ordering::Release);
        return false;
    }
    if REPORTS[cpu].fetch_add(1, Ordering::Relaxed) >= REPORTS_PER_CPU {
        return true;
    }
    let Some(line) = arch::logger::try_lock_line(LINE_WAIT_NS) else { return true };
    let w = &mut Serial;
    let _ = writeln!(w, "Uhhuh. NMI received for unknown reason {reason:02x} on CPU {cpu}.");
    let _ = writeln!(w, "Dazed and confused, but trying to continue");
    let _ = this_cpu(w, cpu, frame);
    // The external NMI line reaches one CPU; the others are asked by
    // NMI IPI (Linux's `trigger_all_cpu_backtrace`), one after another.
    let others = arch::ipi::online_mask() & !bit;
    if others != 0 && BACKTRACE_WANTED.compare_exchange(0, others, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
        let _ = writeln!(w, "Sending NMI from CPU {cpu} to CPUs {others:#x}:");
        drop(line);
        for other in (0..64).filter(|c| others & (1 << c) != 0) {
            if let Some(id) = arch::smp::apic_id_of(other) {
                arch::apic::send_nmi(id);
            }
        }
        let end = arch::time::uptime_ns() + LINE_WAIT_NS;
        while BACKTRACE_WANTED.load(Ordering::Acquire) != 0 && arch::time::uptime_ns() < end {
            core::hint::spin_loop();
        }
        // A CPU that did not answer must not take a later NMI for a request.
        BACKTRACE_WANTED.store(0, Ordering::Release);
    } else {
        drop(line);
    }
    if !LISTING.swap(true, Ordering::Acquire) {
        if let Some(line) = arch::logger::try_lock_line(LINE_WAIT_NS) {
            let _ = tasks(w);
            drop(line);
        }
        LISTING.store(false, Ordering::Release);
    }
    true
}

fn this_cpu(w: &mut Serial, cpu: usize, frame: &TrapFrame) -> fmt::Result {
    writeln!(w, "NMI backtrace for cpu {cpu}")?;
    let mut named = Ok(());
    proc::sched::with_interrupted_task(cpu, |t| {
        named = write!(w, "CPU: {cpu} PID: {} Comm: ", t.pid()).and_then(|_| name(w, t)).and_then(|_| writeln!(w));
    });
    named?;
    if frame.is_user() {
        return writeln!(w, "RIP: {:04x}:{:016x} (user mode)", frame.cs, frame.rip);
    }
    frame.dump(w)?;
    writeln!(w, " [<{:016x}>] (interrupted instruction)", frame.rip)?;
    arch::backtrace::print_from(w, frame.rbp)
}

fn name(w: &mut Serial, t: &Task) -> fmt::Result {
    match t.inner.try_lock() {
        Some(inner) => w.write_str(&inner.name),
        None => w.write_str("<busy>"),
    }
}

/// The state letter /proc shows.
fn state_letter(t: &Task) -> char {
    match t.state() {
        proc::RUNNABLE => 'R',
        proc::SLEEPING if t.uninterruptible.load(Ordering::Relaxed) => 'D',
        proc::SLEEPING => 'S',
        proc::ZOMBIE => 'Z',
        proc::STOPPED => 'T',
        _ => '?',
    }
}

fn tasks(w: &mut Serial) -> fmt::Result {
    writeln!(w, "sysrq: Show State")?;
    let mut result = Ok(());
    let listed = proc::try_for_each_thread(|t| {
        if result.is_ok() {
            result = task(w, t);
        }
    });
    if !listed {
        writeln!(w, " <the task table is locked>")?;
    }
    result
}

fn task(w: &mut Serial, t: &Task) -> fmt::Result {
    write!(w, "task:")?;
    name(w, t)?;
    writeln!(
        w,
        " state:{} pid:{} tgid:{}{}",
        state_letter(t),
        t.pid(),
        t.tgid(),
        if t.on_cpu() { " (on a CPU)" } else { "" }
    )?;
    let (lo, hi) = t.kstack;
    if t.on_cpu() || t.state() == proc::ZOMBIE || hi == 0 {
        return Ok(());
    }
    arch::backtrace::print_switched_out(w, t.saved_rsp(), lo, hi)
}
