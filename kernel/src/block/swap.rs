//! Swap areas on disks: swapon(2) and swapoff(2)'s kernel side, the areas'
//! slot maps and /proc/swaps (cf. mm/swapfile.c).
//!
//! ```text
//!   swapon:  read page 0 -> mm::swap::header (Linux's SWAPSPACE2 format)
//!            -> a SwapMap of min(last_page + 1, disk pages) slots, header
//!            and bad pages never used -> AREAS, by priority
//!   swapoff: every page swapped out to the area is read back into the
//!            processes that map it (proc::reclaim::unuse_area), then it leaves
//! ```
//!
//! Priorities as Linux gives them: SWAP_FLAG_PREFER's value, else -2, -3,
//! ... in the order areas are turned on (an area leaving gives its number
//! back). SwapTotal and SwapFree (meminfo, sysinfo) come from the areas.
//!
//! The slot maps and the swap cache live in mm (`mm::swap::space`, the
//! kernel's instance is `mem::user::SWAP`); an area here is the disk, its
//! path and priority, and the type number it has there. Pages go out and
//! come back through [`DiskSwap`], one page-sized request each, straight
//! into or out of the page (no bounce buffer).
//!
//! Locks: `AREAS` (a spin mutex, task context only) orders and finds the
//! areas; `SWAP`'s per-area locks are taken after it, never before.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicI32, Ordering};

use abi::errno::{EBUSY, EINVAL, ENOMEM, EPERM, Errno};
use mm::addr::{PAGE_SIZE, Pfn};
use mm::swap::header::SwapHeader;
use mm::swap::map::SwapMap;
use mm::swap::space::SwapIo;

use super::{Bio, BlockDevice, Op, SECTOR};
use crate::mem::user::SWAP;

/// swapon(2)'s flags (include/linux/swap.h).
pub const SWAP_FLAG_PREFER: u32 = 0x8000;
pub const SWAP_FLAG_PRIO_MASK: u32 = 0x7fff;
pub const SWAP_FLAG_DISCARD: u32 = 0x10000;
pub const SWAP_FLAG_DISCARD_ONCE: u32 = 0x20000;
pub const SWAP_FLAG_DISCARD_PAGES: u32 = 0x40000;
pub const SWAP_FLAGS_VALID: u32 =
    SWAP_FLAG_PRIO_MASK | SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE | SWAP_FLAG_DISCARD_PAGES;

/// One active swap area.
pub struct SwapArea {
    /// The path given to swapon (/proc/swaps' Filename).
    pub path: String,
    pub dev: Arc<dyn BlockDevice>,
    pub prio: i32,
    /// Its type number in `SWAP` (the area bits of its swap entries).
    pub ty: u8,
}

/// Page I/O to a swap area's disk: slot N is the disk's page N.
pub struct DiskSwap {
    dev: Arc<dyn BlockDevice>,
}

impl DiskSwap {
    fn rw(&self, op: Op, slot: u32, pfn: Pfn) -> Result<(), ()> {
        let sector = slot as u64 * (PAGE_SIZE / SECTOR);
        let mut segs = Vec::new();
        segs.try_reserve_exact(1).map_err(|_| ())?;
        segs.push((pfn.phys(), PAGE_SIZE as u32));
        self.dev.submit(&Bio { op, sector, segs }).map_err(|e| {
            log::error!("swap: {:?} of slot {} on {} failed: {:?}", op, slot, self.dev.name(), e);
        })
    }
}

impl SwapIo for DiskSwap {
    fn read_page(&self, slot: u32, pfn: Pfn) -> Result<(), ()> {
        self.rw(Op::Read, slot, pfn)
    }

    fn write_page(&self, slot: u32, pfn: Pfn) -> Result<(), ()> {
        self.rw(Op::Write, slot, pfn)
    }
}

static AREAS: spin::Mutex<Vec<Arc<SwapArea>>> = spin::Mutex::new(Vec::new());
/// The last priority handed to an area without SWAP_FLAG_PREFER.
static LEAST_PRIORITY: AtomicI32 = AtomicI32::new(-1);

