//! PutMedia acknowledgement (ACK) events: the JSON objects KVS streams back in the PutMedia
//! response body, with the incremental parser (client side) and the encoder (kvs-local side)
//! in one module so the two cannot drift.
//!
//! # Wire format
//! After the HTTP 200 the service writes one JSON object per event, separated by newlines,
//! on the same connection that carries the upload (AWS Java SDK `PutMediaResult#getPayload`).
//! Keys (PIC `src/client/src/AckParser.h`): `EventType`, `FragmentTimecode`, `FragmentNumber`,
//! `ErrorId`. Real service output captured in SDK debug logs shows the exact bytes, e.g.
//! (producer-sdk-cpp issue #653, producer-c issue #345):
//!
//! ```text
//! {"EventType":"RECEIVED","FragmentTimecode":1612524911136,"FragmentNumber":"91343852333181432407537343122594611150428754261"}
//! ```
//!
//! and an error (producer-sdk-cpp issue #226), which also carries the textual `ErrorCode`:
//!
//! ```text
//! {"EventType":"ERROR","FragmentTimecode":0,"FragmentNumber":"91343852333181571046918222741096071001568090649","ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS","ErrorId":4004}
//! ```
//!
//! `IDLE` is a keep-alive and carries no fragment.

use std::fmt;

use serde::Deserialize;

/// Largest ACK object we accept, in bytes. Real ACKs are under 250 bytes; PIC caps the
/// segment it parses at `MAX_ACK_FRAGMENT_LEN` (1 KiB). We allow 4 KiB so an unknown key
/// added by the service does not break us, while a garbage stream cannot grow memory.
pub const MAX_ACK_OBJECT_LEN: usize = 4096;

/// What happened to a fragment (PIC `FRAGMENT_ACK_TYPE`, AWS `AckEventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckEventType {
    /// KVS started receiving the fragment (first byte of the cluster arrived).
    Buffering,
    /// KVS received and parsed the whole fragment.
    Received,
    /// KVS stored the fragment durably; the producer may drop it from its buffer.
    Persisted,
    /// KVS rejected the fragment or the connection; see `error_id`.
    Error,
    /// Keep-alive sent while the producer sends nothing.
    Idle,
}

impl AckEventType {
    /// The spelling on the wire (`"BUFFERING"`, …), PIC `ACK_EVENT_TYPE_*`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buffering => "BUFFERING",
            Self::Received => "RECEIVED",
            Self::Persisted => "PERSISTED",
            Self::Error => "ERROR",
            Self::Idle => "IDLE",
        }
    }

    /// Parses the wire spelling; `None` for anything else (PIC: `FRAGMENT_ACK_TYPE_UNDEFINED`).
    pub fn from_wire(s: &str) -> Option<Self> {
        Some(match s {
            "BUFFERING" => Self::Buffering,
            "RECEIVED" => Self::Received,
            "PERSISTED" => Self::Persisted,
            "ERROR" => Self::Error,
            "IDLE" => Self::Idle,
            _ => return None,
        })
    }
}

