//! The parts of Linux's signal handling that are pure bookkeeping, kept
//! apart from the kernel so they can be tested on the host (as the tty's
//! line discipline is):
//!
//! - [`pending`]: the pending set and queue of a process, which signal is
//!   delivered next, standard signals coalescing and real-time ones
//!   queueing;
//! - [`action`]: default actions and the masks of special signals;
//! - [`restart`]: what a system call interrupted with a restart code
//!   does once the signal is dealt with;
//! - [`altstack`] and [`layout`]: sigaltstack's rules and where the
//!   signal frame goes on the user stack.
//!
//! The kernel (`kernel/src/proc/signal/`) owns the locking, the tasks and
//! user memory; nothing here touches either.

#![no_std]

extern crate alloc;

pub mod action;
pub mod altstack;
pub mod layout;
pub mod pending;
pub mod restart;

pub use action::{DefaultAction, STOP_MASK, SYNCHRONOUS_MASK, UNBLOCKABLE, default_action};
pub use altstack::AltStack;
pub use pending::SigPending;
