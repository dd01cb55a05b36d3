//! Fragment headers and end records of format v1: the byte layout, encode and decode together.
//!
//! A header is a *core* (everything the camera authenticates: it is the HPKE `info`, and its
//! hash starts every frame's AAD) followed by one stanza per recipient. The layout is in
//! `docs/FORMAT.md` §Header; every integer is big-endian, every length is bounded before use,
//! and a header must be consumed exactly (no trailing bytes).

use super::frame::FrameCipher;
use super::key::KeyId;
use super::wrap::{ENC_LEN, STANZA_LEN, Stanza, WRAPPED_LEN};

/// The only envelope format version this code reads or writes.
pub const VERSION: u8 = 1;
/// Longest stream name KVS allows (CreateStream `StreamName`: 1–256 characters).
pub const MAX_STREAM_NAME_LEN: usize = 256;
/// Most tracks a header may describe (KVS accepts at most 3; leave room, stay bounded).
pub const MAX_TRACKS: usize = 8;
/// Longest CodecPrivate we carry for one track (HEVC hvcC with parameter sets is ~100–200 B).
pub const MAX_CODEC_PRIVATE_LEN: usize = 1024;
/// Most recipient stanzas a header can encode (the tag budget allows far fewer, see `tags`).
pub const MAX_STANZAS: usize = 255;
/// Length of a producer session id.
pub const SESSION_ID_LEN: usize = 16;
/// Length of a fragment digest.
pub const DIGEST_LEN: usize = 32;

/// A producer session id: 128 random bits drawn when the camera starts streaming.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; SESSION_ID_LEN]);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// What a header is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RecordKind {
    /// Describes one fragment (one cluster) and commits to the previous one.
    Fragment = 1,
    /// Closes a session after a graceful stop; commits to the last fragment; has no frames.
    End = 2,
}

/// A commitment to a finished fragment, carried by the next header (or the end record).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChainLink {
    /// Sequence number of the committed fragment.
    pub seq: u64,
    /// Number of frames the camera sealed in it.
    pub frame_count: u32,
    /// The running digest over its frames (`frame::FragmentDigest`).
    pub digest: [u8; DIGEST_LEN],
}

/// The authenticated part of a header.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HeaderCore {
    /// Fragment header or end record.
    pub kind: RecordKind,
    /// The AEAD of this fragment's frames (an end record names its session's).
    pub cipher: FrameCipher,
    /// KVS stream name the camera writes to (binds fragments to their stream).
    pub stream_name: String,
    /// Key id of the camera's static key (the HPKE sender key).
    pub camera: KeyId,
    /// Producer session.
    pub session: SessionId,
    /// Fragment sequence number within the session, from 0. An end record takes the next one.
    pub seq: u64,
    /// Cluster timecode of the fragment (Matroska TimecodeScale units); for an end record,
    /// the start timecode of the last fragment (0 if none).
    pub start_timecode: u64,
    /// Commitment to fragment `seq - 1`; present exactly when `seq > 0`.
    pub prev: Option<ChainLink>,
    /// Codec data sealed under the codec key (empty for an end record).
    pub sealed_codec: Vec<u8>,
}

/// A whole header: core and recipient stanzas.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// The authenticated core.
    pub core: HeaderCore,
    /// `K` wrapped for each recipient.
    pub stanzas: Vec<Stanza>,
}

/// Codec data of one track, carried encrypted in the header instead of in the clear Tracks.
#[derive(Clone, PartialEq, Debug)]
pub struct TrackCodecData {
    /// Matroska TrackNumber.
    pub track_number: u64,
    /// The CodecPrivate bytes (e.g. H.264 avcC, HEVC hvcC, AAC AudioSpecificConfig).
    pub codec_private: Vec<u8>,
    /// Video pixel width and height.
    pub video: Option<(u32, u32)>,
    /// Audio sampling frequency (Hz) and channel count.
    pub audio: Option<(f64, u64)>,
}

