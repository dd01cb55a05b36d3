//! The viewer side: [`FragmentOpener`] verifies headers from KVS tags and opens frames.
//!
//! It never releases a byte that has not authenticated: headers are accepted only after the
//! HPKE Auth unwrap (which authenticates the whole header core and the camera) and each frame
//! only after its Poly1305 tag verifies. Completeness verdicts come from [`ChainVerifier`].

use std::collections::VecDeque;
use std::sync::Arc;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};

use super::chain::{ChainEvent, ChainVerifier, Disposition, EndLink, LinkInfo};
use super::frame::{FragmentDigest, FrameCipher, FrameKey, FrameMeta, FramePosition, TAG_LEN};
use super::header::{
    ChainLink, Header, HeaderCore, HeaderError, RecordKind, SessionId, TrackCodecData, decode_codec,
};
use super::kdf::{self, CODEC_KEY_LABEL, KEY_LEN};
use super::key::{KeyId, PublicKey, SecretKey};
use super::seal::Tag as KvsTag;
use super::tags::{self, TagError};
use super::wrap::{self, Stanza, UnwrapContext};

/// Verified headers kept for matching clusters (live look-ahead, archive, reconnect re-sends).
const HEADER_CACHE: usize = 16;

/// What a viewer needs.
pub struct OpenerConfig {
    /// The KVS stream being read; headers naming another stream are refused.
    pub stream_name: String,
    /// The viewer's secret keys, all generations still in use.
    pub identities: Vec<SecretKey>,
    /// Cameras whose fragments are accepted.
    pub trusted_cameras: Vec<PublicKey>,
    /// Accept clusters without an e2ee header and release them as they are. Dangerous: an
    /// attacker with write access to the stream could inject any video.
    pub danger_accept_plaintext: bool,
}

/// Why a header or frame was refused. Every authentication failure is the opaque
/// [`OpenError::Tampered`], which says where, not why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// An envelope tag or header of a format version this viewer does not understand.
    #[error("unknown envelope version ({detail}): upgrade the viewer")]
    UnknownVersion {
        /// What was found.
        detail: String,
    },
    /// Envelope tags or a header that do not follow the format.
    #[error("malformed envelope header (fragment {seq:?}): {detail}")]
    Malformed {
        /// Sequence number from the tag names, if known.
        seq: Option<u64>,
        /// What is wrong.
        detail: String,
    },
    /// The header belongs to another stream (spliced from another stream).
    #[error("fragment {seq} was sealed for stream {found:?}, not {expected:?}")]
    WrongStream {
        /// Fragment sequence number.
        seq: u64,
        /// Our stream.
        expected: String,
        /// The header's stream.
        found: String,
    },
    /// The header names a camera that is not in the trusted list.
    #[error("fragment {seq} comes from camera {camera}, which is not trusted")]
    UntrustedCamera {
        /// Fragment sequence number.
        seq: u64,
        /// The camera's key id.
        camera: KeyId,
    },
    /// None of our identities is a recipient of this fragment (e.g. the viewer was revoked).
    #[error("fragment {seq} is not encrypted to any of our keys (recipients: {recipients:?})")]
    NotARecipient {
        /// Fragment sequence number.
        seq: u64,
        /// Key ids it was encrypted to.
        recipients: Vec<KeyId>,
    },
    /// A header or frame failed to authenticate.
    #[error("fragment {seq} {}: authentication failed", match .frame { Some(i) => format!("frame {i}"), None => "header".to_owned() })]
    Tampered {
        /// Fragment sequence number.
        seq: u64,
        /// Frame index within the fragment (None: the header).
        frame: Option<u32>,
    },
    /// A cluster arrived without a valid e2ee header (downgrade attempt or misconfiguration).
    #[error("cluster at timecode {timecode} has no valid e2ee header: refusing unencrypted data")]
    Unencrypted {
        /// Cluster timecode.
        timecode: u64,
    },
    /// `open_frame` was called outside a fragment.
    #[error("no fragment begun: call begin_fragment first")]
    NoFragment,
}

