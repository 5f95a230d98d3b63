//! cachestat over a tmpfs file and a read-only file: what is cached,
//! dirty and evicted in a range, ranges that miss, and the counts after
//! reclaim dropped a file page.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;

use super::CacheStat;
use crate::addr::PAGE_SIZE;
use crate::swap::space::SwapSpace;
use crate::testing::page_allocator;
use crate::vm::file::{MemObject, PageQuota};

const P: u64 = PAGE_SIZE;

fn stat(cache: u64, dirty: u64, evicted: u64) -> CacheStat {
    CacheStat { nr_cache: cache, nr_dirty: dirty, nr_evicted: evicted, ..CacheStat::default() }
}

#[test]
fn tmpfs_pages_are_cached_holes_are_not() {
    let pa = page_allocator(16 << 20);
    let f = MemObject::tmpfs("/tmp/c", 3, pa, Box::leak(Box::new(SwapSpace::new())), Arc::new(PageQuota::new(64)));
    assert_eq!(f.write_at(0, &vec![1u8; 3 * P as usize]), Ok(3 * P as usize));
    assert_eq!(f.write_at(10 * P, b"x"), Ok(1));
    // Written, yet not dirty: Linux's shmem never tags its cache dirty.
    assert_eq!(f.cachestat(0, u64::MAX), stat(4, 0, 0));
    assert_eq!(f.cachestat(1, 2), stat(2, 0, 0), "both ends count");
    assert_eq!(f.cachestat(3, 9), stat(0, 0, 0), "a hole");
    assert_eq!(f.cachestat(10, 10), stat(1, 0, 0));
    assert_eq!(f.cachestat(5, 4), CacheStat::default(), "last before first");
    f.set_size(P).unwrap();
    assert_eq!(f.cachestat(0, u64::MAX), stat(1, 0, 0), "truncation takes pages out of the cache");
}

#[test]
fn a_dropped_file_page_counts_as_evicted_not_cached() {
    let pa = page_allocator(16 << 20);
    let data: &'static [u8] = Box::leak(vec![7u8; 4 * P as usize].into_boxed_slice());
    let f = MemObject::file("/bin/data", data, 9, pa);
    let pfns: vec::Vec<_> = (0..4).map(|i| f.get_page(i).unwrap()).collect();
    for &pfn in &pfns {
        pa.put_user_page(pfn);
    }
    assert_eq!(f.cachestat(0, u64::MAX), stat(4, 0, 0), "file pages are clean");
    assert!(f.try_drop_page(2, pfns[2], 0), "reclaim drops page 2");
    let cs = f.cachestat(0, u64::MAX);
    assert_eq!((cs.nr_cache, cs.nr_dirty, cs.nr_evicted), (3, 0, 1));
    assert!(cs.nr_recently_evicted <= cs.nr_evicted);
    assert_eq!(f.cachestat(2, 2).nr_evicted, 1);
    assert_eq!(f.cachestat(3, 3), stat(1, 0, 0));
    // Read back in: cached again, the shadow gone.
    let again = f.get_page(2).unwrap();
    pa.put_user_page(again);
    assert_eq!(f.cachestat(0, u64::MAX), stat(4, 0, 0));
}
