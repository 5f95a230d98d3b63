//! A string in a fixed buffer, for text that must be made without the heap
//! (panic messages, the status line, the memory picture from the timer
//! tick). Writes past the capacity are cut at a character boundary.

use core::fmt;

pub struct FixedStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedStr<N> {
    pub const fn new() -> Self {
        FixedStr { buf: [0; N], len: 0 }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_str(&self) -> &str {
        // Only whole characters are ever written.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = s.len().min(N - self.len);
        let n = (0..=room).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn keeps_whole_characters_up_to_the_capacity() {
        let mut s = FixedStr::<5>::new();
        write!(s, "ab{}", "é€").unwrap();
        assert_eq!(s.as_str(), "abé", "the 3-byte character does not fit and is dropped whole");
        s.clear();
        s.write_str("xy").unwrap();
        assert_eq!(s.as_str(), "xy");
    }
}
