//! The input reader both fuzz targets share: takes little pieces off the fuzzer's bytes.
#![allow(dead_code)] // each target uses the readers it needs

/// Reads little pieces off the input, yielding zeros once it is used up.
pub struct Cursor<'a>(pub &'a [u8]);

impl Cursor<'_> {
    pub fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        first
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
