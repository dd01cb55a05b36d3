//! Block parsing: SimpleBlock and BlockGroup payloads become [`Frame`]s whose data is split
//! from the input buffer without a copy.

use bytes::{Buf, BytesMut};

use crate::MkvError;
use crate::ebml;
use crate::ids::ElementId;

/// One frame (the payload of a SimpleBlock, or of the Block of a BlockGroup).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// Track number the block refers to.
    pub track: u64,
    /// Absolute timecode in `TimecodeScale` units: cluster timecode + the block's relative one.
    pub timecode: u64,
    /// Key frame: the SimpleBlock key flag, or a BlockGroup without `ReferenceBlock`.
    pub keyframe: bool,
    /// The invisible flag.
    pub invisible: bool,
    /// The discardable flag (SimpleBlock only).
    pub discardable: bool,
    /// `BlockDuration` of a BlockGroup, in timecode units.
    pub duration: Option<u64>,
    /// Absolute byte offset of the SimpleBlock/BlockGroup element.
    pub offset: u64,
    /// The frame bytes: split from the input buffer without a copy, mutable for in-place
    /// decryption.
    pub data: BytesMut,
}

/// The block header shared by SimpleBlock and Block: track vint, i16 timecode, flags.
struct BlockHeader {
    track: u64,
    relative: i16,
    flags: u8,
    len: usize,
}

fn parse_block_header(data: &[u8], id: ElementId, at: u64) -> Result<BlockHeader, MkvError> {
    let invalid = |reason| MkvError::InvalidValue {
        id,
        offset: at,
        reason,
    };
    let (track, n) = match ebml::read_size(data, at)? {
        Some((Some(t), n)) => (t, n),
        Some((None, _)) => return Err(invalid("track number is the reserved all-ones vint")),
        None => return Err(invalid("block shorter than its header")),
    };
    let rest = &data[n..];
    if rest.len() < 3 {
        return Err(invalid("block shorter than its header"));
    }
    Ok(BlockHeader {
        track,
        relative: i16::from_be_bytes([rest[0], rest[1]]),
        flags: rest[2],
        len: n + 3,
    })
}

fn absolute(cluster: u64, relative: i16, offset: u64) -> Result<u64, MkvError> {
    cluster
        .checked_add_signed(i64::from(relative))
        .ok_or(MkvError::TimecodeOutOfRange {
            offset,
            cluster,
            relative,
        })
}

pub(super) fn parse_simple_block(
    mut elem: BytesMut,
    header_len: usize,
    offset: u64,
    cluster_tc: u64,
) -> Result<Frame, MkvError> {
    let at = offset + header_len as u64;
    let bh = parse_block_header(&elem[header_len..], ElementId::SIMPLE_BLOCK, at)?;
    // Bits 0x06 select Xiph/fixed/EBML lacing (RFC 9559 §10.2).
    if bh.flags & 0x06 != 0 {
        return Err(MkvError::LacingUnsupported { offset });
    }
    elem.advance(header_len + bh.len);
    Ok(Frame {
        track: bh.track,
        timecode: absolute(cluster_tc, bh.relative, offset)?,
        keyframe: bh.flags & 0x80 != 0,
        invisible: bh.flags & 0x08 != 0,
        discardable: bh.flags & 0x01 != 0,
        duration: None,
        offset,
        data: elem,
    })
}

pub(super) fn parse_block_group(
    mut elem: BytesMut,
    header_len: usize,
    offset: u64,
    cluster_tc: u64,
) -> Result<Frame, MkvError> {
    let mut block = None;
    let mut referenced = false;
    let mut duration = None;
    let mut pos = header_len;
    while pos < elem.len() {
        let at = offset + pos as u64;
        let h = match ebml::read_header(&elem[pos..], at)? {
            Some(h) => h,
            None => {
                return Err(MkvError::ChildOverrunsParent {
                    parent: ElementId::BLOCK_GROUP,
                    offset: at,
                });
            }
        };
        let size = h.size.ok_or(MkvError::UnknownSizeNotAllowed {
            id: h.id,
            offset: at,
        })?;
        let start = pos + h.len;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= elem.len())
            .ok_or(MkvError::ChildOverrunsParent {
                parent: ElementId::BLOCK_GROUP,
                offset: at,
            })?;
        match h.id {
            ElementId::BLOCK if block.is_none() => block = Some((start, end)),
            ElementId::BLOCK => {
                return Err(MkvError::InvalidValue {
                    id: h.id,
                    offset: at,
                    reason: "second Block in a BlockGroup",
                });
            }
            ElementId::REFERENCE_BLOCK => referenced = true,
            ElementId::BLOCK_DURATION => {
                duration = Some(ebml::read_uint(&elem[start..end], h.id, at)?)
            }
            _ => {}
        }
        pos = end;
    }
    let (start, end) = block.ok_or(MkvError::MissingElement {
        what: "Block",
        offset,
    })?;
    let at = offset + start as u64;
    let bh = parse_block_header(&elem[start..end], ElementId::BLOCK, at)?;
    if bh.flags & 0x06 != 0 {
        return Err(MkvError::LacingUnsupported { offset });
    }
    elem.truncate(end);
    elem.advance(start + bh.len);
    Ok(Frame {
        track: bh.track,
        timecode: absolute(cluster_tc, bh.relative, offset)?,
        keyframe: !referenced,
        invisible: bh.flags & 0x08 != 0,
        discardable: false,
        duration,
        offset,
        data: elem,
    })
}
