//! A process's address space (Linux's `mm_struct`): its page tables, its
//! VMAs, the layout of heap and stack, and the counters /proc shows.
//!
//! ```text
//! 0x0000000000400000  program text, data, bss        (ELF segments)
//!                     heap: start_brk .. brk          (brk(2), grows up)
//!                     ...
//!                     mmap area, allocated top-down from mmap_base
//!          mmap_base  --- gap: RLIMIT_STACK (at least 128 MiB) + guard gap
//!                     stack, grows down to RLIMIT_STACK
//! 0x00007ffffffff000  TASK_SIZE: the last page below it is never mapped
//! ```
//!
//! The operations live in their own files: `mmap.rs`, `munmap.rs`,
//! `brk.rs`, `fault.rs`, `fork.rs` (and the rest of the memory syscalls).
//! This file owns creation and teardown, the page-level helpers they share
//! (mapping one page, zapping a range) and the accounting.
//!
//! Reference counting of user pages: every page-table entry that maps a
//! page holds one reference and one map count; a page-cache or shmem page
//! also has the object's reference. The shared zero page is mapped without
//! either (it is never freed).
//!
//! Locking: an `AddressSpace` is wrapped by its owner in a
//! [`crate::sync::IrqRwLock`] (the kernel's `UserMm.space`), and has one
//! lock of its own, the page-table lock `ptl` (Linux's
//! `mm->page_table_lock`).
//!
//! - Methods taking `&mut self` (mmap, munmap, mprotect, mremap, brk,
//!   madvise, fork, process_vm_*, teardown, stack growth) run with the
//!   space lock exclusive: they exclude each other, every fault and every
//!   reader, and change page tables without the PTL (they still take it
//!   for the counters it guards, uncontended).
//! - Page faults ([`AddressSpace::handle_fault`], `&self`) run with the
//!   space lock shared, several at once: the VMA tree is only read; every
//!   page-table read and change they make (walk, new intermediate table,
//!   PTE install) and the page counters a fault changes (RSS, VmHWM:
//!   [`PtlState`]) are under `ptl`; its fault counts are atomics. Page work (allocating and
//!   zeroing, copying, finding the page-cache page) happens outside it; the
//!   install re-checks the PTE under it and gives the page back if another
//!   CPU got there first.
//! - Other `&self` methods only look (procfs, futex keys, mincore-style
//!   walks) with the space lock shared and without the PTL: tables are never
//!   freed while the space lock is shared (only zaps free them, exclusive),
//!   and every entry is one aligned 64-bit store, so a walker sees each
//!   entry either before or after a concurrent fault's install. A walker
//!   that reads page *contents* ([`AddressSpace::read_bytes`]) holds the
//!   PTL across lookup and copy, since a COW fault frees the old page after
//!   replacing its entry. [`AddressSpace::counters`] snapshots under it.
//!
//! Order (as rmap.rs): a file's own lock (tmpfs `io`), then one space's
//! lock, then its `ptl`, then the object's page lock, then zone and slab
//! locks. Nothing that takes a space lock runs under the PTL; TLB
//! shootdowns may (an `IrqLock` waiter serves shootdown requests). Hole
//! punches that reach other spaces through the rmap run after the space
//! lock is dropped (`take_deferred`), never nested in it, and take the
//! other space's lock exclusive.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::error::MmError;
use crate::phys::page::PageFlags;
use crate::phys::page_alloc::PageAllocator;
use crate::sync::IrqLock;
use crate::vm::overcommit::Overcommit;
use crate::vm::page_table::{KERNEL_PML4_START, Leaf, Mapper, TableAlloc};
use crate::vm::tlb::TlbFlusher;
use crate::vm::vma::{Backing, VmFlags, Vma, VmaTree};

/// End of user space (exclusive). The page just below the canonical hole
/// (0x7ffffffff000..0x800000000000) is never mapped, so a SYSRET can never
/// return to a non-canonical address (the Intel SYSRET erratum).
/// Whether pages leaving a mapping leave a VM_LOCKED one (their lock
/// count drops, see `mlock::munlock_page`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mapping {
    Locked,
    Unlocked,
}

impl Mapping {
    pub(crate) fn of(v: &Vma) -> Mapping {
        if v.flags.contains(VmFlags::LOCKED) { Mapping::Locked } else { Mapping::Unlocked }
    }
}