impl fmt::Display for AckEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PutMedia `ErrorId` (KVS PutMedia API reference; PIC `SERVICE_CALL_RESULT_*` in
/// `src/client/include/com/amazonaws/kinesis/video/client/Include.h`).
///
/// A newtype rather than an enum: the service may add ids, and an unknown id must still be
/// carried, displayed and classified (PIC maps it to `SERVICE_CALL_RESULT_UNKNOWN_ACK_ERROR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AckErrorId(pub u32);

/// One row of the ErrorId table: id, wire `ErrorCode`, meaning, whether the SDK retries.
struct ErrorIdInfo {
    id: u32,
    code: &'static str,
    meaning: &'static str,
    retryable: bool,
}

// Retry column: PIC `serviceCallResultRetry()` in `src/client/src/StreamEvent.c` — the SDK
// reconnects and resends after 4000, 4003, 5000, 5001 (and unknown ids) and treats every
// other id as fatal for the stream (bad data, limits, KMS, stream state).
// Code column: the AWS Java SDK model enum `AckErrorCode` (service spelling), completed from
// the PutMedia API reference for 4009–4011; 4012 is named after PIC
// `SERVICE_CALL_RESULT_MORE_THAN_ALLOWED_TRACKS_FOUND` (not in the Java enum).
const ERROR_IDS: &[ErrorIdInfo] = &[
    row(
        4000,
        "STREAM_READ_ERROR",
        "error reading the data stream",
        true,
    ),
    row(
        4001,
        "MAX_FRAGMENT_SIZE_REACHED",
        "fragment size is greater than the limit",
        false,
    ),
    row(
        4002,
        "MAX_FRAGMENT_DURATION_REACHED",
        "fragment duration is greater than the limit",
        false,
    ),
    row(
        4003,
        "MAX_CONNECTION_DURATION_REACHED",
        "connection duration is greater than the limit",
        true,
    ),
    row(
        4004,
        "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
        "fragment timecode is lower than the previous one",
        false,
    ),
    row(
        4005,
        "MORE_THAN_ONE_TRACK_FOUND",
        "multi-track MKV is not supported",
        false,
    ),
    row(
        4006,
        "INVALID_MKV_DATA",
        "the MKV data could not be parsed",
        false,
    ),
    row(
        4007,
        "INVALID_PRODUCER_TIMESTAMP",
        "invalid producer timestamp",
        false,
    ),
    row(4008, "STREAM_NOT_ACTIVE", "the stream is not active", false),
    row(
        4009,
        "FRAGMENT_METADATA_LIMIT_REACHED",
        "fragment metadata name, value or count limit reached",
        false,
    ),
    row(
        4010,
        "TRACK_NUMBER_MISMATCH",
        "a block's track number is not in the Tracks element",
        false,
    ),
    row(
        4011,
        "FRAMES_MISSING_FOR_TRACK",
        "the fragment has no frames for a declared track",
        false,
    ),
    row(
        4012,
        "MORE_THAN_ALLOWED_TRACKS_FOUND",
        "more tracks than allowed (3)",
        false,
    ),
    row(
        4500,
        "KMS_KEY_ACCESS_DENIED",
        "KMS access denied while encrypting data",
        false,
    ),
    row(4501, "KMS_KEY_DISABLED", "KMS key is disabled", false),
    row(
        4502,
        "KMS_KEY_VALIDATION_ERROR",
        "KMS validation error while encrypting data",
        false,
    ),
    row(4503, "KMS_KEY_UNAVAILABLE", "KMS key is unavailable", false),
    row(
        4504,
        "KMS_KEY_INVALID_USAGE",
        "invalid usage of the KMS key",
        false,
    ),
    row(
        4505,
        "KMS_KEY_INVALID_STATE",
        "KMS key is in an invalid state",
        false,
    ),
    row(4506, "KMS_KEY_NOT_FOUND", "KMS key not found", false),
    row(
        4507,
        "STREAM_DELETED",
        "the stream has been or is being deleted",
        false,
    ),
    row(5000, "INTERNAL_ERROR", "internal service error", true),
    row(
        5001,
        "ARCHIVAL_ERROR",
        "persisting the fragment to storage failed",
        true,
    ),
];

const fn row(id: u32, code: &'static str, meaning: &'static str, retryable: bool) -> ErrorIdInfo {
    ErrorIdInfo {
        id,
        code,
        meaning,
        retryable,
    }
}

impl AckErrorId {
    /// 4000: error reading the data stream.
    pub const STREAM_READ_ERROR: Self = Self(4000);
    /// 4001: fragment larger than the service limit.
    pub const MAX_FRAGMENT_SIZE_REACHED: Self = Self(4001);
    /// 4002: fragment longer than the service limit (10 s).
    pub const MAX_FRAGMENT_DURATION_REACHED: Self = Self(4002);
    /// 4003: the connection has been open too long; reconnect.
    pub const MAX_CONNECTION_DURATION_REACHED: Self = Self(4003);
    /// 4004: fragment timecode lower than the previous fragment's.
    pub const FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS: Self = Self(4004);
    /// 4005: multi-track MKV where one track was expected (deprecated by the service).
    pub const MORE_THAN_ONE_TRACK_FOUND: Self = Self(4005);
    /// 4006: the MKV could not be parsed.
    pub const INVALID_MKV_DATA: Self = Self(4006);
    /// 4007: invalid producer timestamp.
    pub const INVALID_PRODUCER_TIMESTAMP: Self = Self(4007);
    /// 4008: the stream is not active.
    pub const STREAM_NOT_ACTIVE: Self = Self(4008);
    /// 4009: fragment metadata (tags) limit reached.
    pub const FRAGMENT_METADATA_LIMIT_REACHED: Self = Self(4009);
    /// 4010: a block's track number is not declared in Tracks.
    pub const TRACK_NUMBER_MISMATCH: Self = Self(4010);
    /// 4011: a declared track has no frames in the fragment.
    pub const FRAMES_MISSING_FOR_TRACK: Self = Self(4011);
    /// 4012: more tracks than the service allows.
    pub const MORE_THAN_ALLOWED_TRACKS_FOUND: Self = Self(4012);
    /// 4500: KMS access denied.
    pub const KMS_KEY_ACCESS_DENIED: Self = Self(4500);
    /// 4501: KMS key disabled.
    pub const KMS_KEY_DISABLED: Self = Self(4501);
    /// 4502: KMS validation error.
    pub const KMS_KEY_VALIDATION_ERROR: Self = Self(4502);
    /// 4503: KMS key unavailable.
    pub const KMS_KEY_UNAVAILABLE: Self = Self(4503);
    /// 4504: invalid usage of the KMS key.
    pub const KMS_KEY_INVALID_USAGE: Self = Self(4504);
    /// 4505: KMS key in an invalid state.
    pub const KMS_KEY_INVALID_STATE: Self = Self(4505);
    /// 4506: KMS key not found.
    pub const KMS_KEY_NOT_FOUND: Self = Self(4506);
    /// 4507: the stream was deleted.
    pub const STREAM_DELETED: Self = Self(4507);
    /// 5000: internal service error.
    pub const INTERNAL_ERROR: Self = Self(5000);
    /// 5001: the fragment could not be archived.
    pub const ARCHIVAL_ERROR: Self = Self(5001);

    /// Every ErrorId the reference documents, in ascending order.
    pub fn all() -> impl Iterator<Item = AckErrorId> {
        ERROR_IDS.iter().map(|r| AckErrorId(r.id))
    }

    fn info(self) -> Option<&'static ErrorIdInfo> {
        ERROR_IDS.iter().find(|r| r.id == self.0)
    }

    /// The service's `ErrorCode` spelling (`"INVALID_MKV_DATA"`), `None` for an unknown id.
    pub fn code(self) -> Option<&'static str> {
        self.info().map(|r| r.code)
    }

    /// A short human description.
    pub fn meaning(self) -> &'static str {
        self.info().map_or("unknown PutMedia error", |r| r.meaning)
    }

    /// Whether the producer SDK reconnects and resends after this error (PIC
    /// `serviceCallResultRetry`). Unknown ids are retried, as PIC does.
    pub fn is_retryable(self) -> bool {
        self.info().is_none_or(|r| r.retryable)
    }
}