fn same(a: &Arc<dyn BlockDevice>, b: &Arc<dyn BlockDevice>) -> bool {
    core::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// Turn on swapping to `dev` (opened as `path`) with swapon(2)'s `flags`
/// (already checked against SWAP_FLAGS_VALID): EBUSY if it is swap
/// already, EINVAL without a valid header or usable page.
pub fn swapon(path: &str, dev: Arc<dyn BlockDevice>, flags: u32) -> Result<(), Errno> {
    if AREAS.lock().iter().any(|a| same(&a.dev, &dev)) {
        return Err(EBUSY);
    }
    let mut page = alloc::vec![0u8; PAGE_SIZE as usize];
    if super::read_bytes(dev.as_ref(), 0, &mut page)? < page.len() {
        return Err(EINVAL);
    }
    let header = SwapHeader::parse(&page).map_err(|e| {
        log::info!("swapon: {}: not a swap area ({:?})", path, e);
        EINVAL
    })?;
    let device_pages = dev.sectors() * SECTOR / PAGE_SIZE;
    let (good, maxpages) = header.usable(device_pages);
    if good == 0 {
        return Err(EINVAL);
    }
    let map = SwapMap::new(maxpages, &header.bad_pages);
    let mut areas = AREAS.lock();
    if areas.iter().any(|a| same(&a.dev, &dev)) {
        return Err(EBUSY);
    }
    let prio = if flags & SWAP_FLAG_PREFER != 0 {
        (flags & SWAP_FLAG_PRIO_MASK) as i32
    } else {
        LEAST_PRIORITY.fetch_sub(1, Ordering::Relaxed) - 1
    };
    areas.try_reserve(1).map_err(|_| ENOMEM)?;
    let io = Arc::new(DiskSwap { dev: dev.clone() });
    let ty = SWAP.add_area(map, prio, io).ok_or(EPERM)?;
    let area = Arc::new(SwapArea { path: path.into(), dev, prio, ty });
    // Highest priority first; equal ones in the order they came.
    let at = areas.iter().position(|a| a.prio < prio).unwrap_or(areas.len());
    areas.insert(at, area);
    crate::mem::user::overcommit().set_swap_pages(SWAP.totals().0);
    drop(areas);
    crate::proc::reclaim::start_kswapd();
    log::info!("Adding {}k swap on {}.  Priority:{} extents:1 across:{}k", good * 4, path, prio, good * 4);
    Ok(())
}

/// Turn off swapping to `dev`: EINVAL if it is not a swap area.
pub fn swapoff(dev: &Arc<dyn BlockDevice>) -> Result<(), Errno> {
    let areas = AREAS.lock();
    let i = areas.iter().position(|a| same(&a.dev, dev)).ok_or(EINVAL)?;
    let ty = areas[i].ty;
    drop(areas);
    // No new slot comes from it; every page still out there comes back
    // (Linux's try_to_unuse). On failure the area stays on as it was.
    SWAP.set_writeok(ty, false);
    if let Err(e) = crate::proc::reclaim::unuse_area(ty) {
        SWAP.set_writeok(ty, true);
        return Err(e);
    }
    let mut areas = AREAS.lock();
    let Some(i) = areas.iter().position(|a| same(&a.dev, dev)) else {
        SWAP.set_writeok(ty, true);
        return Err(EINVAL);
    };
    if SWAP.remove_area(ty).is_err() {
        SWAP.set_writeok(ty, true);
        report_busy_slots(ty);
        return Err(EBUSY);
    }
    let area = areas.remove(i);
    crate::mem::user::overcommit().set_swap_pages(SWAP.totals().0);
    if area.prio < 0 {
        // Linux gives the automatic priority back, so that the next area
        // turned on gets it again.
        let _ = LEAST_PRIORITY.compare_exchange(area.prio, area.prio + 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    if areas.is_empty() {
        *areas = Vec::new();
    }
    Ok(())
}

/// (total, free) swap pages over every area (SwapTotal, SwapFree).
pub fn totals() -> (u64, u64) {
    SWAP.totals()
}

/// /proc/swaps, in Linux's layout.
pub fn render(s: &mut String) -> core::fmt::Result {
    s.push_str("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    for a in AREAS.lock().iter() {
        let (size, used) = SWAP.usage(a.ty).map(|(u, n)| (u * 4, n * 4)).unwrap_or((0, 0));
        let pad = if a.path.len() < 40 { 40 - a.path.len() } else { 1 };
        let tab = |v: u64| if v < 10_000_000 { "\t" } else { "" };
        writeln!(
            s,
            "{}{:pad$}partition\t{}\t{}{}\t{}{}",
            a.path,
            "",
            size,
            tab(size),
            used,
            tab(used),
            a.prio,
            pad = pad
        )?;
    }
    Ok(())
}

/// swapoff gave up: say which slots are still in use and what holds
/// them (a swap count, a cached page and its state), for the log.
fn report_busy_slots(ty: u8) {
    let pa = crate::mem::page_alloc();
    let mut slots = [0u32; 8];
    let n = SWAP.used_slots(ty, 0, &mut slots);
    for &s in &slots[..n] {
        let e = mm::swap::entry::SwapEntry::new(ty, s);
        let page = SWAP.lookup(pa, e).and_then(|pfn| pa.page(pfn));
        log::warn!(
            "swapoff: slot {} still used: count {}, cached page {:?}",
            s,
            SWAP.count(e),
            page.map(|p| (p.pfn().0, p.flags(), p.refcount(), p.mapcount(), p.mapping.load(Ordering::Relaxed)))
        );
    }
}
