//! Physical memory bring-up, in the order Linux's `setup_arch` and
//! `mm_core_init` do it on x86:
//!
//! 1. every RAM range of the firmware map goes into memblock.memory;
//! 2. everything in use is reserved, by name: the first page and the low
//!    1 MiB, the kernel image, the initrd, the boot stack, the boot info,
//!    the bootloader's page tables, the framebuffer, the ACPI tables, every
//!    non-usable firmware range, and whatever else the bootloader used;
//! 3. NUMA: SRAT/SLIT assign memory to nodes (one node without them);
//! 4. the memory map (page descriptors) and the zones are built;
//! 5. hand-off: all free memblock memory goes to the buddy allocators,
//!    watermarks are computed, and memblock stops allocating.

use core::fmt::Write;

use log::{Level, info, warn};

use arch::logger::LineLogger;
use formats::elf::Elf;
use mm::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use mm::phys::e820::{E820Table, E820Type};
use mm::phys::memblock::Memblock;
use mm::phys::numa::Topology;
use mm::phys::page_alloc::PageAllocator;
use mm::phys::zone::ZoneType;
use mm::phys::{LinearWindow, PhysMem};
use mm::vm::page_table;

use crate::layout::PAGE_OFFSET;

/// What boot needs to know about the bootloader's hand-over, copied out of
/// `BootInfo` before anything else touches it.
#[derive(Clone, Copy, Debug, Default)]
pub struct BootSnapshot {
    pub boot_info_va: u64,
    pub memory_regions_va: u64,
    pub memory_regions_len: u64,
    pub kernel_elf_phys: u64,
    pub kernel_elf_len: u64,
    pub kernel_image_va: u64,
    pub ramdisk_va: Option<u64>,
    pub ramdisk_len: u64,
    pub stack_bottom: u64,
    pub stack_len: u64,
    pub framebuffer_va: Option<u64>,
    pub framebuffer_len: u64,
}

/// Reserve the physical pages backing `[va, va + len)` in the current
/// (bootloader's) page tables, coalescing contiguous runs.
fn reserve_virt(mb: &mut Memblock, win: &LinearWindow, va: u64, len: u64, name: &'static str) -> u64 {
    let root = PhysAddr::new(arch::mmu::current_root());
    let mut run: Option<(u64, u64)> = None;
    let mut total = 0;
    let flush = |mb: &mut Memblock, run: Option<(u64, u64)>| {
        if let Some((s, e)) = run {
            if let Err(e2) = mb.reserve(s, e - s, name) {
                warn!("memblock: cannot reserve {} [{:#x}-{:#x}]: {}", name, s, e, e2);
            }
        }
    };
    let mut page = va & !(PAGE_SIZE - 1);
    while page < va + len {
        if let Some(t) = page_table::translate(win, root, VirtAddr::new(page)) {
            let pa = t.phys.as_u64() & !(PAGE_SIZE - 1);
            total += PAGE_SIZE;
            run = match run {
                Some((s, e)) if e == pa => Some((s, e + PAGE_SIZE)),
                other => {
                    flush(mb, other);
                    Some((pa, pa + PAGE_SIZE))
                }
            };
        }
        page += PAGE_SIZE;
    }
    flush(mb, run);
    total
}

fn type_name(t: E820Type) -> &'static str {
    match t {
        E820Type::AcpiData => "firmware: ACPI data",
        E820Type::AcpiNvs => "firmware: ACPI NVS",
        E820Type::Persistent => "firmware: persistent memory",
        E820Type::Unusable => "firmware: unusable",
        E820Type::Reserved => "firmware: reserved",
        E820Type::Usable | E820Type::Bootloader => "",
    }
}

