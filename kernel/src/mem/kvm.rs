//! The kernel's own address space (cf. arch/x86/mm/init_64.c, init.c).
//!
//! Until here the kernel runs on the bootloader's page tables. This module
//! builds its own and switches to them:
//!
//! ```text
//!   PAGE_OFFSET ..      direct map of [0, 4 GiB) and all RAM above,
//!                       1 GiB pages where the CPU has them, else 2 MiB; RW NX
//!   VMALLOC_START ..    vmalloc areas (kernel stacks, initrd, framebuffer)
//!   KERNEL_BASE ..      the kernel image, segment by segment with W^X:
//!                       text R-X, rodata R--, relro R--, data/bss RW-
//!   bootloader window   the boot stack only (it is the stack we run on)
//! ```
//!
//! Every kernel mapping is global. The PML4 slots of the kernel half are
//! given their PDPT now, once, so that every process PML4 can copy them and
//! stay in sync forever. A W^X audit walks the new tables before the switch
//! (Linux's `ptdump_check_wx`). After the switch, SMEP, SMAP and global
//! pages are turned on, and the memory the bootloader used (its page tables,
//! boot info, the ELF copy, its scratch memory) goes back to the buddy
//! allocator.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use arch::mm_hooks::KERNEL_TLB;
use log::{info, warn};
use x86_64::structures::paging::PageTableFlags as F;

use formats::elf::{Elf, PT_GNU_RELRO};
use mm::addr::{PAGE_SIZE, Pfn, PhysAddr, VirtAddr};
use mm::kalloc::vmalloc::{KernelSpace, VmKind, Vmalloc, VmallocError};
use mm::phys::PhysMem;
use mm::phys::e820::E820Table;
use mm::phys::gfp::Gfp;
use mm::phys::page::PageFlags;
use mm::vm::page_table::{self, MapSize, Mapper, TableAlloc};

use crate::layout::{BOOTLOADER_WINDOW_START, KERNEL_BASE, PAGE_OFFSET, VMALLOC_END, VMALLOC_START};
use crate::mem::boot::BootSnapshot;

/// Page-table pages for kernel and user tables: zeroed buddy pages, marked
/// and counted (meminfo's PageTables).
pub struct KernelTables;

impl TableAlloc for KernelTables {
    fn alloc_table(&self) -> Option<PhysAddr> {
        let pa = super::page_alloc();
        let pfn = pa.alloc_pages(Gfp::ZERO | Gfp::DIRECT_RECLAIM, 0)?;
        if let Some(p) = pa.page(pfn) {
            p.insert_flags(PageFlags::PAGETABLE);
        }
        pa.vmstat.page_table_pages.add(1);
        Some(PhysAddr::new(pfn.phys()))
    }

    fn free_table(&self, table: PhysAddr) {
        let pa = super::page_alloc();
        let pfn = Pfn::from_phys(table.as_u64());
        if let Some(p) = pa.page(pfn) {
            p.remove_flags(PageFlags::PAGETABLE);
        }
        pa.vmstat.page_table_pages.sub(1);
        if let Err(e) = pa.free_pages(pfn, 0) {
            log::error!("kvm: freeing page table {:#x}: {}", table.as_u64(), e);
        }
    }
}

pub static TABLES: KernelTables = KernelTables;
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
static VMALLOC: Vmalloc = Vmalloc::new(VMALLOC_START, VMALLOC_END);
/// Direct-map bytes per page size (4K, 2M, 1G), for /proc/meminfo.
pub static DIRECT_MAP: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// The kernel's PML4 (after `init`).
pub fn kernel_root() -> PhysAddr {
    PhysAddr::new(KERNEL_ROOT.load(Ordering::Acquire))
}

/// The kernel page tables as vmalloc sees them.
pub fn kernel_space() -> KernelSpace<'static> {
    KernelSpace { pa: super::page_alloc(), tables: &TABLES, root: kernel_root(), tlb: &KERNEL_TLB }
}

/// The vmalloc area.
pub fn vmalloc_area() -> &'static Vmalloc {
    &VMALLOC
}

/// `vmalloc(size)`.
pub fn vmalloc(size: u64, caller: &'static str) -> Result<u64, VmallocError> {
    VMALLOC.vmalloc(&kernel_space(), size, VmKind::Vmalloc, caller, false)
}

/// `vfree(addr)`.
pub fn vfree(va: u64) -> Result<(), VmallocError> {
    VMALLOC.vfree(&kernel_space(), va)
}

/// Size of every kernel stack.
pub const KERNEL_STACK_SIZE: u64 = 32 * 1024;

