//! The incremental Matroska reader: push bytes in, pull [`Event`]s out. Built for live KVS
//! streams (unknown-size Segments and Clusters, one Segment per GetMedia fragment) and for
//! untrusted input (every length bounded before buffering, no rescans, no recursion on input
//! outside bounded metadata).

use bytes::{Buf, Bytes, BytesMut};

mod block;
mod event;

pub use block::Frame;
use block::{parse_block_group, parse_simple_block};
pub use event::{Event, Limits};

use super::MkvError;
use super::ebml::{self, Children, Header};
use super::elements::{SegmentInfo, Tags, Tracks};
use super::ids::ElementId;

#[derive(Clone, Copy, Debug)]
struct OpenSegment {
    /// Absolute end offset; `None` for unknown size.
    end: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct OpenCluster {
    offset: u64,
    end: Option<u64>,
    timecode: Option<u64>,
}

/// Incremental Matroska push parser.
///
/// ```
/// use kvs_e2ee_mkv::{Demuxer, Event};
/// # fn main() -> Result<(), kvs_e2ee_mkv::MkvError> {
/// let mut demuxer = Demuxer::new();
/// demuxer.push(&[]); // feed bytes as they arrive
/// while let Some(event) = demuxer.next_event()? {
///     if let Event::Frame(frame) = event { let _ = frame.data; }
/// }
/// demuxer.finish()?; // at end of input; then drain the closing events
/// while let Some(_event) = demuxer.next_event()? {}
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct Demuxer {
    limits: Limits,
    /// Unparsed input; `buf[0]` is at absolute offset `pos`.
    buf: BytesMut,
    pos: u64,
    /// Payload bytes of a skipped element still to drop.
    skip: u64,
    segment: Option<OpenSegment>,
    cluster: Option<OpenCluster>,
    eof: bool,
    failed_at: Option<u64>,
}

/// What the next element is, given where the reader stands.
enum Step {
    Event(Event),
    Continue,
    NeedMore,
}

impl Demuxer {
    /// A reader with default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Appends input. Bytes of a skipped element are dropped here without being buffered.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.buf.is_empty() && self.skip > 0 {
            let n = self.skip.min(data.len() as u64);
            self.skip -= n;
            self.pos += n;
            data = &data[n as usize..];
        }
        self.buf.extend_from_slice(data);
    }

    /// Absolute offset of the first byte not yet consumed (parsed or skipped).
    pub fn bytes_consumed(&self) -> u64 {
        self.pos
    }

    /// Bytes pushed but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether a Segment is open.
    pub fn in_segment(&self) -> bool {
        self.segment.is_some()
    }

    /// Whether a Cluster is open.
    pub fn in_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// Marks the end of input. Errors if the input ends inside an element (or inside a
    /// Segment/Cluster of known size); ending inside an unknown-size Segment or Cluster is a
    /// boundary. Then drain [`Demuxer::next_event`]: it returns the remaining events and the
    /// closing `ClusterEnd`/`SegmentEnd`s, then `Ok(None)`.
    pub fn finish(&mut self) -> Result<(), MkvError> {
        self.eof = true;
        if let Some(offset) = self.failed_at {
            return Err(MkvError::Failed { offset });
        }
        if let Err(e) = self.check_eof() {
            self.failed_at = Some(self.pos);
            return Err(e);
        }
        Ok(())
    }

    /// Whether the input, now complete, ends at an element boundary. Walks the element
    /// headers still buffered (entering Segments and Clusters, stepping over everything
    /// else) without changing state, so `finish` may be called before the buffer is
    /// drained. Malformed headers are left for `next_event` to report precisely.
    fn check_eof(&self) -> Result<(), MkvError> {
        let end = self.pos + self.buf.len() as u64;
        if self.skip > 0 {
            let what = format!("a skipped element ({} bytes missing)", self.skip);
            return Err(MkvError::Truncated { offset: end, what });
        }
        let mut containers: Vec<(ElementId, u64)> = [
            self.cluster
                .and_then(|c| c.end)
                .map(|e| (ElementId::CLUSTER, e)),
            self.segment
                .and_then(|s| s.end)
                .map(|e| (ElementId::SEGMENT, e)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut at = self.pos;
        while at < end {
            let rest = &self.buf[(at - self.pos) as usize..];
            let h = match ebml::read_header(rest, at) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    let what = format!("an element header starting at byte offset {at}");
                    return Err(MkvError::Truncated { offset: end, what });
                }
                Err(_) => return Ok(()),
            };
            let enter = matches!(h.id, ElementId::SEGMENT | ElementId::CLUSTER);
            let element_end = match h.size {
                Some(size) => at.saturating_add(h.len as u64).saturating_add(size),
                None if enter => at + h.len as u64,
                None => return Ok(()),
            };
            if element_end > end && !enter {
                let what = format!("{} starting at byte offset {at}", h.id);
                return Err(MkvError::Truncated { offset: end, what });
            }
            if enter {
                if h.size.is_some() {
                    containers.push((h.id, element_end));
                }
                at += h.len as u64;
            } else {
                at = element_end;
            }
        }
        if let Some((id, e)) = containers.into_iter().find(|&(_, e)| e > end) {
            let what = format!("a {id} that should end at byte offset {e}");
            return Err(MkvError::Truncated { offset: end, what });
        }
        Ok(())
    }

    /// The next event, `Ok(None)` if more input is needed (or, after [`Demuxer::finish`], if
    /// the stream is done).
    pub fn next_event(&mut self) -> Result<Option<Event>, MkvError> {
        if let Some(offset) = self.failed_at {
            return Err(MkvError::Failed { offset });
        }
        loop {
            match self.step() {
                Ok(Step::Event(e)) => return Ok(Some(e)),
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => {
                    if self.eof
                        && let Err(e) = self.check_eof()
                    {
                        self.failed_at = Some(self.pos);
                        return Err(e);
                    }
                    return Ok(None);
                }
                Err(e) => {
                    self.failed_at = Some(self.pos);
                    return Err(e);
                }
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.pos += n as u64;
    }

    fn step(&mut self) -> Result<Step, MkvError> {
        if self.skip > 0 {
            let n = self.skip.min(self.buf.len() as u64);
            self.consume(n as usize);
            self.skip -= n;
            if self.skip > 0 {
                return Ok(Step::NeedMore);
            }
        }
        // Close containers of known size that end here.
        if self.cluster.is_some_and(|c| c.end == Some(self.pos)) {
            return self.close_cluster();
        }
        if self.segment.is_some_and(|s| s.end == Some(self.pos)) {
            if self.cluster.is_some() {
                return self.close_cluster();
            }
            self.segment = None;
            return Ok(Step::Event(Event::SegmentEnd));
        }
        if self.buf.is_empty() {
            if self.eof {
                // An unknown-size Cluster/Segment ends at end of input.
                if self.cluster.is_some() {
                    return self.close_cluster();
                }
                if self.segment.take().is_some() {
                    return Ok(Step::Event(Event::SegmentEnd));
                }
            }
            return Ok(Step::NeedMore);
        }
        let Some(header) = ebml::read_header(&self.buf, self.pos)? else {
            return Ok(Step::NeedMore);
        };
        self.dispatch(header)
    }

    fn close_cluster(&mut self) -> Result<Step, MkvError> {
        let Some(c) = self.cluster.take() else {
            return Ok(Step::Continue);
        };
        if c.timecode.is_none() {
            // Every Cluster must carry a Timecode (RFC 9559 §5.1.3.1).
            return Err(MkvError::MissingElement {
                what: "Timecode",
                offset: c.offset,
            });
        }
        Ok(Step::Event(Event::ClusterEnd))
    }

    fn dispatch(&mut self, h: Header) -> Result<Step, MkvError> {
        let offset = self.pos;
        if let Some(size) = h.size {
            self.check_within_parents(h, size)?;
        }
        if h.id.is_top_level() || h.id.is_level1() {
            // A level-0/1 element ends an unknown-size Cluster (and a level-0 one an
            // unknown-size Segment): this is how live KVS streams delimit them.
            if let Some(c) = self.cluster {
                if c.end.is_some() {
                    return Err(MkvError::UnexpectedElement {
                        id: h.id,
                        offset,
                        context: "inside a Cluster of known size",
                    });
                }
                return self.close_cluster();
            }
        }
        if h.id.is_top_level()
            && let Some(s) = self.segment
        {
            if s.end.is_some() {
                return Err(MkvError::UnexpectedElement {
                    id: h.id,
                    offset,
                    context: "inside a Segment of known size",
                });
            }
            self.segment = None;
            return Ok(Step::Event(Event::SegmentEnd));
        }
        match (self.segment.is_some(), self.cluster.is_some()) {
            (false, _) => self.top_level(h),
            (true, false) => self.in_segment_level(h),
            (true, true) => self.in_cluster_level(h),
        }
    }

    /// A known-size element must end within every enclosing container of known size.
    fn check_within_parents(&self, h: Header, size: u64) -> Result<(), MkvError> {
        let end = self.pos.saturating_add(h.len as u64).saturating_add(size);
        let parents = [
            self.cluster
                .and_then(|c| c.end)
                .map(|e| (ElementId::CLUSTER, e)),
            self.segment
                .and_then(|s| s.end)
                .map(|e| (ElementId::SEGMENT, e)),
        ];
        for (parent, parent_end) in parents.into_iter().flatten() {
            if end > parent_end {
                return Err(MkvError::ElementOverrunsParent {
                    id: h.id,
                    offset: self.pos,
                    end,
                    parent,
                    parent_end,
                });
            }
        }
        Ok(())
    }

    fn top_level(&mut self, h: Header) -> Result<Step, MkvError> {
        let offset = self.pos;
        match h.id {
            ElementId::EBML => {
                let Some((payload, _raw)) = self.take_whole(h, self.limits.max_metadata_size)?
                else {
                    return Ok(Step::NeedMore);
                };
                let doc_type = parse_ebml_header(payload, offset + h.len as u64)?;
                Ok(Step::Event(Event::EbmlHeader { doc_type }))
            }
            ElementId::SEGMENT => {
                self.consume(h.len);
                self.segment = Some(OpenSegment {
                    end: h.size.map(|s| self.pos + s),
                });
                Ok(Step::Event(Event::SegmentStart { offset }))
            }
            ElementId::VOID | ElementId::CRC32 => self.skip_element(h),
            id => Err(MkvError::UnexpectedElement {
                id,
                offset,
                context: "at top level (expected EBML or Segment)",
            }),
        }
    }

    fn in_segment_level(&mut self, h: Header) -> Result<Step, MkvError> {
        let offset = self.pos;
        let limit = self.limits.max_metadata_size;
        match h.id {
            ElementId::INFO => Ok(match self.take_whole(h, limit)? {
                None => Step::NeedMore,
                Some((payload, raw)) => Step::Event(Event::Info(SegmentInfo::parse(
                    payload,
                    offset + h.len as u64,
                    raw,
                )?)),
            }),
            ElementId::TRACKS => Ok(match self.take_whole(h, limit)? {
                None => Step::NeedMore,
                Some((payload, raw)) => Step::Event(Event::Tracks(Tracks::parse(
                    payload,
                    offset + h.len as u64,
                    raw,
                )?)),
            }),
            ElementId::TAGS => Ok(match self.take_whole(h, limit)? {
                None => Step::NeedMore,
                Some((payload, raw)) => {
                    let tags = Tags::parse(
                        payload,
                        offset + h.len as u64,
                        raw,
                        self.limits.max_tag_depth,
                    )?;
                    Step::Event(Event::Tags(tags))
                }
            }),
            ElementId::CLUSTER => {
                self.consume(h.len);
                self.cluster = Some(OpenCluster {
                    offset,
                    end: h.size.map(|s| self.pos + s),
                    timecode: None,
                });
                Ok(Step::Continue)
            }
            // SeekHead, Cues, Chapters, Attachments, Void, CRC-32 and unknown IDs.
            _ => self.skip_element(h),
        }
    }

    fn in_cluster_level(&mut self, h: Header) -> Result<Step, MkvError> {
        let offset = self.pos;
        match h.id {
            ElementId::TIMECODE => {
                let Some((payload, _)) = self.take_whole(h, 8)? else {
                    return Ok(Step::NeedMore);
                };
                let timecode = ebml::read_uint(&payload, h.id, offset + h.len as u64)?;
                let Some(cluster) = self.cluster.as_mut() else {
                    return Ok(Step::Continue);
                };
                if cluster.timecode.is_some() {
                    return Err(MkvError::InvalidValue {
                        id: h.id,
                        offset,
                        reason: "second Timecode in a Cluster",
                    });
                }
                cluster.timecode = Some(timecode);
                Ok(Step::Event(Event::ClusterStart {
                    timecode,
                    offset: cluster.offset,
                }))
            }
            ElementId::SIMPLE_BLOCK | ElementId::BLOCK_GROUP => {
                let Some(cluster_tc) = self.cluster.and_then(|c| c.timecode) else {
                    return Err(MkvError::MissingElement {
                        what: "Cluster Timecode before the first block",
                        offset: self.cluster.map_or(offset, |c| c.offset),
                    });
                };
                // Room for the block header (track vint, timecode, flags) and, in a
                // BlockGroup, the small sibling elements.
                let limit =
                    self.limits
                        .max_frame_size
                        .saturating_add(if h.id == ElementId::BLOCK_GROUP {
                            1024
                        } else {
                            16
                        });
                let Some(total) = self.whole_len(h, limit)? else {
                    return Ok(Step::NeedMore);
                };
                let elem = self.buf.split_to(total);
                self.pos += total as u64;
                let frame = if h.id == ElementId::SIMPLE_BLOCK {
                    parse_simple_block(elem, h.len, offset, cluster_tc)?
                } else {
                    parse_block_group(elem, h.len, offset, cluster_tc)?
                };
                Ok(Step::Event(Event::Frame(frame)))
            }
            // Position, PrevSize, Void, CRC-32, EncryptedBlock, unknown IDs.
            _ => self.skip_element(h),
        }
    }

    /// Total length of a known-size element if it is fully buffered; errors if it exceeds `limit`.
    fn whole_len(&self, h: Header, limit: u64) -> Result<Option<usize>, MkvError> {
        let Some(size) = h.size else {
            return Err(MkvError::UnknownSizeNotAllowed {
                id: h.id,
                offset: self.pos,
            });
        };
        if size > limit {
            return Err(MkvError::ElementTooLarge {
                id: h.id,
                size,
                limit,
                offset: self.pos,
            });
        }
        // size ≤ limit ≤ u64 range that fits memory we would accept; the cast is checked.
        let total = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(h.len))
            .ok_or(MkvError::ElementTooLarge {
                id: h.id,
                size,
                limit,
                offset: self.pos,
            })?;
        Ok((self.buf.len() >= total).then_some(total))
    }

    /// Takes a whole known-size element out of the buffer: `(payload, raw element)`.
    fn take_whole(&mut self, h: Header, limit: u64) -> Result<Option<(Bytes, Bytes)>, MkvError> {
        let Some(total) = self.whole_len(h, limit)? else {
            return Ok(None);
        };
        let raw = self.buf.split_to(total).freeze();
        self.pos += total as u64;
        Ok(Some((raw.slice(h.len..), raw)))
    }

    fn skip_element(&mut self, h: Header) -> Result<Step, MkvError> {
        let Some(size) = h.size else {
            return Err(MkvError::UnknownSizeNotAllowed {
                id: h.id,
                offset: self.pos,
            });
        };
        self.consume(h.len);
        self.skip = size;
        Ok(Step::Continue)
    }
}

