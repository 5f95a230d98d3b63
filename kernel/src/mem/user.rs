//! What user address spaces need from the kernel: the mm environment
//! (page allocator, page-table pages, TLB, overcommit policy, the zero
//! page) and the `vm.*` sysctls.

use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Once;

use mm::addr::Pfn;
use mm::phys::gfp::{GFP_KERNEL, Gfp};
use mm::vm::address_space::{DEFAULT_MAX_MAP_COUNT, MmEnv};
use mm::vm::overcommit::Overcommit;

use super::kvm::{TABLES, TLB, kernel_root};

static OVERCOMMIT: Overcommit = Overcommit::new();
static ZERO_PAGE: Once<Pfn> = Once::new();
static MAX_MAP_COUNT: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_MAP_COUNT);

/// Allocate the shared zero page.
pub fn init() {
    ZERO_PAGE.call_once(|| {
        super::page_alloc().alloc_pages(GFP_KERNEL | Gfp::ZERO, 0).expect("mem: no page for the zero page")
    });
}

/// The overcommit policy and Committed_AS.
pub fn overcommit() -> &'static Overcommit {
    &OVERCOMMIT
}

pub fn max_map_count() -> usize {
    MAX_MAP_COUNT.load(Ordering::Relaxed)
}

pub fn set_max_map_count(n: usize) {
    MAX_MAP_COUNT.store(n, Ordering::Relaxed);
}

/// The environment every user address-space operation runs in.
pub fn env() -> MmEnv<'static> {
    MmEnv {
        pa: super::page_alloc(),
        tables: &TABLES,
        tlb: &TLB,
        commit: &OVERCOMMIT,
        kernel_root: kernel_root(),
        zero_page: *ZERO_PAGE.get().expect("mem: user env before mem::user::init"),
        max_map_count: max_map_count(),
    }
}

/// `env()`, if the user memory layer is up.
pub fn try_env() -> Option<MmEnv<'static>> {
    ZERO_PAGE.get()?;
    Some(env())
}
