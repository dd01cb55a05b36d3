//! The producer side: one [`SessionSealer`] per camera streaming session.
//!
//! Per fragment it draws a fresh content key `K`, seals the codec data under it, wraps it
//! for every recipient (HPKE Auth with the camera key), turns the header into KVS tags and
//! then encrypts each frame in place. `K` itself is zeroized as soon as the frame key and
//! the wraps are derived from it.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::CryptoRng;

use super::frame::{FragmentDigest, FrameCipher, FrameKey, FrameMeta, FramePosition, TAG_LEN};
use super::header::{
    ChainLink, Header, HeaderCore, HeaderError, MAX_STANZAS, RecordKind, SessionId, TrackCodecData,
    encode_codec,
};
use super::kdf::{self, CODEC_KEY_LABEL, ContentKey, KEY_LEN};
use super::key::{KeyId, PublicKey, SecretKey};
use super::tags::{self, MAX_HEADER_BYTES, TagError};
use super::wrap::{STANZA_LEN, SenderKeys, WRAP_EPOCH_HEADERS, WrapContext, WrapError};

/// A tag as written to KVS: (TagName, TagString).
pub type Tag = (String, String);

/// Everything a camera needs to start a session.
pub struct SessionConfig {
    /// KVS stream name (bound into every header).
    pub stream_name: String,
    /// The camera's static X25519 key (the HPKE sender key).
    pub camera: SecretKey,
    /// Viewers' public keys: every fragment's key is wrapped for each.
    pub recipients: Vec<PublicKey>,
    /// Codec data of each track, carried encrypted instead of in the clear Tracks element.
    pub tracks: Vec<TrackCodecData>,
    /// The AEAD for frames (named in every header; a camera picks
    /// [`FrameCipher::fastest_here`] unless told otherwise).
    pub frame_cipher: FrameCipher,
}

