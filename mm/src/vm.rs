//! Address spaces: page tables, areas and the memory system calls, one
//! operation per file (cf. mm/memory.c, mm/mmap.c, mm/vma.c):
//!
//! ```text
//! page_table  4-level tables: map, unmap, protect, walk, split huge pages
//! tlb         flush tokens
//! vma         the areas of an address space (an interval map)
//! address_space  mm_struct: tables, areas, counters, layout
//! mmap munmap brk mremap mprotect madvise mlock mincore
//!             the system calls, each with Linux's checks and errors
//! fault       the page-fault handler (zero page, COW, page cache, stack)
//! pte_lock    the page-table lock side of a fault: re-check and install
//! fork        copy-on-write copy of an address space
//! hugetlb     areas of 2 MiB pool pages: fault, fork, zap, promises
//! thp         transparent huge pages of anonymous memory: fault, split
//! clear_refs  /proc/PID/clear_refs: accessed bits, soft-dirty, VmHWM
//! access_remote  /proc/PID/mem: forced reads and writes of a process's memory
//! file        memory objects: page cache of files, shared anonymous memory
//! rmap        from an object to the address spaces mapping it (i_mmap)
//! overcommit  commit accounting (vm.overcommit_memory)
//! mempolicy   NUMA memory policies: set_mempolicy, mbind, where a page goes
//! shared_policy  the policies of a shmem object's page ranges (mbind on
//!             any mapping of it)
//! migrate     move a user page to another frame (move_pages, compaction)
//! compaction  the two scanners that make free pages contiguous again
//! ```

pub mod access_remote;
pub mod address_space;
pub mod brk;
pub mod cachestat;
pub mod clear_refs;
pub mod compaction;
pub mod fault;
pub mod file;
mod file_io;
pub mod fork;
pub mod hugetlb;
pub mod madvise;
pub mod mempolicy;
pub mod migrate;
pub mod mincore;
pub mod mlock;
pub mod mmap;
pub mod mprotect;
pub mod mremap;
pub mod mseal;
pub mod munmap;
mod oom_reap;
pub mod overcommit;
pub mod page_table;
mod pte_lock;
pub mod remap_file_pages;
pub mod rmap;
pub mod rmap_walk;
pub mod shared_policy;
pub mod shmem_swap;
pub mod swap_in;
pub mod swap_out;
pub mod thp;
pub mod tlb;
pub mod vma;
pub mod vmscan;
