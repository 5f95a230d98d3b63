//! A tmpfs file's bytes through its memory object (cf. mm/shmem.c's
//! read_iter, write_begin, setattr, fallocate and llseek): pages appear on
//! write, holes read as zeros, truncation frees the pages past the end.
//!
//! Page contents go through the PhysMem seam. Each page is copied with a
//! reference held (the page index lock only to find it); the caller
//! (tmpfs) serialises calls that change the size with the inode's lock,
//! taken before it. A page on swap that the swap cache does not have
//! ends the call with [`ObjError::SwapIn`] (or short, after some bytes):
//! the caller reads it in with no lock held and calls again.

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
    /// zeros. Returns the count copied: short when the next page is on
    /// swap (Err(SwapIn) if it is the first).
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, ObjError> {
        let size = self.size();
        if off >= size {
            return Ok(0);
        }
        let n = buf.len().min((size - off) as usize);
        let mut done = 0;
        while done < n {
            let (pgoff, in_page, room) = split(off + done as u64);
            let len = room.min(n - done);
            let dst = &mut buf[done..done + len];
            match self.page_ref(pgoff, false, None) {
                Ok(Some(pfn)) => {
                    // A user page we hold: the window covers it.
                    let _ = self.pa.phys().read(PhysAddr::new(pfn.phys() + in_page as u64), dst);
                    self.pa.put_user_page(pfn);
                }
                Ok(None) => dst.fill(0),
                Err(e) if done == 0 => return Err(e),
                Err(e) => {
                    self.forget_read(e);
                    break;
                }
            }
            done += len;
        }
        Ok(done)
    }

    /// A short call gives back the swap-in reference it will not use.
    fn forget_read(&self, e: ObjError) {
        if let (ObjError::SwapIn(entry), Some(swap)) = (e, self.swap) {
            swap.free(self.pa, entry);
        }
    }

    /// Copy `buf` to offset `off`, allocating the pages it lands on, and
    /// grow the size to cover it. A failure after some bytes ends the
    /// write short; with none written it is the error.
    pub fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, ObjError> {
        let mut done = 0;
        while done < buf.len() {
            let (pgoff, in_page, room) = split(off + done as u64);
            let len = room.min(buf.len() - done);
            let pfn = match self.page_ref(pgoff, true, None) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) if done == 0 => return Err(e),
                Err(e) => {
                    self.forget_read(e);
                    break;
                }
            };
            // A user page we hold: the window covers it.
            let _ = self.pa.phys().write(PhysAddr::new(pfn.phys() + in_page as u64), &buf[done..done + len]);
            self.pa.put_user_page(pfn);
            done += len;
        }
        let end = off + done as u64;
        if end > self.size() {
            self.store_size(end);
        }
        Ok(done)
    }

    /// The page at `pgoff` held (if it exists), so that its bytes can be
    /// zeroed later in the call whatever reclaim does meanwhile: a page on
    /// swap is read back first (Err(SwapIn), before anything changed).
    fn pin(&self, pgoff: u64, needed: bool) -> Result<Option<Pfn>, ObjError> {
        if needed { self.page_ref(pgoff, false, None) } else { Ok(None) }
    }

    /// Zero `[from, from + len)` of pinned page `pin` and let it go.
    fn zero_pinned(&self, pin: Option<Pfn>, from: usize, len: usize) {
        if let Some(pfn) = pin {
            // A user page we hold: the window covers it.
            let _ = self.pa.phys().fill(PhysAddr::new(pfn.phys() + from as u64), 0, len);
            self.pa.put_user_page(pfn);
        }
    }

    /// truncate(2): set the size. Shrinking frees the pages wholly past the
    /// new end and zeroes the rest of the last page, so that growing it
    /// again reads zeros there; growing allocates nothing. Err(SwapIn):
    /// that last page is on swap; nothing changed (read it, call again).
    pub fn set_size(&self, new: u64) -> Result<(), ObjError> {
        let old = self.size();
        let (pgoff, in_page, room) = split(new.min(old));
        let pin = self.pin(pgoff, in_page != 0 && new != old)?;
        if new < old {
            self.store_size(new);
            self.remove_range(new.div_ceil(PAGE_SIZE), u64::MAX, true);
        }
        self.zero_pinned(pin, in_page, room);
        if new > old {
            self.store_size(new);
        }
        Ok(())
    }

    /// fallocate(PUNCH_HOLE): zero `[off, off + len)`, freeing the whole
    /// pages inside it. The size does not change. Err(SwapIn) as for
    /// [`Self::set_size`].
    pub fn punch_hole(&self, off: u64, len: u64) -> Result<(), ObjError> {
        let end = off.saturating_add(len);
        let first_full = off.div_ceil(PAGE_SIZE);
        let last_full = end >> PAGE_SHIFT;
        // The partial pages at either edge, held first.
        let (pg, in_page, room) = split(off);
        let head = (room as u64).min(end - off) as usize;
        let (tail_pg, tail_len, _) = split(end);
        let head_pin = self.pin(pg, head != 0 && (in_page != 0 || head < PAGE_SIZE as usize))?;
        let tail_pin = match self.pin(tail_pg, tail_len != 0 && tail_pg != pg) {
            Ok(p) => p,
            Err(e) => {
                self.zero_pinned(head_pin, 0, 0);
                return Err(e);
            }
        };
        if first_full < last_full {
            self.remove_range(first_full, last_full, false);
        }
        self.zero_pinned(head_pin, in_page, head);
        self.zero_pinned(tail_pin, 0, tail_len);
        Ok(())
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
            let r = self.insert_new(&mut pages, pgoff, None);
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
