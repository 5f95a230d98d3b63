//! A tmpfs file's bytes through its memory object (cf. mm/shmem.c's
//! read_iter, write_begin, setattr, fallocate and llseek): pages appear on
//! write, holes read as zeros, truncation frees the pages past the end.
//!
//! Page contents go through the PhysMem seam. The page index lock is held
//! for one page at a time; the caller (tmpfs) serialises calls that change
//! the size with the inode's lock, taken before it.

use alloc::vec::Vec;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::vm::file::{MemObject, ObjError};

/// Where byte `pos` lies: page offset, offset in the page, bytes to its end.
fn split(pos: u64) -> (u64, usize, usize) {
    let in_page = (pos & (PAGE_SIZE - 1)) as usize;
    (pos >> PAGE_SHIFT, in_page, PAGE_SIZE as usize - in_page)
}

impl MemObject {
    /// Copy the bytes at `off` into `buf`, up to the size; holes read as
    /// zeros. Returns the count copied.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> usize {
        let size = self.size();
        if off >= size {
            return 0;
        }
        let n = buf.len().min((size - off) as usize);
        let mut done = 0;
        while done < n {
            let (pgoff, in_page, room) = split(off + done as u64);
            let len = room.min(n - done);
            let dst = &mut buf[done..done + len];
            let pages = self.pages.lock();
            match pages.get(&pgoff) {
                Some(&pfn) => {
                    // The page is the object's: the window covers it.
                    let _ = self.pa.phys().read(PhysAddr::new(Pfn(pfn).phys() + in_page as u64), dst);
                }
                None => dst.fill(0),
            }
            drop(pages);
            done += len;
        }
        n
    }

    /// Copy `buf` to offset `off`, allocating the pages it lands on, and
    /// grow the size to cover it. A failure after some bytes ends the
    /// write short; with none written it is the error.
    pub fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, ObjError> {
        let mut done = 0;
        while done < buf.len() {
            let (pgoff, in_page, room) = split(off + done as u64);
            let len = room.min(buf.len() - done);
            let mut pages = self.pages.lock();
            let pfn = match pages.get(&pgoff) {
                Some(&p) => Pfn(p),
                None => match self.insert_new(&mut pages, pgoff) {
                    Ok(p) => p,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                },
            };
            // The page is the object's: the window covers it.
            let _ = self.pa.phys().write(PhysAddr::new(pfn.phys() + in_page as u64), &buf[done..done + len]);
            drop(pages);
            done += len;
        }
        let end = off + done as u64;
        if end > self.size() {
            self.store_size(end);
        }
        Ok(done)
    }

    /// Zero `[from, from + len)` inside one page, if the page exists.
    fn zero_in_page(&self, pgoff: u64, from: usize, len: usize) {
        if len == 0 {
            return;
        }
        if let Some(&pfn) = self.pages.lock().get(&pgoff) {
            let _ = self.pa.phys().fill(PhysAddr::new(Pfn(pfn).phys() + from as u64), 0, len);
        }
    }

    /// truncate(2): set the size. Shrinking frees the pages wholly past the
    /// new end and zeroes the rest of the last page, so that growing it
    /// again reads zeros there; growing allocates nothing.
    pub fn set_size(&self, new: u64) {
        let old = self.size();
        if new < old {
            self.store_size(new);
            self.remove_range(new.div_ceil(PAGE_SIZE), u64::MAX, true);
        }
        let (pgoff, in_page, room) = split(new.min(old));
        if in_page != 0 {
            self.zero_in_page(pgoff, in_page, room);
        }
        if new > old {
            self.store_size(new);
        }
    }

    /// fallocate(PUNCH_HOLE): zero `[off, off + len)`, freeing the whole
    /// pages inside it. The size does not change.
    pub fn punch_hole(&self, off: u64, len: u64) {
        let end = off.saturating_add(len);
        let first_full = off.div_ceil(PAGE_SIZE);
        let last_full = end >> PAGE_SHIFT;
        if first_full < last_full {
            self.remove_range(first_full, last_full, false);
        }
        // The partial pages at either edge.
        let (pg, in_page, room) = split(off);
        let head = (room as u64).min(end - off) as usize;
        if in_page != 0 || head < PAGE_SIZE as usize {
            self.zero_in_page(pg, in_page, head);
        }
        let (tail_pg, tail_len, _) = split(end);
        if tail_len != 0 && tail_pg != pg {
            self.zero_in_page(tail_pg, 0, tail_len);
        }
    }

    /// fallocate mode 0: allocate every page of `[off, off + len)`. On
    /// failure the pages this call added are given back (as shmem_fallocate
    /// undoes a partial allocation). The caller grows the size.
    pub fn allocate(&self, off: u64, len: u64) -> Result<(), ObjError> {
        let first = off >> PAGE_SHIFT;
        let last = off.saturating_add(len).div_ceil(PAGE_SIZE);
        let mut added = Vec::new();
        for pgoff in first..last {
            let mut pages = self.pages.lock();
            if pages.contains_key(&pgoff) {
                continue;
            }
            let r = self.insert_new(&mut pages, pgoff);
            drop(pages);
            match r {
                Ok(_) => {
                    if added.try_reserve(1).is_err() {
                        self.remove_pages(&added);
                        self.remove_range(pgoff, pgoff + 1, false);
                        return Err(ObjError::NoMemory);
                    }
                    added.push(pgoff);
                }
                Err(e) => {
                    self.remove_pages(&added);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn remove_pages(&self, list: &[u64]) {
        for &p in list {
            self.remove_range(p, p + 1, false);
        }
    }

    /// lseek SEEK_DATA: the first offset at or after `off` inside a page
    /// that exists, `None` (ENXIO) if there is none before the end.
    pub fn seek_data(&self, off: u64) -> Option<u64> {
        let size = self.size();
        if off >= size {
            return None;
        }
        let pages = self.pages.lock();
        let (&pg, _) = pages.range(off >> PAGE_SHIFT..).next()?;
        let pos = off.max(pg << PAGE_SHIFT);
        (pos < size).then_some(pos)
    }

    /// lseek SEEK_HOLE: the first offset at or after `off` in a hole, the
    /// size if none is before it; `None` (ENXIO) at or past the end.
    pub fn seek_hole(&self, off: u64) -> Option<u64> {
        let size = self.size();
        if off >= size {
            return None;
        }
        let pages = self.pages.lock();
        let mut pg = off >> PAGE_SHIFT;
        for (&k, _) in pages.range(pg..) {
            if k != pg {
                break;
            }
            pg += 1;
        }
        Some(off.max(pg << PAGE_SHIFT).min(size))
    }
}

#[cfg(test)]
mod tests;