/// Why a header (or codec data) could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The input ended inside a field.
    #[error("header truncated at byte {offset} reading {field}")]
    Truncated {
        /// Byte offset where the field starts.
        offset: usize,
        /// Field being read.
        field: &'static str,
    },
    /// The version byte is not one this code understands.
    #[error("unknown envelope version {version}")]
    UnknownVersion {
        /// Version byte found.
        version: u8,
    },
    /// A field holds a value outside its allowed range.
    #[error("invalid {field} at byte {offset}: {why}")]
    Invalid {
        /// Byte offset of the field.
        offset: usize,
        /// Field name.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Bytes remain after the last field.
    #[error("{count} trailing bytes after the header at byte {offset}")]
    Trailing {
        /// Offset of the first unexpected byte.
        offset: usize,
        /// How many bytes remain.
        count: usize,
    },
    /// A value is too large to encode.
    #[error("cannot encode {field}: {len} exceeds the limit {max}")]
    TooLarge {
        /// Field name.
        field: &'static str,
        /// Its length or count.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A bounds-checked cursor over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], HeaderError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(HeaderError::Truncated {
                offset: self.pos,
                field,
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], HeaderError> {
        let s = self.take(N, field)?;
        Ok(s.try_into().expect("take returned exactly N bytes"))
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, HeaderError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, HeaderError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, HeaderError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, HeaderError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn invalid(&self, field: &'static str, why: &'static str) -> HeaderError {
        HeaderError::Invalid {
            offset: self.pos,
            field,
            why,
        }
    }

    fn finish(&self) -> Result<(), HeaderError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(HeaderError::Trailing {
                offset: self.pos,
                count: self.buf.len() - self.pos,
            })
        }
    }
}

impl HeaderCore {
    /// The bytes before the codec-data length: the AAD of the sealed codec data.
    pub fn encode_prefix(&self) -> Result<Vec<u8>, HeaderError> {
        let name = self.stream_name.as_bytes();
        if name.is_empty() || name.len() > MAX_STREAM_NAME_LEN {
            return Err(HeaderError::TooLarge {
                field: "stream name",
                len: name.len(),
                max: MAX_STREAM_NAME_LEN,
            });
        }
        let mut out = Vec::with_capacity(128 + name.len() + self.sealed_codec.len());
        out.push(VERSION);
        out.push(self.kind as u8);
        out.push(self.cipher.id());
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&self.camera.to_bytes());
        out.extend_from_slice(&self.session.0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.start_timecode.to_be_bytes());
        match (self.seq, &self.prev) {
            (0, None) => {}
            (s, Some(p)) if s > 0 && p.seq == s - 1 => {
                out.extend_from_slice(&p.seq.to_be_bytes());
                out.extend_from_slice(&p.frame_count.to_be_bytes());
                out.extend_from_slice(&p.digest);
            }
            _ => {
                return Err(HeaderError::Invalid {
                    offset: out.len(),
                    field: "previous fragment",
                    why: "present exactly when seq > 0, and must name seq - 1",
                });
            }
        }
        Ok(out)
    }

    /// The full core bytes: the HPKE `info` payload and the input of the header hash.
    pub fn encode(&self) -> Result<Vec<u8>, HeaderError> {
        let mut out = self.encode_prefix()?;
        let len = u16::try_from(self.sealed_codec.len()).map_err(|_| HeaderError::TooLarge {
            field: "codec data",
            len: self.sealed_codec.len(),
            max: u16::MAX as usize,
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.sealed_codec);
        Ok(out)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, HeaderError> {
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(HeaderError::UnknownVersion { version });
        }
        let kind = match r.u8("kind")? {
            1 => RecordKind::Fragment,
            2 => RecordKind::End,
            _ => return Err(r.invalid("kind", "neither fragment (1) nor end (2)")),
        };
        let cipher = FrameCipher::from_id(r.u8("frame cipher")?).ok_or_else(|| {
            r.invalid(
                "frame cipher",
                "neither ChaCha20-Poly1305 (1) nor AES-256-GCM (2)",
            )
        })?;
        let name_len = r.u16("stream name length")? as usize;
        if name_len == 0 || name_len > MAX_STREAM_NAME_LEN {
            return Err(r.invalid("stream name length", "must be 1..=256"));
        }
        let name = r.take(name_len, "stream name")?;
        let stream_name = std::str::from_utf8(name)
            .map_err(|_| r.invalid("stream name", "not UTF-8"))?
            .to_owned();
        let camera = KeyId::from_bytes(r.array("camera key id")?);
        let session = SessionId(r.array("session id")?);
        let seq = r.u64("sequence number")?;
        let start_timecode = r.u64("start timecode")?;
        let prev = if seq == 0 {
            None
        } else {
            let p = ChainLink {
                seq: r.u64("previous sequence number")?,
                frame_count: r.u32("previous frame count")?,
                digest: r.array("previous digest")?,
            };
            if p.seq != seq - 1 {
                return Err(r.invalid("previous sequence number", "must be seq - 1"));
            }
            Some(p)
        };
        let codec_len = r.u16("codec data length")? as usize;
        let sealed_codec = r.take(codec_len, "codec data")?.to_vec();
        if kind == RecordKind::End && !sealed_codec.is_empty() {
            return Err(r.invalid("codec data", "an end record carries none"));
        }
        Ok(Self {
            kind,
            cipher,
            stream_name,
            camera,
            session,
            seq,
            start_timecode,
            prev,
            sealed_codec,
        })
    }
}

