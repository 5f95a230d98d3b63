//! Host-test support: a simulated machine.
//!
//! A [`SimRam`] is a zeroed host allocation that plays the role of RAM at a
//! chosen physical base address, seen through a [`LinearWindow`] exactly like
//! the kernel's direct map. Untouched pages of the allocation are never
//! faulted in on the host, so a "5 GiB machine" costs only what a test
//! writes. Simulated RAM is leaked on purpose: structures built on it hold
//! `'static` references, as they do in the kernel.
//!
//! [`machine`] builds what the address-space tests run on: RAM with a page
//! allocator, mm's environment, and emulated CPUs whose TLBs mm's flushes
//! reach. User memory is touched only through a CPU:
//!
//! ```text
//! mmu   the page walk: present, R/W, U/S, XD, SMEP, SMAP, WP; A/D flags; #PF codes
//! tlb   each CPU's translation cache, and the flusher mm calls (Shootdown)
//! cpu   load, store, fetch: TLB or walk, faults into the address space, retry
//! cpus  which CPU per-CPU data sees: on_cpu(n, f) runs f "on" CPU n
//! ```

extern crate std;

pub mod cpu;
pub mod cpus;
pub mod mmu;
pub mod tlb;

#[cfg(test)]
mod tests;

use std::alloc::{Layout, alloc_zeroed};
use std::boxed::Box;
use std::vec::Vec;

use crate::phys::LinearWindow;
use crate::vm::address_space::{DEFAULT_MAX_MAP_COUNT, MmEnv};
use crate::vm::overcommit::Overcommit;
use crate::vm::page_table::TableAlloc;
use cpu::Cpu;
use tlb::{Shootdown, Tlb};

/// The simulated RAM a thread allocated, handed back to the host when the
/// thread ends. Each test runs on a thread of its own and leaks its
/// machine (mm's code wants `'static` references); without this every
/// test's touched RAM would stay resident until the whole run ends (some
/// 23 GB for mm's suite). The mapping stays valid: its pages just read as
/// zero again, as after `MADV_DONTNEED`, should anything still look.
struct ThreadRam(core::cell::RefCell<Vec<(usize, usize)>>);

impl Drop for ThreadRam {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        for &(ptr, len) in self.0.borrow().iter() {
            unsafe extern "C" {
                fn madvise(addr: *mut core::ffi::c_void, len: usize, advice: i32) -> i32;
            }
            const MADV_DONTNEED: i32 = 4;
            // SAFETY: `[ptr, ptr + len)` is a live allocation this thread
            // made (never freed: the machine is leaked); MADV_DONTNEED keeps
            // it mapped and only drops its contents.
            unsafe { madvise(ptr as *mut core::ffi::c_void, len, MADV_DONTNEED) };
        }
    }
}

std::thread_local! {
    static THREAD_RAM: ThreadRam = const { ThreadRam(core::cell::RefCell::new(Vec::new())) };
}

/// Simulated RAM covering physical `[base, base + size)`.
pub struct SimRam {
    pub window: &'static LinearWindow,
    pub base: u64,
    pub size: u64,
}

impl SimRam {
    /// Allocate `size` bytes (page aligned) standing for physical memory at
    /// `base`.
    pub fn new(base: u64, size: u64) -> SimRam {
        let layout = Layout::from_size_align(size as usize, 1 << 21).expect("testing: bad sim RAM layout");
        // SAFETY: non-zero size, valid layout.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "testing: cannot allocate {size} bytes of simulated RAM");
        THREAD_RAM.with(|r| r.0.borrow_mut().push((ptr as usize, size as usize)));
        let window: &'static LinearWindow = Box::leak(Box::new(LinearWindow {
            offset: (ptr as u64).wrapping_sub(base),
            start: base,
            end: base + size,
        }));
        SimRam { window, base, size }
    }

    /// Host pointer to physical address `pa`.
    pub fn at(&self, pa: u64) -> *mut u8 {
        assert!(pa >= self.base && pa < self.base + self.size, "testing: {pa:#x} outside simulated RAM");
        pa.wrapping_add(self.window.offset) as *mut u8
    }

    /// Read a byte of simulated RAM.
    pub fn read_u8(&self, pa: u64) -> u8 {
        // SAFETY: `at` checked the address is inside the allocation.
        unsafe { self.at(pa).read() }
    }

    /// Fill a physical range with `byte`.
    pub fn fill(&self, pa: u64, len: u64, byte: u8) {
        assert!(pa + len <= self.base + self.size);
        // SAFETY: inside the allocation (checked above).
        unsafe { core::ptr::write_bytes(self.at(pa), byte, len as usize) };
    }
}

/// A leaked one-node machine of `size` bytes of RAM at physical 0 (the
/// first page reserved, as on x86), with its buddy allocator ready and
/// watermarks set: what most host tests above the buddy allocator run on.
pub fn page_allocator(size: u64) -> &'static crate::phys::page_alloc::PageAllocator {
    page_allocator_on(size, crate::phys::numa::Topology::single_node(size))
}

/// [`page_allocator`] with `nodes` NUMA nodes of equal size, in order, at
/// distance 20 from each other.
pub fn numa_page_allocator(size: u64, nodes: u32) -> &'static crate::phys::page_alloc::PageAllocator {
    let each = size / nodes as u64;
    let mem: Vec<(u32, u64, u64)> = (0..nodes).map(|n| (n, n as u64 * each, each)).collect();
    let topo = crate::phys::numa::Topology::from_srat(&mem, &[(0, 0)], None).expect("testing: topology");
    page_allocator_on(size, topo)
}

