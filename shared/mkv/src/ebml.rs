//! EBML primitives (RFC 8794): variable-length integers, element headers, typed values,
//! and a bounded child walker over a buffered master element. Reading and writing live
//! side by side so they cannot drift.

use bytes::{BufMut, Bytes, BytesMut};

use super::MkvError;
use super::ids::ElementId;

/// Longest element ID we accept (RFC 8794 §5: `EBMLMaxIDLength` defaults to 4).
pub const MAX_ID_LEN: usize = 4;
/// Longest size field we accept (`EBMLMaxSizeLength` defaults to 8).
pub const MAX_SIZE_LEN: usize = 8;
/// The 8-byte unknown-size marker GStreamer's matroskamux and the KVS service write.
pub const UNKNOWN_SIZE_8: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
/// Largest value a size field of `len` bytes can carry (all-ones is reserved for "unknown").
pub const fn max_size_for_len(len: usize) -> u64 {
    (1u64 << (7 * len)) - 2
}

/// A parsed element header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The element ID.
    pub id: ElementId,
    /// Payload size; `None` is the unknown-size marker (only legal on Segment and Cluster).
    pub size: Option<u64>,
    /// Bytes taken by the ID and size fields.
    pub len: usize,
}

/// Reads an element ID at the start of `buf`. `Ok(None)` means more bytes are needed;
/// `offset` is the absolute stream offset of `buf[0]`, for errors.
pub fn read_id(buf: &[u8], offset: u64) -> Result<Option<(ElementId, usize)>, MkvError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = first.leading_zeros() as usize + 1;
    if len > MAX_ID_LEN {
        return Err(MkvError::InvalidId { offset });
    }
    if buf.len() < len {
        return Ok(None);
    }
    let id = buf[..len]
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    // RFC 8794 §5: an ID whose value bits are all ones or all zeros is reserved.
    let value_bits = id & ((1u32 << (7 * len)) - 1);
    if value_bits == 0 || value_bits == (1u32 << (7 * len)) - 1 {
        return Err(MkvError::InvalidId { offset });
    }
    Ok(Some((ElementId(id), len)))
}

/// Reads a size vint at the start of `buf`: `(size, len)` where `size` is `None` for the
/// unknown-size marker of any length (`0xFF`, `0x7FFF`, ..., `0x01FFFFFFFFFFFFFF`).
pub fn read_size(buf: &[u8], offset: u64) -> Result<Option<(Option<u64>, usize)>, MkvError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = first.leading_zeros() as usize + 1;
    if len > MAX_SIZE_LEN {
        return Err(MkvError::InvalidSize { offset });
    }
    if buf.len() < len {
        return Ok(None);
    }
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let mut value = u64::from(first & mask);
    for &b in &buf[1..len] {
        value = (value << 8) | u64::from(b);
    }
    let all_ones = (1u64 << (7 * len)) - 1;
    Ok(Some((
        if value == all_ones { None } else { Some(value) },
        len,
    )))
}

/// Reads an element header (ID then size) at the start of `buf`.
pub fn read_header(buf: &[u8], offset: u64) -> Result<Option<Header>, MkvError> {
    let Some((id, id_len)) = read_id(buf, offset)? else {
        return Ok(None);
    };
    let Some((size, size_len)) = read_size(&buf[id_len..], offset + id_len as u64)? else {
        return Ok(None);
    };
    Ok(Some(Header {
        id,
        size,
        len: id_len + size_len,
    }))
}

