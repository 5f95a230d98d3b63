//! Kernel virtual memory and object allocation on the real machine: the
//! kernel runs on its own page tables with W^X, NX, SMEP and SMAP; writing
//! its text and executing its data fault; slab caches and kmalloc back the
//! Rust heap; vmalloc'd kernel stacks have guard pages that turn an
//! overflow into a named report; and the /proc numbers add up. A tmpfs
//! mounted with small `size=` and `nr_inodes=` says ENOSPC at each limit
//! and gives every page back when its files go.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::{BootInfo, entry_point};
use kernel::ktest;
use kernel::mem::{kvm, page_alloc, slab};
use mm::addr::{PAGE_SIZE, Pfn};
use mm::kalloc::slab::{KmemCache, SLAB_DEBUG, SlabError, SlabFlags};
use mm::phys::PhysMem;
use mm::phys::page::PageFlags;
use spin::Mutex;

entry_point!(main, config = &kernel::BOOT_CONFIG);

/// Allocated from the bootstrap heap before the switch to kmalloc.
static EARLY: Mutex<Option<Vec<u8>>> = Mutex::new(None);

fn early() {
    *EARLY.lock() = Some(alloc::vec![7u8; 3000]);
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init::init_with_early_hook(boot_info, early);
    ktest::run(
        "kvm",
        &[
            ktest!(kernel_runs_on_its_own_tables_without_wx_pages),
            ktest!(writing_kernel_text_faults, should_trap),
            ktest!(executing_kernel_data_faults, should_trap),
            ktest!(reading_a_user_page_from_the_kernel_faults_under_smap, should_trap),
            ktest!(rust_heap_is_backed_by_kmalloc),
            ktest!(bootstrap_objects_are_freed_to_the_bootstrap_heap),
            ktest!(slab_workload_and_shrink_return_free_pages_to_baseline),
            ktest!(slab_debug_catches_overflow_and_double_free),
            ktest!(vmalloc_is_virtually_contiguous_and_vfree_returns_pages),
            ktest!(vmalloc_stack_overflow_hits_guard_page, should_trap),
            ktest!(vmalloc_stack_overflow_was_named),
            ktest!(meminfo_adds_up_against_buddyinfo_and_slab),
            ktest!(slabinfo_and_vmallocinfo_have_linux_shape),
            ktest!(tmpfs_limits_give_enospc_and_pages_return),
        ],
    )
}

fn kernel_runs_on_its_own_tables_without_wx_pages() {
    let root = kvm::kernel_root();
    assert_eq!(arch::mmu::current_root(), root.as_u64());
    assert_eq!(kvm::audit_wx(root), 0);
    let f = arch::cpu::features();
    let cr4 = x86_64::registers::control::Cr4::read();
    use x86_64::registers::control::Cr4Flags;
    assert_eq!(cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION), f.smep);
    assert_eq!(cr4.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION), f.smap);
    assert_eq!(cr4.contains(Cr4Flags::PAGE_GLOBAL), f.pge);
    // The bootloader's memory came back.
    assert!(page_alloc().released_pages.load(Ordering::Relaxed) > 0);
    let mb = kernel::mem::memblock();
    assert!(!mb.reserved.regions().iter().any(|r| r.name == "bootloader page tables"));
}

fn writing_kernel_text_faults() {
    let f = writing_kernel_text_faults as *const () as *mut u8;
    // SAFETY: deliberately invalid: kernel text is read-only.
    unsafe { core::ptr::write_volatile(f, 0xc3) };
}

static DATA_RET: AtomicU64 = AtomicU64::new(0xc3); // `ret`

fn executing_kernel_data_faults() {
    let p = &DATA_RET as *const AtomicU64 as *const ();
    // SAFETY: deliberately invalid: data is mapped no-execute.
    let f: extern "C" fn() = unsafe { core::mem::transmute(p) };
    f();
}

fn reading_a_user_page_from_the_kernel_faults_under_smap() {
    assert!(arch::cpu::features().smap, "this CPU has no SMAP");
    // Map one page as user-accessible in the low half of the kernel tables.
    let pa = page_alloc();
    let frame = pa.alloc_pages(mm::phys::gfp::GFP_KERNEL | mm::phys::gfp::Gfp::ZERO, 0).unwrap();
    let mut m = mm::vm::page_table::Mapper::new(kernel::mem::direct_map(), &kvm::TABLES, kvm::kernel_root());
    use x86_64::structures::paging::PageTableFlags as F;
    m.map_page(0x4000_0000, frame.phys(), mm::vm::page_table::MapSize::Size4K, F::USER_ACCESSIBLE | F::WRITABLE)
        .unwrap();
    // SAFETY: deliberately invalid under SMAP.
    let v = unsafe { core::ptr::read_volatile(0x4000_0000 as *const u64) };
    core::hint::black_box(v);
}