/// Leaves [`AddressSpace::for_each_leaf_batch`] holds at a time.
pub const LEAF_BATCH: usize = 512;

pub const TASK_SIZE: u64 = 0x0000_7fff_ffff_f000;
/// Default of the lowest address user mappings may use
/// (`vm.mmap_min_addr`, [`MmEnv::mmap_min_addr`]).
pub const MMAP_MIN_ADDR: u64 = 0x10000;
/// Free space kept below a growing-down stack (`stack_guard_gap`, 256 pages).
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// Where the legacy layout's mappings start (x86's `__TASK_UNMAPPED_BASE`:
/// a third of the user address space, page aligned).
pub const TASK_UNMAPPED_BASE: u64 = (TASK_SIZE / 3 + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
/// `vm.max_map_count` default.
pub const DEFAULT_MAX_MAP_COUNT: usize = 65530;
/// Where static-pie executables are loaded (`ELF_ET_DYN_BASE`, no ASLR).
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4000;
/// Top of the initial stack.
pub const STACK_TOP: u64 = TASK_SIZE;

/// The process limits mm operations check (soft values, bytes;
/// `u64::MAX` is RLIM_INFINITY).
#[derive(Clone, Copy, Debug)]
pub struct Rlimits {
    pub as_: u64,
    pub data: u64,
    pub stack: u64,
    pub memlock: u64,
    /// CAP_IPC_LOCK / root: may lock without the RLIMIT_MEMLOCK check.
    pub can_lock: bool,
    /// CAP_SYS_ADMIN / root: may use the admin reserve in overcommit mode 2.
    pub admin: bool,
}

impl Default for Rlimits {
    fn default() -> Self {
        Rlimits { as_: u64::MAX, data: u64::MAX, stack: 8 << 20, memlock: 8 << 20, can_lock: true, admin: true }
    }
}

/// What every mm operation needs from the kernel.
pub struct MmEnv<'a> {
    pub pa: &'static PageAllocator,
    pub tables: &'a dyn TableAlloc,
    pub tlb: &'a dyn TlbFlusher,
    pub commit: &'static Overcommit,
    /// The kernel's PML4: its upper half is copied into every new one.
    pub kernel_root: PhysAddr,
    /// The shared zero page (read faults on private anonymous memory).
    pub zero_page: Pfn,
    pub max_map_count: usize,
    /// `vm.mmap_min_addr`: no mapping may start below it (EPERM for
    /// MAP_FIXED; a lower hint is ignored).
    pub mmap_min_addr: u64,
    /// The swap areas and the swap cache.
    pub swap: &'static crate::swap::space::SwapSpace,
    /// The memory policy of the task the operation runs for
    /// (set_mempolicy): where its anonymous pages go in areas without one
    /// of their own. None: local allocation.
    pub policy: Option<crate::vm::mempolicy::MemPolicy>,
}

/// Addresses of the program's pieces (for /proc and brk).
#[derive(Clone, Copy, Debug, Default)]
pub struct Layout {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    pub mmap_base: u64,
    /// The legacy layout (Linux's `mmap_is_legacy`: personality
    /// ADDR_COMPAT_LAYOUT or vm.legacy_va_layout at exec): mappings
    /// without an address go bottom-up from `mmap_base`, which is then
    /// [`TASK_UNMAPPED_BASE`], rather than top-down below the stack.
    pub legacy: bool,
}

/// Page counters (/proc/PID/status: VmSize, VmRSS, ...): a snapshot,
/// from [`AddressSpace::counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmCounters {
    pub rss_anon: u64,
    pub rss_file: u64,
    pub rss_shmem: u64,
    pub total_vm: u64,
    pub data_vm: u64,
    pub exec_vm: u64,
    pub stack_vm: u64,
    pub locked_vm: u64,
    /// VmPeak.
    pub hiwater_vm: u64,
    /// VmHWM.
    pub hiwater_rss: u64,
    /// Pages committed for this address space.
    pub committed: u64,
    pub min_flt: u64,
    pub maj_flt: u64,
    /// Swap entries in the page tables (Linux's MM_SWAPENTS: VmSwap).
    pub swap_ents: u64,
    /// 4 KiB pages of hugetlb pages mapped (status HugetlbPages).
    pub hugetlb: u64,
}

impl MmCounters {
    pub fn rss(&self) -> u64 {
        self.rss_anon + self.rss_file + self.rss_shmem
    }
}