impl From<TagError> for OpenError {
    fn from(e: TagError) -> Self {
        match e {
            TagError::UnknownVersion { name, version } => OpenError::UnknownVersion {
                detail: format!("tag {name:?}, version {version:?}"),
            },
            other => OpenError::Malformed {
                seq: None,
                detail: other.to_string(),
            },
        }
    }
}

fn header_error(seq: u64, e: HeaderError) -> OpenError {
    match e {
        HeaderError::UnknownVersion { version } => OpenError::UnknownVersion {
            detail: format!("header byte {version}"),
        },
        other => OpenError::Malformed {
            seq: Some(seq),
            detail: other.to_string(),
        },
    }
}

/// A fragment header that authenticated.
#[derive(Clone, PartialEq, Debug)]
pub struct FragmentInfo {
    /// Producer session.
    pub session: SessionId,
    /// Fragment sequence number.
    pub seq: u64,
    /// Camera key id (a trusted camera).
    pub camera: KeyId,
    /// Cluster timecode the header belongs to.
    pub start_timecode: u64,
    /// The AEAD of the fragment's frames (authenticated with the header).
    pub cipher: FrameCipher,
    /// Decrypted codec data, to restore CodecPrivate and video/audio settings.
    pub tracks: Vec<TrackCodecData>,
}

/// What a `Tags` element contained.
#[derive(Clone, PartialEq, Debug)]
#[non_exhaustive]
pub enum TagEvent {
    /// A new fragment header authenticated (cached until its cluster is begun).
    HeaderVerified(FragmentInfo),
    /// A header seen before came again (the by-design repeat, or a re-send): ignored.
    HeaderRepeated {
        /// Its sequence number.
        seq: u64,
    },
    /// An authenticated end record: the camera stopped gracefully.
    EndOfSession {
        /// Session it closes.
        session: SessionId,
        /// Last fragment's sequence number.
        last_seq: Option<u64>,
    },
    /// A completeness verdict triggered by an end record.
    Chain(ChainEvent),
}

struct Verified {
    bytes: Vec<u8>,
    info: FragmentInfo,
    link: LinkInfo,
    key: FrameKey,
}

enum Current {
    Sealed {
        header: Arc<Verified>,
        digest: FragmentDigest,
        disposition: Disposition,
    },
    Plaintext,
}

/// How a fragment starts.
#[derive(Clone, PartialEq, Debug)]
pub struct FragmentStart {
    /// The fragment's header (None for a `danger_accept_plaintext` cluster).
    pub info: Option<FragmentInfo>,
    /// Completeness verdicts (report the alarms).
    pub events: Vec<ChainEvent>,
    /// Whether its frames will be released (`Drop` for duplicates and replays).
    pub disposition: Disposition,
}

/// The viewer side of the envelope (see the module docs of [`super`] for the call order).
pub struct FragmentOpener {
    config: OpenerConfig,
    identity_ids: Vec<KeyId>,
    cache: VecDeque<Arc<Verified>>,
    ends: VecDeque<Vec<u8>>,
    current: Option<Current>,
    chain: ChainVerifier,
    /// HPKE contexts that opened a stanza, newest last: one per camera session, recipient
    /// epoch and identity, so a header of a known epoch costs no X25519 operation.
    wraps: VecDeque<CachedWrap>,
}

/// Most wrap contexts a viewer keeps (a few cameras × identities × epochs).
const WRAP_CACHE: usize = 32;

struct CachedWrap {
    identity: usize,
    camera: KeyId,
    session: SessionId,
    enc: [u8; wrap::ENC_LEN],
    ctx: UnwrapContext,
}

impl FragmentOpener {
    /// A viewer for one stream.
    pub fn new(config: OpenerConfig) -> Self {
        let identity_ids = config.identities.iter().map(SecretKey::key_id).collect();
        Self {
            config,
            identity_ids,
            cache: VecDeque::new(),
            ends: VecDeque::new(),
            current: None,
            chain: ChainVerifier::new(),
            wraps: VecDeque::new(),
        }
    }

