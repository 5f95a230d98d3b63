//! The memory parts of /proc/PID: `maps`, `smaps`, `statm` and the `Vm*`
//! lines of `status` (fs/proc/task_mmu.c).
//!
//! ```text
//!   maps    00400000-00401000 r--p 00000000 00:01 1003          /bin/hello
//!           start-end, rwx + p|s, file offset, dev, inode, name at col 73
//!   smaps   the maps line, then per-area page counts from a page-table
//!           walk (Rss, Pss, shared/private, clean/dirty, Anonymous, Locked)
//!   statm   size resident shared text lib data dt   (pages)
//!   status  VmPeak .. VmSwap, "Name:\t%8lu kB"
//! ```
//!
//! Names: `[heap]` for the area holding the break, `[stack]` for the one
//! holding the start of the stack, the file's path, and for shared
//! anonymous memory `/dev/zero (deleted)` as Linux's shmem file shows.

use core::fmt::{self, Write};

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv};
use crate::vm::page_table::Leaf;
use crate::vm::vma::{Backing, VmFlags, Vma};

/// Device number shown for initrd files and shmem (major 0, minor 1).
const OBJ_DEV: (u32, u32) = (0, 1);

/// What a page-table walk over one area found, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AreaUsage {
    pub rss: u64,
    /// Proportional set size, in 1/4096 of a byte (Linux's PSS_SHIFT is 12)
    /// so that sharing among three does not round away.
    pub pss_fixed: u64,
    pub pss_dirty_fixed: u64,
    /// Pss split by kind of page, as smaps_rollup shows it (same unit).
    pub pss_anon_fixed: u64,
    pub pss_file_fixed: u64,
    pub pss_shmem_fixed: u64,
    pub shared_clean: u64,
    pub shared_dirty: u64,
    pub private_clean: u64,
    pub private_dirty: u64,
    pub referenced: u64,
    pub anonymous: u64,
    pub lazyfree: u64,
    pub locked: u64,
    /// Bytes of the area's pages swapped out.
    pub swap: u64,
    /// Of those, bytes of a shared memory object's (counted whole: no
    /// SwapPss share, as Linux).
    pub shmem_swap: u64,
    /// Bytes of hugetlb pages mapped, by whether another mapping has them
    /// too (not in Rss, as in Linux).
    pub shared_hugetlb: u64,
    pub private_hugetlb: u64,
    /// Bytes of transparent huge pages mapped (AnonHugePages).
    pub anon_huge: u64,
    /// The area's page size (KernelPageSize, MMUPageSize): 2 MiB in a
    /// hugetlb area; 0 reads as 4 KiB.
    pub page_size: u64,
}

impl AreaUsage {
    pub fn pss(&self) -> u64 {
        self.pss_fixed >> 12
    }

    fn add(&mut self, o: &AreaUsage) {
        self.rss += o.rss;
        self.pss_fixed += o.pss_fixed;
        self.pss_dirty_fixed += o.pss_dirty_fixed;
        self.pss_anon_fixed += o.pss_anon_fixed;
        self.pss_file_fixed += o.pss_file_fixed;
        self.pss_shmem_fixed += o.pss_shmem_fixed;
        self.shared_clean += o.shared_clean;
        self.shared_dirty += o.shared_dirty;
        self.private_clean += o.private_clean;
        self.private_dirty += o.private_dirty;
        self.referenced += o.referenced;
        self.anonymous += o.anonymous;
        self.shared_hugetlb += o.shared_hugetlb;
        self.anon_huge += o.anon_huge;
        self.private_hugetlb += o.private_hugetlb;
        self.lazyfree += o.lazyfree;
        self.locked += o.locked;
        self.swap += o.swap;
        self.shmem_swap += o.shmem_swap;
    }
}

/// The name column of an area, if any.
pub fn area_name(mm: &AddressSpace, v: &Vma) -> Option<alloc::string::String> {
    match &v.backing {
        Backing::File(o) | Backing::Shared(o) => Some(o.name()),
        Backing::Huge(o) => Some(o.name.clone()),
        Backing::Anon => {
            let l = &mm.layout;
            if v.start <= l.brk && v.end >= l.start_brk && l.brk > l.start_brk && v.start < l.brk {
                Some("[heap]".into())
            } else if v.start <= l.start_stack && l.start_stack < v.end {
                Some("[stack]".into())
            } else {
                None
            }
        }
    }
}