/// The counters of the mappings themselves: changed only with the space
/// lock exclusive (`&mut self`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct VmCounters {
    pub total_vm: u64,
    pub data_vm: u64,
    pub exec_vm: u64,
    pub stack_vm: u64,
    pub locked_vm: u64,
    pub hiwater_vm: u64,
    pub committed: u64,
}

/// What the page-table lock guards besides the page tables: the page
/// counters a fault changes, so that concurrent faults count exactly and a
/// reader sees RSS and VmHWM of one moment. (The fault counts, which
/// nothing compares with these, are atomics: [`AddressSpace::count_fault`].)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtlState {
    /// Pages mapped, by [`RssKind`].
    pub rss: [u64; 3],
    pub hiwater_rss: u64,
    /// Swap entries in the page tables (Linux's MM_SWAPENTS: VmSwap).
    pub swap_ents: u64,
    /// 4 KiB pages of hugetlb pages mapped (status HugetlbPages).
    pub hugetlb: u64,
    /// Transparent huge pages mapped (each also 512 pages of `rss`).
    pub thp: u64,
    /// Mappings of the huge zero page (not in `rss`).
    pub thp_zero: u64,
}

impl PtlState {
    pub(crate) fn rss_add(&mut self, kind: RssKind, delta: i64) {
        let r = &mut self.rss[kind as usize];
        *r = (*r as i64 + delta).max(0) as u64;
        self.hiwater_rss = self.hiwater_rss.max(self.rss.iter().sum());
    }
}

/// One process's memory.
pub struct AddressSpace {
    pub root: PhysAddr,
    pub vmas: VmaTree,
    pub layout: Layout,
    pub(crate) vm: VmCounters,
    /// The page-table lock and what it guards besides the tables (see the
    /// module comment).
    pub(crate) ptl: IrqLock<PtlState>,
    /// Minor and major faults resolved (`min_flt`, `maj_flt`), counted by
    /// concurrent faults without a lock.
    pub(crate) faults: [AtomicU64; 2],
    /// Flags every new mapping gets (mlockall(MCL_FUTURE) sets VM_LOCKED).
    pub def_flags: VmFlags,
    /// prctl(PR_SET_THP_DISABLE): no transparent huge pages here (kept
    /// across fork and execve, as Linux's MMF_DISABLE_THP).
    pub thp_disabled: bool,
    /// The kernel's handle on this space, entered in the reverse map of
    /// every object it maps (rmap.rs); `None` until the kernel sets it.
    pub(crate) rmap_owner: Option<alloc::sync::Weak<dyn crate::vm::rmap::MapperSpace>>,
    /// The objects whose reverse map holds this space, left at teardown.
    pub(crate) rmap_objects: Vec<alloc::sync::Weak<crate::vm::file::MemObject>>,
    /// The family whose anonymous pages this space may map (rmap_walk.rs):
    /// its own since exec, its parent's after fork.
    pub(crate) anon: Option<alloc::sync::Arc<crate::vm::rmap_walk::AnonFamily>>,
    /// Hole punches waiting for this space's lock to be dropped (rmap.rs).
    pub(crate) deferred: Vec<crate::vm::rmap::Punch>,
    /// Pages MADV_PAGEOUT unmapped, written once the lock is dropped.
    pub(crate) pageout: Option<crate::vm::swap_out::PageOut>,
    /// The swap entry a remote access stopped at (access_remote.rs).
    pub(crate) swap_wait: Option<crate::swap::entry::SwapEntry>,
}

/// Which RSS counter a mapped page counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum RssKind {
    Anon,
    File,
    Shmem,
}

impl AddressSpace {
    /// An empty address space: a fresh PML4 whose kernel half points at the
    /// kernel's shared PDPTs.
    pub fn new(env: &MmEnv<'_>) -> Result<AddressSpace, MmError> {
        let root = env.tables.alloc_table().ok_or(MmError::NoMemory)?;
        let new = env.pa.phys().table(root).ok_or(MmError::NoMemory)?;
        let kernel = env.pa.phys().table(env.kernel_root).ok_or(MmError::NoMemory)?;
        for i in KERNEL_PML4_START..512 {
            new[i] = kernel[i].clone();
        }
        Ok(AddressSpace {
            root,
            vmas: VmaTree::new(),
            layout: Layout::default(),
            vm: VmCounters::default(),
            ptl: IrqLock::new(PtlState::default()),
            faults: Default::default(),
            def_flags: VmFlags::empty(),
            thp_disabled: false,
            rmap_owner: None,
            rmap_objects: Vec::new(),
            anon: None,
            deferred: Vec::new(),
            pageout: None,
            swap_wait: None,
        })
    }