impl Header {
    /// Encodes core and stanzas; returns the bytes and the length of the core within them.
    pub fn encode(&self) -> Result<(Vec<u8>, usize), HeaderError> {
        let mut out = self.core.encode()?;
        let core_len = out.len();
        if self.stanzas.len() > MAX_STANZAS {
            return Err(HeaderError::TooLarge {
                field: "recipient stanzas",
                len: self.stanzas.len(),
                max: MAX_STANZAS,
            });
        }
        out.push(self.stanzas.len() as u8);
        for s in &self.stanzas {
            out.extend_from_slice(&s.key_id.to_bytes());
            out.extend_from_slice(&s.enc);
            out.extend_from_slice(&s.wrapped);
        }
        Ok((out, core_len))
    }

    /// Decodes a header; returns it and the length of its core (the bytes authenticated).
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), HeaderError> {
        let mut r = Reader::new(bytes);
        let core = HeaderCore::decode(&mut r)?;
        let core_len = r.pos;
        let n = r.u8("recipient count")? as usize;
        if n == 0 {
            return Err(r.invalid("recipient count", "a header needs at least one recipient"));
        }
        // Bound before allocating: n stanzas must fit in what is left.
        if n * STANZA_LEN > bytes.len() - r.pos {
            return Err(HeaderError::Truncated {
                offset: r.pos,
                field: "recipient stanzas",
            });
        }
        let mut stanzas = Vec::with_capacity(n);
        for _ in 0..n {
            stanzas.push(Stanza {
                key_id: KeyId::from_bytes(r.array("stanza key id")?),
                enc: r.array::<ENC_LEN>("stanza enc")?,
                wrapped: r.array::<WRAPPED_LEN>("stanza wrapped key")?,
            });
        }
        r.finish()?;
        Ok((Self { core, stanzas }, core_len))
    }
}

/// Encodes the plaintext codec data of all tracks (FORMAT.md §Codec data).
pub fn encode_codec(tracks: &[TrackCodecData]) -> Result<Vec<u8>, HeaderError> {
    if tracks.is_empty() || tracks.len() > MAX_TRACKS {
        return Err(HeaderError::TooLarge {
            field: "tracks",
            len: tracks.len(),
            max: MAX_TRACKS,
        });
    }
    let mut out = Vec::with_capacity(64);
    out.push(tracks.len() as u8);
    for t in tracks {
        if t.codec_private.len() > MAX_CODEC_PRIVATE_LEN {
            return Err(HeaderError::TooLarge {
                field: "CodecPrivate",
                len: t.codec_private.len(),
                max: MAX_CODEC_PRIVATE_LEN,
            });
        }
        out.extend_from_slice(&t.track_number.to_be_bytes());
        let flags = u8::from(t.video.is_some()) | (u8::from(t.audio.is_some()) << 1);
        out.push(flags);
        if let Some((w, h)) = t.video {
            out.extend_from_slice(&w.to_be_bytes());
            out.extend_from_slice(&h.to_be_bytes());
        }
        if let Some((rate, channels)) = t.audio {
            out.extend_from_slice(&rate.to_bits().to_be_bytes());
            out.extend_from_slice(&channels.to_be_bytes());
        }
        out.extend_from_slice(&(t.codec_private.len() as u16).to_be_bytes());
        out.extend_from_slice(&t.codec_private);
    }
    Ok(out)
}