/// One `maps` line (with its newline).
pub fn write_map_line(mm: &AddressSpace, v: &Vma, w: &mut dyn Write) -> fmt::Result {
    let f = v.flags;
    let c = |flag: VmFlags, ch: char| if f.contains(flag) { ch } else { '-' };
    let (off, (maj, min), ino) = match &v.backing {
        Backing::File(o) | Backing::Shared(o) => (v.pgoff << PAGE_SHIFT, OBJ_DEV, o.ino),
        Backing::Huge(o) => (v.pgoff << PAGE_SHIFT, OBJ_DEV, o.ino),
        Backing::Anon => (0, (0, 0), 0),
    };
    let mut head = alloc::string::String::new();
    write!(
        head,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        v.start,
        v.end,
        c(VmFlags::READ, 'r'),
        c(VmFlags::WRITE, 'w'),
        c(VmFlags::EXEC, 'x'),
        if f.contains(VmFlags::MAYSHARE) { 's' } else { 'p' },
        off,
        maj,
        min,
        ino
    )?;
    match area_name(mm, v) {
        // seq_pad: the name starts in column 73.
        Some(name) => writeln!(w, "{head:<72} {name}"),
        None => writeln!(w, "{head}"),
    }
}

/// /proc/PID/maps.
pub fn render_maps(mm: &AddressSpace, w: &mut dyn Write) -> fmt::Result {
    for v in mm.vmas.iter() {
        write_map_line(mm, v, w)?;
    }
    Ok(())
}

/// Which per-area view a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaView {
    Maps,
    Smaps,
}

/// One record of /proc/PID/maps or smaps: the first area ending above
/// `from`. Returns where the next record starts (that area's end), or
/// `None` when no area is left. A reader takes the file one record at a
/// time (Linux's seq_file `m_start` from `last_addr`), so a process with
/// 65530 areas never needs its whole smaps (tens of MiB) in one buffer.
pub fn render_area_from(
    mm: &AddressSpace,
    env: &MmEnv<'_>,
    from: u64,
    view: AreaView,
    w: &mut dyn Write,
) -> Result<Option<u64>, fmt::Error> {
    let Some(v) = mm.vmas.find(from) else { return Ok(None) };
    match view {
        AreaView::Maps => write_map_line(mm, v, w)?,
        AreaView::Smaps => write_smaps_record(mm, env, v, w)?,
    }
    Ok(Some(v.end))
}

fn write_smaps_record(mm: &AddressSpace, env: &MmEnv<'_>, v: &Vma, w: &mut dyn Write) -> fmt::Result {
    write_map_line(mm, v, w)?;
    write_usage(w, Some(v.len()), &area_usage(mm, env, v))?;
    writeln!(w, "THPeligible:    {:>8}", crate::vm::thp::vma_eligible(env, mm, v) as u8)?;
    w.write_str("VmFlags: ")?;
    for m in v.flags.mnemonics() {
        write!(w, "{m} ")?;
    }
    w.write_str("\n")
}

/// Walk the area's page tables (`smaps_pte_entry`).
pub fn area_usage(mm: &AddressSpace, env: &MmEnv<'_>, v: &Vma) -> AreaUsage {
    let mut u = AreaUsage::default();
    if v.flags.contains(VmFlags::HUGETLB) {
        u.page_size = crate::vm::hugetlb::vma_hpage_size(v);
    }
    mm.for_each_leaf(env, v.start, v.end, &mut |leaf| account_leaf(env, v, &leaf, &mut u));
    u.swap = mm.swap_entries_in(env, v.start, v.end) * PAGE_SIZE;
    // A shared or read-only mapping of shared memory: its object's pages
    // on swap in the area's range are the area's (Linux's
    // shmem_swap_usage; a private writable one would need a walk of its
    // holes, not done here).
    if let Some(o) = v.backing.object().filter(|o| o.kind == crate::vm::file::ObjKind::Shmem) {
        if v.flags.contains(VmFlags::SHARED) || !v.flags.contains(VmFlags::WRITE) {
            u.shmem_swap = o.swapped_in(v.pgoff, v.pgoff + v.pages()) * PAGE_SIZE;
            u.swap += u.shmem_swap;
        }
    }
    u
}