fn parse_ebml_header(payload: Bytes, base: u64) -> Result<String, MkvError> {
    let mut doc_type = None;
    for child in Children::new(ElementId::EBML, payload, base) {
        let c = child?;
        let at = c.payload_offset;
        match c.id {
            ElementId::DOC_TYPE => doc_type = Some(ebml::read_string(&c.data, c.id, at)?),
            // We read IDs of at most 4 and sizes of at most 8 bytes (RFC 8794 defaults).
            ElementId::EBML_MAX_ID_LENGTH
                if ebml::read_uint(&c.data, c.id, at)? > ebml::MAX_ID_LEN as u64 =>
            {
                return Err(MkvError::InvalidValue {
                    id: c.id,
                    offset: at,
                    reason: "IDs longer than 4 bytes are not supported",
                });
            }
            ElementId::EBML_MAX_SIZE_LENGTH
                if ebml::read_uint(&c.data, c.id, at)? > ebml::MAX_SIZE_LEN as u64 =>
            {
                return Err(MkvError::InvalidValue {
                    id: c.id,
                    offset: at,
                    reason: "sizes longer than 8 bytes are not supported",
                });
            }
            _ => {}
        }
    }
    // RFC 8794 §11.2.6: DocType defaults to "matroska".
    Ok(doc_type.unwrap_or_else(|| "matroska".to_owned()))
}