fn rust_heap_is_backed_by_kmalloc() {
    assert!(kernel::mem::heap::is_kmalloc());
    let b = Box::new([1u64; 8]);
    let pa = page_alloc();
    let phys = kernel::mem::direct_map().phys_of(b.as_ptr() as *const u8).expect("heap object outside the direct map");
    let page = pa.memmap.compound_head(pa.page(Pfn::from_phys(phys.as_u64())).unwrap());
    assert!(page.has(PageFlags::SLAB), "a Box lives in a slab page");
    let big: Vec<u8> = alloc::vec![0; 64 * 1024];
    let k = slab::kmalloc().unwrap();
    assert_eq!(k.ksize(core::ptr::NonNull::new(big.as_ptr() as *mut u8).unwrap()), Some(64 * 1024));
}

fn bootstrap_objects_are_freed_to_the_bootstrap_heap() {
    let before = kernel::mem::heap::bootstrap_used();
    let bad_frees = page_alloc().stats.bad_frees.load(Ordering::Relaxed);
    let v = EARLY.lock().take().expect("early object missing");
    assert_eq!(v.len(), 3000);
    drop(v);
    assert!(kernel::mem::heap::bootstrap_used() <= before - 3000);
    assert_eq!(page_alloc().stats.bad_frees.load(Ordering::Relaxed), bad_frees, "the free went to kfree");
}

/// Free pages once empty slabs and clean caches went back (as pmm measures
/// its baseline): a baseline taken with them held would move.
fn settled_free_pages() -> u64 {
    kernel::mem::drop_caches();
    page_alloc().nr_free_pages()
}

fn slab_workload_and_shrink_return_free_pages_to_baseline() {
    let pa = page_alloc();
    // The cache's descriptor (a leaked box) and its registry slot are the
    // cache's fixed cost: made before the baseline, so the workload alone
    // is measured (they may or may not need a fresh kmalloc slab).
    let cache: &'static KmemCache = KmemCache::create("ktest-obj", 200, 8, SlabFlags::empty(), None, pa).unwrap();
    let base = settled_free_pages();
    let objs: Vec<_> = (0..5000).map(|_| cache.alloc().unwrap()).collect();
    assert!(pa.nr_free_pages() < base - 200);
    assert_eq!(cache.stats().active_objs, 5000);
    for o in objs {
        cache.free(o).unwrap();
    }
    cache.check_invariants();
    cache.shrink();
    assert_eq!(cache.pages(), 0);
    // The Vec of pointers itself came from kmalloc; give its slabs back too.
    let end = settled_free_pages();
    cache.destroy().unwrap();
    assert_eq!(end, base, "free pages {} after the workload, baseline {}", end, base);
}

fn slab_debug_catches_overflow_and_double_free() {
    let pa = page_alloc();
    let cache: &'static KmemCache = KmemCache::create("ktest-debug", 40, 8, SLAB_DEBUG, None, pa).unwrap();
    let a = cache.alloc().unwrap();
    // SAFETY: one byte past the 40-byte object: the red zone (deliberate).
    unsafe { a.as_ptr().add(40).write(0) };
    let _ = cache.free(a);
    assert!(
        matches!(cache.last_error(), Some(SlabError::RedZoneOverwritten { offset: 40 })),
        "{:?}",
        cache.last_error()
    );
    let b = cache.alloc().unwrap();
    cache.free(b).unwrap();
    assert_eq!(cache.free(b), Err(SlabError::DoubleFree));
    cache.check_invariants();
    cache.shrink();
}

fn vmalloc_is_virtually_contiguous_and_vfree_returns_pages() {
    let pa = page_alloc();
    let free = pa.drained_free_pages();
    let va = kvm::vmalloc(40 * PAGE_SIZE, "ktest_vmalloc").unwrap();
    // SAFETY: 40 pages just mapped for us.
    let s = unsafe { core::slice::from_raw_parts_mut(va as *mut u8, 40 * PAGE_SIZE as usize) };
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    assert!(s.iter().enumerate().all(|(i, &b)| b == i as u8));
    assert!(pa.vmstat.vmalloc_pages.get() >= 40);
    kvm::vfree(va).unwrap();
    assert!(pa.drained_free_pages() + 2 >= free, "vfree returned the pages");
    assert!(kvm::vfree(va).is_err(), "double vfree refused");
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let mut pad = [0u8; 256];
    pad[depth as usize % 256] = depth as u8;
    let pad = core::hint::black_box(pad);
    recurse(depth + 1) + pad[3] as u64
}

extern "C" fn overflow_on_this_stack(_: u64) {
    core::hint::black_box(recurse(0));
}

static OVERFLOWS_BEFORE: AtomicU64 = AtomicU64::new(0);

fn vmalloc_stack_overflow_hits_guard_page() {
    OVERFLOWS_BEFORE.store(kernel::traps::STACK_OVERFLOWS.load(Ordering::Relaxed), Ordering::Relaxed);
    let (bottom, top) = kvm::alloc_kernel_stack("ktest_stack").unwrap();
    arch::backtrace::set_task_stack(bottom, top);
    // SAFETY: a fresh, mapped stack that only this call uses.
    unsafe { arch::mmu::call_on_stack(top, overflow_on_this_stack, 0) };
}