fn account_leaf(env: &MmEnv<'_>, v: &Vma, leaf: &Leaf, u: &mut AreaUsage) {
    use x86_64::structures::paging::PageTableFlags as F;
    let pfn = Pfn::from_phys(leaf.phys.as_u64());
    // The shared zero page is not counted (Linux skips it: vm_normal_page).
    if pfn == env.zero_page {
        return;
    }
    let Some(page) = env.pa.page(pfn) else { return };
    // Nor the huge zero page (`smaps_pmd_entry` skips it).
    if env.pa.thp.is_huge_zero(pfn) {
        return;
    }
    if page.has(PageFlags::HUGETLB) {
        // A hugetlb page (`smaps_hugetlb_range`).
        let size = leaf.size.bytes();
        if page.mapcount() >= 2 {
            u.shared_hugetlb += size
        } else {
            u.private_hugetlb += size
        }
        return;
    }
    // A transparent huge page counts whole (`smaps_pmd_entry`).
    let size = leaf.size.bytes();
    if size > PAGE_SIZE {
        u.anon_huge += size;
    }
    let dirty = leaf.flags.contains(F::DIRTY) || page.has(PageFlags::DIRTY);
    let mapcount = page.mapcount().max(1) as u64;
    u.rss += size;
    if leaf.flags.contains(F::ACCESSED) {
        u.referenced += size;
    }
    if page.has(PageFlags::ANON) {
        u.anonymous += size;
        if page.has(PageFlags::LAZYFREE) && !dirty {
            u.lazyfree += size;
        }
    }
    let pss = (size << 12) / mapcount;
    u.pss_fixed += pss;
    if dirty {
        u.pss_dirty_fixed += pss;
    }
    // smaps_account: anonymous, else swap-backed (shmem), else file.
    if page.has(PageFlags::ANON) {
        u.pss_anon_fixed += pss;
    } else if page.has(PageFlags::SHMEM) || page.has(PageFlags::SWAPBACKED) {
        u.pss_shmem_fixed += pss;
    } else {
        u.pss_file_fixed += pss;
    }
    match (mapcount >= 2, dirty) {
        (true, true) => u.shared_dirty += size,
        (true, false) => u.shared_clean += size,
        (false, true) => u.private_dirty += size,
        (false, false) => u.private_clean += size,
    }
    if v.flags.contains(VmFlags::LOCKED) {
        u.locked += pss >> 12;
    }
}

fn kb_line(w: &mut dyn Write, name: &str, bytes: u64) -> fmt::Result {
    writeln!(w, "{:<16}{:>8} kB", name, bytes >> 10)
}

/// The lines after the header of one `smaps` area (or of `smaps_rollup`).
pub fn write_usage(w: &mut dyn Write, size: Option<u64>, u: &AreaUsage) -> fmt::Result {
    if let Some(size) = size {
        kb_line(w, "Size:", size)?;
        let page = if u.page_size == 0 { PAGE_SIZE } else { u.page_size };
        kb_line(w, "KernelPageSize:", page)?;
        kb_line(w, "MMUPageSize:", page)?;
    }
    kb_line(w, "Rss:", u.rss)?;
    kb_line(w, "Pss:", u.pss())?;
    kb_line(w, "Pss_Dirty:", u.pss_dirty_fixed >> 12)?;
    if size.is_none() {
        // smaps_rollup splits Pss by kind.
        kb_line(w, "Pss_Anon:", u.pss_anon_fixed >> 12)?;
        kb_line(w, "Pss_File:", u.pss_file_fixed >> 12)?;
        kb_line(w, "Pss_Shmem:", u.pss_shmem_fixed >> 12)?;
    }
    kb_line(w, "Shared_Clean:", u.shared_clean)?;
    kb_line(w, "Shared_Dirty:", u.shared_dirty)?;
    kb_line(w, "Private_Clean:", u.private_clean)?;
    kb_line(w, "Private_Dirty:", u.private_dirty)?;
    kb_line(w, "Referenced:", u.referenced)?;
    kb_line(w, "Anonymous:", u.anonymous)?;
    kb_line(w, "KSM:", 0)?;
    kb_line(w, "LazyFree:", u.lazyfree)?;
    kb_line(w, "AnonHugePages:", u.anon_huge)?;
    kb_line(w, "ShmemPmdMapped:", 0)?;
    kb_line(w, "FilePmdMapped:", 0)?;
    kb_line(w, "Shared_Hugetlb:", u.shared_hugetlb)?;
    kb_line(w, "Private_Hugetlb:", u.private_hugetlb)?;
    kb_line(w, "Swap:", u.swap)?;
    // A slot shared after fork counts whole in each process here.
    kb_line(w, "SwapPss:", u.swap - u.shmem_swap)?;
    kb_line(w, "Locked:", u.locked)
}