/// A kernel stack from vmalloc: zeroed, with an unmapped guard page below
/// it. Returns `[bottom, top)`. Its pages are charged to the memory cgroup
/// of the running task (fork: the parent's, which is the child's), never
/// refused (Linux's `memcg_charge_kernel_stack`); vfree's free of each
/// page uncharges it.
pub fn alloc_kernel_stack(caller: &'static str) -> Result<(u64, u64), VmallocError> {
    let bottom = VMALLOC.vmalloc(&kernel_space(), KERNEL_STACK_SIZE, VmKind::KernelStack, caller, true)?;
    let pa = super::page_alloc();
    for va in (bottom..bottom + KERNEL_STACK_SIZE).step_by(PAGE_SIZE as usize) {
        if let Some(t) = page_table::translate(pa.phys(), kernel_root(), VirtAddr::new(va)) {
            pa.memcg_charge(
                Pfn::from_phys(t.phys.as_u64()),
                mm::memcg::MemcgStat::KernelStack,
                mm::phys::page_alloc::ChargeMode::Force,
            );
        }
    }
    Ok((bottom, bottom + KERNEL_STACK_SIZE))
}

/// Move the double-fault, NMI and machine-check stacks (IST) from the
/// boot statics to vmalloc'd stacks with an unmapped guard page below each:
/// an overflow of one of them then faults (reported by the double-fault
/// handler, which names the stack) instead of running into its neighbour.
/// The double-fault stack's own overflow can only end in a triple fault,
/// as on Linux. Failure keeps the static stacks (logged).
pub fn install_ist_stacks() {
    use arch::gdt::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};
    for (ist, name) in
        [(IST_DOUBLE_FAULT, "ist_double_fault"), (IST_NMI, "ist_nmi"), (IST_MACHINE_CHECK, "ist_machine_check")]
    {
        match alloc_kernel_stack(name) {
            // SAFETY: a fresh, mapped stack that is never freed.
            Ok((bottom, top)) => unsafe { arch::gdt::set_ist_stack(ist, bottom, top) },
            Err(e) => log::error!("kvm: no guarded stack for IST{}: {:?}; keeping the boot one", ist, e),
        }
    }
}

/// Give a kernel stack back.
pub fn free_kernel_stack(bottom: u64) -> Result<(), VmallocError> {
    VMALLOC.vfree(&kernel_space(), bottom)
}

/// Per-page rights of the kernel image, from its program headers.
fn image_pages(elf: &Elf, base: u64, old_root: PhysAddr, win: &dyn PhysMem) -> BTreeMap<u64, (u64, F)> {
    let relro =
        elf.program_headers().find(|p| p.p_type == PT_GNU_RELRO).map(|p| (base + p.vaddr, base + p.vaddr + p.memsz));
    let mut pages: BTreeMap<u64, (u64, bool, bool)> = BTreeMap::new();
    for (_, seg) in elf.load_segments() {
        let (start, end) = (base + seg.vaddr, base + seg.end());
        let mut va = start & !(PAGE_SIZE - 1);
        while va < end {
            // Writable if some writable byte of the segment in this page lies
            // outside RELRO (RELRO is read-only once relocated).
            let (lo, hi) = (va.max(start), (va + PAGE_SIZE).min(end));
            let w = seg.writable() && relro.is_none_or(|(rs, re)| lo < rs || hi > re);
            let Some(t) = page_table::translate(win, old_root, VirtAddr::new(va)) else {
                warn!("kvm: kernel page {:#x} not mapped by the bootloader", va);
                va += PAGE_SIZE;
                continue;
            };
            let e = pages.entry(va).or_insert((t.phys.as_u64() & !(PAGE_SIZE - 1), false, false));
            e.1 |= w;
            e.2 |= seg.executable();
            va += PAGE_SIZE;
        }
    }
    pages
        .into_iter()
        .map(|(va, (pa, w, x))| {
            let mut f = F::GLOBAL;
            if w {
                f |= F::WRITABLE;
            }
            if !x {
                f |= F::NO_EXECUTE;
            }
            (va, (pa, f))
        })
        .collect()
}

/// Report every mapping in the kernel half that is both writable and
/// executable. Returns how many pages are.
pub fn audit_wx(root: PhysAddr) -> u64 {
    let m = Mapper::new(super::direct_map(), &TABLES, root);
    let mut bad = 0;
    m.for_each_leaf(0xffff_8000_0000_0000, u64::MAX, &mut |l| {
        if l.writable && l.executable {
            if bad < 8 {
                warn!("x86/mm: Found insecure W+X mapping at address {:#x} ({:?})", l.va, l.size);
            }
            bad += l.size.bytes() / PAGE_SIZE;
        }
    });
    if bad == 0 {
        info!("x86/mm: Checked W+X mappings: passed, no W+X pages found.");
    } else {
        warn!("x86/mm: Checked W+X mappings: FAILED, {} W+X pages found.", bad);
    }
    bad
}