impl fmt::Display for AckErrorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code() {
            Some(code) => write!(f, "{} {} ({})", self.0, code, self.meaning()),
            None => write!(f, "{} (unknown PutMedia error id)", self.0),
        }
    }
}

/// One acknowledgement from the PutMedia response stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckEvent {
    /// What happened.
    pub event_type: AckEventType,
    /// The fragment's timecode (ms, the Cluster timecode as sent); absent on IDLE.
    pub fragment_timecode: Option<u64>,
    /// The service-assigned fragment number (decimal string); absent on IDLE.
    pub fragment_number: Option<String>,
    /// Set on ERROR events.
    pub error_id: Option<u32>,
}

impl AckEvent {
    /// The error id as a typed value, if any.
    pub fn error(&self) -> Option<AckErrorId> {
        self.error_id.map(AckErrorId)
    }

    /// Encodes exactly as KVS does: key order `EventType`, `FragmentTimecode`,
    /// `FragmentNumber`, `ErrorCode`, `ErrorId`, no spaces, no trailing newline.
    /// `ErrorCode` is written for known ids only, as the service does.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push_str("{\"EventType\":\"");
        out.push_str(self.event_type.as_str());
        out.push('"');
        if let Some(tc) = self.fragment_timecode {
            out.push_str(",\"FragmentTimecode\":");
            out.push_str(&tc.to_string());
        }
        if let Some(number) = &self.fragment_number {
            out.push_str(",\"FragmentNumber\":");
            // serde_json escapes quotes/control characters; a fragment number is digits,
            // but kvs-local must not emit broken JSON whatever it is handed.
            out.push_str(&serde_json::Value::from(number.as_str()).to_string());
        }
        if let Some(id) = self.error_id {
            if let Some(code) = AckErrorId(id).code() {
                out.push_str(",\"ErrorCode\":\"");
                out.push_str(code);
                out.push('"');
            }
            out.push_str(",\"ErrorId\":");
            out.push_str(&id.to_string());
        }
        out.push('}');
        out
    }

    /// [`encode`](Self::encode) followed by the newline that separates events on the wire.
    pub fn encode_line(&self) -> String {
        let mut line = self.encode();
        line.push('\n');
        line
    }
}

