//! Reaping a dying process's memory ahead of its exit (Linux's
//! `__oom_reap_task_mm`, used by process_mrelease(2)): the pages of every
//! private area (anonymous, or a private file mapping's copies) go back
//! now, while the areas stay until the address space itself goes. Shared
//! areas keep their pages (they are the object's, which others may map)
//! and so do hugetlb areas (their pool takes them back at exit).

use crate::vm::address_space::{AddressSpace, Mapping, MmEnv};
use crate::vm::vma::VmFlags;

impl AddressSpace {
    /// Zap what a dying process alone uses; returns the areas reaped.
    pub fn reap_dying(&mut self, env: &MmEnv<'_>) -> usize {
        let areas: alloc::vec::Vec<(u64, u64, Mapping)> = self
            .vmas
            .iter()
            .filter(|v| !v.flags.contains(VmFlags::HUGETLB))
            .filter(|v| v.backing.is_anon() || !v.flags.contains(VmFlags::SHARED))
            .map(|v| (v.start, v.end, Mapping::of(v)))
            .collect();
        for &(s, e, m) in &areas {
            self.zap_mapping(env, s, e, m);
        }
        areas.len()
    }
}