/// Steps 1 and 2: memblock from the firmware map, and the reservations.
fn setup_memblock(
    mb: &mut Memblock,
    win: &'static LinearWindow,
    e820: &E820Table,
    snap: &BootSnapshot,
    acpi: Option<&arch::acpi::AcpiInfo>,
) {
    mb.set_phys(win);
    mb.debug = crate::cmdline::value("memblock") == Some("debug");
    for e in e820.entries().iter().filter(|e| e.kind.is_ram()) {
        if let Err(err) = mb.add(e.start, e.len()) {
            warn!("memblock: cannot add [{:#x}-{:#x}]: {}", e.start, e.end, err);
        }
    }
    let reserve = |mb: &mut Memblock, base: u64, size: u64, name: &'static str| {
        if size == 0 {
            return;
        }
        if let Err(err) = mb.reserve(base, size, name) {
            warn!("memblock: cannot reserve {} [{:#x}+{:#x}]: {}", name, base, size, err);
        }
    };
    // The first page (real-mode IVT, BIOS data area) and the rest of the
    // low 1 MiB, as Linux does on x86 (reserve_low, "always reserve the
    // first 1M").
    reserve(mb, 0, PAGE_SIZE, "first page (real-mode IVT, BDA)");
    reserve(mb, PAGE_SIZE, 0x10000 - PAGE_SIZE, "low memory (X86_RESERVE_LOW)");
    reserve(mb, 0x10000, 0x100000 - 0x10000, "first 1 MiB (BIOS, EBDA, real mode)");

    // The kernel image: the pages the kernel's loadable segments map to.
    let elf_bytes = win
        .ptr(PhysAddr::new(snap.kernel_elf_phys), snap.kernel_elf_len as usize)
        // SAFETY: the bootloader loaded the kernel ELF there and keeps it
        // reserved (Bootloader-type memory); we only read it.
        .map(|p| unsafe { core::slice::from_raw_parts(p as *const u8, snap.kernel_elf_len as usize) });
    match elf_bytes.map(Elf::parse) {
        Some(Ok(elf)) => {
            let (lo, hi) = elf.load_extent();
            let bytes = reserve_virt(mb, win, snap.kernel_image_va + lo, hi - lo, "kernel image");
            info!(
                "kernel: image [{:#x}-{:#x}], {} KiB",
                snap.kernel_image_va + lo,
                snap.kernel_image_va + hi - 1,
                bytes / 1024
            );
        }
        Some(Err(e)) => warn!("kernel: cannot read own ELF headers: {}", e),
        None => warn!("kernel: ELF copy outside the direct map"),
    }
    if let Some(rd) = snap.ramdisk_va {
        reserve_virt(mb, win, rd, snap.ramdisk_len, "ramdisk (initrd)");
    }
    reserve_virt(mb, win, snap.stack_bottom, snap.stack_len, "boot stack");
    reserve_virt(mb, win, snap.boot_info_va, PAGE_SIZE, "boot info");
    reserve_virt(mb, win, snap.memory_regions_va, snap.memory_regions_len, "boot info");
    let mut tables = alloc::vec::Vec::new();
    page_table::for_each_table(win, PhysAddr::new(arch::mmu::current_root()), 0..512, &mut |pa, _| {
        tables.push(pa.as_u64())
    });
    tables.sort_unstable();
    for pa in &tables {
        reserve(mb, *pa, PAGE_SIZE, "bootloader page tables");
    }
    if let Some(fb) = snap.framebuffer_va {
        reserve_virt(mb, win, fb, snap.framebuffer_len, "framebuffer");
    }
    if let Some(acpi) = acpi {
        for t in &acpi.tables {
            let base = t.phys & !(PAGE_SIZE - 1);
            let end = (t.phys + t.len as u64).next_multiple_of(PAGE_SIZE);
            reserve(mb, base, end - base, "ACPI tables");
        }
    }
    reserve(mb, snap.kernel_elf_phys, snap.kernel_elf_len, "kernel ELF (boot copy)");
    for e in e820.entries() {
        match e.kind {
            E820Type::Usable => {}
            E820Type::Bootloader => reserve(mb, e.start, e.len(), "bootloader (other)"),
            other => reserve(mb, e.start, e.len(), type_name(other)),
        }
    }
}