/// Reads an unsigned integer element payload (0 to 8 bytes, big-endian).
pub fn read_uint(data: &[u8], id: ElementId, offset: u64) -> Result<u64, MkvError> {
    if data.len() > 8 {
        return Err(MkvError::InvalidValue {
            id,
            offset,
            reason: "integer longer than 8 bytes",
        });
    }
    Ok(data.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Reads a signed integer element payload (0 to 8 bytes, big-endian two's complement).
pub fn read_int(data: &[u8], id: ElementId, offset: u64) -> Result<i64, MkvError> {
    let unsigned = read_uint(data, id, offset)?;
    if data.is_empty() {
        return Ok(0);
    }
    let shift = 64 - 8 * data.len() as u32;
    // Sign-extend from the payload width.
    Ok(((unsigned << shift) as i64) >> shift)
}

/// Reads a float element payload (0, 4 or 8 bytes).
pub fn read_float(data: &[u8], id: ElementId, offset: u64) -> Result<f64, MkvError> {
    match data.len() {
        0 => Ok(0.0),
        4 => Ok(f64::from(f32::from_be_bytes([
            data[0], data[1], data[2], data[3],
        ]))),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(data);
            Ok(f64::from_be_bytes(b))
        }
        _ => Err(MkvError::InvalidValue {
            id,
            offset,
            reason: "float must be 0, 4 or 8 bytes",
        }),
    }
}

/// Reads a String/UTF-8 element payload. Trailing NUL padding is dropped (RFC 8794 §7.4;
/// the KVS service writes `DocType` as `matroska\0`).
pub fn read_string(data: &[u8], id: ElementId, offset: u64) -> Result<String, MkvError> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    std::str::from_utf8(&data[..end])
        .map(str::to_owned)
        .map_err(|_| MkvError::InvalidValue {
            id,
            offset,
            reason: "string is not valid UTF-8",
        })
}

/// Appends an element ID.
pub fn write_id(out: &mut BytesMut, id: ElementId) {
    let len = id.encoded_len();
    out.put_slice(&id.0.to_be_bytes()[4 - len..]);
}

/// Number of bytes the shortest size vint for `size` takes.
pub fn size_len(size: u64) -> usize {
    (1..=MAX_SIZE_LEN)
        .find(|&len| size <= max_size_for_len(len))
        .unwrap_or(MAX_SIZE_LEN)
}

/// Appends `size` as a size vint of exactly `width` bytes (1 to 8). Fixed widths let a writer
/// match PIC's layout byte for byte (PIC writes 8-byte sizes on Tags and SimpleBlocks).
///
/// # Panics
/// If `size` does not fit `width` bytes or `width` is not in 1..=8: a caller bug, not input.
pub fn write_size_width(out: &mut BytesMut, size: u64, width: usize) {
    assert!(
        (1..=MAX_SIZE_LEN).contains(&width),
        "size width {width} out of range"
    );
    assert!(
        size <= max_size_for_len(width),
        "size {size} does not fit {width} bytes"
    );
    let marked = size | (1u64 << (7 * width));
    out.put_slice(&marked.to_be_bytes()[8 - width..]);
}

/// Appends `size` as the shortest size vint.
pub fn write_size(out: &mut BytesMut, size: u64) {
    write_size_width(out, size, size_len(size));
}

/// Appends an element header with the shortest size field.
pub fn write_header(out: &mut BytesMut, id: ElementId, size: u64) {
    write_id(out, id);
    write_size(out, size);
}

/// Appends an element header with the unknown-size marker of `width` bytes.
pub fn write_unknown_size_header(out: &mut BytesMut, id: ElementId, width: usize) {
    assert!(
        (1..=MAX_SIZE_LEN).contains(&width),
        "size width {width} out of range"
    );
    write_id(out, id);
    let marked = (1u64 << (7 * width + 1)) - 1;
    out.put_slice(&marked.to_be_bytes()[8 - width..]);
}

/// Appends an unsigned integer element in the fewest bytes (at least one).
pub fn write_uint(out: &mut BytesMut, id: ElementId, value: u64) {
    let len = (8 - (value.leading_zeros() / 8) as usize).max(1);
    write_header(out, id, len as u64);
    out.put_slice(&value.to_be_bytes()[8 - len..]);
}

/// Appends an unsigned integer element with a fixed payload width (PIC writes 8-byte
/// TrackUID, TimecodeScale and Cluster Timecode).
pub fn write_uint_width(out: &mut BytesMut, id: ElementId, value: u64, width: usize) {
    assert!(
        (1..=8).contains(&width),
        "integer width {width} out of range"
    );
    assert!(
        width == 8 || value >> (8 * width) == 0,
        "{value} does not fit {width} bytes"
    );
    write_header(out, id, width as u64);
    out.put_slice(&value.to_be_bytes()[8 - width..]);
}

/// Appends an 8-byte float element.
pub fn write_float(out: &mut BytesMut, id: ElementId, value: f64) {
    write_header(out, id, 8);
    out.put_f64(value);
}

/// Appends a binary (or string) element.
pub fn write_bytes(out: &mut BytesMut, id: ElementId, value: &[u8]) {
    write_header(out, id, value.len() as u64);
    out.put_slice(value);
}

/// One child of a buffered master element.
#[derive(Clone, Debug)]
pub struct Child {
    /// The child's ID.
    pub id: ElementId,
    /// Absolute offset of the child's header.
    pub offset: u64,
    /// Absolute offset of the child's payload.
    pub payload_offset: u64,
    /// The payload (a zero-copy slice of the parent's buffer).
    pub data: Bytes,
}

/// Walks the direct children of a fully buffered master element payload. Every child must
/// have a known size that fits inside the parent: unknown sizes are legal only on Segment
/// and Cluster, which are never buffered.
pub struct Children {
    data: Bytes,
    pos: usize,
    base: u64,
    parent: ElementId,
}

impl Children {
    /// Walks `data`, the payload of `parent`, which starts at absolute offset `base`.
    pub fn new(parent: ElementId, data: Bytes, base: u64) -> Self {
        Self {
            data,
            pos: 0,
            base,
            parent,
        }
    }
}

impl Iterator for Children {
    type Item = Result<Child, MkvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let offset = self.base + self.pos as u64;
        let rest = &self.data[self.pos..];
        let result = match read_header(rest, offset) {
            Err(e) => Err(e),
            Ok(None) => Err(MkvError::ChildOverrunsParent {
                parent: self.parent,
                offset,
            }),
            Ok(Some(Header { id, size: None, .. })) => {
                Err(MkvError::UnknownSizeNotAllowed { id, offset })
            }
            Ok(Some(Header {
                id,
                size: Some(size),
                len,
            })) => {
                let available = (rest.len() - len) as u64;
                if size > available {
                    Err(MkvError::ChildOverrunsParent {
                        parent: self.parent,
                        offset,
                    })
                } else {
                    let start = self.pos + len;
                    let end = start + size as usize;
                    self.pos = end;
                    return Some(Ok(Child {
                        id,
                        offset,
                        payload_offset: self.base + start as u64,
                        data: self.data.slice(start..end),
                    }));
                }
            }
        };
        // Stop after the first error: the rest cannot be framed.
        self.pos = self.data.len();
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn size_vint_round_trips_at_every_width() {
        for width in 1..=8 {
            for size in [0, 1, max_size_for_len(width)] {
                let mut out = BytesMut::new();
                write_size_width(&mut out, size, width);
                assert_eq!(out.len(), width);
                assert_eq!(read_size(&out, 0).unwrap(), Some((Some(size), width)));
            }
        }
    }

    #[test]
    fn unknown_size_marker_is_recognised_at_every_width() {
        for width in 1..=8 {
            let mut out = BytesMut::new();
            write_unknown_size_header(&mut out, ElementId::CLUSTER, width);
            let header = read_header(&out, 0).unwrap().unwrap();
            assert_eq!(header.size, None);
            assert_eq!(header.len, 4 + width);
        }
        assert_eq!(read_size(&UNKNOWN_SIZE_8, 0).unwrap(), Some((None, 8)));
    }

    #[test]
    fn read_size_rejects_zero_first_byte_with_offset() {
        let err = read_size(&[0x00, 1, 2], 77).unwrap_err();
        assert!(matches!(err, MkvError::InvalidSize { offset: 77 }), "{err}");
    }

    #[test]
    fn read_id_rejects_five_byte_and_reserved_ids() {
        assert!(matches!(
            read_id(&[0x08, 0, 0, 0, 1], 5),
            Err(MkvError::InvalidId { offset: 5 })
        ));
        assert!(matches!(
            read_id(&[0xFF], 9),
            Err(MkvError::InvalidId { offset: 9 })
        ));
        assert!(matches!(
            read_id(&[0x80], 9),
            Err(MkvError::InvalidId { offset: 9 })
        ));
        assert_eq!(read_id(&[0x1A, 0x45], 0).unwrap(), None);
    }

    #[test]
    fn integers_and_floats_round_trip() {
        for v in [0u64, 1, 255, 256, 1_000_000, u64::MAX] {
            let mut out = BytesMut::new();
            write_uint(&mut out, ElementId::TIMECODE, v);
            let h = read_header(&out, 0).unwrap().unwrap();
            assert_eq!(read_uint(&out[h.len..], h.id, 0).unwrap(), v);
        }
        assert_eq!(
            read_int(&[0xFF, 0xFE], ElementId::REFERENCE_BLOCK, 0).unwrap(),
            -2
        );
        assert_eq!(
            read_int(&[0x7F], ElementId::REFERENCE_BLOCK, 0).unwrap(),
            127
        );
        assert_eq!(
            read_float(&48000f32.to_be_bytes(), ElementId::SAMPLING_FREQUENCY, 0).unwrap(),
            48000.0
        );
        assert!(read_float(&[0; 3], ElementId::SAMPLING_FREQUENCY, 0).is_err());
        assert!(read_uint(&[0; 9], ElementId::TIMECODE, 0).is_err());
    }

    #[test]
    fn strings_drop_nul_padding_and_reject_bad_utf8() {
        assert_eq!(
            read_string(b"matroska\0", ElementId::DOC_TYPE, 0).unwrap(),
            "matroska"
        );
        assert!(read_string(&[0xC3, 0x28], ElementId::TITLE, 3).is_err());
    }

    #[test]
    fn children_reject_overrun_and_unknown_size() {
        let data = Bytes::from_static(&[0xE7, 0x84, 1, 2]);
        let err = Children::new(ElementId::CLUSTER, data, 10)
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, MkvError::ChildOverrunsParent { offset: 10, .. }),
            "{err}"
        );
        let data = Bytes::from_static(&[0xE7, 0xFF, 1]);
        let err = Children::new(ElementId::CLUSTER, data, 0)
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, MkvError::UnknownSizeNotAllowed { .. }),
            "{err}"
        );
    }
}
