//! /proc/PID/numa_maps (Linux's fs/proc/task_mmu.c `show_numa_map`): per
//! area, its memory policy and where its pages are.
//!
//! ```text
//!   7f0000000000 default anon=16 dirty=16 active=0 N0=10 N1=6 kernelpagesize_kB=4
//!   00400000 default file=/bin/t_x mapped=3 mapmax=2 N0=3 kernelpagesize_kB=4
//!   01a00000 default heap anon=2 dirty=2 N0=2 kernelpagesize_kB=4
//!   7f0000400000 interleave:0-1 anon=8 dirty=8 N0=4 N1=4 kernelpagesize_kB=4
//! ```
//!
//! Fields as Linux prints them: `file=` (the path, blanks escaped in
//! octal), `heap` or `stack`, then, if any page is mapped, `anon=`,
//! `dirty=`, `mapped=` (when it differs from both), `mapmax=` (the most
//! mappings of one page, when above 1), `swapcache=`, `active=` (when not
//! every page is active or unevictable), `writeback=`, one `N<node>=` per
//! node holding pages, and `kernelpagesize_kB=`. The shared zero page is
//! not counted. The policy is the area's own (mbind; `interleave:0-1`,
//! `bind=static:1`, ... as Linux's `mpol_to_str`; for a shmem mapping
//! the object's shared policy at the area's start), else the task's
//! (`env.policy`: the caller puts the policy of the task whose file is
//! read there, as Linux's show_numa_map prints `task_mempolicy`),
//! `default` without either.

use core::fmt::{self, Write};

use crate::addr::{PAGE_SIZE, Pfn};
use crate::phys::numa::MAX_NUMNODES;
use crate::phys::page::PageFlags;
use crate::vm::address_space::{AddressSpace, MmEnv};
use crate::vm::vma::{VmFlags, Vma};

#[derive(Default)]
struct NumaStats {
    pages: u64,
    anon: u64,
    dirty: u64,
    mapcount_max: i32,
    swapcache: u64,
    active: u64,
    writeback: u64,
    node: [u64; MAX_NUMNODES],
}

fn gather(mm: &AddressSpace, env: &MmEnv<'_>, v: &Vma) -> NumaStats {
    use x86_64::structures::paging::PageTableFlags as F;
    let mut md = NumaStats::default();
    mm.for_each_leaf(env, v.start, v.end, &mut |leaf| {
        let pfn = Pfn::from_phys(leaf.phys.as_u64());
        if pfn == env.zero_page || env.pa.thp.is_huge_zero(pfn) {
            return;
        }
        let Some(p) = env.pa.page(pfn) else { return };
        let f = p.flags();
        // A transparent huge page counts its 4 KiB pages; a hugetlb one
        // counts once (Linux's gather_pte_stats / gather_hugetlb_stats).
        let n = if f.contains(PageFlags::HUGETLB) { 1 } else { leaf.size.bytes() / PAGE_SIZE };
        md.pages += n;
        // A private hugetlb page is anonymous (Linux's anon rmap for it).
        let private_huge = leaf.size != crate::vm::page_table::MapSize::Size4K && !v.flags.contains(VmFlags::SHARED);
        if f.contains(PageFlags::ANON) || private_huge {
            md.anon += n;
        }
        if leaf.flags.contains(F::DIRTY) || f.contains(PageFlags::DIRTY) {
            md.dirty += n;
        }
        md.mapcount_max = md.mapcount_max.max(p.mapcount());
        if f.contains(PageFlags::SWAPCACHE) {
            md.swapcache += n;
        }
        if f.intersects(PageFlags::ACTIVE | PageFlags::UNEVICTABLE) {
            md.active += n;
        }
        if f.contains(PageFlags::WRITEBACK) {
            md.writeback += n;
        }
        if let Some(c) = md.node.get_mut(p.node() as usize) {
            *c += n;
        }
    });
    md
}

/// A path as seq_file_path writes it: blank, tab, newline and backslash
/// in octal.
fn write_path(w: &mut dyn Write, path: &str) -> fmt::Result {
    for c in path.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => write!(w, "\\{:03o}", c as u32)?,
            c => w.write_char(c)?,
        }
    }
    Ok(())
}

/// One area's line.
pub fn write_numa_map(mm: &AddressSpace, env: &MmEnv<'_>, v: &Vma, w: &mut dyn Write) -> fmt::Result {
    // A shmem mapping shows the object's policy at the area's start; an
    // area without one the task's (`env.policy`, the task read).
    match &crate::vm::mempolicy::vma_policy(v, v.start).0.or(env.policy) {
        Some(p) => write!(w, "{:08x} {}", v.start, p)?,
        None => write!(w, "{:08x} default", v.start)?,
    }
    let l = &mm.layout;
    let huge = v.flags.contains(VmFlags::HUGETLB);
    if let Some(o) = v.backing.object() {
        w.write_str(" file=")?;
        write_path(w, &o.name())?;
    } else if let crate::vm::vma::Backing::Huge(o) = &v.backing {
        w.write_str(" file=")?;
        write_path(w, &o.name)?;
    } else if v.start <= l.brk && v.end >= l.start_brk && l.brk > l.start_brk {
        w.write_str(" heap")?;
    } else if v.start <= l.start_stack && l.start_stack < v.end {
        w.write_str(" stack")?;
    }
    if huge {
        w.write_str(" huge")?;
    }
    let md = gather(mm, env, v);
    if md.pages > 0 {
        if md.anon > 0 {
            write!(w, " anon={}", md.anon)?;
        }
        if md.dirty > 0 {
            write!(w, " dirty={}", md.dirty)?;
        }
        if md.pages != md.anon && md.pages != md.dirty {
            write!(w, " mapped={}", md.pages)?;
        }
        if md.mapcount_max > 1 {
            write!(w, " mapmax={}", md.mapcount_max)?;
        }
        if md.swapcache > 0 {
            write!(w, " swapcache={}", md.swapcache)?;
        }
        if md.active < md.pages && !huge {
            write!(w, " active={}", md.active)?;
        }
        if md.writeback > 0 {
            write!(w, " writeback={}", md.writeback)?;
        }
        for (nid, &n) in md.node.iter().enumerate().take(env.pa.nr_nodes() as usize) {
            if n > 0 {
                write!(w, " N{nid}={n}")?;
            }
        }
        let page = if huge { crate::vm::hugetlb::vma_hpage_size(v) } else { PAGE_SIZE };
        write!(w, " kernelpagesize_kB={}", page >> 10)?;
    }
    w.write_char('\n')
}

/// /proc/PID/numa_maps.
pub fn render_numa_maps(mm: &AddressSpace, env: &MmEnv<'_>, w: &mut dyn Write) -> fmt::Result {
    for v in mm.vmas.iter() {
        write_numa_map(mm, env, v, w)?;
    }
    Ok(())
}