/// Why sealing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The recipient list is empty: nobody could read the stream.
    #[error("no recipients: add at least one viewer public key")]
    NoRecipients,
    /// More recipients than one header's tag budget can carry.
    #[error(
        "{count} recipients do not fit in one fragment header; at most {max} fit with this stream name and codec data"
    )]
    TooManyRecipients {
        /// Recipients requested.
        count: usize,
        /// Most that fit.
        max: usize,
    },
    /// The header could not be encoded (stream name or codec data out of bounds).
    #[error("fragment header: {0}")]
    Header(#[from] HeaderError),
    /// The header does not fit in KVS tags.
    #[error("fragment tags: {0}")]
    Tags(#[from] TagError),
    /// Wrapping the fragment key for a recipient failed.
    #[error("key wrap: {0}")]
    Wrap(#[from] WrapError),
    /// `seal_frame` was called before `begin_fragment`.
    #[error("no fragment started: call begin_fragment before sealing frames")]
    NoFragment,
    /// Fragment start timecodes must strictly increase (a reader matches clusters by them).
    #[error("fragment start timecode {got} is not after the previous one ({previous})")]
    TimecodeNotIncreasing {
        /// Previous fragment's start timecode.
        previous: u64,
        /// Timecode given.
        got: u64,
    },
    /// A fragment reached 2^32 frames (the frame index is 32 bits).
    #[error("fragment {seq} is full (2^32 frames)")]
    FragmentFull {
        /// Fragment sequence number.
        seq: u64,
    },
    /// The session was finished; start a new one.
    #[error("session already finished")]
    Finished,
}

/// A buffer a frame can be sealed in (grows by the 16-byte tag) or opened in (shrinks).
pub trait FrameBuffer: AsMut<[u8]> + AsRef<[u8]> {
    /// Appends bytes.
    fn append(&mut self, bytes: &[u8]);
    /// Shortens to `len` bytes.
    fn truncate_to(&mut self, len: usize);
}

impl FrameBuffer for Vec<u8> {
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

impl FrameBuffer for bytes::BytesMut {
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

struct SealingFragment {
    seq: u64,
    start_timecode: u64,
    tags: Vec<Tag>,
    key: FrameKey,
    digest: FragmentDigest,
}

/// The camera side of one session (see the module docs of [`super`] for the call order).
pub struct SessionSealer {
    stream_name: String,
    camera_id: KeyId,
    sender: SenderKeys,
    cipher: FrameCipher,
    recipients: Vec<PublicKey>,
    /// One HPKE context per recipient for the current wrap epoch (empty: encapsulate anew
    /// before the next header).
    wraps: Vec<WrapContext>,
    /// Headers wrapped under `wraps` so far.
    epoch_headers: u64,
    codec_plain: Vec<u8>,
    max_recipients: usize,
    session: SessionId,
    next_seq: u64,
    current: Option<SealingFragment>,
    finished: bool,
}

/// Seals the codec data under `K` (key label [`CODEC_KEY_LABEL`], nonce 0: one message per key).
fn seal_codec(content_key: &[u8; KEY_LEN], plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let key = kdf::derive(content_key, CODEC_KEY_LABEL);
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let mut buf = Vec::with_capacity(plain.len() + TAG_LEN);
    buf.extend_from_slice(plain);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::default(), aad, buf.as_mut_slice().into())
        .expect("codec data is far below the ChaCha20-Poly1305 length limit");
    buf.extend_from_slice(&tag);
    buf
}

impl SessionSealer {
    /// Starts a session with a random session id drawn from `rng`.
    pub fn new<R: CryptoRng + ?Sized>(
        config: SessionConfig,
        rng: &mut R,
    ) -> Result<Self, SealError> {
        let codec_plain = encode_codec(&config.tracks)?;
        let mut session = SessionId([0; 16]);
        rng.fill_bytes(&mut session.0);
        let mut s = Self {
            camera_id: config.camera.key_id(),
            sender: SenderKeys::new(&config.camera),
            cipher: config.frame_cipher,
            stream_name: config.stream_name,
            recipients: Vec::new(),
            wraps: Vec::new(),
            epoch_headers: 0,
            codec_plain,
            max_recipients: 0,
            session,
            next_seq: 0,
            current: None,
            finished: false,
        };
        s.max_recipients = s.compute_max_recipients()?;
        s.set_recipients(config.recipients)?;
        Ok(s)
    }

    /// Largest recipient count whose fragment header fits in [`tags::MAX_TAGS_PER_HEADER`] tags.
    fn compute_max_recipients(&self) -> Result<usize, SealError> {
        let worst = HeaderCore {
            kind: RecordKind::Fragment,
            cipher: self.cipher,
            stream_name: self.stream_name.clone(),
            camera: self.camera_id,
            session: self.session,
            seq: 1,
            start_timecode: 0,
            prev: Some(ChainLink {
                seq: 0,
                frame_count: 0,
                digest: [0; 32],
            }),
            sealed_codec: vec![0; self.codec_plain.len() + TAG_LEN],
        };
        let core_len = worst.encode()?.len();
        let room = MAX_HEADER_BYTES.saturating_sub(core_len + 1);
        Ok((room / STANZA_LEN).min(MAX_STANZAS))
    }

    /// Replaces the recipient list; takes effect at the next `begin_fragment` (revocation).
    pub fn set_recipients(&mut self, recipients: Vec<PublicKey>) -> Result<(), SealError> {
        if recipients.is_empty() {
            return Err(SealError::NoRecipients);
        }
        if recipients.len() > self.max_recipients {
            return Err(SealError::TooManyRecipients {
                count: recipients.len(),
                max: self.max_recipients,
            });
        }
        self.recipients = recipients;
        // A new epoch: a removed viewer's context is gone, a new viewer gets one.
        self.wraps.clear();
        Ok(())
    }

    /// Starts a new wrap epoch (one HPKE encapsulation per recipient) when there is none or
    /// the current one has wrapped [`WRAP_EPOCH_HEADERS`] headers.
    fn ensure_wraps<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<(), SealError> {
        if !self.wraps.is_empty() && self.epoch_headers < WRAP_EPOCH_HEADERS {
            return Ok(());
        }
        let info = kdf::wrap_info(&self.stream_name, &self.camera_id, &self.session);
        self.wraps = self
            .recipients
            .iter()
            .map(|r| WrapContext::new(&self.sender, r, &info, &mut *rng))
            .collect::<Result<_, _>>()?;
        self.epoch_headers = 0;
        Ok(())
    }

    /// Most recipients a fragment of this session can carry (depends on stream name and codec data).
    pub fn max_recipients(&self) -> usize {
        self.max_recipients
    }

    /// This session's id.
    pub fn session_id(&self) -> SessionId {
        self.session
    }

    /// Sequence number of the fragment being sealed, if any.
    pub fn current_seq(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.seq)
    }

    /// Builds, wraps and tags one header; returns its tags and frame key.
    fn build<R: CryptoRng + ?Sized>(
        &mut self,
        kind: RecordKind,
        seq: u64,
        start_timecode: u64,
        prev: Option<ChainLink>,
        rng: &mut R,
    ) -> Result<(Vec<Tag>, FrameKey), SealError> {
        self.ensure_wraps(rng)?;
        let mut content_key = ContentKey::new([0; KEY_LEN]);
        rng.fill_bytes(content_key.as_mut_slice());
        let mut core = HeaderCore {
            kind,
            cipher: self.cipher,
            stream_name: self.stream_name.clone(),
            camera: self.camera_id,
            session: self.session,
            seq,
            start_timecode,
            prev,
            sealed_codec: Vec::new(),
        };
        if kind == RecordKind::Fragment {
            let aad = core.encode_prefix()?;
            core.sealed_codec = seal_codec(&content_key, &self.codec_plain, &aad);
        }
        let core_bytes = core.encode()?;
        let header_hash = kdf::header_hash(&core_bytes);
        let stanzas = self
            .wraps
            .iter()
            .map(|w| w.wrap(&header_hash, &content_key))
            .collect::<Result<Vec<_>, _>>()?;
        let (bytes, _) = Header { core, stanzas }.encode()?;
        let tags = tags::encode_header(seq, &bytes)?;
        self.epoch_headers += 1;
        let key = FrameKey::new(&content_key, header_hash, self.cipher);
        Ok((tags, key))
    }

    /// Closes the current fragment (if any) and starts the next one at `cluster_timecode`.
    ///
    /// Returns the tags to write as one `Tags` element right before the cluster: the
    /// previous fragment's header again (a reader starting at that fragment finds it in the
    /// fragment's own GetMedia segment) followed by this fragment's header.
    pub fn begin_fragment<R: CryptoRng + ?Sized>(
        &mut self,
        cluster_timecode: u64,
        rng: &mut R,
    ) -> Result<Vec<Tag>, SealError> {
        if self.finished {
            return Err(SealError::Finished);
        }
        if let Some(c) = &self.current
            && cluster_timecode <= c.start_timecode
        {
            return Err(SealError::TimecodeNotIncreasing {
                previous: c.start_timecode,
                got: cluster_timecode,
            });
        }
        let prev = self.current.as_ref().map(|c| ChainLink {
            seq: c.seq,
            frame_count: c.digest.count(),
            digest: c.digest.finalize(),
        });
        let seq = self.next_seq;
        let (new_tags, key) = self.build(RecordKind::Fragment, seq, cluster_timecode, prev, rng)?;
        let mut out = self.current.take().map(|c| c.tags).unwrap_or_default();
        out.extend(new_tags.iter().cloned());
        let digest = FragmentDigest::new(key.header_hash());
        self.current = Some(SealingFragment {
            seq,
            start_timecode: cluster_timecode,
            tags: new_tags,
            key,
            digest,
        });
        self.next_seq += 1;
        Ok(out)
    }

    /// Encrypts one frame in place and appends its 16-byte tag (the SimpleBlock payload is
    /// `ciphertext ‖ tag`). `meta.timecode` is absolute (cluster timecode + block offset).
    pub fn seal_frame<B: FrameBuffer + ?Sized>(
        &mut self,
        meta: &FrameMeta,
        buf: &mut B,
    ) -> Result<(), SealError> {
        let tag = self.seal_frame_detached(meta, buf.as_mut())?;
        buf.append(&tag);
        Ok(())
    }

    /// Encrypts one frame in place and returns its tag (for callers that place it themselves).
    pub fn seal_frame_detached(
        &mut self,
        meta: &FrameMeta,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealError> {
        let c = self.current.as_mut().ok_or(if self.finished {
            SealError::Finished
        } else {
            SealError::NoFragment
        })?;
        if c.digest.count() == u32::MAX {
            return Err(SealError::FragmentFull { seq: c.seq });
        }
        let position = FramePosition {
            meta: *meta,
            index: c.digest.count(),
        };
        let tag = c.key.seal_in_place(&position, buf);
        c.digest.update(&position, &tag);
        Ok(tag)
    }

    /// Graceful stop: returns the tags to write after the last cluster — the last fragment's
    /// header again and an end record committing to it — and ends the session.
    pub fn finish<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Vec<Tag>, SealError> {
        if self.finished {
            return Err(SealError::Finished);
        }
        let prev = self.current.as_ref().map(|c| ChainLink {
            seq: c.seq,
            frame_count: c.digest.count(),
            digest: c.digest.finalize(),
        });
        let start = self.current.as_ref().map_or(0, |c| c.start_timecode);
        let (end_tags, _) = self.build(RecordKind::End, self.next_seq, start, prev, rng)?;
        let mut out = self.current.take().map(|c| c.tags).unwrap_or_default();
        out.extend(end_tags);
        self.finished = true;
        Ok(out)
    }
}
