//! Interrupt-safe locking for mm's shared structures.
//!
//! mm's locks (zone free lists, slab caches, ...) are taken from process
//! context and from fault handlers. A timer interrupt that preempts a lock
//! holder and schedules another task that takes the same lock would
//! deadlock, so every lock here disables interrupts while held, like Linux's
//! `spin_lock_irqsave`. mm cannot touch the CPU itself: the kernel installs
//! the two hooks at boot; host tests run without them.
//!
//! With several CPUs, one may hold a lock with interrupts off while it
//! waits for another to answer a request (a TLB shootdown); if that other
//! CPU spins on the same lock with interrupts off, it cannot take the
//! interrupt. So a CPU waiting for a lock runs the kernel's spin hook,
//! which serves such requests by polling.

use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicPtr, Ordering};

mod rwlock;
pub use rwlock::{IrqReadGuard, IrqRwLock, IrqWriteGuard};

/// The kernel's interrupt hooks (null until installed): `fn() -> bool`
/// disables interrupts and says whether they were enabled; `fn(bool)`
/// re-enables them if the argument is true. One load each on the fast
/// paths, which turn interrupts off on every allocation.
static IRQ_SAVE: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static IRQ_RESTORE: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Run by a CPU while it waits for a lock (see the module comment).
static SPIN_HOOK: spin::Once<fn()> = spin::Once::new();

/// Install the spin hook (once; a second call is ignored).
pub fn set_spin_hook(f: fn()) {
    SPIN_HOOK.call_once(|| f);
}

/// What a waiting CPU does between two looks at a held lock.
pub fn spin_wait() {
    if let Some(f) = SPIN_HOOK.get() {
        f();
    }
    core::hint::spin_loop();
}

/// Install the interrupt hooks (the kernel calls this once at boot; a second
/// call is ignored).
pub fn set_irq_hooks(save: fn() -> bool, restore: fn(bool)) {
    // The restore hook first: a save seen installed finds its restore.
    if IRQ_RESTORE
        .compare_exchange(core::ptr::null_mut(), restore as *mut (), Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        IRQ_SAVE.store(save as *mut (), Ordering::Release);
    }
}

#[inline]
fn irq_save() -> bool {
    let h = IRQ_SAVE.load(Ordering::Acquire);
    if h.is_null() {
        return false;
    }
    // SAFETY: `IRQ_SAVE` only ever holds null or the `fn() -> bool` that
    // `set_irq_hooks` stored.
    let save: fn() -> bool = unsafe { core::mem::transmute::<*mut (), fn() -> bool>(h) };
    save()
}

#[inline]
fn irq_restore(was_enabled: bool) {
    if !was_enabled {
        return;
    }
    let h = IRQ_RESTORE.load(Ordering::Acquire);
    if !h.is_null() {
        // SAFETY: `IRQ_RESTORE` only ever holds null or the `fn(bool)`
        // that `set_irq_hooks` stored.
        let restore: fn(bool) = unsafe { core::mem::transmute::<*mut (), fn(bool)>(h) };
        restore(true);
    }
}

/// Interrupts off on this CPU until dropped, with no lock: for per-CPU
/// data that only its own CPU changes (the slab fast path), like Linux's
/// `local_irq_save` / `local_lock_irqsave`. While it is held the caller
/// cannot be interrupted nor moved to another CPU. Nests.
pub struct IrqOff {
    was_enabled: bool,
}

impl IrqOff {
    #[inline]
    pub fn new() -> Self {
        IrqOff { was_enabled: irq_save() }
    }
}

impl Default for IrqOff {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IrqOff {
    #[inline]
    fn drop(&mut self) {
        irq_restore(self.was_enabled);
    }
}

/// A spin lock that keeps interrupts off while held.
pub struct IrqLock<T> {
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqLock`]; restores the interrupt state when dropped.
pub struct IrqGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    was_enabled: bool,
}

impl<T> IrqLock<T> {
    pub const fn new(value: T) -> Self {
        IrqLock { inner: spin::Mutex::new(value) }
    }

    #[inline]
    pub fn lock(&self) -> IrqGuard<'_, T> {
        let was_enabled = irq_save();
        loop {
            if let Some(g) = self.inner.try_lock() {
                return IrqGuard { guard: Some(g), was_enabled };
            }
            while self.inner.is_locked() {
                spin_wait();
            }
        }
    }

    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// The value, when the lock itself is no longer shared.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }

    /// Take the lock if it is free (for fault paths that must not wait).
    #[inline]
    pub fn try_lock(&self) -> Option<IrqGuard<'_, T>> {
        let was_enabled = irq_save();
        match self.inner.try_lock() {
            Some(g) => Some(IrqGuard { guard: Some(g), was_enabled }),
            None => {
                irq_restore(was_enabled);
                None
            }
        }
    }
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("sync: guard used after release")
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("sync: guard used after release")
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        drop(self.guard.take());
        irq_restore(self.was_enabled);
    }
}