fn vmalloc_stack_overflow_was_named() {
    assert_eq!(kernel::traps::STACK_OVERFLOWS.load(Ordering::Relaxed), OVERFLOWS_BEFORE.load(Ordering::Relaxed) + 1);
}

fn meminfo_adds_up_against_buddyinfo_and_slab() {
    let pa = page_alloc();
    // Allocate the text buffer first: the snapshot and the rendering must
    // see the same free lists.
    let mut b = String::with_capacity(4096);
    let m = kernel::mem::meminfo();
    mm::procfs::buddyinfo::render(pa, &mut b).unwrap();
    let buddy_free: u64 = b
        .lines()
        .map(|l| l.split_whitespace().skip(4).enumerate().map(|(o, n)| n.parse::<u64>().unwrap() << o).sum::<u64>())
        .sum();
    assert_eq!(m.mem_free, buddy_free, "MemFree vs buddyinfo");
    assert_eq!(m.mem_total, pa.nr_managed_pages());
    let slab_pages: u64 = slab::registry().caches().iter().map(|c| c.pages()).sum();
    assert!(m.slab() >= slab_pages, "Slab {} < slab pages {}", m.slab(), slab_pages);
    assert!(m.page_tables > 0, "PageTables counts the kernel tables");
    assert!(m.mem_available <= m.mem_free + m.cached + m.slab_reclaimable);
    let mut s = String::new();
    m.render(&mut s).unwrap();
    for key in [
        "MemTotal:",
        "MemFree:",
        "MemAvailable:",
        "Buffers:",
        "Cached:",
        "Slab:",
        "SReclaimable:",
        "SUnreclaim:",
        "KernelStack:",
        "PageTables:",
        "VmallocTotal:",
        "VmallocUsed:",
    ] {
        assert!(s.lines().any(|l| l.starts_with(key)), "meminfo lacks {key}");
    }
}

fn slabinfo_and_vmallocinfo_have_linux_shape() {
    let mut s = String::new();
    mm::procfs::slabinfo::render(slab::registry(), &mut s).unwrap();
    assert!(s.starts_with("slabinfo - version: 2.1\n# name            <active_objs>"));
    let k64 = s.lines().find(|l| l.starts_with("kmalloc-64 ")).expect("kmalloc-64 listed");
    assert_eq!(k64.split_whitespace().count(), 16, "{k64}");
    let mut v = String::new();
    mm::procfs::vmallocinfo::render(kvm::vmalloc_area(), page_alloc(), &mut v).unwrap();
    assert!(v.lines().any(|l| l.contains(" initrd ") && l.ends_with("vmap")), "{v}");
    assert!(v.lines().any(|l| l.contains(" framebuffer phys=") && l.ends_with("ioremap")), "{v}");
}

/// One mount's life with every limit hit; the mount is gone at the end.
fn tmpfs_round() {
    use abi::errno::ENOSPC;
    use kernel::vfs::{Owner, tmpfs};
    let root_owner = Owner { uid: 0, gid: 0 };
    let shmem = || page_alloc().vmstat.shmem_pages.get();
    let shmem0 = shmem();
    // Two pages and three inodes, the root directory being one of them.
    let root = tmpfs::mount(0o1777, 2 * PAGE_SIZE, 3);
    let a = root.create("a", "/a", 0o644, root_owner).unwrap();
    let b = root.create("b", "/b", 0o644, root_owner).unwrap();
    assert_eq!(root.create("c", "/c", 0o644, root_owner).err(), Some(ENOSPC), "nr_inodes");
    assert_eq!(root.statfs().f_ffree, 0);
    let page = alloc::vec![0x5au8; PAGE_SIZE as usize];
    assert_eq!(a.write_at(0, &page), Ok(PAGE_SIZE as usize));
    assert_eq!(a.write_at(PAGE_SIZE, &page), Ok(PAGE_SIZE as usize));
    assert_eq!(b.write_at(0, b"x"), Err(ENOSPC), "size");
    assert_eq!(root.statfs().f_bfree, 0);
    assert_eq!(shmem(), shmem0 + 2, "tmpfs pages are Shmem");
    let mut back = [0u8; 4];
    assert_eq!(a.read_at(PAGE_SIZE + 10, &mut back), Ok(4));
    assert_eq!(back, [0x5a; 4]);
    // Removing a name frees the inode and its pages once nothing holds it.
    root.unlink("a").unwrap();
    drop(a);
    assert_eq!(shmem(), shmem0);
    assert_eq!(b.write_at(0, b"x"), Ok(1));
    root.create("c", "/c", 0o644, root_owner).unwrap();
    drop((b, root));
    assert_eq!(shmem(), shmem0);
}

fn tmpfs_limits_give_enospc_and_pages_return() {
    // The first round fills the slabs tmpfs objects come from; the second
    // must give back every page it takes.
    tmpfs_round();
    let base = settled_free_pages();
    tmpfs_round();
    let end = settled_free_pages();
    assert_eq!(end, base, "free pages {} after tmpfs, baseline {}", end, base);
}