    /// Reads the envelope headers in one `Tags` element (other tags are ignored).
    ///
    /// Every header in the element is processed; those that authenticate are cached even if
    /// another fails, and the first failure is returned.
    pub fn on_tags(&mut self, tags: &[KvsTag]) -> Result<Vec<TagEvent>, OpenError> {
        let mut events = Vec::new();
        let mut first_err = None;
        for blob in tags::decode_tags(tags)? {
            let result = blob
                .map_err(OpenError::from)
                .and_then(|b| self.on_header(b.seq, b.bytes, &mut events));
            if let Err(e) = result {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(events),
        }
    }

    fn on_header(
        &mut self,
        seq: u64,
        bytes: Vec<u8>,
        events: &mut Vec<TagEvent>,
    ) -> Result<(), OpenError> {
        if let Some(v) = self.cache.iter().find(|v| v.bytes == bytes) {
            events.push(TagEvent::HeaderRepeated { seq: v.info.seq });
            return Ok(());
        }
        if self.ends.contains(&bytes) {
            return Ok(());
        }
        let (header, core_len) = Header::decode(&bytes).map_err(|e| header_error(seq, e))?;
        let core = &header.core;
        if core.seq != seq {
            return Err(OpenError::Malformed {
                seq: Some(seq),
                detail: format!("tag names say fragment {seq}, header says {}", core.seq),
            });
        }
        if core.stream_name != self.config.stream_name {
            return Err(OpenError::WrongStream {
                seq,
                expected: self.config.stream_name.clone(),
                found: core.stream_name.clone(),
            });
        }
        let camera = *self
            .config
            .trusted_cameras
            .iter()
            .find(|c| c.key_id() == core.camera)
            .ok_or(OpenError::UntrustedCamera {
                seq,
                camera: core.camera,
            })?;
        let core_bytes = &bytes[..core_len];
        let header_hash = kdf::header_hash(core_bytes);
        let content_key = self.unwrap(seq, &camera, core, &header_hash, &header.stanzas)?;
        match core.kind {
            RecordKind::End => {
                let end = EndLink {
                    session: core.session,
                    header_hash,
                    prev: core.prev,
                };
                events.push(TagEvent::EndOfSession {
                    session: core.session,
                    last_seq: core.prev.map(|p: ChainLink| p.seq),
                });
                events.extend(self.chain.end_record(end).into_iter().map(TagEvent::Chain));
                if self.ends.len() == 4 {
                    self.ends.pop_front();
                }
                self.ends.push_back(bytes);
            }
            RecordKind::Fragment => {
                let tracks = open_codec(&content_key, core_bytes, &core.sealed_codec)
                    .ok_or(OpenError::Tampered { seq, frame: None })?;
                let tracks = decode_codec(&tracks).map_err(|e| header_error(seq, e))?;
                let info = FragmentInfo {
                    session: core.session,
                    seq,
                    camera: core.camera,
                    start_timecode: core.start_timecode,
                    cipher: core.cipher,
                    tracks,
                };
                let link = LinkInfo {
                    session: core.session,
                    camera: core.camera,
                    seq,
                    header_hash,
                    prev: core.prev,
                };
                events.push(TagEvent::HeaderVerified(info.clone()));
                if self.cache.len() == HEADER_CACHE {
                    self.cache.pop_front();
                }
                self.cache.push_back(Arc::new(Verified {
                    bytes,
                    info,
                    link,
                    key: FrameKey::new(&content_key, header_hash, core.cipher),
                }));
            }
        }
        Ok(())
    }

    fn unwrap(
        &mut self,
        seq: u64,
        camera: &PublicKey,
        core: &HeaderCore,
        header_hash: &[u8; 32],
        stanzas: &[Stanza],
    ) -> Result<kdf::ContentKey, OpenError> {
        let mut matched = false;
        for stanza in stanzas {
            for identity in 0..self.identity_ids.len() {
                if self.identity_ids[identity] != stanza.key_id {
                    continue;
                }
                matched = true;
                if let Some(k) = self.unwrap_with(identity, camera, core, header_hash, stanza) {
                    return Ok(k);
                }
            }
        }
        if matched {
            Err(OpenError::Tampered { seq, frame: None })
        } else {
            Err(OpenError::NotARecipient {
                seq,
                recipients: stanzas.iter().map(|s| s.key_id).collect(),
            })
        }
    }

    /// Opens `stanza` with identity `identity`: through a cached context of its epoch, or a
    /// new one (two X25519 operations), cached once it has opened a stanza.
    fn unwrap_with(
        &mut self,
        identity: usize,
        camera: &PublicKey,
        core: &HeaderCore,
        header_hash: &[u8; 32],
        stanza: &Stanza,
    ) -> Option<kdf::ContentKey> {
        let cached = self.wraps.iter().find(|w| {
            w.identity == identity
                && w.camera == core.camera
                && w.session == core.session
                && w.enc == stanza.enc
        });
        if let Some(w) = cached {
            return w.ctx.unwrap(header_hash, stanza).ok();
        }
        let info = kdf::wrap_info(&core.stream_name, &core.camera, &core.session);
        let ctx = UnwrapContext::new(
            &self.config.identities[identity],
            camera,
            &info,
            &stanza.enc,
        )
        .ok()?;
        let key = ctx.unwrap(header_hash, stanza).ok()?;
        if self.wraps.len() == WRAP_CACHE {
            self.wraps.pop_front();
        }
        self.wraps.push_back(CachedWrap {
            identity,
            camera: core.camera,
            session: core.session,
            enc: stanza.enc,
            ctx,
        });
        Some(key)
    }

    /// Whether an authenticated header for the cluster at `cluster_timecode` is known. A
    /// reader that starts at a fragment (archive) sees its header only after the cluster:
    /// it buffers that cluster's frames until this turns true or the segment ends.
    pub fn has_header_for(&self, cluster_timecode: u64) -> bool {
        self.find(cluster_timecode).is_some()
    }

    fn find(&self, cluster_timecode: u64) -> Option<&Arc<Verified>> {
        self.cache
            .iter()
            .rev()
            .find(|v| v.info.start_timecode == cluster_timecode)
    }

    /// Starts the fragment of the cluster at `cluster_timecode` (ending any open one).
    ///
    /// Fails with [`OpenError::Unencrypted`] if no authenticated header is known for it
    /// (unless `danger_accept_plaintext`).
    pub fn begin_fragment(&mut self, cluster_timecode: u64) -> Result<FragmentStart, OpenError> {
        let mut events = self.end_fragment();
        let Some(header) = self.find(cluster_timecode).cloned() else {
            if self.config.danger_accept_plaintext {
                self.current = Some(Current::Plaintext);
                return Ok(FragmentStart {
                    info: None,
                    events,
                    disposition: Disposition::Release,
                });
            }
            return Err(OpenError::Unencrypted {
                timecode: cluster_timecode,
            });
        };
        let (chain_events, disposition) = self.chain.begin(&header.link);
        events.extend(chain_events);
        let info = Some(header.info.clone());
        self.current = Some(Current::Sealed {
            digest: FragmentDigest::new(header.key.header_hash()),
            header,
            disposition,
        });
        Ok(FragmentStart {
            info,
            events,
            disposition,
        })
    }

    /// Restarts the open fragment from its first frame when the source sends the same cluster
    /// again from its start because the reader reconnected (GetMedia resumed by continuation
    /// token after the connection dropped mid-fragment).
    ///
    /// Unlike [`FragmentOpener::begin_fragment`] this does not consult the chain: the first
    /// copy was cut by our own connection, so the second is not a duplicate. Frame indices
    /// and the running digest start over, so the commitment in the next header still checks
    /// the whole fragment. Returns `false` (and changes nothing) unless a sealed fragment
    /// with this cluster timecode is open. Call it only after a reconnect the reader made.
    pub fn restart_fragment(&mut self, cluster_timecode: u64) -> bool {
        match self.current.as_mut() {
            Some(Current::Sealed { header, digest, .. })
                if header.info.start_timecode == cluster_timecode =>
            {
                *digest = FragmentDigest::new(header.key.header_hash());
                true
            }
            _ => false,
        }
    }

    /// Authenticates and decrypts one frame (`ciphertext ‖ tag`) in place.
    ///
    /// Returns `Some(n)`: the plaintext is `data[..n]`; `None`: the frame authenticated but
    /// belongs to a duplicate or replayed fragment and must be dropped. On error nothing in
    /// `data` may be used.
    pub fn open_frame(
        &mut self,
        meta: &FrameMeta,
        data: &mut [u8],
    ) -> Result<Option<usize>, OpenError> {
        let (header, digest, disposition) = match self.current.as_mut() {
            None => return Err(OpenError::NoFragment),
            Some(Current::Plaintext) => return Ok(Some(data.len())),
            Some(Current::Sealed {
                header,
                digest,
                disposition,
            }) => (header, digest, *disposition),
        };
        let seq = header.info.seq;
        let index = digest.count();
        let position = FramePosition { meta: *meta, index };
        let Some(split) = data.len().checked_sub(TAG_LEN) else {
            digest.update(&position, &[0; TAG_LEN]);
            return Err(OpenError::Tampered {
                seq,
                frame: Some(index),
            });
        };
        let (ct, tag) = data.split_at_mut(split);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("split leaves exactly TAG_LEN");
        // The block occupies its index whether or not it authenticates, so later frames
        // still open and the digest reflects what arrived.
        digest.update(&position, &tag);
        header
            .key
            .open_in_place(&position, ct, &tag)
            .map_err(|_| OpenError::Tampered {
                seq,
                frame: Some(index),
            })?;
        Ok(match disposition {
            Disposition::Release => Some(split),
            Disposition::Drop => None,
        })
    }

    /// Opens a frame held in a growable buffer and truncates it to the plaintext.
    pub fn open_frame_buf<B: super::seal::FrameBuffer + ?Sized>(
        &mut self,
        meta: &FrameMeta,
        buf: &mut B,
    ) -> Result<bool, OpenError> {
        match self.open_frame(meta, buf.as_mut())? {
            Some(n) => {
                buf.truncate_to(n);
                Ok(true)
            }
            None => {
                buf.truncate_to(0);
                Ok(false)
            }
        }
    }

    /// Ends the current fragment (its cluster is over); returns completeness verdicts.
    pub fn end_fragment(&mut self) -> Vec<ChainEvent> {
        match self.current.take() {
            Some(Current::Sealed { digest, .. }) => {
                self.chain.end(digest.count(), digest.finalize())
            }
            _ => Vec::new(),
        }
    }

    /// The stream is over: ends the current fragment and reports an unterminated session.
    pub fn finish(&mut self) -> Vec<ChainEvent> {
        let mut events = self.end_fragment();
        events.extend(self.chain.finish());
        events
    }
}

/// Authenticates and decrypts the codec data (AAD: the core before the codec field).
fn open_codec(content_key: &[u8; KEY_LEN], core_bytes: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let split = sealed.len().checked_sub(TAG_LEN)?;
    let aad_len = core_bytes.len().checked_sub(2 + sealed.len())?;
    let key = kdf::derive(content_key, CODEC_KEY_LABEL);
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let mut buf = sealed[..split].to_vec();
    let tag = Tag::try_from(&sealed[split..]).ok()?;
    cipher
        .decrypt_inout_detached(
            &Nonce::default(),
            &core_bytes[..aad_len],
            buf.as_mut_slice().into(),
            &tag,
        )
        .ok()?;
    Some(buf)
}