    pub(crate) fn mapper<'a>(&self, env: &'a MmEnv<'a>) -> Mapper<'a> {
        Mapper::for_user(env.pa.phys(), env.tables, self.root)
    }

    /// `mmap_base` for a stack limit (Linux's `mmap_base()` without ASLR).
    pub fn mmap_base_for(rlim_stack: u64) -> u64 {
        let gap = rlim_stack.clamp(128 << 20, TASK_SIZE / 6 * 5) + STACK_GUARD_GAP;
        (TASK_SIZE - gap) & !(PAGE_SIZE - 1)
    }

    /// Add a VMA's size to the counters (`vm_stat_account`), or remove it.
    pub(crate) fn account_vma(&mut self, v: &Vma, add: bool) {
        let pages = v.pages();
        let c = &mut self.vm;
        let apply = |x: &mut u64| {
            if add { *x += pages } else { *x = x.saturating_sub(pages) }
        };
        apply(&mut c.total_vm);
        if v.is_data() {
            apply(&mut c.data_vm);
        }
        if v.is_exec() {
            apply(&mut c.exec_vm);
        }
        if v.is_stack() {
            apply(&mut c.stack_vm);
        }
        if v.flags.contains(VmFlags::LOCKED) {
            apply(&mut c.locked_vm);
        }
        c.hiwater_vm = c.hiwater_vm.max(c.total_vm);
    }

    pub(crate) fn rss_add(&self, kind: RssKind, delta: i64) {
        self.ptl.lock().rss_add(kind, delta);
    }

    /// The counters now: the fault-side ones read in one PTL section.
    pub fn counters(&self) -> MmCounters {
        let f = *self.ptl.lock();
        let v = &self.vm;
        MmCounters {
            rss_anon: f.rss[RssKind::Anon as usize],
            rss_file: f.rss[RssKind::File as usize],
            rss_shmem: f.rss[RssKind::Shmem as usize],
            total_vm: v.total_vm,
            data_vm: v.data_vm,
            exec_vm: v.exec_vm,
            stack_vm: v.stack_vm,
            locked_vm: v.locked_vm,
            hiwater_vm: v.hiwater_vm,
            hiwater_rss: f.hiwater_rss,
            committed: v.committed,
            min_flt: self.faults[0].load(Ordering::Relaxed),
            maj_flt: self.faults[1].load(Ordering::Relaxed),
            swap_ents: f.swap_ents,
            hugetlb: f.hugetlb,
        }
    }

    /// A fault that had to read its page from swap: a major fault (the
    /// retry that maps the page counts a minor one besides).
    pub fn count_major_fault(&self, env: &MmEnv<'_>) {
        self.count_fault(true);
        env.pa.vmstat.pgmajfault.inc();
    }

    /// Swap entries added (reclaim, fork) or gone (faults, zaps).
    pub(crate) fn swap_ents_add(&self, delta: i64) {
        let mut p = self.ptl.lock();
        p.swap_ents = (p.swap_ents as i64 + delta).max(0) as u64;
    }