fn map(m: &mut Mapper<'_>, va: u64, pa: u64, len: u64, flags: F, max: MapSize, what: &str) {
    if let Err(e) = m.map_range(va, pa, len, flags, max) {
        panic!("kvm: cannot map {} [{:#x}+{:#x}]: {:?}", what, va, len, e);
    }
}

/// Build the kernel page tables, switch to them, enable the protections and
/// release the bootloader's memory.
pub fn init(e820: &E820Table, snap: &BootSnapshot) {
    let pa = super::page_alloc();
    let win = super::direct_map();
    let old_root = PhysAddr::new(arch::mmu::current_root());
    let root = TABLES.alloc_table().expect("kvm: no page for the kernel PML4");
    KERNEL_ROOT.store(root.as_u64(), Ordering::Release);
    let mut m = Mapper::new(win, &TABLES, root);
    let features = arch::cpu::features();
    let max = if features.page_1g { MapSize::Size1G } else { MapSize::Size2M };

    // The direct map: [0, 4 GiB) for RAM and the MMIO below it, plus every
    // RAM range above.
    let direct = F::WRITABLE | F::NO_EXECUTE | F::GLOBAL;
    let before = mapped_sizes(&m, PAGE_OFFSET, PAGE_OFFSET + (1 << 46));
    map(&mut m, PAGE_OFFSET, 0, 4 << 30, direct, max, "direct map");
    for e in e820.entries().iter().filter(|e| e.kind.is_ram() && e.end > 4 << 30) {
        let s = e.start.max(4 << 30).next_multiple_of(PAGE_SIZE);
        let end = e.end & !(PAGE_SIZE - 1);
        if end > s {
            map(&mut m, PAGE_OFFSET + s, s, end - s, direct, max, "direct map");
        }
    }
    let after = mapped_sizes(&m, PAGE_OFFSET, PAGE_OFFSET + (1 << 46));
    for i in 0..3 {
        DIRECT_MAP[i].store(after[i] - before[i], Ordering::Relaxed);
    }

    // Every kernel-half slot the kernel will ever use gets its PDPT now.
    let mut va = VMALLOC_START;
    while va < VMALLOC_END {
        m.prealloc_pdpt(va).expect("kvm: no page for a vmalloc PDPT");
        va += 1 << 39;
    }
    for va in [KERNEL_BASE, BOOTLOADER_WINDOW_START] {
        m.prealloc_pdpt(va).expect("kvm: no page for a kernel PDPT");
    }

    // The kernel image, section by section with W^X.
    let elf_bytes = win
        .ptr(PhysAddr::new(snap.kernel_elf_phys), snap.kernel_elf_len as usize)
        // SAFETY: the ELF copy stays reserved until the end of this function.
        .map(|p| unsafe { core::slice::from_raw_parts(p as *const u8, snap.kernel_elf_len as usize) });
    let elf = elf_bytes.and_then(|b| Elf::parse(b).ok()).expect("kvm: cannot read the kernel's program headers");
    let pages = image_pages(&elf, snap.kernel_image_va, old_root, win);
    let (mut text, mut ro, mut rw) = (0, 0, 0);
    for (&va, &(frame, flags)) in &pages {
        map(&mut m, va, frame, PAGE_SIZE, flags, MapSize::Size4K, "kernel image");
        match (flags.contains(F::WRITABLE), flags.contains(F::NO_EXECUTE)) {
            (false, false) => text += 1,
            (false, true) => ro += 1,
            _ => rw += 1,
        }
        if let Some(p) = pa.page(Pfn::from_phys(frame)) {
            p.insert_flags(PageFlags::KERNEL);
        }
    }
    info!(
        "kvm: kernel image mapped with W^X: text {}K (r-x), rodata+relro {}K (r--), data+bss {}K (rw-)",
        text * 4,
        ro * 4,
        rw * 4
    );

    // The boot stack we are running on (its guard page stays unmapped).
    let mut va = snap.stack_bottom;
    while va < snap.stack_bottom + snap.stack_len {
        if let Some(t) = page_table::translate(win, old_root, VirtAddr::new(va)) {
            map(&mut m, va, t.phys.as_u64() & !(PAGE_SIZE - 1), PAGE_SIZE, direct, MapSize::Size4K, "boot stack");
        }
        va += PAGE_SIZE;
    }

    // The initrd and the framebuffer move into vmalloc space.
    let mut new_initrd = None;
    if let (Some(rd), true) = (snap.ramdisk_va, snap.ramdisk_len > 0) {
        let frames: Vec<u64> = (0..snap.ramdisk_len.div_ceil(PAGE_SIZE))
            .filter_map(|i| page_table::translate(win, old_root, VirtAddr::new(rd + i * PAGE_SIZE)))
            .map(|t| t.phys.as_u64() & !(PAGE_SIZE - 1))
            .collect();
        match VMALLOC.vmap(&kernel_space(), frames, F::NO_EXECUTE, VmKind::Vmap, "initrd") {
            Ok(v) => new_initrd = Some(v),
            Err(e) => warn!("kvm: cannot map the initrd: {:?}", e),
        }
    }
    let mut new_fb = None;
    if let Some(fb) = snap.framebuffer_va {
        if let Some(t) = page_table::translate(win, old_root, VirtAddr::new(fb)) {
            let flags = F::WRITABLE | F::NO_EXECUTE | F::WRITE_THROUGH;
            match VMALLOC.ioremap(&kernel_space(), t.phys.as_u64(), snap.framebuffer_len, flags, "framebuffer") {
                Ok(v) => new_fb = Some(v),
                Err(e) => warn!("kvm: cannot map the framebuffer: {:?}", e),
            }
        }
    }

    let bad = audit_wx(root);
    if bad > 0 && crate::cmdline::value("test.allow_wx").is_none() {
        panic!("kvm: {} W+X kernel pages", bad);
    }

    // SAFETY: the new tables map the kernel image (code we run), the boot
    // stack (which we run on), the direct map (heap, memmap, page tables)
    // and the initrd/framebuffer, which are re-pointed right below before
    // anything else uses them.
    unsafe { arch::mmu::load_root(root.as_u64()) };
    arch::mmu::set_kernel_root(root.as_u64());
    if let Some(v) = new_fb {
        // SAFETY: `v` maps the same framebuffer bytes the console used.
        unsafe { arch::fbcon::relocate(v as *mut u8) };
    }
    if let (Some(v), Some(old)) = (new_initrd, crate::initrd::archive()) {
        // SAFETY: `v` maps the same `old.len()` bytes, read-only, for the
        // rest of the run.
        crate::initrd::relocate(unsafe { core::slice::from_raw_parts(v as *const u8, old.len()) });
    }
    let prot = arch::cpu::enable_protections();
    info!(
        "kvm: switched to the kernel page tables (PML4 at {:#x}); NX {} WP {} SMEP {} SMAP {} PGE {}",
        root.as_u64(),
        prot.nx,
        prot.wp,
        prot.smep,
        prot.smap,
        prot.pge
    );
    info!(
        "kvm: direct map {} MiB in 1G pages, {} MiB in 2M pages, {} KiB in 4K pages",
        DIRECT_MAP[2].load(Ordering::Relaxed) >> 20,
        DIRECT_MAP[1].load(Ordering::Relaxed) >> 20,
        DIRECT_MAP[0].load(Ordering::Relaxed) >> 10
    );
    release_bootloader_memory();
}

