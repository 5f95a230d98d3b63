//! What user address spaces need from the kernel: the mm environment
//! (page allocator, page-table pages, TLB, overcommit policy, the zero
//! page), the `vm.*` sysctls, and [`UserMm`], a process's address space
//! as tasks share it.
//!
//! Locking: `UserMm.space` is an [`IrqRwLock`]. Taken exclusive (`write`)
//! by everything that changes the VMA tree or takes pages out of the page
//! tables: mmap/munmap/mprotect/mremap/brk/madvise and friends (`with_mm`),
//! fork, shmat/shmdt, process_vm_*, /proc/PID/mem and clear_refs, lazyfree
//! reclaim, rmap hole punches, and a page fault that must grow a stack
//! (`handle_fault_mut`). Taken shared (`read`) by page faults
//! (`AddressSpace::handle_fault`: several threads fault at once; the
//! address space's own page-table lock orders their page-table changes and
//! the counters they move) and by readers that only look:
//! /proc/PID/{maps,smaps,status,statm,pagemap,cmdline}, futex keys, oom and
//! exit accounting, signal reports, sysinfo.
//! Lock order: a task's `inner` lock or a file's own lock (tmpfs `io`),
//! then `space`, then the space's page-table lock (mm's `pte_lock.rs`),
//! then a page-cache/shmem object's page lock, then zone and slab locks.
//! One process's `space` is never held while taking another's: the rmap
//! (mm's rmap.rs) takes a mapper's `space` with no address-space lock held
//! (madvise's hole punches are deferred past `with_mm`'s lock). No usercopy
//! (which may fault, and so take `space`) runs with `space` held: the lock
//! prefers a waiting writer, so a nested `read` could deadlock. A fault
//! that gets `ExpandStack` from the shared path drops the shared lock
//! before taking it exclusive (no upgrade in place).

use alloc::sync::{Arc, Weak};
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Once;

use mm::addr::Pfn;
use mm::phys::gfp::{GFP_KERNEL, Gfp};
use mm::phys::page_alloc::ChargeMode;
use mm::swap::entry::SwapEntry;
use mm::sync::IrqRwLock;
use mm::vm::address_space::{AddressSpace, DEFAULT_MAX_MAP_COUNT, MmEnv};
use mm::vm::file::MemObject;
use mm::vm::overcommit::Overcommit;
use mm::vm::rmap::{MapCounts, MapperSpace};
use mm::vm::rmap_walk::{PageTarget, Referenced};

use arch::mm_hooks::{RootTlb, USER_TLB};

use super::kvm::{TABLES, kernel_root};

static OVERCOMMIT: Overcommit = Overcommit::new();
static ZERO_PAGE: Once<Pfn> = Once::new();
static MAX_MAP_COUNT: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_MAP_COUNT);
static MMAP_MIN_ADDR: AtomicU64 = AtomicU64::new(mm::vm::address_space::MMAP_MIN_ADDR);

/// Allocate the shared zero page.
pub fn init() {
    ZERO_PAGE.call_once(|| {
        super::page_alloc().alloc_pages(GFP_KERNEL | Gfp::ZERO, 0).expect("mem: no page for the zero page")
    });
    super::shrinkers().register(&SwapCacheShrinker);
}

/// Swap-cache pages nothing maps and that are on disk already (read
/// ahead and not used yet, or left by their last mapping): freed under
/// pressure and by drop_caches; a fault reads them again.
struct SwapCacheShrinker;

impl mm::shrinker::Shrinker for SwapCacheShrinker {
    fn name(&self) -> &'static str {
        "swap_cache"
    }

    fn count(&self) -> u64 {
        if SWAP.enabled() { SWAP.count_unmapped(super::page_alloc()) } else { 0 }
    }

    fn scan(&self, nr_to_scan: u64) -> u64 {
        SWAP.shrink(super::page_alloc(), nr_to_scan)
    }
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

/// `vm.mmap_min_addr`: the lowest address a mapping may start at.
pub fn mmap_min_addr() -> u64 {
    MMAP_MIN_ADDR.load(Ordering::Relaxed)
}

