//! `--inspect`: what the cloud sees of each fragment, without decrypting anything.
//!
//! One line per GetMedia segment (one KVS fragment): its KVS number and timestamps, cluster
//! timecode, frame count and bytes, and every envelope header its tags carry (sequence
//! number, stream, camera key id, session, recipients' key ids). Headers are parsed, not
//! authenticated: this is a view of the stored metadata (FORMAT.md §10), not a verdict.

use std::fmt::Write as _;
use std::io::Write;

use kvs_e2ee_aws::getmedia::{
    TAG_CONTINUATION_TOKEN, TAG_FRAGMENT_NUMBER, TAG_PRODUCER_TIMESTAMP, TAG_SERVER_TIMESTAMP,
};
use kvs_e2ee_envelope::Tag;
use kvs_e2ee_envelope::header::{Header, RecordKind};
use kvs_e2ee_envelope::tags;
use kvs_e2ee_mkv::{Demuxer, Event, TagValue};

use crate::pipeline::PipelineError;
use crate::reader::ReadError;

#[derive(Default)]
struct Segment {
    /// Each run of consecutive `Tags` elements, decoded on its own: a segment holds a
    /// header twice when the producer sent it before the first cluster (leading tags)
    /// and again as the repeat before the next (trailing tags).
    tags: Vec<Vec<Tag>>,
    /// Whether the last element was `Tags` (the next one extends the same run).
    in_tags: bool,
    clusters: Vec<u64>,
    frames: u64,
    bytes: u64,
    seen: bool,
}

/// Prints what the cloud sees, one line per fragment, to `W`.
pub struct Inspector<W: Write> {
    demux: Demuxer,
    out: W,
    segment: Segment,
    fragments: u64,
    continuation_token: Option<String>,
}

impl<W: Write> Inspector<W> {
    /// An inspector writing text lines to `out`.
    pub fn new(out: W) -> Self {
        Self {
            demux: Demuxer::new(),
            out,
            segment: Segment::default(),
            fragments: 0,
            continuation_token: None,
        }
    }

    /// Feeds input bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        self.demux.push(bytes);
        self.drain()
    }

    /// The connection dropped: a resumed source starts at an element boundary again.
    pub fn reconnected(&mut self) {
        self.demux = Demuxer::new();
    }

    /// The last `AWS_KINESISVIDEO_CONTINUATION_TOKEN` seen.
    pub fn continuation_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    /// The input ended; returns the number of fragments listed.
    pub fn finish(&mut self) -> Result<u64, PipelineError> {
        self.demux.finish().map_err(ReadError::from)?;
        self.drain()?;
        self.emit()?;
        self.out.flush().map_err(crate::output::OutputError::from)?;
        Ok(self.fragments)
    }

    fn drain(&mut self) -> Result<(), PipelineError> {
        while let Some(ev) = self.demux.next_event().map_err(ReadError::from)? {
            let was_tags = std::mem::take(&mut self.segment.in_tags);
            match ev {
                Event::EbmlHeader { .. } => self.emit()?,
                Event::Tags(t) => {
                    self.segment.seen = true;
                    if let Some(token) = t.get_str(TAG_CONTINUATION_TOKEN) {
                        self.continuation_token = Some(token.to_owned());
                    }
                    // Bounded: a real segment has a few dozen tags.
                    let held: usize = self.segment.tags.iter().map(Vec::len).sum();
                    let room = 1024usize.saturating_sub(held);
                    if !was_tags || self.segment.tags.is_empty() {
                        self.segment.tags.push(Vec::new());
                    }
                    self.segment.in_tags = true;
                    let run = self.segment.tags.last_mut().expect("a run was just pushed");
                    run.extend(
                        t.tags
                            .into_iter()
                            .filter_map(|st| match st.value {
                                TagValue::String(v) => Some((st.name, v)),
                                _ => None,
                            })
                            .take(room),
                    );
                }
                Event::ClusterStart { timecode, .. } => {
                    self.segment.seen = true;
                    self.segment.clusters.push(timecode);
                }
                Event::Frame(f) => {
                    self.segment.frames += 1;
                    self.segment.bytes += f.data.len() as u64;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn emit(&mut self) -> Result<(), PipelineError> {
        let seg = std::mem::take(&mut self.segment);
        if !seg.seen {
            return Ok(());
        }
        self.fragments += 1;
        let line = describe(&seg);
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(crate::output::OutputError::from)?;
        Ok(())
    }
}

fn describe(seg: &Segment) -> String {
    let get = |name: &str| {
        seg.tags
            .iter()
            .flatten()
            .find(|(n, _)| n == name)
            .map_or("-", |(_, v)| v.as_str())
    };
    let mut line = format!(
        "fragment {} producer-time {} server-time {} cluster-timecode {} frames {} bytes {}",
        get(TAG_FRAGMENT_NUMBER),
        get(TAG_PRODUCER_TIMESTAMP),
        get(TAG_SERVER_TIMESTAMP),
        seg.clusters
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        seg.frames,
        seg.bytes,
    );
    let mut headers = 0;
    for run in &seg.tags {
        match tags::decode_tags(run) {
            Err(e) => {
                headers += 1;
                let _ = write!(line, " | envelope tags unreadable: {e}");
            }
            Ok(blobs) => {
                headers += blobs.len();
                describe_blobs(&mut line, blobs);
            }
        }
    }
    if headers == 0 {
        line.push_str(" | no e2ee header (unencrypted?)");
    }
    line
}

fn describe_blobs(line: &mut String, blobs: Vec<Result<tags::HeaderBlob, tags::TagError>>) {
    for blob in blobs {
        line.push_str(" | ");
        let header = blob.map_err(|e| e.to_string()).and_then(|b| {
            Header::decode(&b.bytes)
                .map(|(h, _)| h)
                .map_err(|e| e.to_string())
        });
        match header {
            Ok(h) => describe_header(line, &h),
            Err(e) => {
                let _ = write!(line, "unreadable header: {e}");
            }
        }
    }
}

fn describe_header(line: &mut String, h: &Header) {
    let c = &h.core;
    let kind = match c.kind {
        RecordKind::Fragment => "header",
        RecordKind::End => "end-record",
    };
    let recipients: Vec<String> = h.stanzas.iter().map(|s| s.key_id.to_string()).collect();
    let _ = write!(
        line,
        "{kind} seq {} stream {:?} camera {} session {} start-timecode {} frame-cipher {} sealed-codec-bytes {} recipients {}",
        c.seq,
        c.stream_name,
        c.camera,
        c.session,
        c.start_timecode,
        c.cipher,
        c.sealed_codec.len(),
        recipients.join(","),
    );
}