/// Why the ACK stream could not be parsed. Offsets count bytes from the start of the
/// response body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// A byte other than whitespace or `{` between objects.
    #[error(
        "ACK stream: unexpected byte 0x{byte:02x} at offset {offset} (expected '{{' or whitespace)"
    )]
    UnexpectedByte {
        /// Absolute offset of the byte.
        offset: u64,
        /// The byte.
        byte: u8,
    },
    /// An object longer than [`MAX_ACK_OBJECT_LEN`].
    #[error("ACK stream: object starting at offset {offset} exceeds {limit} bytes")]
    ObjectTooLarge {
        /// Offset of the object's `{`.
        offset: u64,
        /// The limit.
        limit: usize,
    },
    /// The object is not valid JSON or a field has the wrong type or is duplicated.
    #[error("ACK stream: invalid ACK object at offset {offset}: {source}")]
    InvalidJson {
        /// Offset of the object's `{`.
        offset: u64,
        /// serde_json's description.
        source: serde_json::Error,
    },
    /// `EventType` missing or not one of the five known values.
    #[error("ACK stream: object at offset {offset} has unknown or missing EventType {value:?}")]
    UnknownEventType {
        /// Offset of the object's `{`.
        offset: u64,
        /// The value seen, if any.
        value: Option<String>,
    },
    /// An ERROR event without `ErrorId` (PIC `STATUS_MISSING_ERR_ACK_ID`).
    #[error("ACK stream: ERROR event at offset {offset} has no ErrorId")]
    MissingErrorId {
        /// Offset of the object's `{`.
        offset: u64,
    },
    /// The body ended inside an object.
    #[error("ACK stream: body ended at offset {end} inside the object starting at offset {offset}")]
    Truncated {
        /// Offset of the unfinished object's `{`.
        offset: u64,
        /// Offset of the end of the body.
        end: u64,
    },
    /// The parser is unusable after an earlier error.
    #[error("ACK stream: parser already failed at offset {offset}")]
    AlreadyFailed {
        /// Offset of the first error.
        offset: u64,
    },
}

/// The shape serde reads; unknown keys (`ErrorCode`, future ones) are ignored.
#[derive(Deserialize)]
struct RawAck {
    #[serde(rename = "EventType")]
    event_type: Option<String>,
    #[serde(rename = "FragmentTimecode")]
    fragment_timecode: Option<u64>,
    #[serde(rename = "FragmentNumber")]
    fragment_number: Option<String>,
    #[serde(rename = "ErrorId")]
    error_id: Option<u32>,
}