pub fn set_mmap_min_addr(addr: u64) {
    MMAP_MIN_ADDR.store(addr, Ordering::Relaxed);
}

/// The swap areas on and the swap cache (areas come and go with
/// swapon/swapoff, `block::swap`).
pub static SWAP: mm::swap::space::SwapSpace = mm::swap::space::SwapSpace::new();

/// The environment every user address-space operation runs in.
/// The running task's memory policy, installed by `proc` (above this
/// layer), which keeps it in the task.
static TASK_POLICY: spin::Once<fn() -> Option<mm::vm::mempolicy::MemPolicy>> = spin::Once::new();

/// Install the reader of the running task's memory policy (once).
pub fn set_task_policy_hook(f: fn() -> Option<mm::vm::mempolicy::MemPolicy>) {
    TASK_POLICY.call_once(|| f);
}

/// Page tables of user address spaces: the kernel's table allocator, each
/// table charged to the memory cgroup of the task that makes it (Linux's
/// GFP_PGTABLE_USER with __GFP_ACCOUNT; never refused: a fault cannot wait
/// for its group's reclaim halfway through a walk). The free path
/// uncharges it.
struct UserTables;

impl mm::vm::page_table::TableAlloc for UserTables {
    fn alloc_table(&self) -> Option<mm::addr::PhysAddr> {
        let t = TABLES.alloc_table()?;
        let pa = super::page_alloc();
        pa.memcg_charge(Pfn::from_phys(t.as_u64()), mm::memcg::MemcgStat::PageTables, ChargeMode::Force);
        Some(t)
    }

    fn free_table(&self, table: mm::addr::PhysAddr) {
        TABLES.free_table(table);
    }
}

static USER_TABLES: UserTables = UserTables;

pub fn env() -> MmEnv<'static> {
    MmEnv {
        pa: super::page_alloc(),
        tables: &USER_TABLES,
        tlb: &USER_TLB,
        commit: &OVERCOMMIT,
        kernel_root: kernel_root(),
        zero_page: *ZERO_PAGE.get().expect("mem: user env before mem::user::init"),
        max_map_count: max_map_count(),
        mmap_min_addr: mmap_min_addr(),
        swap: &SWAP,
        policy: TASK_POLICY.get().and_then(|f| f()),
    }
}

/// The environment for changing address space `mm` from outside it (the
/// reverse map, reclaim, swapoff, process_vm_*, /proc/PID/mem): TLB
/// flushes reach the CPUs that run `mm`, not those that run the caller's.
pub fn env_for(tlb: &RootTlb) -> MmEnv<'_> {
    MmEnv { tlb, ..env() }
}

/// `env()`, if the user memory layer is up.
pub fn try_env() -> Option<MmEnv<'static>> {
    ZERO_PAGE.get()?;
    Some(env())
}

/// A user address space, shared by a vfork child and its parent. The last
/// reference destroys it (Linux's `mmput`): whoever drops it last, be it
/// the exiting task or a reader of /proc that held a reference a moment
/// longer, every page and page table goes back. Drop it only with CR3 on
/// another root.
pub struct UserMm {
    pub space: ManuallyDrop<IrqRwLock<AddressSpace>>,
    /// The PML4 (fixed for the address space's life), for CR3 switches.
    pub root: u64,
    /// membarrier(2) registrations (its REGISTER_* bits), copied by fork.
    pub membarrier: core::sync::atomic::AtomicU32,
    /// What the program run in this address space holds while it lives:
    /// the file's denial of writers (ETXTBSY, as Linux's `mm->exe_file`),
    /// given back when the address space goes.
    pub exe_pin: spin::Mutex<Option<alloc::boxed::Box<dyn core::any::Any + Send + Sync>>>,
    /// Tasks running in it (Linux's `mm_users`): threads, a vfork child,
    /// CLONE_VM children. Other references (the reverse map's walkers, a
    /// /proc reader) only keep the empty shell (`mm_count`): when the last
    /// task lets go, every page goes back at once ([`UserMm::release`]).
    users: core::sync::atomic::AtomicUsize,
}

