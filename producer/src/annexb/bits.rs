//! RBSP extraction and an exp-Golomb bit reader (H.264 §7.4.1, §9.1), the two
//! primitives the SPS and slice-header parsers are built on.

use super::AnnexBError;

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`, H.264 §7.4.1),
/// reading at most `limit` bytes of `nal` (header parsers need only a prefix).
pub(crate) fn rbsp(nal: &[u8], limit: usize) -> Vec<u8> {
    let nal = &nal[..nal.len().min(limit)];
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// MSB-first bit reader over an RBSP; every read past the end is an error, so
/// a truncated parameter set cannot make a parser read garbage or panic.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// `what` names the syntax structure being parsed, for error messages.
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    fn truncated(&self) -> AnnexBError {
        AnnexBError::Syntax {
            what: self.what,
            reason: format!("truncated at bit {}", self.pos),
        }
    }

    /// `u(1)`.
    pub(crate) fn bit(&mut self) -> Result<bool, AnnexBError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| self.truncated())?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// `u(n)` for `n <= 32`.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, AnnexBError> {
        debug_assert!(n <= 32);
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Ok(v)
    }

    /// `ue(v)` (§9.1). Values above `u32::MAX - 1` (more than 31 leading zero
    /// bits) are not valid in any syntax element we read and are rejected.
    pub(crate) fn ue(&mut self) -> Result<u32, AnnexBError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(AnnexBError::Syntax {
                    what: self.what,
                    reason: format!("exp-Golomb code longer than 32 bits at bit {}", self.pos),
                });
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// `se(v)` (§9.1.1).
    pub(crate) fn se(&mut self) -> Result<i32, AnnexBError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }

    /// `ue(v)` that must not exceed `max` (every value later used as a count or
    /// size is bounded here, before it drives a loop or an allocation).
    pub(crate) fn ue_max(&mut self, name: &'static str, max: u32) -> Result<u32, AnnexBError> {
        let v = self.ue()?;
        if v > max {
            return Err(AnnexBError::Syntax {
                what: self.what,
                reason: format!("{name} = {v} exceeds {max}"),
            });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbsp_removes_emulation_prevention_bytes() {
        assert_eq!(
            rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3], 100),
            vec![0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(rbsp(&[0, 3, 0, 0, 3], 3), vec![0, 3, 0]);
    }

    #[test]
    fn exp_golomb_decodes_spec_table() {
        // §9.1 table 9-2: 1 → 0, 010 → 1, 011 → 2, 00100 → 3, 00111 → 6;
        // se: 1 → 0, 010 → 1, 011 → -1, 00100 → 2.
        let data = [0b1010_0110, 0b0100_0011, 0b1000_0000];
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.ue().expect("ue"), 0);
        assert_eq!(r.ue().expect("ue"), 1);
        assert_eq!(r.ue().expect("ue"), 2);
        assert_eq!(r.ue().expect("ue"), 3);
        assert_eq!(r.ue().expect("ue"), 6);
        let data = [0b1010_0110, 0b0100_0000];
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.se().expect("se"), 0);
        assert_eq!(r.se().expect("se"), 1);
        assert_eq!(r.se().expect("se"), -1);
        assert_eq!(r.se().expect("se"), 2);
    }

    #[test]
    fn bit_reader_reports_truncation_instead_of_panicking() {
        let mut r = BitReader::new(&[0x00, 0x00], "test");
        assert!(r.ue().is_err());
        let mut r = BitReader::new(&[0x00; 8], "test");
        assert!(r.ue().is_err(), "over-long code must be rejected");
    }
}