/// Step 3: NUMA from ACPI, or one node.
fn setup_numa(mb: &mut Memblock, acpi: Option<&arch::acpi::AcpiInfo>) -> Topology {
    let end = mb.end_of_ram();
    let topo = match acpi {
        Some(a) if !a.srat_mem.is_empty() => {
            let slit = a.slit.as_ref().map(|(n, m)| (*n, m.as_slice()));
            match Topology::from_srat(&a.srat_mem, &a.srat_cpus, slit) {
                Ok(t) => t,
                Err(e) => {
                    warn!("SRAT: {}: NUMA turned off", e);
                    Topology::single_node(end)
                }
            }
        }
        _ => Topology::single_node(end),
    };
    let _ = topo.print(&mut LineLogger::new(Level::Info));
    match topo.apply(mb) {
        Ok(0) => {}
        Ok(n) => warn!("SRAT: {} KiB of RAM not covered by any node, assigned to node 0", n / 1024),
        Err(e) => warn!("NUMA: cannot assign memblock regions to nodes: {}", e),
    }
    topo
}

fn print_zone_ranges(pa: &PageAllocator, mb: &Memblock) {
    info!("Zone ranges:");
    for ty in ZoneType::ALL {
        let zones: alloc::vec::Vec<_> = pa.zones().filter(|z| z.ty == ty && z.present > 0).collect();
        let lo = zones.iter().map(|z| z.start_pfn).min();
        let hi = zones.iter().map(|z| z.end_pfn()).max();
        match (lo, hi) {
            (Some(lo), Some(hi)) => {
                info!("  {:<8} [mem {:#018x}-{:#018x}]", ty.name(), lo * PAGE_SIZE, hi * PAGE_SIZE - 1)
            }
            _ => info!("  {:<8} empty", ty.name()),
        }
    }
    info!("Early memory node ranges");
    for r in mb.memory.regions() {
        info!("  node {:>3}: [mem {:#018x}-{:#018x}]", r.nid, r.base, r.end() - 1);
    }
    for n in &pa.nodes {
        info!(
            "Initmem setup node {} [mem {:#018x}-{:#018x}]",
            n.id,
            n.start_pfn * PAGE_SIZE,
            (n.start_pfn + n.spanned) * PAGE_SIZE - 1
        );
    }
}

/// The 1 GiB pages `hugepagesz=1G hugepages=N` asks for, taken from
/// memblock before the buddy allocator gets the memory; None when the CPU
/// cannot map 1 GiB pages (no pdpe1gb: the size does not exist, as in
/// Linux).
fn reserve_gigantic(mb: &mut Memblock) -> Option<alloc::vec::Vec<(mm::addr::Pfn, u32)>> {
    let want = super::huge_cmdline();
    if !arch::cpu::features().page_1g {
        if want.pages_1g.is_some() || want.default_1g {
            warn!("HugeTLB: the CPU has no 1 GiB pages (pdpe1gb): hugepagesz=1G ignored");
        }
        return None;
    }
    let n = want.pages_1g.unwrap_or(0);
    let pages = mm::phys::hugetlb::reserve_boot_gigantic(mb, n);
    if (pages.len() as u64) < n {
        warn!("HugeTLB: allocating {} of page size 1.00 GiB failed.  Only allocated {} hugepages.", n, pages.len());
    }
    for (pfn, nid) in &pages {
        info!("HugeTLB: 1 GiB page at {:#x} on node {}", pfn.phys(), nid);
    }
    Some(pages)
}

/// The ramdisk the bootloader loaded at `addr` (`len` bytes), as bytes.
pub fn ramdisk(addr: Option<u64>, len: u64) -> Option<&'static [u8]> {
    // SAFETY: the bootloader mapped `len` bytes of ramdisk at `addr`, keeps
    // them reserved and never touches them again; nothing in the kernel
    // writes to them.
    addr.map(|a| unsafe { core::slice::from_raw_parts(a as *const u8, len as usize) })
}

