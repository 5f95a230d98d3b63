//! Signals waiting for a process (Linux's `struct sigpending`): a bit per
//! signal and the siginfo of each queued instance, oldest first.
//!
//! Standard signals (1..31) are pending at most once: a second one while
//! the first waits is dropped. Real-time signals (32..64) queue, each
//! with its siginfo. The queue is bounded (RLIMIT_SIGPENDING): past it a
//! standard signal is still pending, without its siginfo; a real-time
//! one sent with a siginfo of its own (sigqueue, timers) fails with
//! EAGAIN, one from kill(2) is pending without siginfo.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use abi::errno::{EAGAIN, Errno};
use abi::signal::{SI_USER, SIGRTMIN, SigInfo, sigmask};

use crate::action::SYNCHRONOUS_MASK;

#[derive(Clone, Default, Debug)]
pub struct SigPending {
    pub set: u64,
    queue: VecDeque<SigInfo>,
}

/// What [`SigPending::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// A standard signal already pending: nothing changed.
    Coalesced,
    /// The queue was full: pending without its siginfo.
    BitOnly,
}

impl SigPending {
    /// Queued siginfo entries (/proc/PID/status's SigQ).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Make `info` pending with at most `limit` queued entries.
    pub fn push(&mut self, info: SigInfo, limit: u64) -> Result<Pushed, Errno> {
        let sig = info.signo as u32;
        if sig < SIGRTMIN && self.set & sigmask(sig) != 0 {
            return Ok(Pushed::Coalesced);
        }
        let pushed = if (self.queue.len() as u64) < limit {
            self.queue.push_back(info);
            Pushed::Queued
        } else if sig >= SIGRTMIN && info.code != SI_USER {
            return Err(EAGAIN);
        } else {
            Pushed::BitOnly
        };
        self.set |= sigmask(sig);
        Ok(pushed)
    }

    /// Forget every pending signal in `mask`; returns the siginfo entries
    /// dropped (their senders, such as POSIX timers, may want to know).
    pub fn flush(&mut self, mask: u64) -> Vec<SigInfo> {
        self.set &= !mask;
        let mut dropped = Vec::new();
        self.queue.retain(|i| {
            let keep = sigmask(i.signo as u32) & mask == 0;
            if !keep {
                dropped.push(*i);
            }
            keep
        });
        dropped
    }

    /// Take the oldest instance of `sig` (Linux's `collect_signal`): its
    /// siginfo, or a bare SI_USER one if it was pending without; the bit
    /// clears when no instance is left.
    pub fn take(&mut self, sig: u32) -> SigInfo {
        let info = match self.queue.iter().position(|i| i.signo as u32 == sig) {
            Some(k) => self.queue.remove(k).unwrap_or(SigInfo::new(sig, SI_USER)),
            None => SigInfo::new(sig, SI_USER),
        };
        if !self.queue.iter().any(|i| i.signo as u32 == sig) {
            self.set &= !sigmask(sig);
        }
        info
    }

    /// The next signal to deliver among those not in `blocked`: faults
    /// first, then the lowest number (Linux's `next_signal`).
    pub fn next(&self, blocked: u64) -> Option<u32> {
        let ready = self.set & !blocked;
        let first = if ready & SYNCHRONOUS_MASK != 0 { ready & SYNCHRONOUS_MASK } else { ready };
        (first != 0).then(|| first.trailing_zeros() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::signal::{SI_QUEUE, SIGINT, SIGSEGV, SIGTERM, SIGUSR1};

    fn queued(sig: u32, value: u64) -> SigInfo {
        let mut i = SigInfo::from_process(sig, SI_QUEUE, 7, 0);
        i.fields[1] = value;
        i
    }

    #[test]
    fn standard_signals_coalesce() {
        let mut p = SigPending::default();
        assert_eq!(p.push(queued(SIGUSR1, 1), 10), Ok(Pushed::Queued));
        assert_eq!(p.push(queued(SIGUSR1, 2), 10), Ok(Pushed::Coalesced));
        assert_eq!(p.queued(), 1);
        assert_eq!(p.take(SIGUSR1).value(), 1);
        assert_eq!(p.set, 0);
        assert_eq!(p.next(0), None);
    }

    #[test]
    fn realtime_signals_queue_in_order() {
        let mut p = SigPending::default();
        for v in 0..3 {
            p.push(queued(40, v), 10).unwrap();
        }
        assert_eq!(p.queued(), 3);
        for v in 0..3 {
            assert_eq!(p.next(0), Some(40));
            assert_eq!(p.take(40).value(), v);
        }
        assert_eq!(p.set, 0);
    }

    #[test]
    fn faults_first_then_lowest() {
        let mut p = SigPending::default();
        p.push(SigInfo::new(SIGTERM, SI_USER), 10).unwrap();
        p.push(SigInfo::new(SIGINT, SI_USER), 10).unwrap();
        p.push(SigInfo::new(SIGSEGV, 1), 10).unwrap();
        assert_eq!(p.next(0), Some(SIGSEGV));
        assert_eq!(p.next(sigmask(SIGSEGV)), Some(SIGINT));
        assert_eq!(p.next(sigmask(SIGSEGV) | sigmask(SIGINT)), Some(SIGTERM));
        assert_eq!(p.next(!0), None);
    }

    #[test]
    fn full_queue() {
        let mut p = SigPending::default();
        p.push(queued(40, 0), 1).unwrap();
        assert_eq!(p.push(queued(41, 0), 1), Err(EAGAIN), "sigqueue of a real-time signal");
        assert_eq!(p.push(SigInfo::new(42, SI_USER), 1), Ok(Pushed::BitOnly), "kill of a real-time signal");
        assert_eq!(p.push(SigInfo::new(SIGUSR1, SI_USER), 1), Ok(Pushed::BitOnly));
        let bare = p.take(SIGUSR1);
        assert_eq!((bare.signo, bare.code, bare.pid()), (SIGUSR1 as i32, SI_USER, 0));
        assert_eq!(p.set, sigmask(40) | sigmask(42));
    }

    #[test]
    fn flush_drops_bits_and_entries() {
        let mut p = SigPending::default();
        p.push(queued(40, 0), 10).unwrap();
        p.push(queued(40, 1), 10).unwrap();
        p.push(queued(SIGUSR1, 0), 10).unwrap();
        let dropped = p.flush(sigmask(40));
        assert_eq!(dropped.iter().map(|i| i.value()).collect::<Vec<_>>(), [0, 1]);
        assert_eq!((p.set, p.queued()), (sigmask(SIGUSR1), 1));
    }
}