impl UserMm {
    /// Wrap `space`, entering it in the reverse map of every object it maps.
    pub fn new(mut space: AddressSpace) -> Arc<UserMm> {
        let root = space.root.as_u64();
        let mm = Arc::new_cyclic(|me: &Weak<UserMm>| {
            let owner: Weak<dyn MapperSpace> = me.clone();
            space.set_rmap_owner(owner);
            UserMm {
                space: ManuallyDrop::new(IrqRwLock::new(space)),
                root,
                membarrier: Default::default(),
                exe_pin: spin::Mutex::new(None),
                users: core::sync::atomic::AtomicUsize::new(1),
            }
        });
        mm.space.write().rmap_enter_all();
        mm
    }

    /// Another task runs in this address space (clone with CLONE_VM).
    pub fn add_user(self: &Arc<Self>) -> Arc<UserMm> {
        self.users.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        self.clone()
    }

    /// A task stops running in this address space (exit, exec, an OOM
    /// kill): the last one empties it (Linux's `mmput` -> `exit_mmap`),
    /// so the memory is back before its parent's wait returns, whoever
    /// else still holds a reference; the program file is no longer busy.
    pub fn release(mm: Arc<UserMm>) {
        if mm.users.fetch_sub(1, core::sync::atomic::Ordering::AcqRel) == 1 {
            let tlb = RootTlb { root: mm.root };
            let mut space = mm.space.write();
            space.exit_mmap(&env_for(&tlb));
            drop(space);
            let pin = mm.exe_pin.lock().take();
            drop(pin);
        }
        drop(mm);
    }

    /// Run on this address space's page tables from now on (exec).
    pub fn activate(&self) {
        // SAFETY: `AddressSpace::new` shares the kernel half of the kernel's
        // own root, so everything the kernel runs on stays mapped.
        unsafe { arch::mmu::load_root(self.root) };
    }
}

/// The reverse map reaches a process's memory through its lock. Callers
/// hold no address-space lock (mm's rmap.rs), so taking this one is safe.
impl MapperSpace for UserMm {
    fn unmap_object_range(&self, obj: &MemObject, first: u64, last: u64, even_cows: bool) {
        // Another process's space: flush the CPUs that run it.
        let tlb = RootTlb { root: self.root };
        self.space.write().unmap_object_range(&env_for(&tlb), obj, first, last, even_cows);
    }

    fn count_mappings(&self, obj: &MemObject) -> MapCounts {
        self.space.read().count_object_mappings(obj)
    }

    fn page_referenced(&self, t: &PageTarget) -> Option<Referenced> {
        let tlb = RootTlb { root: self.root };
        let s = self.space.try_read()?;
        Some(s.page_referenced(&env_for(&tlb), t))
    }

    fn try_unmap_page(&self, t: &PageTarget, swap: Option<SwapEntry>) -> Option<u32> {
        let tlb = RootTlb { root: self.root };
        let s = self.space.try_read()?;
        Some(s.try_unmap_page(&env_for(&tlb), t, swap))
    }

    fn try_with_space(&self, f: &mut dyn FnMut(&AddressSpace, &MmEnv<'_>)) -> bool {
        let tlb = RootTlb { root: self.root };
        let Some(s) = self.space.try_read() else { return false };
        f(&s, &env_for(&tlb));
        true
    }
}

impl Drop for UserMm {
    fn drop(&mut self) {
        // SAFETY: `space` is taken once, here, and never used afterwards.
        let space = unsafe { ManuallyDrop::take(&mut self.space) }.into_inner();
        space.destroy(&env());
    }
}

/// Run on the kernel's own page tables (a task leaving its address space
/// before the last reference goes: CR3 must never point at a freed PML4).
pub fn activate_kernel_root() {
    // SAFETY: the kernel's root maps everything the kernel runs on.
    unsafe { arch::mmu::load_root(kernel_root().as_u64()) };
}