/// Where the scanner is: between objects, or inside one.
#[derive(Debug, Clone, Copy)]
enum Scan {
    Between,
    InObject {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    Failed {
        offset: u64,
    },
}

/// Incremental parser for the ACK stream: [`push`](Self::push) bytes as they arrive (any
/// chunking), then call [`next_event`](Self::next_event) until it returns `Ok(None)`.
///
/// Objects are delimited by brace matching that respects JSON strings, then decoded with
/// serde_json; the buffer never holds more than one object (≤ [`MAX_ACK_OBJECT_LEN`])
/// plus the bytes of the last `push`.
#[derive(Debug)]
pub struct AckParser {
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Next byte of `buf` to scan.
    pos: usize,
    /// Start of the current object in `buf` (valid in `Scan::InObject`).
    obj_start: usize,
    scan: Scan,
}

impl Default for AckParser {
    fn default() -> Self {
        Self::new()
    }
}

impl AckParser {
    /// A parser at the start of a response body.
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            base: 0,
            pos: 0,
            obj_start: 0,
            scan: Scan::Between,
        }
    }

    /// Appends bytes received from the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Total bytes consumed or buffered so far (the offset of the next pushed byte).
    pub fn offset(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// The next complete event, `Ok(None)` if more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<AckEvent>, AckError> {
        loop {
            match self.scan {
                Scan::Failed { offset } => return Err(AckError::AlreadyFailed { offset }),
                Scan::Between => {
                    let Some(&byte) = self.buf.get(self.pos) else {
                        self.compact();
                        return Ok(None);
                    };
                    match byte {
                        b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                        b'{' => {
                            self.obj_start = self.pos;
                            self.pos += 1;
                            self.scan = Scan::InObject {
                                depth: 1,
                                in_string: false,
                                escaped: false,
                            };
                        }
                        _ => {
                            let offset = self.abs(self.pos);
                            return Err(
                                self.fail(offset, AckError::UnexpectedByte { offset, byte })
                            );
                        }
                    }
                }
                Scan::InObject { .. } => match self.scan_object()? {
                    Some(end) => return self.decode(end).map(Some),
                    None => {
                        self.compact();
                        return Ok(None);
                    }
                },
            }
        }
    }

    /// Call at end of body: an error if the body stopped inside an object.
    pub fn finish(&self) -> Result<(), AckError> {
        match self.scan {
            Scan::InObject { .. } => Err(AckError::Truncated {
                offset: self.abs(self.obj_start),
                end: self.offset(),
            }),
            Scan::Failed { offset } => Err(AckError::AlreadyFailed { offset }),
            Scan::Between => Ok(()),
        }
    }

    fn abs(&self, index: usize) -> u64 {
        self.base + index as u64
    }

    fn fail(&mut self, offset: u64, err: AckError) -> AckError {
        self.scan = Scan::Failed { offset };
        err
    }

    /// Advances through the current object; `Some(end)` is the index one past its `}`.
    fn scan_object(&mut self) -> Result<Option<usize>, AckError> {
        let Scan::InObject {
            mut depth,
            mut in_string,
            mut escaped,
        } = self.scan
        else {
            return Ok(None);
        };
        let limit_end = self.obj_start + MAX_ACK_OBJECT_LEN;
        while let Some(&byte) = self.buf.get(self.pos) {
            if self.pos >= limit_end {
                let offset = self.abs(self.obj_start);
                return Err(self.fail(
                    offset,
                    AckError::ObjectTooLarge {
                        offset,
                        limit: MAX_ACK_OBJECT_LEN,
                    },
                ));
            }
            self.pos += 1;
            if in_string {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.scan = Scan::Between;
                        return Ok(Some(self.pos));
                    }
                }
                _ => {}
            }
        }
        self.scan = Scan::InObject {
            depth,
            in_string,
            escaped,
        };
        Ok(None)
    }

    fn decode(&mut self, end: usize) -> Result<AckEvent, AckError> {
        let offset = self.abs(self.obj_start);
        let result = decode_object(&self.buf[self.obj_start..end], offset);
        // Drop the decoded object so the buffer stays bounded.
        self.buf.drain(..end);
        self.base += end as u64;
        self.pos = 0;
        self.obj_start = 0;
        result.map_err(|e| self.fail(offset, e))
    }

    fn compact(&mut self) {
        let keep_from = match self.scan {
            Scan::InObject { .. } => self.obj_start,
            _ => self.pos,
        };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.pos -= keep_from;
            self.obj_start = self.obj_start.saturating_sub(keep_from);
        }
    }
}

