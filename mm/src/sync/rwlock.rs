//! An interrupt-safe reader-writer spin lock, for state that many CPUs read
//! at once and few change: an address space's VMA tree and page tables,
//! read by page faults of several threads and changed by mmap, munmap,
//! mprotect, mremap, brk and fork.
//!
//! Like [`super::IrqLock`] it keeps interrupts off while held (a timer
//! interrupt that schedules a task taking the same lock would deadlock) and
//! runs [`super::spin_wait`] while waiting, so a waiting CPU still serves
//! TLB-shootdown requests from a CPU that holds the lock.
//!
//! Lock word (one `AtomicUsize`, the only state; no other lock is taken):
//! bit 0 `WRITER` (held exclusive), bit 1 `WAITING` (a writer is waiting),
//! the rest the count of shared holders, in units of `READER`.
//!
//! Writer preference: a writer that finds the lock busy sets `WAITING`, and
//! new readers do not enter while it is set, so the readers inside drain
//! and the writer gets in. Without it, a steady stream of faults from
//! several threads (each holding the lock shared for a short time, but
//! always someone) could keep munmap out forever. The price is the
//! recursion rule: a holder of the shared lock must never take it shared
//! again, since the inner `read` would wait behind a waiting writer that
//! waits for the outer one. Callers therefore never touch user memory
//! (usercopy can fault, and a fault takes the lock shared) while they hold
//! an address-space lock, and never nest the lock of one space in itself.
//! When several writers wait, the first to get in clears `WAITING` and the
//! others set it again on their next look; a reader can slip in between,
//! which delays a writer by one short read section, never forever.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};

use super::{irq_restore, irq_save, spin_wait};

const WRITER: usize = 1;
const WAITING: usize = 2;
const READER: usize = 4;

/// A reader-writer spin lock that keeps interrupts off while held.
pub struct IrqRwLock<T> {
    state: AtomicUsize,
    value: UnsafeCell<T>,
}

// SAFETY: the lock word gives `&mut T` to one holder at a time and `&T`
// only to shared holders, so sending the lock needs `T: Send` and sharing
// it needs `T: Send + Sync` (like `std::sync::RwLock`).
unsafe impl<T: Send> Send for IrqRwLock<T> {}
// SAFETY: see above.
unsafe impl<T: Send + Sync> Sync for IrqRwLock<T> {}

/// Shared guard of an [`IrqRwLock`]; restores interrupts when dropped.
pub struct IrqReadGuard<'a, T> {
    lock: &'a IrqRwLock<T>,
    was_enabled: bool,
}

/// Exclusive guard of an [`IrqRwLock`]; restores interrupts when dropped.
pub struct IrqWriteGuard<'a, T> {
    lock: &'a IrqRwLock<T>,
    was_enabled: bool,
}

impl<T> IrqRwLock<T> {
    pub const fn new(value: T) -> Self {
        IrqRwLock { state: AtomicUsize::new(0), value: UnsafeCell::new(value) }
    }

    fn try_enter_read(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        s & (WRITER | WAITING) == 0
            && self.state.compare_exchange_weak(s, s + READER, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    fn try_enter_write(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        // Free apart from (maybe) our own or another writer's WAITING bit.
        s & !WAITING == 0 && self.state.compare_exchange(s, WRITER, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Take the lock shared; waits while a writer holds it or waits for it.
    pub fn read(&self) -> IrqReadGuard<'_, T> {
        let was_enabled = irq_save();
        while !self.try_enter_read() {
            spin_wait();
        }
        IrqReadGuard { lock: self, was_enabled }
    }

    /// Take the lock exclusive; new readers stay out while this waits.
    pub fn write(&self) -> IrqWriteGuard<'_, T> {
        let was_enabled = irq_save();
        while !self.try_enter_write() {
            if self.state.load(Ordering::Relaxed) & WAITING == 0 {
                self.state.fetch_or(WAITING, Ordering::Relaxed);
            }
            spin_wait();
        }
        IrqWriteGuard { lock: self, was_enabled }
    }

    /// Take the lock shared if no writer holds or waits for it.
    pub fn try_read(&self) -> Option<IrqReadGuard<'_, T>> {
        let was_enabled = irq_save();
        for _ in 0..8 {
            if self.try_enter_read() {
                return Some(IrqReadGuard { lock: self, was_enabled });
            }
            if self.state.load(Ordering::Relaxed) & (WRITER | WAITING) != 0 {
                break;
            }
        }
        irq_restore(was_enabled);
        None
    }

    /// Take the lock exclusive if it is free.
    pub fn try_write(&self) -> Option<IrqWriteGuard<'_, T>> {
        let was_enabled = irq_save();
        if self.try_enter_write() {
            return Some(IrqWriteGuard { lock: self, was_enabled });
        }
        irq_restore(was_enabled);
        None
    }