    /// Count a resolved fault (`mm_account_fault`).
    pub(crate) fn count_fault(&self, major: bool) {
        self.faults[major as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `reset_mm_hiwater_rss` (clear_refs 5): VmHWM drops to VmRSS.
    pub(crate) fn reset_hiwater_rss(&self) {
        let mut p = self.ptl.lock();
        p.hiwater_rss = p.rss.iter().sum();
    }

    /// The RSS kind of a mapped page.
    pub fn rss_kind(env: &MmEnv<'_>, pfn: Pfn) -> RssKind {
        match env.pa.page(pfn).map(|p| p.flags()) {
            Some(f) if f.contains(PageFlags::SHMEM) => RssKind::Shmem,
            Some(f) if f.contains(PageFlags::FILE) => RssKind::File,
            _ => RssKind::Anon,
        }
    }

    /// Leaf flags for a user page in `vma`; `writable` is whether this
    /// particular page may be written now (false for copy-on-write pages).
    pub(crate) fn pte_flags(vma_flags: VmFlags, writable: bool) -> F {
        let mut f = F::PRESENT;
        // A PROT_NONE area keeps its pages (mprotect may give access back)
        // but hides them from user mode: no USER bit.
        if vma_flags.intersects(VmFlags::ACCESS) {
            f |= F::USER_ACCESSIBLE;
        }
        if writable && vma_flags.contains(VmFlags::WRITE) {
            f |= F::WRITABLE;
        }
        if !vma_flags.contains(VmFlags::EXEC) {
            f |= F::NO_EXECUTE;
        }
        f
    }

    fn release_pfn(&self, env: &MmEnv<'_>, pfn: Pfn, mapping: Mapping) {
        if pfn == env.zero_page {
            return;
        }
        self.rss_add(Self::rss_kind(env, pfn), -1);
        if mapping == Mapping::Locked {
            crate::vm::mlock::munlock_page(env, pfn);
        }
        let mut cached = false;
        if let Some(p) = env.pa.page(pfn) {
            // No mapping left, so no locked one either.
            let left = p.dec_mapcount();
            if left == 0 {
                crate::vm::mlock::munlock_all(env, p);
            }
            cached = left == 0 && p.has(PageFlags::SWAPCACHE);
        }
        env.pa.put_user_page(pfn);
        if cached {
            // A swap-cache page mapped nowhere now: its copy on swap is
            // enough (Linux's free_swap_cache at unmap).
            env.swap.try_free_clean(env.pa, pfn);
        }
    }

    /// `zap_page_range`: remove every page mapped in `[start, end)`, free
    /// page tables left empty, flush the TLB.
    ///
    /// Like Linux's `mmu_gather`, removed pages wait in a small batch until
    /// the TLB no longer maps them, then go back; a full batch forces a
    /// flush. Nothing is allocated, so an OOM victim's memory can always be
    /// torn down.
    pub fn zap_range(&mut self, env: &MmEnv<'_>, start: u64, end: u64) {
        self.zap_mapping(env, start, end, Mapping::Unlocked);
    }

    /// `zap_range` for an area that was VM_LOCKED: each page loses one
    /// locked mapping (munmap and exit of locked memory).
    pub(crate) fn zap_mapping(&mut self, env: &MmEnv<'_>, start: u64, end: u64, mapping: Mapping) {
        if end <= start {
            return;
        }
        // Each page with whether it is a huge one (hugetlb).
        let mut batch = [(Pfn(0), false); 64];
        let mut n = 0;
        let mut swapped = 0;
        let mut m = self.mapper(env);
        let release = |this: &Self, (pfn, huge): (Pfn, bool)| match huge {
            true if env.pa.thp.is_huge_zero(pfn) => this.release_huge_zero(),
            true if crate::vm::thp::is_thp(env, pfn) => this.release_thp(env, pfn),
            true => this.release_huge(env, pfn),
            false => this.release_pfn(env, pfn, mapping),
        };
        let flush = m.unmap_range_swap(
            start,
            end - start,
            &mut |l| {
                if n == batch.len() {
                    env.tlb.flush_all();
                    for &p in &batch[..n] {
                        release(self, p);
                    }
                    n = 0;
                }
                batch[n] = (Pfn::from_phys(l.phys.as_u64()), l.size != crate::vm::page_table::MapSize::Size4K);
                n += 1;
            },
            &mut |e| {
                env.swap.free(env.pa, e);
                swapped += 1;
            },
        );
        self.swap_ents_add(-swapped);
        match flush {
            Ok(f) => f.flush(env.tlb),
            Err(_) => env.tlb.flush_all(),
        }
        for &p in &batch[..n] {
            release(self, p);
        }
    }

    /// The page mapped at `va`, if any, with its leaf flags.
    pub fn lookup(&self, env: &MmEnv<'_>, va: u64) -> Option<(Pfn, F)> {
        let t = crate::vm::page_table::translate(
            env.pa.phys(),
            self.root,
            crate::addr::VirtAddr::new(va & !(PAGE_SIZE - 1)),
        )?;
        Some((Pfn::from_phys(t.phys.as_u64()), t.flags))
    }

    /// Every page mapped in `[start, end)`.
    ///
    /// One allocation for the whole range: for tests and views of one
    /// area. Work over a range a process chose goes through
    /// [`Self::for_each_leaf`] or [`Self::for_each_leaf_batch`], which
    /// hold at most a batch however much of the range is populated.
    pub fn leaves(&self, env: &MmEnv<'_>, start: u64, end: u64) -> Vec<Leaf> {
        let mut v = Vec::new();
        self.for_each_leaf(env, start, end, &mut |l| v.push(l));
        v
    }

    /// Visit every mapped leaf of `[start, end)`, clipped to user space:
    /// an address space's walks never reach the kernel half.
    pub fn for_each_leaf(&self, env: &MmEnv<'_>, start: u64, end: u64, f: &mut dyn FnMut(Leaf)) {
        let end = end.min(TASK_SIZE);
        if start < end {
            self.mapper(env).for_each_leaf(start, end, f);
        }
    }

    /// Hand the mapped 4 KiB leaves of `[start, end)` to `f` in address
    /// order, at most [`LEAF_BATCH`] at a time, with the address space
    /// mutable in between (`f` may change the page tables of the batch it
    /// holds). Huge (hugetlb) leaves are left out: hugetlb.rs changes them.
    pub(crate) fn for_each_leaf_batch(
        &mut self,
        env: &MmEnv<'_>,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(&mut Self, &[Leaf]),
    ) {
        let end = end.min(TASK_SIZE);
        if start >= end {
            return;
        }
        let mut batch: Vec<Leaf> = Vec::with_capacity(LEAF_BATCH);
        let mut cursor = start;
        loop {
            batch.clear();
            let mut resume = None;
            self.mapper(env).for_each_leaf_while(cursor, end, &mut |l| {
                if batch.len() == LEAF_BATCH {
                    resume = Some(l.va);
                    return false;
                }
                // hugetlb pages are hugetlb.rs's to change.
                if l.size == crate::vm::page_table::MapSize::Size4K {
                    batch.push(l);
                }
                true
            });
            f(self, &batch);
            match resume {
                Some(va) => cursor = va,
                None => return,
            }
        }
    }

    /// Page-table pages under the user half (VmPTE, in pages).
    pub fn page_table_pages(&self, env: &MmEnv<'_>) -> u64 {
        self.mapper(env).count_tables(0..KERNEL_PML4_START)
    }

    /// `exit_mmap`: unmap everything, give back commitments, free the
    /// page tables and the PML4.
    pub fn destroy(mut self, env: &MmEnv<'_>) {
        self.exit_mmap(env);
        env.tables.free_table(self.root);
    }

    /// Linux's `exit_mmap`: every mapping and user page table goes, the
    /// space stays (empty, its root table kept) for whoever still holds
    /// it: the last task using an address space empties it at once, even
    /// while a reverse-map walker holds a reference. Running it again
    /// finds nothing to do.
    pub fn exit_mmap(&mut self, env: &MmEnv<'_>) {
        self.rmap_leave_all();
        // By address, without a copy of the list (an OOM victim is torn
        // down when no memory is left).
        let mut addr = 0;
        while let Some((s, e, m)) = self.vmas.find(addr).map(|v| (v.start, v.end, Mapping::of(v))) {
            self.zap_mapping(env, s, e, m);
            addr = e;
        }
        if let Some(p) = self.pageout.take() {
            // MADV_PAGEOUT writes that never ran: this space's entries are
            // gone, so nothing will read the slots; the pages just go.
            p.abandon();
        }
        env.commit.unaccount(self.vm.committed);
        self.vm.committed = 0;
        self.vmas = VmaTree::new();
        let mut m = self.mapper(env);
        m.free_user_tables();
    }

    /// Take a VMA out of the tree and out of the counters.
    pub(crate) fn detach_vma(&mut self, env: &MmEnv<'_>, start: u64) -> Option<Vma> {
        let v = self.vmas.remove(start)?;
        self.account_vma(&v, false);
        if v.flags.contains(VmFlags::ACCOUNT) {
            env.commit.unaccount(v.pages());
            self.vm.committed = self.vm.committed.saturating_sub(v.pages());
        }
        Some(v)
    }

    /// Put a VMA into the tree and the counters, merging with neighbours.
    pub(crate) fn attach_vma(&mut self, env: &MmEnv<'_>, v: Vma) -> Result<u64, MmError> {
        let pages = v.pages();
        let accounted = v.flags.contains(VmFlags::ACCOUNT);
        self.account_vma(&v, true);
        let start = v.start;
        // Growing a neighbour (the heap by brk) adds no area: no map-count
        // check then.
        if let Some(prev) = self.vmas.prev(start).filter(|p| p.can_merge_with(&v)).map(|p| p.start) {
            if let Some(p) = self.vmas.containing_mut(prev) {
                p.end = v.end;
                p.flags |= v.flags & VmFlags::SOFTDIRTY;
            }
            if accounted {
                self.vm.committed += pages;
            }
            return Ok(self.vmas.merge_around(prev));
        }
        if let Err(e) = self.vmas.insert(v.clone(), env.max_map_count) {
            self.account_vma(&v, false);
            return Err(e.into());
        }
        if accounted {
            self.vm.committed += pages;
        }
        if let Some(obj) = v.backing.object() {
            self.rmap_enter(obj);
        }
        Ok(self.vmas.merge_around(start))
    }

    /// Whether the address space may grow by `pages` of a mapping with
    /// `flags` (`may_expand_vm`): RLIMIT_AS, and RLIMIT_DATA for data.
    pub(crate) fn may_expand(&self, flags: VmFlags, pages: u64, lim: &Rlimits) -> bool {
        let bytes = |p: u64| p.saturating_mul(PAGE_SIZE);
        if bytes(self.vm.total_vm + pages) > lim.as_ {
            return false;
        }
        let is_data = flags & (VmFlags::WRITE | VmFlags::SHARED | VmFlags::GROWSDOWN) == VmFlags::WRITE;
        if is_data && bytes(self.vm.data_vm + pages) > lim.data {
            return false;
        }
        true
    }

    /// Check the counters against a recount; panics with "mm: ..." if they
    /// disagree (used by tests after every operation).
    pub fn check_invariants(&self, env: &MmEnv<'_>) {
        self.vmas.check_invariants();
        let total: u64 = self.vmas.iter().map(Vma::pages).sum();
        assert_eq!(total, self.vm.total_vm, "mm: total_vm out of date");
        let mut rss = [0u64; 3];
        for v in self.vmas.iter() {
            for l in self.leaves(env, v.start, v.end) {
                // PROT_NONE pages stay mapped, but only for the kernel.
                assert_eq!(
                    l.user,
                    v.flags.intersects(VmFlags::ACCESS),
                    "mm: user bit does not match the area's access"
                );
                let pfn = Pfn::from_phys(l.phys.as_u64());
                if pfn == env.zero_page {
                    assert!(!l.writable, "mm: the zero page is mapped writable");
                    continue;
                }
                if l.size != crate::vm::page_table::MapSize::Size4K {
                    if env.pa.thp.is_huge_zero(pfn) {
                        assert!(v.backing.is_anon() && !l.writable, "mm: the huge zero page mapped writable");
                    } else if crate::vm::thp::is_thp(env, pfn) {
                        assert!(v.backing.is_anon(), "mm: a transparent huge page outside anonymous memory");
                        rss[RssKind::Anon as usize] += crate::phys::hugetlb::HPAGE_PAGES;
                    } else {
                        assert!(v.flags.contains(VmFlags::HUGETLB), "mm: huge leaf outside a hugetlb area");
                    }
                    continue;
                }
                rss[Self::rss_kind(env, pfn) as usize] += 1;
                if l.writable {
                    assert!(v.flags.contains(VmFlags::WRITE), "mm: writable page in a read-only area");
                }
            }
        }
        // Nothing may be mapped outside the areas.
        let mut outside = 0;
        let mut cursor = 0;
        for v in self.vmas.iter() {
            outside += self.leaves(env, cursor, v.start).len();
            cursor = v.end;
        }
        outside += self.leaves(env, cursor, TASK_SIZE).len();
        assert_eq!(outside, 0, "mm: pages mapped outside every area");
        assert_eq!(self.ptl.lock().rss, rss, "mm: RSS counters out of date");
        let _ = Backing::Anon;
    }
}

#[cfg(test)]
mod compaction_tests;
#[cfg(test)]
mod concurrent_fault_tests;
#[cfg(test)]
mod hugetlb_tests;
#[cfg(test)]
mod layout_tests;
#[cfg(test)]
mod mempolicy_tests;
#[cfg(test)]
mod migrate_tests;
#[cfg(test)]
mod mseal_tests;
#[cfg(test)]
mod rmap_tests;
#[cfg(test)]
mod rmap_walk_tests;
#[cfg(test)]
mod shmem_swap_tests;
#[cfg(test)]
mod swap_tests;
#[cfg(test)]
mod syscall_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod thp_tests;
#[cfg(test)]
mod tlb_tests;