/// Decodes one complete object (the bytes from `{` to `}`).
fn decode_object(bytes: &[u8], offset: u64) -> Result<AckEvent, AckError> {
    let raw: RawAck =
        serde_json::from_slice(bytes).map_err(|source| AckError::InvalidJson { offset, source })?;
    let event_type = raw
        .event_type
        .as_deref()
        .and_then(AckEventType::from_wire)
        .ok_or_else(|| AckError::UnknownEventType {
            offset,
            value: raw.event_type.clone(),
        })?;
    if event_type == AckEventType::Error && raw.error_id.is_none() {
        return Err(AckError::MissingErrorId { offset });
    }
    Ok(AckEvent {
        event_type,
        fragment_timecode: raw.fragment_timecode,
        fragment_number: raw.fragment_number,
        error_id: raw.error_id,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// Bytes as the service sent them (producer-sdk-cpp issue #226, producer-c issue #345).
    const REAL_ERROR_LINE: &str = "{\"EventType\":\"ERROR\",\"FragmentTimecode\":0,\"FragmentNumber\":\"91343852333181571046918222741096071001568090649\",\"ErrorCode\":\"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS\",\"ErrorId\":4004}";
    const REAL_PERSISTED_LINE: &str = "{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":1673627039807,\"FragmentNumber\":\"91343852333181432407537343122594611150428754261\"}";

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<AckEvent>, AckError> {
        let mut parser = AckParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.push(chunk);
            while let Some(ev) = parser.next_event()? {
                events.push(ev);
            }
        }
        parser.finish()?;
        Ok(events)
    }

    fn received(tc: u64, n: &str) -> AckEvent {
        AckEvent {
            event_type: AckEventType::Received,
            fragment_timecode: Some(tc),
            fragment_number: Some(n.to_owned()),
            error_id: None,
        }
    }

    #[test]
    fn encode_matches_service_bytes_for_error_and_persisted() {
        let err = AckEvent {
            event_type: AckEventType::Error,
            fragment_timecode: Some(0),
            fragment_number: Some("91343852333181571046918222741096071001568090649".into()),
            error_id: Some(4004),
        };
        assert_eq!(err.encode(), REAL_ERROR_LINE);
        let persisted = AckEvent {
            event_type: AckEventType::Persisted,
            fragment_timecode: Some(1673627039807),
            fragment_number: Some("91343852333181432407537343122594611150428754261".into()),
            error_id: None,
        };
        assert_eq!(persisted.encode(), REAL_PERSISTED_LINE);
        assert_eq!(persisted.encode_line(), format!("{REAL_PERSISTED_LINE}\n"));
    }

    #[test]
    fn parser_reads_real_service_lines() {
        let body = format!("{REAL_PERSISTED_LINE}\n{REAL_ERROR_LINE}\n");
        let events = parse_all(&[body.as_bytes()]).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, AckEventType::Persisted);
        assert_eq!(events[0].fragment_timecode, Some(1673627039807));
        assert_eq!(
            events[1].error(),
            Some(AckErrorId::FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS)
        );
        assert_eq!(events[1].fragment_timecode, Some(0));
    }

    #[test]
    fn idle_event_has_no_fragment() {
        let idle = AckEvent {
            event_type: AckEventType::Idle,
            fragment_timecode: None,
            fragment_number: None,
            error_id: None,
        };
        assert_eq!(idle.encode(), "{\"EventType\":\"IDLE\"}");
        assert_eq!(
            parse_all(&[b"{\"EventType\":\"IDLE\"}"]).unwrap(),
            vec![idle]
        );
    }

    #[test]
    fn parser_ignores_unknown_keys_and_nested_values() {
        let body = br#" { "Future" : {"a":[1,{"b":"}"}]}, "EventType" : "RECEIVED", "FragmentTimecode" : 5, "FragmentNumber" : "7", "Note":"x\"}" }  "#;
        assert_eq!(parse_all(&[body]).unwrap(), vec![received(5, "7")]);
    }

    #[test]
    fn parser_rejects_garbage_between_objects_with_offset() {
        let mut parser = AckParser::new();
        parser.push(b"{\"EventType\":\"IDLE\"}\nX");
        assert!(parser.next_event().unwrap().is_some());
        match parser.next_event() {
            Err(AckError::UnexpectedByte {
                offset: 21,
                byte: b'X',
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parser.next_event(),
            Err(AckError::AlreadyFailed { offset: 21 })
        ));
    }

    #[test]
    fn parser_rejects_oversized_object() {
        let mut parser = AckParser::new();
        parser.push(b"\n{\"EventType\":\"");
        parser.push(&vec![b'A'; MAX_ACK_OBJECT_LEN]);
        match parser.next_event() {
            Err(AckError::ObjectTooLarge { offset: 1, .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parser_rejects_unknown_event_type_and_error_without_id() {
        assert!(matches!(
            parse_all(&[b"{\"EventType\":\"WHATEVER\"}"]),
            Err(AckError::UnknownEventType { offset: 0, .. })
        ));
        assert!(matches!(
            parse_all(&[b"  {\"EventType\":\"ERROR\",\"FragmentTimecode\":1}"]),
            Err(AckError::MissingErrorId { offset: 2 })
        ));
        assert!(matches!(
            parse_all(&[b"{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":-1}"]),
            Err(AckError::InvalidJson { offset: 0, .. })
        ));
        assert!(matches!(
            parse_all(&[b"{\"EventType\":\"RECEIVED\",\"EventType\":\"IDLE\"}"]),
            Err(AckError::InvalidJson { .. })
        ));
    }

    #[test]
    fn finish_reports_truncated_object() {
        let mut parser = AckParser::new();
        parser.push(b"{\"EventType\":\"IDLE\"}\n{\"EventType\"");
        assert!(parser.next_event().unwrap().is_some());
        assert!(parser.next_event().unwrap().is_none());
        assert!(matches!(
            parser.finish(),
            Err(AckError::Truncated {
                offset: 21,
                end: 33
            })
        ));
    }

    #[test]
    fn every_error_id_has_code_display_and_retry_class() {
        let ids: Vec<u32> = AckErrorId::all().map(|id| id.0).collect();
        let expected: Vec<u32> = (4000..=4012)
            .chain(4500..=4507)
            .chain([5000, 5001])
            .collect();
        assert_eq!(ids, expected);
        for id in AckErrorId::all() {
            let code = id.code().unwrap();
            assert!(id.to_string().starts_with(&format!("{} {code} (", id.0)));
        }
        let retryable: Vec<u32> = AckErrorId::all()
            .filter(|i| i.is_retryable())
            .map(|i| i.0)
            .collect();
        assert_eq!(retryable, vec![4000, 4003, 5000, 5001]);
        assert!(AckErrorId(4999).is_retryable());
        assert_eq!(AckErrorId(4999).code(), None);
        assert_eq!(
            AckErrorId(4999).to_string(),
            "4999 (unknown PutMedia error id)"
        );
    }

    #[test]
    fn every_error_id_round_trips_through_the_wire() {
        for id in AckErrorId::all() {
            let ev = AckEvent {
                event_type: AckEventType::Error,
                fragment_timecode: Some(1_700_000_000_000),
                fragment_number: Some("1".into()),
                error_id: Some(id.0),
            };
            assert_eq!(parse_all(&[ev.encode_line().as_bytes()]).unwrap(), vec![ev]);
        }
    }

    fn arb_event() -> impl Strategy<Value = AckEvent> {
        let ty = prop_oneof![
            Just(AckEventType::Buffering),
            Just(AckEventType::Received),
            Just(AckEventType::Persisted),
            Just(AckEventType::Error),
            Just(AckEventType::Idle),
        ];
        (ty, any::<u64>(), "[0-9]{1,48}", 4000u32..5002).prop_map(|(ty, tc, n, id)| match ty {
            AckEventType::Idle => AckEvent {
                event_type: ty,
                fragment_timecode: None,
                fragment_number: None,
                error_id: None,
            },
            AckEventType::Error => AckEvent {
                event_type: ty,
                fragment_timecode: Some(tc),
                fragment_number: Some(n),
                error_id: Some(id),
            },
            _ => AckEvent {
                event_type: ty,
                fragment_timecode: Some(tc),
                fragment_number: Some(n),
                error_id: None,
            },
        })
    }

    proptest! {
        #[test]
        fn parser_handles_any_chunking(
            events in proptest::collection::vec(arb_event(), 0..12),
            seps in proptest::collection::vec("[ \t\r\n]{0,3}", 12),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            let mut body = Vec::new();
            for (ev, sep) in events.iter().zip(seps.iter()) {
                body.extend_from_slice(sep.as_bytes());
                body.extend_from_slice(ev.encode_line().as_bytes());
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
            points.push(0);
            points.push(body.len());
            points.sort_unstable();
            let chunks: Vec<&[u8]> = points.windows(2).map(|w| &body[w[0]..w[1]]).collect();
            prop_assert_eq!(parse_all(&chunks).unwrap(), events);
        }
    }
}