/// Decodes codec data (after it was authenticated and decrypted).
pub fn decode_codec(bytes: &[u8]) -> Result<Vec<TrackCodecData>, HeaderError> {
    let mut r = Reader::new(bytes);
    let n = r.u8("track count")? as usize;
    if n == 0 || n > MAX_TRACKS {
        return Err(r.invalid("track count", "must be 1..=8"));
    }
    let mut tracks = Vec::with_capacity(n);
    for _ in 0..n {
        let track_number = r.u64("track number")?;
        let flags = r.u8("track flags")?;
        if flags & !0b11 != 0 {
            return Err(r.invalid("track flags", "unknown bits set"));
        }
        let video = if flags & 1 != 0 {
            Some((r.u32("pixel width")?, r.u32("pixel height")?))
        } else {
            None
        };
        let audio = if flags & 2 != 0 {
            Some((
                f64::from_bits(r.u64("sampling frequency")?),
                r.u64("channels")?,
            ))
        } else {
            None
        };
        let cp_len = r.u16("CodecPrivate length")? as usize;
        if cp_len > MAX_CODEC_PRIVATE_LEN {
            return Err(r.invalid("CodecPrivate length", "over 1024 bytes"));
        }
        let codec_private = r.take(cp_len, "CodecPrivate")?.to_vec();
        tracks.push(TrackCodecData {
            track_number,
            codec_private,
            video,
            audio,
        });
    }
    r.finish()?;
    Ok(tracks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            core: HeaderCore {
                kind: RecordKind::Fragment,
                cipher: FrameCipher::ChaCha20Poly1305,
                stream_name: "cam-1".into(),
                camera: KeyId::from_bytes([7; 8]),
                session: SessionId([9; 16]),
                seq: 3,
                start_timecode: 1_700_000_000_000,
                prev: Some(ChainLink {
                    seq: 2,
                    frame_count: 60,
                    digest: [4; 32],
                }),
                sealed_codec: vec![1, 2, 3],
            },
            stanzas: vec![Stanza {
                key_id: KeyId::from_bytes([1; 8]),
                enc: [2; ENC_LEN],
                wrapped: [3; WRAPPED_LEN],
            }],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = sample();
        let (bytes, core_len) = h.encode().expect("encodes");
        let (back, back_core_len) = Header::decode(&bytes).expect("decodes");
        assert_eq!(back, h);
        assert_eq!(core_len, back_core_len);
        assert_eq!(
            &bytes[..core_len],
            h.core.encode().expect("core").as_slice()
        );
    }

    #[test]
    fn decode_rejects_every_truncation_and_trailing_bytes() {
        let (bytes, _) = sample().encode().expect("encodes");
        for n in 0..bytes.len() {
            assert!(Header::decode(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            Header::decode(&long),
            Err(HeaderError::Trailing { .. })
        ));
    }

    #[test]
    fn decode_rejects_unknown_version() {
        let (mut bytes, _) = sample().encode().expect("encodes");
        bytes[0] = 2;
        assert!(matches!(
            Header::decode(&bytes),
            Err(HeaderError::UnknownVersion { version: 2 })
        ));
    }

    #[test]
    fn frame_cipher_round_trips_and_unknown_ids_are_refused() {
        for cipher in FrameCipher::ALL {
            let mut h = sample();
            h.core.cipher = cipher;
            let (bytes, _) = h.encode().expect("encodes");
            assert_eq!(bytes[2], cipher.id());
            assert_eq!(
                Header::decode(&bytes).expect("decodes").0.core.cipher,
                cipher
            );
        }
        for id in [0u8, 3, 0xff] {
            let (mut bytes, _) = sample().encode().expect("encodes");
            bytes[2] = id;
            assert!(
                matches!(
                    Header::decode(&bytes),
                    Err(HeaderError::Invalid {
                        field: "frame cipher",
                        ..
                    })
                ),
                "cipher id {id} must be refused"
            );
        }
    }

    #[test]
    fn decode_rejects_huge_stanza_count_without_allocating() {
        let (mut bytes, core_len) = sample().encode().expect("encodes");
        bytes.truncate(core_len);
        bytes.push(255);
        assert!(matches!(
            Header::decode(&bytes),
            Err(HeaderError::Truncated { .. })
        ));
    }

    #[test]
    fn codec_data_round_trips() {
        let tracks = vec![
            TrackCodecData {
                track_number: 1,
                codec_private: vec![1, 0x64, 0, 0x1f],
                video: Some((1920, 1080)),
                audio: None,
            },
            TrackCodecData {
                track_number: 2,
                codec_private: vec![0x12, 0x10],
                video: None,
                audio: Some((48000.0, 2)),
            },
        ];
        let bytes = encode_codec(&tracks).expect("encodes");
        assert_eq!(decode_codec(&bytes).expect("decodes"), tracks);
        for n in 0..bytes.len() {
            assert!(decode_codec(&bytes[..n]).is_err());
        }
    }
}
