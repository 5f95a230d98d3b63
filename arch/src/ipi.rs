//! Inter-processor interrupts on fixed vectors, as Linux has them:
//!
//! - reschedule (`RES`): wakes a CPU idling in `hlt` so that it looks at
//!   the run queue (the handler only EOIs; the idle loop does the rest);
//! - call-function (`CAL`): run `fn(u64) -> u64` on one CPU or on every
//!   other online CPU and wait for completion (Linux's
//!   `smp_call_function_single` / `smp_call_function_many`); mm's calls
//!   (`mm::percpu::call_on`: flushing a CPU's slab) come on the same
//!   vector but through a mailbox of their own that is also polled, like
//!   the TLB's;
//! - TLB flush (`TLB`): the receiver invalidates a range, or everything
//!   (TLB shootdown).
//!
//! Each request goes into the target's per-CPU mailbox of that kind, then
//! the vector is sent; the handler runs it, stores the result and clears
//! `pending`, which the sender spins on. Received IPIs are counted per CPU
//! by the trap entry ([`received`], /proc/interrupts).
//!
//! Locking: one spin lock per mailbox kind (`CALL_LOCK`, `MM_CALL_LOCK`,
//! `TLB_LOCK`) serializes senders, so a mailbox holds at most one request;
//! they are never held together. A call-function sender waits with its
//! lock held, so it must not run with interrupts off: `call_*` assert
//! that. TLB shootdowns and mm's calls come from code that may hold
//! interrupt-off locks, so a CPU serves its own TLB and mm mailboxes by
//! polling ([`serve_polled`]) whenever it spins: while it waits for
//! `TLB_LOCK`, `MM_CALL_LOCK` or an answer, and (through `mm::sync`'s
//! spin hook) while it waits for any kernel lock. A shootdown or an mm
//! call therefore always finishes, whatever the targets were doing with
//! interrupts off. mm's calls only try-lock (see `mm::percpu::call_on`),
//! so serving one inside a spin cannot deadlock.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mm::percpu::MAX_CPUS;

use crate::{apic, smp, trap};

/// Vectors (Linux uses 0xfd reschedule, 0xfc call-function; these sit
/// just below the spurious vector).
pub const RESCHEDULE_VECTOR: u8 = 0xfd;
pub const CALL_FUNCTION_VECTOR: u8 = 0xfc;
pub const TLB_VECTOR: u8 = 0xfb;

/// The kinds, in /proc/interrupts order, with Linux's row names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Reschedule,
    CallFunction,
    Tlb,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Reschedule, Kind::CallFunction, Kind::Tlb];

    fn vector(self) -> u8 {
        match self {
            Kind::Reschedule => RESCHEDULE_VECTOR,
            Kind::CallFunction => CALL_FUNCTION_VECTOR,
            Kind::Tlb => TLB_VECTOR,
        }
    }

    /// Row name and description in /proc/interrupts.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Kind::Reschedule => ("RES", "Rescheduling interrupts"),
            Kind::CallFunction => ("CAL", "Function call interrupts"),
            Kind::Tlb => ("TLB", "TLB shootdowns"),
        }
    }
}

/// IPIs of `kind` CPU `cpu` has received.
pub fn received(cpu: usize, kind: Kind) -> u64 {
    trap::count_on(cpu, kind.vector())
}

/// One CPU's pending request of one kind.
struct Mailbox {
    pending: AtomicBool,
    a: AtomicU64,
    b: AtomicU64,
    result: AtomicU64,
}

impl Mailbox {
    const fn new() -> Self {
        Mailbox {
            pending: AtomicBool::new(false),
            a: AtomicU64::new(0),
            b: AtomicU64::new(0),
            result: AtomicU64::new(0),
        }
    }
}