/// Bring up physical memory management from the firmware's memory map and
/// ACPI facts (`platform::discover_acpi`, for the tables' reservations and
/// the NUMA topology). Returns the page allocator.
pub fn init(e820: &E820Table, snap: &BootSnapshot, acpi: Option<&arch::acpi::AcpiInfo>) -> &'static PageAllocator {
    arch::mm_hooks::install_irq_hooks();
    let phys_end = e820.entries().iter().map(|e| e.end).max().unwrap_or(0).max(4 << 30);
    let win: &'static LinearWindow =
        super::DIRECT_MAP.call_once(|| LinearWindow { offset: PAGE_OFFSET, start: 0, end: phys_end });

    let mut mb = super::memblock();
    setup_memblock(&mut mb, win, e820, snap, acpi);
    let topo = setup_numa(&mut mb, acpi);
    let gigantic = reserve_gigantic(&mut mb);

    let pa = match PageAllocator::new(&mut mb, topo, win) {
        Ok(pa) => pa,
        Err(e) => panic!("mem: cannot allocate the memory map: {}", e),
    };
    info!(
        "memmap: {} sections of {} MiB, {} KiB of page descriptors ({} bytes each, {}.{:02}% of RAM)",
        pa.memmap.populated_sections,
        1u64 << (mm::phys::page::SECTION_SIZE_BITS - 20),
        pa.memmap.memmap_bytes / 1024,
        core::mem::size_of::<mm::phys::page::Page>(),
        pa.memmap.memmap_bytes * 100 / mb.memory.total_size().max(1),
        (pa.memmap.memmap_bytes * 10000 / mb.memory.total_size().max(1)) % 100
    );
    print_zone_ranges(&pa, &mb);
    if mb.debug {
        let _ = mb.dump(&mut LineLogger::new(Level::Info));
    }

    let pa: &'static PageAllocator = super::PAGE_ALLOC.call_once(|| pa);
    if let Some(pages) = gigantic {
        pa.hugetlb_1g.register();
        pa.hugetlb_1g.add_boot_pages(pa, &pages);
        let default_1g = super::huge_cmdline().default_1g;
        pa.hugetlb_default_1g.store(default_1g, core::sync::atomic::Ordering::Relaxed);
    }
    let freed = pa.free_boot_memory(&mb);
    let min_free = crate::cmdline::value("min_free_kbytes").and_then(|v| v.parse().ok());
    pa.setup_watermarks(min_free);
    mb.freeze();

    let kernel: u64 = mb.reserved.regions().iter().filter(|r| r.name == "kernel image").map(|r| r.size).sum();
    let present = pa.nr_present_pages() * PAGE_SIZE;
    info!(
        "Memory: {}K/{}K available ({}K kernel image, {}K memmap, {}K reserved)",
        freed * PAGE_SIZE / 1024,
        present / 1024,
        kernel / 1024,
        pa.memmap.memmap_bytes / 1024,
        (present - freed * PAGE_SIZE) / 1024
    );
    info!("min_free_kbytes: {}", pa.min_free_kbytes());
    for z in pa.zones().filter(|z| z.present > 0) {
        info!(
            "Node {}, zone {:>8}: spanned {} present {} managed {} free {}, watermarks min {} low {} high {}",
            z.node,
            z.name(),
            z.spanned,
            z.present,
            z.managed(),
            z.free_pages(),
            z.watermark(mm::phys::zone::Watermark::Min),
            z.watermark(mm::phys::zone::Watermark::Low),
            z.watermark(mm::phys::zone::Watermark::High)
        );
    }
    info!("/proc/buddyinfo:");
    let _ = mm::procfs::buddyinfo::render(pa, &mut LineLogger::new(Level::Info));
    if log::log_enabled!(Level::Debug) {
        let mut w = LineLogger::new(Level::Debug);
        let _ = writeln!(w, "/proc/zoneinfo:");
        let _ = mm::procfs::zoneinfo::render(pa, None, &mut w);
        let _ = writeln!(w, "/proc/pagetypeinfo:");
        let _ = mm::procfs::pagetypeinfo::render(pa, &mut w);
    }
    pa
}
