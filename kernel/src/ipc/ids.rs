//! An IPC object table (Linux's `ipc_ids` with its idr): objects by
//! index, ids `seq << 15 | idx`, lookups by id and by key.
//!
//! Locks: none here; each kind of object keeps its table under its lock.

use alloc::collections::BTreeMap;

use abi::errno::{EINVAL, ENOSPC, Errno};

use super::{Perm, SEQ_MAX, SEQ_SHIFT};

/// What an object in a table shows of itself.
pub trait HasPerm {
    fn perm(&self) -> &Perm;
}

pub struct Ids<T> {
    pub objs: BTreeMap<u32, T>,
    /// `ipc_ids.seq` and `last_idx` of ipc_idr_alloc.
    seq: u32,
    last_idx: i64,
}

impl<T: HasPerm> Ids<T> {
    pub const fn new() -> Ids<T> {
        Ids { objs: BTreeMap::new(), seq: 0, last_idx: -1 }
    }

    /// The object with id `id` (EINVAL if none: a free index or another
    /// sequence number, as `ipc_obtain_object_check`).
    pub fn by_id(&mut self, id: i32) -> Result<&mut T, Errno> {
        if id < 0 {
            return Err(EINVAL);
        }
        let idx = (id as u32) & ((1 << SEQ_SHIFT) - 1);
        self.objs.get_mut(&idx).filter(|s| s.perm().id == id).ok_or(EINVAL)
    }

    pub fn by_key(&mut self, key: i32) -> Option<&mut T> {
        self.objs.values_mut().find(|s| s.perm().key == key)
    }

    /// `ipc_get_maxidx`: the highest index in use, or -1.
    pub fn max_idx(&self) -> i64 {
        self.objs.keys().next_back().map_or(-1, |&i| i as i64)
    }

    /// `ipc_idr_alloc`: the lowest free index below `max` and the sequence
    /// number for it (ENOSPC when all are in use). Returns (index, seq, id).
    pub fn alloc_id(&mut self, max: u32) -> Result<(u32, u16, i32), Errno> {
        if self.objs.len() as u32 >= max {
            return Err(ENOSPC);
        }
        let idx = (0..max).find(|i| !self.objs.contains_key(i)).ok_or(ENOSPC)?;
        if idx as i64 <= self.last_idx {
            self.seq += 1;
            if self.seq >= SEQ_MAX {
                self.seq = 0;
            }
        }
        self.last_idx = idx as i64;
        Ok((idx, self.seq as u16, ((self.seq << SEQ_SHIFT) | idx) as i32))
    }

    /// An emptied map gives back its root node, so no object left means
    /// no kernel memory held.
    pub fn tidy(&mut self) {
        if self.objs.is_empty() {
            self.objs = BTreeMap::new();
        }
    }
}