static CALL_BOX: [Mailbox; MAX_CPUS] = [const { Mailbox::new() }; MAX_CPUS];
static MM_CALL_BOX: [Mailbox; MAX_CPUS] = [const { Mailbox::new() }; MAX_CPUS];
static TLB_BOX: [Mailbox; MAX_CPUS] = [const { Mailbox::new() }; MAX_CPUS];
static CALL_LOCK: spin::Mutex<()> = spin::Mutex::new(());
static MM_CALL_LOCK: spin::Mutex<()> = spin::Mutex::new(());
static TLB_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Flush everything when a range is longer than this many pages (Linux's
/// `tlb_single_page_flush_ceiling` is 33).
const FLUSH_CEILING_PAGES: u64 = 33;

fn on_reschedule(_: &mut trap::TrapFrame) {
    apic::eoi();
}

fn on_call_function(_: &mut trap::TrapFrame) {
    run_call(&CALL_BOX[crate::percpu::cpu_id()]);
    serve_mm_call();
    apic::eoi();
}

/// Run the call waiting in `mb`, if any.
fn run_call(mb: &Mailbox) {
    if mb.pending.load(Ordering::Acquire) {
        // SAFETY: the sender stored a `fn(u64) -> u64` in `a` (see `post`).
        let f: fn(u64) -> u64 = unsafe { core::mem::transmute(mb.a.load(Ordering::Relaxed) as usize) };
        mb.result.store(f(mb.b.load(Ordering::Relaxed)), Ordering::Relaxed);
        mb.pending.store(false, Ordering::Release);
    }
}

/// Run the mm call waiting for this CPU, if any.
fn serve_mm_call() {
    run_call(&MM_CALL_BOX[crate::percpu::cpu_id()]);
}

/// What a CPU does whenever it spins (see the module comment): serve its
/// TLB and mm mailboxes.
pub fn serve_polled() {
    serve_tlb();
    serve_mm_call();
}

/// `mm::percpu::call_on`'s hook: run `f(arg)` on online CPU `cpu` (not
/// this one) and wait for its answer; `None` if `cpu` is not online.
/// Callable with interrupts off: the sender serves its own mailboxes while
/// it waits, and the target serves the call from its IPI handler or while
/// it spins.
pub fn mm_call_on(cpu: usize, f: fn(u64) -> u64, arg: u64) -> Option<u64> {
    if cpu >= smp::online() {
        return None;
    }
    let _g = loop {
        if let Some(g) = MM_CALL_LOCK.try_lock() {
            break g;
        }
        serve_polled();
        core::hint::spin_loop();
    };
    let mb = &MM_CALL_BOX[cpu];
    mb.a.store(f as usize as u64, Ordering::Relaxed);
    mb.b.store(arg, Ordering::Relaxed);
    mb.pending.store(true, Ordering::Release);
    if let Some(id) = smp::apic_id_of(cpu) {
        apic::send_ipi(id, CALL_FUNCTION_VECTOR);
    }
    while mb.pending.load(Ordering::Acquire) {
        serve_polled();
        core::hint::spin_loop();
    }
    Some(mb.result.load(Ordering::Relaxed))
}

fn on_tlb(_: &mut trap::TrapFrame) {
    serve_tlb();
    apic::eoi();
}

/// Shootdowns sent (one per request, whatever the number of targets) and
/// requests served, per CPU (vmstat's nr_tlb_remote_flush and
/// nr_tlb_remote_flush_received).
static SENT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static SERVED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// (sent, received) remote TLB flushes on every CPU so far.
pub fn remote_flushes() -> (u64, u64) {
    let sum = |a: &[AtomicU64; MAX_CPUS]| a.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    (sum(&SENT), sum(&SERVED))
}

fn bump(a: &[AtomicU64; MAX_CPUS], cpu: usize) {
    a[cpu].fetch_add(1, Ordering::Relaxed);
}

/// Carry out a TLB request waiting for this CPU, if any (the IPI handler,
/// and every spinning CPU: see the module comment).
pub fn serve_tlb() {
    let cpu = crate::percpu::cpu_id();
    let mb = &TLB_BOX[cpu];
    if mb.pending.load(Ordering::Acquire) {
        flush_local(mb.a.load(Ordering::Relaxed), mb.b.load(Ordering::Relaxed));
        bump(&SERVED, cpu);
        mb.pending.store(false, Ordering::Release);
    }
}

/// Invalidate `[start, end)` (`end == 0`: everything) on the CPUs of
/// `targets` (a bit per CPU; this CPU's bit is ignored) and wait until
/// all are done. Callable with interrupts off.
pub fn shootdown(targets: u64, start: u64, end: u64) {
    let me = crate::percpu::cpu_id();
    let targets = targets & !(1u64 << me) & online_mask();
    if targets == 0 {
        return;
    }
    let _g = loop {
        if let Some(g) = TLB_LOCK.try_lock() {
            break g;
        }
        serve_polled();
        core::hint::spin_loop();
    };
    bump(&SENT, me);
    let cpus = || (0..MAX_CPUS).filter(move |c| targets & (1u64 << c) != 0);
    for cpu in cpus() {
        let mb = &TLB_BOX[cpu];
        mb.a.store(start, Ordering::Relaxed);
        mb.b.store(end, Ordering::Relaxed);
        mb.pending.store(true, Ordering::Release);
        if let Some(id) = smp::apic_id_of(cpu) {
            apic::send_ipi(id, TLB_VECTOR);
        }
    }
    for cpu in cpus() {
        while TLB_BOX[cpu].pending.load(Ordering::Acquire) {
            serve_polled();
            core::hint::spin_loop();
        }
    }
}

/// A bit per online CPU.
pub fn online_mask() -> u64 {
    let n = smp::online().min(64);
    if n == 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Invalidate `[start, end)` on this CPU; `end == 0` or a long range
/// flushes everything.
fn flush_local(start: u64, end: u64) {
    if end == 0 || end.saturating_sub(start) / 4096 > FLUSH_CEILING_PAGES {
        crate::mmu::flush_all();
    } else {
        let mut va = start & !0xfff;
        while va < end {
            crate::mmu::flush_page(va);
            va += 4096;
        }
    }
}

/// Register the IPI handlers (once, on the boot CPU, before any AP starts).
pub fn init() {
    trap::set_handler(RESCHEDULE_VECTOR, on_reschedule);
    trap::set_handler(CALL_FUNCTION_VECTOR, on_call_function);
    trap::set_handler(TLB_VECTOR, on_tlb);
}

/// Send reschedule IPIs to `cpu`.
pub fn send_reschedule(cpu: usize) {
    if let Some(id) = smp::apic_id_of(cpu) {
        apic::send_ipi(id, RESCHEDULE_VECTOR);
    }
}

/// Post `(a, b)` to each target's mailbox, send `vector`, wait for every
/// target to finish (results stay in the mailboxes).
fn post(boxes: &[Mailbox; MAX_CPUS], vector: u8, targets: impl Iterator<Item = usize> + Clone, a: u64, b: u64) {
    assert!(x86_64::instructions::interrupts::are_enabled(), "ipi: sending with interrupts off can deadlock");
    for cpu in targets.clone() {
        let mb = &boxes[cpu];
        mb.a.store(a, Ordering::Relaxed);
        mb.b.store(b, Ordering::Relaxed);
        mb.pending.store(true, Ordering::Release);
        if let Some(id) = smp::apic_id_of(cpu) {
            apic::send_ipi(id, vector);
        }
    }
    for cpu in targets {
        while boxes[cpu].pending.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
    }
}

fn others() -> impl Iterator<Item = usize> + Clone {
    let me = crate::percpu::cpu_id();
    (0..smp::online()).filter(move |&c| c != me)
}

/// Run `f(arg)` on online CPU `cpu` (directly if it is this one) and
/// return its result.
pub fn call_on(cpu: usize, f: fn(u64) -> u64, arg: u64) -> u64 {
    assert!(cpu < smp::online(), "ipi: CPU {cpu} is not online");
    if cpu == crate::percpu::cpu_id() {
        return f(arg);
    }
    let _g = CALL_LOCK.lock();
    post(&CALL_BOX, CALL_FUNCTION_VECTOR, core::iter::once(cpu), f as usize as u64, arg);
    CALL_BOX[cpu].result.load(Ordering::Relaxed)
}

/// Run `f(arg)` on every other online CPU and wait for all of them.
pub fn call_on_others(f: fn(u64) -> u64, arg: u64) {
    let _g = CALL_LOCK.lock();
    post(&CALL_BOX, CALL_FUNCTION_VECTOR, others(), f as usize as u64, arg);
}

/// Invalidate `[start, end)` (`end == 0`: everything) on this CPU and on
/// every other online CPU, waiting until all are done.
pub fn flush_tlb_all_cpus(start: u64, end: u64) {
    flush_local(start, end);
    shootdown(online_mask(), start, end);
}

/// Invalidate `[start, end)` on online CPU `cpu` only (by IPI, or directly
/// if it is this one).
pub fn flush_tlb_on(cpu: usize, start: u64, end: u64) {
    if cpu == crate::percpu::cpu_id() {
        return flush_local(start, end);
    }
    shootdown(1u64 << cpu, start, end);
}