/// /proc/PID/smaps.
pub fn render_smaps(mm: &AddressSpace, env: &MmEnv<'_>, w: &mut dyn Write) -> fmt::Result {
    for v in mm.vmas.iter() {
        write_smaps_record(mm, env, v, w)?;
    }
    Ok(())
}

/// Totals over every area (the body of /proc/PID/smaps_rollup).
pub fn total_usage(mm: &AddressSpace, env: &MmEnv<'_>) -> AreaUsage {
    let mut t = AreaUsage::default();
    for v in mm.vmas.iter() {
        t.add(&area_usage(mm, env, v));
    }
    t
}

/// /proc/PID/smaps_rollup: one header spanning every area, then totals.
pub fn render_smaps_rollup(mm: &AddressSpace, env: &MmEnv<'_>, w: &mut dyn Write) -> fmt::Result {
    let (Some(first), Some(last)) = (mm.vmas.iter().next(), mm.vmas.iter().last()) else { return Ok(()) };
    let head = alloc::format!("{:08x}-{:08x} ---p 00000000 00:00 0 ", first.start, last.end);
    writeln!(w, "{head:<72} [rollup]")?;
    write_usage(w, None, &total_usage(mm, env))
}

/// Pages of text (`statm`'s third column comes from the counters).
fn text_pages(mm: &AddressSpace) -> u64 {
    let l = &mm.layout;
    let end = (l.end_code + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    end.saturating_sub(l.start_code & !(PAGE_SIZE - 1)) >> PAGE_SHIFT
}

/// /proc/PID/statm: `size resident shared text lib data dt`, in pages.
pub fn render_statm(mm: &AddressSpace, w: &mut dyn Write) -> fmt::Result {
    let c = &mm.counters();
    writeln!(
        w,
        "{} {} {} {} 0 {} 0",
        c.total_vm,
        c.rss(),
        c.rss_file + c.rss_shmem,
        text_pages(mm),
        c.data_vm + c.stack_vm
    )
}

/// The `Vm*` and `Rss*` lines of /proc/PID/status (`task_mem`).
pub fn render_status_vm(mm: &AddressSpace, env: &MmEnv<'_>, w: &mut dyn Write) -> fmt::Result {
    let c = &mm.counters();
    let kb = |pages: u64| pages << (PAGE_SHIFT - 10);
    let line = |w: &mut dyn Write, name: &str, pages: u64| writeln!(w, "{}:\t{:>8} kB", name, kb(pages));
    let text = text_pages(mm);
    line(w, "VmPeak", c.hiwater_vm.max(c.total_vm))?;
    line(w, "VmSize", c.total_vm)?;
    line(w, "VmLck", c.locked_vm)?;
    line(w, "VmPin", 0)?;
    line(w, "VmHWM", c.hiwater_rss.max(c.rss()))?;
    line(w, "VmRSS", c.rss())?;
    line(w, "RssAnon", c.rss_anon)?;
    line(w, "RssFile", c.rss_file)?;
    line(w, "RssShmem", c.rss_shmem)?;
    line(w, "VmData", c.data_vm)?;
    line(w, "VmStk", c.stack_vm)?;
    line(w, "VmExe", text.min(c.exec_vm))?;
    line(w, "VmLib", c.exec_vm.saturating_sub(text))?;
    line(w, "VmPTE", mm.page_table_pages(env))?;
    line(w, "VmSwap", c.swap_ents)?;
    line(w, "HugetlbPages", c.hugetlb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_lines_have_linux_widths() {
        let mut s = alloc::string::String::new();
        kb_line(&mut s, "Size:", 4096).unwrap();
        kb_line(&mut s, "KernelPageSize:", 4096).unwrap();
        assert_eq!(s, "Size:                  4 kB\nKernelPageSize:        4 kB\n");
    }
}