/// Bytes mapped in `[start, end)` by 4K, 2M and 1G leaves.
fn mapped_sizes(m: &Mapper<'_>, start: u64, end: u64) -> [u64; 3] {
    let mut s = [0; 3];
    m.for_each_leaf(start, end, &mut |l| {
        let i = match l.size {
            MapSize::Size4K => 0,
            MapSize::Size2M => 1,
            MapSize::Size1G => 2,
        };
        s[i] += l.size.bytes();
    });
    s
}

/// Reservations the kernel no longer needs once it runs on its own tables.
const BOOTLOADER_RESERVATIONS: [&str; 4] =
    ["bootloader page tables", "boot info", "kernel ELF (boot copy)", "bootloader (other)"];

/// `free_initmem` for the bootloader: give its memory to the buddy
/// allocator and drop the reservations.
fn release_bootloader_memory() {
    let pa = super::page_alloc();
    let mut mb = super::memblock();
    let mut ranges: Vec<(u64, u64)> = mb
        .reserved
        .regions()
        .iter()
        .filter(|r| BOOTLOADER_RESERVATIONS.contains(&r.name))
        .map(|r| (r.base, r.end()))
        .collect();
    ranges.sort_unstable();
    // Merge neighbours so pages shared by two released pieces go too.
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => merged.push((s, e)),
        }
    }
    let mut pages = 0;
    for &(s, e) in &merged {
        if let Err(err) = mb.free(s, e - s) {
            warn!("memblock: cannot drop reservation [{:#x}-{:#x}]: {}", s, e, err);
        }
        pages += pa.release_reserved(s, e);
    }
    pa.setup_watermarks(crate::cmdline::value("min_free_kbytes").and_then(|v| v.parse().ok()));
    info!("Freeing unused bootloader memory: {}K", pages * PAGE_SIZE / 1024);
}