fn page_allocator_on(size: u64, topo: crate::phys::numa::Topology) -> &'static crate::phys::page_alloc::PageAllocator {
    page_allocator_gigantic_on(size, topo, 0)
}

/// [`page_allocator`] whose 1 GiB pool is registered and holds the
/// `gigantic` 1 GiB pages memblock could give before the hand-off (as
/// `hugepagesz=1G hugepages=N`); `size` above 1 GiB for any.
pub fn page_allocator_gigantic(size: u64, gigantic: u64) -> &'static crate::phys::page_alloc::PageAllocator {
    page_allocator_gigantic_on(size, crate::phys::numa::Topology::single_node(size), gigantic)
}

fn page_allocator_gigantic_on(
    size: u64,
    topo: crate::phys::numa::Topology,
    gigantic: u64,
) -> &'static crate::phys::page_alloc::PageAllocator {
    let ram = SimRam::new(0, size);
    let mut mb = crate::phys::memblock::Memblock::new();
    mb.set_phys(ram.window);
    mb.add(0, size).expect("testing: memblock add");
    mb.reserve(0, crate::addr::PAGE_SIZE, "first page").expect("testing: memblock reserve");
    topo.apply(&mut mb).expect("testing: topology");
    let boot = crate::phys::hugetlb::reserve_boot_gigantic(&mut mb, gigantic);
    let pa = Box::leak(Box::new(
        crate::phys::page_alloc::PageAllocator::new(&mut mb, topo, ram.window).expect("testing: page allocator"),
    ));
    if gigantic > 0 {
        pa.hugetlb_1g.register();
        pa.hugetlb_1g.add_boot_pages(pa, &boot);
    }
    pa.free_boot_memory(&mb);
    pa.setup_watermarks(None);
    pa
}

/// Page-table pages taken from a page allocator (zeroed order-0 pages).
pub struct PaTables(pub &'static crate::phys::page_alloc::PageAllocator);

impl TableAlloc for PaTables {
    fn alloc_table(&self) -> Option<crate::addr::PhysAddr> {
        self.0.alloc_pages(crate::phys::gfp::Gfp::ZERO, 0).map(|p| crate::addr::PhysAddr::new(p.phys()))
    }
    fn free_table(&self, pa: crate::addr::PhysAddr) {
        self.0.free_pages(crate::addr::Pfn::from_phys(pa.as_u64()), 0).expect("testing: freeing a page table");
    }
}

fn leak<T>(x: T) -> &'static T {
    Box::leak(Box::new(x))
}

/// A leaked machine of `ram_bytes` of RAM (see [`page_allocator`]) with
/// `nr_cpus` CPUs: mm's environment (its own commit state, an empty kernel
/// PML4, the zero page; TLB flushes reach every CPU) and the CPUs.
pub fn machine(ram_bytes: u64, nr_cpus: usize) -> (&'static MmEnv<'static>, Vec<Cpu>) {
    machine_on(page_allocator(ram_bytes), nr_cpus)
}

/// A one-CPU [`machine`] with `nodes` NUMA nodes ([`numa_page_allocator`]).
pub fn numa_uniprocessor(ram_bytes: u64, nodes: u32) -> (&'static MmEnv<'static>, Cpu) {
    let (env, mut cpus) = machine_on(numa_page_allocator(ram_bytes, nodes), 1);
    (env, cpus.remove(0))
}

fn machine_on(
    pa: &'static crate::phys::page_alloc::PageAllocator,
    nr_cpus: usize,
) -> (&'static MmEnv<'static>, Vec<Cpu>) {
    let tables = leak(PaTables(pa));
    let tlbs: Vec<&'static Tlb> = (0..nr_cpus).map(|_| leak(Tlb::default())).collect();
    let env = leak(MmEnv {
        pa,
        tables,
        tlb: leak(Shootdown::new(tlbs.clone())),
        commit: leak(Overcommit::new()),
        kernel_root: tables.alloc_table().expect("testing: no page for the kernel PML4"),
        zero_page: pa.alloc_pages(crate::phys::gfp::Gfp::ZERO, 0).expect("testing: no page for the zero page"),
        max_map_count: DEFAULT_MAX_MAP_COUNT,
        mmap_min_addr: crate::vm::address_space::MMAP_MIN_ADDR,
        swap: leak(crate::swap::space::SwapSpace::new()),
        policy: None,
    });
    let cpus = tlbs.into_iter().enumerate().map(|(id, tlb)| Cpu::new(id, env, tlb)).collect();
    (env, cpus)
}

/// A one-CPU machine of `ram_bytes` whose 1 GiB pool holds `gigantic`
/// boot pages ([`page_allocator_gigantic`]).
pub fn uniprocessor_gigantic(ram_bytes: u64, gigantic: u64) -> (&'static MmEnv<'static>, Cpu) {
    let (env, mut cpus) = machine_on(page_allocator_gigantic(ram_bytes, gigantic), 1);
    (env, cpus.remove(0))
}

/// A [`machine`] with one CPU.
pub fn uniprocessor(ram_bytes: u64) -> (&'static MmEnv<'static>, Cpu) {
    let (env, mut cpus) = machine(ram_bytes, 1);
    (env, cpus.remove(0))
}

/// A TLB that counts: +1 per page flush, +1000 per full flush.
#[derive(Default)]
pub struct Flushes(pub core::sync::atomic::AtomicU64);

impl crate::vm::tlb::TlbFlusher for Flushes {
    fn flush_page(&self, _va: u64) {
        self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }
    fn flush_all(&self) {
        self.0.fetch_add(1000, core::sync::atomic::Ordering::Relaxed);
    }
}
