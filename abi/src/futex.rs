//! futex(2) operations and flags (include/uapi/linux/futex.h).

pub const FUTEX_WAIT: u32 = 0;
pub const FUTEX_WAKE: u32 = 1;
pub const FUTEX_FD: u32 = 2;
pub const FUTEX_REQUEUE: u32 = 3;
pub const FUTEX_CMP_REQUEUE: u32 = 4;
pub const FUTEX_WAKE_OP: u32 = 5;
pub const FUTEX_LOCK_PI: u32 = 6;
pub const FUTEX_UNLOCK_PI: u32 = 7;
pub const FUTEX_TRYLOCK_PI: u32 = 8;
pub const FUTEX_WAIT_BITSET: u32 = 9;
pub const FUTEX_WAKE_BITSET: u32 = 10;
pub const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
pub const FUTEX_CMP_REQUEUE_PI: u32 = 12;
pub const FUTEX_LOCK_PI2: u32 = 13;

/// The futex is not shared with another address space.
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
/// Timeouts are measured on CLOCK_REALTIME.
pub const FUTEX_CLOCK_REALTIME: u32 = 256;
pub const FUTEX_CMD_MASK: u32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);

/// FUTEX_WAIT's bitset: every bit.
pub const FUTEX_BITSET_MATCH_ANY: u32 = 0xffff_ffff;

/// FUTEX_WAKE_OP's operations (`op` field) and comparisons (`cmp`).
pub const FUTEX_OP_SET: u32 = 0;
pub const FUTEX_OP_ADD: u32 = 1;
pub const FUTEX_OP_OR: u32 = 2;
pub const FUTEX_OP_ANDN: u32 = 3;
pub const FUTEX_OP_XOR: u32 = 4;
/// Flag in `op`: the operand is `1 << oparg`.
pub const FUTEX_OP_OPARG_SHIFT: u32 = 8;
pub const FUTEX_OP_CMP_EQ: u32 = 0;
pub const FUTEX_OP_CMP_NE: u32 = 1;
pub const FUTEX_OP_CMP_LT: u32 = 2;
pub const FUTEX_OP_CMP_LE: u32 = 3;
pub const FUTEX_OP_CMP_GT: u32 = 4;
pub const FUTEX_OP_CMP_GE: u32 = 5;

/// FUTEX_WAKE_OP's encoded `val3`: what to do to `*uaddr2`, and when to
/// wake its waiters too (Linux's `futex_atomic_op_inuser` decoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakeOp {
    pub op: u32,
    pub cmp: u32,
    pub oparg: u32,
    pub cmparg: u32,
}

impl WakeOp {
    /// Decode `val3`: op in bits 28..31 (bit 31 the shift flag), cmp in
    /// 24..27, oparg in 12..23 and cmparg in 0..11, both sign-extended.
    pub fn decode(val3: u32) -> WakeOp {
        let sext12 = |v: u32| (((v & 0xfff) << 20) as i32 >> 20) as u32;
        let mut op = (val3 >> 28) & 0xf;
        let mut oparg = sext12(val3 >> 12);
        if op & FUTEX_OP_OPARG_SHIFT != 0 {
            op &= !FUTEX_OP_OPARG_SHIFT;
            oparg = if oparg > 31 { 0 } else { 1 << oparg };
        }
        WakeOp { op, cmp: (val3 >> 24) & 0xf, oparg, cmparg: sext12(val3) }
    }

    /// The new value from the old one; `None` for an unknown operation.
    pub fn apply(&self, old: u32) -> Option<u32> {
        Some(match self.op {
            FUTEX_OP_SET => self.oparg,
            FUTEX_OP_ADD => old.wrapping_add(self.oparg),
            FUTEX_OP_OR => old | self.oparg,
            FUTEX_OP_ANDN => old & !self.oparg,
            FUTEX_OP_XOR => old ^ self.oparg,
            _ => return None,
        })
    }

    /// Whether the old value passes the comparison (signed, as Linux);
    /// `None` for an unknown comparison.
    pub fn compare(&self, old: u32) -> Option<bool> {
        let (a, b) = (old as i32, self.cmparg as i32);
        Some(match self.cmp {
            FUTEX_OP_CMP_EQ => a == b,
            FUTEX_OP_CMP_NE => a != b,
            FUTEX_OP_CMP_LT => a < b,
            FUTEX_OP_CMP_LE => a <= b,
            FUTEX_OP_CMP_GT => a > b,
            FUTEX_OP_CMP_GE => a >= b,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc's FUTEX_OP(op, oparg, cmp, cmparg).
    fn encode(op: u32, oparg: u32, cmp: u32, cmparg: u32) -> u32 {
        ((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff)
    }

    #[test]
    fn decode_and_apply() {
        let w = WakeOp::decode(encode(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 0));
        assert_eq!(w, WakeOp { op: FUTEX_OP_ADD, cmp: FUTEX_OP_CMP_GT, oparg: 1, cmparg: 0 });
        assert_eq!((w.apply(5), w.compare(5), w.compare(0)), (Some(6), Some(true), Some(false)));
        let neg = WakeOp::decode(encode(FUTEX_OP_SET, 0xfff, FUTEX_OP_CMP_LT, 0xfff));
        assert_eq!((neg.oparg as i32, neg.cmparg as i32), (-1, -1));
        assert_eq!(neg.compare((-2i32) as u32), Some(true));
        let shifted = WakeOp::decode(encode(FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_EQ, 0));
        assert_eq!((shifted.op, shifted.oparg), (FUTEX_OP_OR, 16));
        assert_eq!(WakeOp::decode(encode(7, 0, 0, 0)).apply(1), None);
        assert_eq!(WakeOp::decode(encode(0, 0, 9, 0)).compare(1), None);
    }
}
