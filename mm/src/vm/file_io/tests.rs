//! A tmpfs file's bytes through its MemObject: data, holes, sizes, the
//! mount's page quota (ENOSPC) and every page back at the end.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;

use crate::addr::PAGE_SIZE;
use crate::phys::page_alloc::PageAllocator;
use crate::swap::space::SwapSpace;
use crate::testing::page_allocator;
use crate::vm::file::{MemObject, ObjError, PageQuota};

const P: u64 = PAGE_SIZE;

fn file(pages: u64) -> (&'static PageAllocator, Arc<PageQuota>, Arc<MemObject>) {
    let pa = page_allocator(16 << 20);
    let q = Arc::new(PageQuota::new(pages));
    let obj = MemObject::tmpfs("/tmp/f", 7, pa, Box::leak(Box::new(SwapSpace::new())), q.clone());
    (pa, q, obj)
}

#[test]
fn data_survives_across_pages_and_holes_read_zero() {
    let (_, q, f) = file(100);
    let data: vec::Vec<u8> = (0..3 * P as usize).map(|i| (i * 7) as u8).collect();
    assert_eq!(f.write_at(100, &data), Ok(data.len()));
    assert_eq!(f.size(), 100 + 3 * P);
    let mut back = vec![0u8; data.len()];
    assert_eq!(f.read_at(100, &mut back), Ok(data.len()));
    assert_eq!(back, data);
    // Bytes 100..3P+100 touch pages 0..=3.
    assert_eq!((f.nr_pages(), q.used()), (4, 4));
    // A write far away leaves a hole that reads as zeros and holds no page.
    assert_eq!(f.write_at(10 * P, b"z"), Ok(1));
    assert_eq!(f.nr_pages(), 5);
    let mut hole = vec![1u8; P as usize];
    assert_eq!(f.read_at(6 * P, &mut hole), Ok(P as usize));
    assert!(hole.iter().all(|b| *b == 0));
    // Reads stop at the size.
    let mut tail = [0u8; 8];
    assert_eq!(f.read_at(10 * P, &mut tail), Ok(1));
    assert_eq!(f.read_at(10 * P + 1, &mut tail), Ok(0));
}

#[test]
fn quota_ends_writes_short_then_nospace() {
    let (pa, q, f) = file(2);
    let shmem0 = pa.vmstat.shmem_pages.get();
    let buf = vec![5u8; 3 * P as usize];
    assert_eq!(f.write_at(0, &buf), Ok(2 * P as usize), "the third page is over the quota");
    assert_eq!(f.write_at(2 * P, b"x"), Err(ObjError::NoSpace));
    // Rewriting pages the file has needs no new page.
    assert_eq!(f.write_at(0, b"again"), Ok(5));
    assert_eq!(pa.vmstat.shmem_pages.get(), shmem0 + 2, "tmpfs pages count as Shmem");
    f.set_size(0).unwrap();
    assert_eq!((q.used(), f.nr_pages(), pa.vmstat.shmem_pages.get()), (0, 0, shmem0));
}

#[test]
fn allocate_past_quota_gives_back_what_it_took() {
    let (_, q, f) = file(2);
    assert_eq!(f.allocate(0, 3 * P), Err(ObjError::NoSpace));
    assert_eq!((q.used(), f.nr_pages()), (0, 0));
    assert_eq!(f.allocate(P, P), Ok(()));
    assert_eq!((q.used(), f.size()), (1, 0), "the caller grows the size");
}

#[test]
fn truncate_zeroes_the_tail_and_frees_pages() {
    let (_, q, f) = file(100);
    f.write_at(0, &vec![9u8; 3 * P as usize]).unwrap();
    f.set_size(P + 10).unwrap();
    assert_eq!((f.size(), q.used()), (P + 10, 2));
    f.set_size(3 * P).unwrap();
    let mut b = vec![1u8; 2 * P as usize];
    assert_eq!(f.read_at(P, &mut b), Ok(2 * P as usize));
    assert!(b[..10].iter().all(|x| *x == 9), "bytes below the cut stay");
    assert!(b[10..].iter().all(|x| *x == 0), "bytes past the cut read zeros after growing");
}

#[test]
fn punch_hole_frees_whole_pages_and_zeroes_edges() {
    let (_, q, f) = file(100);
    f.write_at(0, &vec![3u8; 4 * P as usize]).unwrap();
    f.punch_hole(P / 2, 2 * P).unwrap();
    assert_eq!(f.size(), 4 * P, "the size stays");
    assert_eq!(q.used(), 3, "only page 1 lies wholly inside the hole");
    let mut b = vec![0u8; 4 * P as usize];
    f.read_at(0, &mut b).unwrap();
    let (lo, hi) = ((P / 2) as usize, (P / 2 + 2 * P) as usize);
    assert!(b[..lo].iter().all(|x| *x == 3) && b[hi..].iter().all(|x| *x == 3));
    assert!(b[lo..hi].iter().all(|x| *x == 0));
}

#[test]
fn seek_data_and_hole() {
    let (_, _, f) = file(100);
    f.write_at(2 * P, b"d").unwrap();
    f.write_at(5 * P, b"e").unwrap();
    assert_eq!(f.seek_data(0), Some(2 * P));
    assert_eq!(f.seek_data(2 * P + 7), Some(2 * P + 7));
    assert_eq!(f.seek_data(3 * P), Some(5 * P));
    assert_eq!(f.seek_hole(0), Some(0));
    assert_eq!(f.seek_hole(2 * P), Some(3 * P));
    assert_eq!(f.seek_hole(5 * P), Some(5 * P + 1), "the end of the file is a hole");
    assert_eq!(f.seek_data(5 * P + 1), None);
    assert_eq!(f.seek_hole(5 * P + 1), None);
}

#[test]
fn dropping_the_file_frees_its_pages() {
    let (pa, q, f) = file(100);
    let free0 = pa.drained_free_pages();
    f.write_at(0, &vec![1u8; 5 * P as usize]).unwrap();
    assert_eq!(pa.drained_free_pages(), free0 - 5);
    drop(f);
    assert_eq!((pa.drained_free_pages(), q.used()), (free0, 0));
}
