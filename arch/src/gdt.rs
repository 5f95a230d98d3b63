//! Global descriptor table and task-state segment.
//!
//! Segment layout (fixed by SYSCALL/SYSRET, which derive selectors from STAR):
//!
//! ```text
//!   0x00 null
//!   0x08 kernel code        0x10 kernel data
//!   0x18 user data (|3)     0x20 user code (|3)
//!   0x28 TSS (two slots)
//! ```
//!
//! The TSS carries `rsp0` (the stack the CPU switches to on an interrupt from
//! ring 3) and the IST stacks: IST1 for double faults, so that a kernel stack
//! overflow still reaches a handler, IST2 for NMI and IST3 for machine checks.
//!
//! Every CPU has its own GDT (same layout, so the selectors are shared) and
//! TSS, in static arrays indexed by CPU number. The boot CPU starts on the
//! static IST stacks below; application processors get vmalloc'd ones
//! before they load their TSS. Locking: none; CPU N alone writes entry N,
//! with interrupts off.

use core::cell::UnsafeCell;

use mm::percpu::MAX_CPUS;
use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (1-based as the CPU counts) of each special stack.
pub const IST_DOUBLE_FAULT: u16 = 1;
pub const IST_NMI: u16 = 2;
pub const IST_MACHINE_CHECK: u16 = 3;

const IST_STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

struct IstStacks(UnsafeCell<[IstStack; 3]>);
// SAFETY: the stacks are only ever used by the CPU itself through the TSS;
// Rust code only takes their addresses.
unsafe impl Sync for IstStacks {}

static IST_STACKS: IstStacks = IstStacks(UnsafeCell::new([
    IstStack([0; IST_STACK_SIZE]),
    IstStack([0; IST_STACK_SIZE]),
    IstStack([0; IST_STACK_SIZE]),
]));

struct TssCell(UnsafeCell<TaskStateSegment>);
// SAFETY: CPU N's TSS is written only by CPU N (`set_kernel_stack`,
// `set_ist_stack`, `init`) with interrupts off; the CPU reads it on
// privilege changes and IST switches.
unsafe impl Sync for TssCell {}

static TSS: [TssCell; MAX_CPUS] = [const { TssCell(UnsafeCell::new(TaskStateSegment::new())) }; MAX_CPUS];

fn my_tss() -> *mut TaskStateSegment {
    TSS[crate::percpu::cpu_id()].0.get()
}

/// Selectors of the loaded GDT.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    pub kernel_code: SegmentSelector,
    pub kernel_data: SegmentSelector,
    pub user_data: SegmentSelector,
    pub user_code: SegmentSelector,
    pub tss: SegmentSelector,
}

static GDT: [Once<(GlobalDescriptorTable, Selectors)>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];

/// IST stacks moved elsewhere by [`set_ist_stack`], per CPU: `[start, end)`
/// per slot, (0, 0) while the boot CPU's static one is in use.
static IST_MOVED: [[[core::sync::atomic::AtomicU64; 2]; 3]; MAX_CPUS] =
    [const { [const { [const { core::sync::atomic::AtomicU64::new(0) }; 2] }; 3] }; MAX_CPUS];

/// Address range `[start, end)` of the running CPU's IST stack `ist`
/// (1-based).
pub fn ist_stack_range(ist: u16) -> (u64, u64) {
    ist_stack_range_of(crate::percpu::cpu_id(), ist)
}

fn ist_stack_range_of(cpu: usize, ist: u16) -> (u64, u64) {
    let moved = &IST_MOVED[cpu][ist as usize - 1];
    let (s, e) =
        (moved[0].load(core::sync::atomic::Ordering::Relaxed), moved[1].load(core::sync::atomic::Ordering::Relaxed));
    if e != 0 {
        return (s, e);
    }
    let base = IST_STACKS.0.get() as u64 + (ist as u64 - 1) * IST_STACK_SIZE as u64;
    (base, base + IST_STACK_SIZE as u64)
}

/// Run the running CPU's IST slot `ist` on the stack `[bottom, top)` from now on. The boot
/// stacks are statics with nothing unmapped around them; the kernel moves
/// them to vmalloc'd stacks with a guard page below once it can, so an
/// overflow faults instead of silently overwriting the neighbouring stack.
///
/// # Safety
/// `[bottom, top)` must be a mapped stack nothing else uses, for good.
pub unsafe fn set_ist_stack(ist: u16, bottom: u64, top: u64) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let moved = &IST_MOVED[crate::percpu::cpu_id()][ist as usize - 1];
        moved[0].store(bottom, core::sync::atomic::Ordering::Relaxed);
        moved[1].store(top, core::sync::atomic::Ordering::Relaxed);
        // SAFETY: an unaligned store into this CPU's packed static TSS; an
        // NMI or #MC arriving during it would use the old (still valid)
        // stack, or the new one: both are fine.
        unsafe {
            let tss = my_tss();
            core::ptr::addr_of_mut!((*tss).interrupt_stack_table[ist as usize - 1]).write_unaligned(VirtAddr::new(top));
        }
    });
}

/// Build and load the boot CPU's GDT and TSS, reload every segment register.
pub fn init() {
    init_cpu(0, None);
}

/// Build and load CPU `cpu`'s GDT and TSS (run on that CPU, interrupts off,
/// after `percpu::init(cpu)`). `ist` gives the `[bottom, top)` IST stacks
/// (double fault, NMI, machine check); `None` keeps the boot CPU's statics.
pub fn init_cpu(cpu: usize, ist: Option<[(u64, u64); 3]>) {
    if let Some(stacks) = ist {
        for (i, (bottom, top)) in stacks.into_iter().enumerate() {
            IST_MOVED[cpu][i][0].store(bottom, core::sync::atomic::Ordering::Relaxed);
            IST_MOVED[cpu][i][1].store(top, core::sync::atomic::Ordering::Relaxed);
        }
    }
    // SAFETY: runs once per CPU on that CPU before it enables interrupts,
    // so nothing else can be reading its TSS while we fill it.
    unsafe {
        let tss = &mut *TSS[cpu].0.get();
        for ist in [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK] {
            let (_, top) = ist_stack_range_of(cpu, ist);
            tss.interrupt_stack_table[ist as usize - 1] = VirtAddr::new(top);
        }
    }
    let (gdt, sel) = GDT[cpu].call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        // SAFETY: the TSS is a static that lives for the whole run.
        let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(TSS[cpu].0.get()) });
        (gdt, Selectors { kernel_code, kernel_data, user_data, user_code, tss })
    });
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, with
    // the types the registers require.
    unsafe {
        CS::set_reg(sel.kernel_code);
        SS::set_reg(sel.kernel_data);
        DS::set_reg(sel.kernel_data);
        ES::set_reg(sel.kernel_data);
        load_tss(sel.tss);
    }
}

/// Selectors of the loaded GDT (after `init`).
pub fn selectors() -> Selectors {
    GDT[0].get().expect("gdt: selectors() before init()").1
}

/// Set the stack the CPU loads on entry from ring 3 (TSS.rsp0).
pub fn set_kernel_stack(top: u64) {
    // SAFETY: an (unaligned: the TSS is packed) store into this CPU's static TSS; the CPU only
    // reads rsp0 when an interrupt arrives from ring 3, which cannot happen
    // while the kernel runs this code.
    unsafe {
        let tss = my_tss();
        core::ptr::addr_of_mut!((*tss).privilege_stack_table[0]).write_unaligned(VirtAddr::new(top));
    }
}
