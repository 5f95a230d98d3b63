//! TLB invalidation as a value (cf. include/asm-generic/tlb.h).
//!
//! Page-table changes return a [`TlbFlush`] that says what must be
//! invalidated; it is `#[must_use]`, so a caller cannot forget it. Flushes
//! of one operation merge into one range, and a range of more than
//! [`FLUSH_CEILING`] pages becomes a full flush, which is cheaper than that
//! many `invlpg`s (Linux's `tlb_single_page_flush_ceiling` is also 33).

/// Above this many pages, flush everything instead.
pub const FLUSH_CEILING: u64 = 33;

/// Performs invalidations (the kernel: `invlpg`, CR3 reload, CR4.PGE
/// toggle; host tests: a counter).
pub trait TlbFlusher: Sync {
    /// Invalidate the translation of one page (any page size).
    fn flush_page(&self, va: u64);
    /// Invalidate every translation, global ones included.
    fn flush_all(&self);
    /// Invalidate the 4 KiB pages of `[start, end)` (at most
    /// [`FLUSH_CEILING`] of them): one request where other CPUs must be
    /// told, page by page by default.
    fn flush_range(&self, start: u64, end: u64) {
        let mut va = start;
        while va < end {
            self.flush_page(va);
            va += 4096;
        }
    }
}

/// Pending invalidation.
#[must_use = "page-table changes leave stale TLB entries until flushed"]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlbFlush {
    start: u64,
    end: u64,
    /// Invalidations needed if done page by page.
    pages: u64,
    all: bool,
}

impl TlbFlush {
    /// Nothing to invalidate (e.g. a new mapping where none was).
    pub const fn none() -> TlbFlush {
        TlbFlush { start: 0, end: 0, pages: 0, all: false }
    }

    /// One leaf mapping of `size` bytes at `va` changed.
    pub fn page(va: u64, size: u64) -> TlbFlush {
        TlbFlush { start: va, end: va + size, pages: 1, all: false }
    }

    /// Everything.
    pub fn all() -> TlbFlush {
        TlbFlush { start: 0, end: 0, pages: 0, all: true }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.pages == 0
    }

    /// Invalidations this token will cause (0 for a full flush).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Whether this becomes a full flush: asked for, or a span of more
    /// than [`FLUSH_CEILING`] 4 KiB pages (a huge page counts as its span).
    pub fn is_full(&self) -> bool {
        self.all || (self.end - self.start) / 4096 > FLUSH_CEILING
    }

    /// Combine with another pending flush.
    pub fn merge(self, other: TlbFlush) -> TlbFlush {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        TlbFlush {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
            pages: self.pages + other.pages,
            all: self.all || other.all,
        }
    }

    /// Do the invalidation: page by page up to the ceiling, else all.
    pub fn flush(self, tlb: &dyn TlbFlusher) {
        if self.is_empty() {
            return;
        }
        if self.is_full() {
            tlb.flush_all();
            return;
        }
        tlb.flush_range(self.start, self.end);
    }

    /// Drop the flush on purpose: the address space is not live on any
    /// CPU (being built, or about to be freed).
    pub fn ignore(self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Count {
        pages: AtomicU64,
        alls: AtomicU64,
    }

    impl TlbFlusher for Count {
        fn flush_page(&self, _va: u64) {
            self.pages.fetch_add(1, Ordering::Relaxed);
        }
        fn flush_all(&self) {
            self.alls.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn small_ranges_flush_by_page_large_ones_flush_all() {
        let c = Count::default();
        TlbFlush::page(0x1000, 4096).merge(TlbFlush::page(0x3000, 4096)).flush(&c);
        assert_eq!(c.pages.load(Ordering::Relaxed), 3, "range 0x1000..0x4000");
        // Two pages far apart: the span decides, not the count.
        TlbFlush::page(0x1000, 4096).merge(TlbFlush::page(0x7fff_0000_0000, 4096)).flush(&c);
        assert_eq!(c.alls.load(Ordering::Relaxed), 1);
        let mut big = TlbFlush::none();
        for i in 0..40 {
            big = big.merge(TlbFlush::page(i * 4096, 4096));
        }
        big.flush(&c);
        assert_eq!(c.alls.load(Ordering::Relaxed), 2);
        TlbFlush::none().flush(&c);
        assert_eq!(c.alls.load(Ordering::Relaxed), 2);
    }
}