    /// Whether anyone holds the lock (shared or exclusive).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & !WAITING != 0
    }

    /// The value, when the lock itself is no longer shared.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// The value through `&mut self` (no other holder can exist).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T> Deref for IrqReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock shared: no `&mut T` exists until we drop.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> Drop for IrqReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.state.fetch_sub(READER, Ordering::Release);
        irq_restore(self.was_enabled);
    }
}

impl<T> Deref for IrqWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock exclusive.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for IrqWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock exclusive: no other reference exists.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for IrqWriteGuard<'_, T> {
    fn drop(&mut self) {
        // Keep a WAITING bit another writer may have set.
        self.lock.state.fetch_and(!WRITER, Ordering::Release);
        irq_restore(self.was_enabled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::thread;

    #[test]
    fn readers_share_and_writer_excludes() {
        let l = IrqRwLock::new(5);
        let a = l.read();
        let b = l.read();
        assert_eq!(*a + *b, 10);
        assert!(l.try_write().is_none());
        drop((a, b));
        let mut w = l.write();
        *w = 7;
        assert!(l.try_read().is_none());
        assert!(l.try_write().is_none());
        drop(w);
        assert!(!l.is_locked());
        assert_eq!(*l.read(), 7);
    }

    #[test]
    fn waiting_writer_keeps_new_readers_out() {
        let l = Arc::new(IrqRwLock::new(0u32));
        let r = l.read();
        let l2 = l.clone();
        let w = thread::spawn(move || *l2.write() += 1);
        while l.state.load(Ordering::Relaxed) & WAITING == 0 {
            thread::yield_now();
        }
        assert!(l.try_read().is_none(), "a reader passed a waiting writer");
        drop(r);
        w.join().unwrap();
        assert_eq!(*l.read(), 1);
    }

    /// Writers and readers on several threads: a writer's two-step update is
    /// never seen half done, and no update is lost.
    #[test]
    fn threads_see_consistent_pairs() {
        let l = Arc::new(IrqRwLock::new((0u64, 0u64)));
        let mut hs = Vec::new();
        for t in 0..6 {
            let l = l.clone();
            hs.push(thread::spawn(move || {
                for _ in 0..2000 {
                    if t % 3 == 0 {
                        let mut g = l.write();
                        g.0 += 1;
                        std::hint::spin_loop();
                        g.1 += 1;
                    } else {
                        let g = l.read();
                        assert_eq!(g.0, g.1);
                    }
                }
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*l.read(), (4000, 4000));
        assert_eq!(l.state.load(Ordering::Relaxed), 0);
    }

    /// Four threads keep the lock shared back to back (always someone
    /// inside); a writer still gets in.
    #[test]
    fn stream_of_readers_does_not_starve_writer() {
        let l = Arc::new(IrqRwLock::new(0u32));
        let stop = Arc::new(AtomicBool::new(false));
        let mut hs = Vec::new();
        for _ in 0..4 {
            let (l, stop) = (l.clone(), stop.clone());
            hs.push(thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = l.read();
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                    drop(g);
                }
            }));
        }
        for _ in 0..100 {
            *l.write() += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*l.read(), 100);
    }
}
