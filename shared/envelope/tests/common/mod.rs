//! Shared by the envelope tests and the `gen-vectors` example: on the shared test world
//! (`kvs_e2ee_test_support::world`: keys, a sealed session, GetMedia's segments), [`read`]
//! (which drives the envelope's `StreamOpener` with it, as every viewer does) and the
//! attack cases with their expected outcomes in the vocabulary of FORMAT.md §11.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use kvs_e2ee_envelope::{
    ChainEvent, Failure, FailureKind, FrameCipher, Input, OpenerConfig, PublicKey, SecretKey,
    StreamEvent, StreamOpener,
};
pub use kvs_e2ee_test_support::world::*;
use serde::{Deserialize, Serialize};

/// What a reader did with a stream.
#[derive(Default, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(with = "hex_list")]
    pub released: Vec<Vec<u8>>,
    pub events: Vec<String>,
    pub errors: Vec<String>,
}

mod hex_list {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&hex::encode(b))?;
        }
        seq.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.into_iter()
            .map(|s| hex::decode(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

pub fn event_label(e: &ChainEvent) -> String {
    match e {
        ChainEvent::Started { seq, .. } => format!("started {seq}"),
        ChainEvent::Continued { seq } => format!("continued {seq}"),
        ChainEvent::Duplicate { seq } => format!("duplicate {seq}"),
        ChainEvent::Replayed { seq, .. } => format!("replayed {seq}"),
        ChainEvent::Gap { missing, .. } => format!("gap {}..{}", missing.start, missing.end),
        ChainEvent::Reordered { seq } => format!("reordered {seq}"),
        ChainEvent::Truncated {
            seq,
            expected,
            seen,
        } => format!("truncated {seq} {seen}/{expected}"),
        ChainEvent::Mismatch { seq } => format!("mismatch {seq}"),
        ChainEvent::Spliced { seq, .. } => format!("spliced {seq}"),
        ChainEvent::NewSession {
            previous_closed, ..
        } => format!("new-session previous_closed={previous_closed}"),
        ChainEvent::SessionClosed { last_seq, .. } => match last_seq {
            Some(s) => format!("closed {s}"),
            None => "closed none".into(),
        },
        ChainEvent::Unterminated { last_seq, .. } => format!("unterminated {last_seq}"),
        other => format!("{other:?}"),
    }
}

/// The label of a failure the opener found in a header or frame (FORMAT.md §11); `None`
/// for the chain's verdicts, which are labelled as events.
pub fn failure_label(f: &Failure) -> Option<String> {
    let seq = f
        .fragment
        .seq
        .map_or_else(|| "?".to_owned(), |s| s.to_string());
    Some(match &f.kind {
        FailureKind::TamperedFrame { frame } => format!("tampered {seq} frame {frame}"),
        FailureKind::TamperedHeader => format!("tampered {seq} header"),
        FailureKind::Unencrypted => format!("unencrypted {}", f.fragment.timecode.unwrap_or(0)),
        FailureKind::UnknownVersion { .. } => "unknown-version".into(),
        FailureKind::WrongStream { .. } => format!("wrong-stream {seq}"),
        FailureKind::UntrustedCamera { .. } => format!("untrusted-camera {seq}"),
        FailureKind::NotARecipient { .. } => format!("not-a-recipient {seq}"),
        FailureKind::Malformed { .. } => "malformed".into(),
        FailureKind::TooLarge { .. } => "too-large".into(),
        _ => return None,
    })
}

/// Reads `segments` as GetMedia returns them through `stream` and records everything it
/// released, every chain verdict and every failure of a header or frame.
pub fn read(stream: &mut StreamOpener<Vec<u8>>, segments: &[Segment]) -> Outcome {
    let mut out = Outcome::default();
    for seg in segments {
        stream.push(Input::SegmentStart);
        for item in seg {
            match item {
                Item::Tags { tags } => stream.push(Input::Tags(tags.clone())),
                Item::Cluster { timecode, frames } => {
                    stream.push(Input::ClusterStart {
                        timecode: *timecode,
                    });
                    for f in frames {
                        stream.push(Input::Frame {
                            meta: f.meta(),
                            data: f.data.clone(),
                        });
                        take(stream, &mut out);
                    }
                    stream.push(Input::ClusterEnd);
                }
            }
            take(stream, &mut out);
        }
        stream.push(Input::SegmentEnd);
    }
    stream.push(Input::End);
    take(stream, &mut out);
    out
}

fn take(stream: &mut StreamOpener<Vec<u8>>, out: &mut Outcome) {
    while let Some(ev) = stream.next_event() {
        match ev {
            StreamEvent::Frame { data, .. } => out.released.push(data),
            StreamEvent::Chain(c) => out.events.push(event_label(&c)),
            StreamEvent::Failure(f) => out.errors.extend(failure_label(&f)),
            _ => {}
        }
    }
}

/// One attack (or baseline) case: inputs for a viewer and the outcome it must produce.
#[derive(Debug, Serialize, Deserialize)]
pub struct VectorCase {
    pub name: String,
    pub proves: String,
    pub seed: u64,
    pub stream_name: String,
    #[serde(with = "kvs_e2ee_test_support::world::hex_bytes")]
    pub viewer_secret_key: Vec<u8>,
    #[serde(with = "hex_list")]
    pub trusted_camera_public_keys: Vec<Vec<u8>>,
    pub danger_accept_plaintext: bool,
    /// Every plaintext the camera sealed (a released frame must be one of these).
    #[serde(with = "hex_list")]
    pub sealed_plaintexts: Vec<Vec<u8>>,
    pub segments: Vec<Segment>,
    pub expect: Outcome,
}

impl VectorCase {
    pub fn stream(&self) -> StreamOpener<Vec<u8>> {
        let sk: [u8; 32] = self.viewer_secret_key.as_slice().try_into().unwrap();
        stream_opener(OpenerConfig {
            stream_name: self.stream_name.clone(),
            identities: vec![SecretKey::from_bytes(sk)],
            trusted_cameras: self
                .trusted_camera_public_keys
                .iter()
                .map(|k| PublicKey::from_bytes(k.as_slice().try_into().unwrap()))
                .collect(),
            danger_accept_plaintext: self.danger_accept_plaintext,
        })
    }
}

pub const SEED: u64 = 0x6b76_7365_3265_6565;

fn all_plain(label: &str, fragments: usize) -> Vec<Vec<u8>> {
    (0..fragments)
        .flat_map(|f| (0..FRAMES).map(move |i| plaintext(label, f, i)))
        .collect()
}

fn labels(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Applies `f` to every tag value of header `seq` (all its copies) in `segments`.
fn edit_header_tags(segments: &mut [Segment], seq: u64, f: impl Fn(&mut String, &mut String)) {
    let prefix = format!("kvs-e2ee.v1.{seq}.");
    for seg in segments {
        for item in seg {
            if let Item::Tags { tags } = item {
                for (name, value) in tags.iter_mut() {
                    if name.starts_with(&prefix) {
                        f(name, value);
                    }
                }
            }
        }
    }
}

/// The whole header `seq` as the tags carry it, in the first `Tags` element holding it.
fn header_bytes(segments: &[Segment], seq: u64) -> Vec<u8> {
    use base64::Engine;
    let prefix = format!("kvs-e2ee.v1.{seq}.");
    for seg in segments {
        for item in seg {
            if let Item::Tags { tags } = item {
                let mut chunks: Vec<(u32, &String)> = tags
                    .iter()
                    .filter_map(|(n, v)| Some((n.strip_prefix(&prefix)?.parse().ok()?, v)))
                    .collect();
                if chunks.is_empty() {
                    continue;
                }
                chunks.sort();
                let e = base64::engine::general_purpose::STANDARD;
                return chunks
                    .iter()
                    .flat_map(|(_, v)| e.decode(v.as_bytes()).unwrap())
                    .collect();
            }
        }
    }
    panic!("no header {seq}");
}

/// Replaces header `seq` with `bytes` (same length) wherever a `Tags` element carries it.
fn replace_header(segments: &mut [Segment], seq: u64, bytes: &[u8]) {
    let prefix = format!("kvs-e2ee.v1.{seq}.");
    let new = kvs_e2ee_envelope::tags::encode_header(seq, bytes).unwrap();
    for seg in segments {
        for item in seg {
            if let Item::Tags { tags } = item {
                for (name, value) in tags.iter_mut() {
                    if name.starts_with(&prefix) {
                        let (_, v) = new.iter().find(|(n, _)| n == name).unwrap();
                        *value = v.clone();
                    }
                }
            }
        }
    }
}

/// Offset of the stream name in a header core: version, kind, frame cipher, name length.
pub const CORE_NAME_OFFSET: usize = 1 + 1 + 1 + 2;
/// Offset of the frame cipher id in a header core.
pub const CORE_CIPHER_OFFSET: usize = 2;

/// Everything the cases are built from: the world and its sessions as GetMedia returns
/// them.
pub struct Fixtures {
    pub w: World,
    pub base: Vec<Segment>,
    pub seg_b: Vec<Segment>,
    pub seg_c: Vec<Segment>,
    pub seg_r: Vec<Segment>,
    pub seg_g: Vec<Segment>,
    pub plain_a: Vec<Vec<u8>>,
    pub all_a: Vec<usize>,
    pub normal: Vec<&'static str>,
}

/// The baseline session and the sessions the cases splice in, built in a fixed order from
/// one seeded RNG (the vectors depend on it).
pub fn fixtures() -> Fixtures {
    let mut w = World::new(SEED);
    let recipients = vec![w.viewer.public_key(), w.second_viewer.public_key()];
    let mut sealer = w.sealer(STREAM, recipients.clone());
    let put = produce(
        &mut w,
        &mut sealer,
        "A",
        BASE_TC,
        FRAGMENTS,
        true,
        |_, _| {},
    );
    let base = getmedia_segments(&put);

    // A second session of the same camera and stream (camera restart).
    let mut sealer_b = w.sealer(STREAM, recipients.clone());
    let seg_b = getmedia_segments(&produce(
        &mut w,
        &mut sealer_b,
        "B",
        50_000,
        3,
        true,
        |_, _| {},
    ));
    // A session of the same camera for another stream.
    let mut sealer_c = w.sealer("back-door", recipients.clone());
    let seg_c = getmedia_segments(&produce(
        &mut w,
        &mut sealer_c,
        "C",
        60_000,
        3,
        true,
        |_, _| {},
    ));
    // A session whose second viewer is revoked before fragment 2.
    let mut sealer_r = w.sealer(STREAM, recipients.clone());
    let keep = vec![w.viewer.public_key()];
    let seg_r = getmedia_segments(&produce(
        &mut w,
        &mut sealer_r,
        "R",
        70_000,
        4,
        true,
        |f, s| {
            if f == 2 {
                s.set_recipients(keep.clone()).unwrap();
            }
        },
    ));

    // The baseline session again under AES-256-GCM frames.
    let mut sealer_g = w.sealer_with(STREAM, recipients.clone(), FrameCipher::Aes256Gcm);
    let seg_g = getmedia_segments(&produce(
        &mut w,
        &mut sealer_g,
        "G",
        80_000,
        FRAGMENTS,
        true,
        |_, _| {},
    ));

    let plain_a = all_plain("A", FRAGMENTS);
    let all_a: Vec<usize> = (0..FRAGMENTS).collect();
    Fixtures {
        base,
        seg_b,
        seg_c,
        seg_r,
        seg_g,
        plain_a,
        all_a,
        normal: vec![
            "started 0",
            "continued 1",
            "continued 2",
            "continued 3",
            "continued 4",
            "closed 4",
        ],
        w,
    }
}

/// What a case expects of a viewer, before it is named.
#[allow(clippy::too_many_arguments)]
fn mk(
    viewer: &SecretKey,
    trusted: Vec<&SecretKey>,
    danger: bool,
    sealed: Vec<Vec<u8>>,
    segments: Vec<Segment>,
    released: Vec<Vec<u8>>,
    events: &[&str],
    errors: &[&str],
) -> VectorCase {
    VectorCase {
        name: String::new(),
        proves: String::new(),
        seed: SEED,
        stream_name: STREAM.into(),
        viewer_secret_key: viewer.to_bytes().to_vec(),
        trusted_camera_public_keys: trusted
            .iter()
            .map(|k| k.public_key().to_bytes().to_vec())
            .collect(),
        danger_accept_plaintext: danger,
        sealed_plaintexts: sealed,
        segments,
        expect: Outcome {
            released,
            events: labels(events),
            errors: labels(errors),
        },
    }
}

/// Every frame of session A but those from frame `from.1` of fragment `from.0` on: a viewer
/// releases nothing of a fragment after a frame of it failed.
fn without_rest(from: (usize, usize)) -> Vec<Vec<u8>> {
    (0..FRAGMENTS)
        .flat_map(|f| (0..FRAMES).map(move |i| (f, i)))
        .filter(|&(f, i)| f != from.0 || i < from.1)
        .map(|(f, i)| plaintext("A", f, i))
        .collect()
}

/// Every frame of session A but one (a frame cut from a fragment's end).
fn without(skip: (usize, usize)) -> Vec<Vec<u8>> {
    (0..FRAGMENTS)
        .flat_map(|f| (0..FRAMES).map(move |i| (f, i)))
        .filter(|&p| p != skip)
        .map(|(f, i)| plaintext("A", f, i))
        .collect()
}

/// One named case: what it proves and how its inputs and outcome are built.
pub struct Case {
    pub name: &'static str,
    pub proves: &'static str,
    pub build: fn(&Fixtures) -> VectorCase,
}

/// Every case, in the order of the vector files' generation.
pub const CASES: &[Case] = &[
    Case {
        name: "session_roundtrip",
        proves: "a live reader (GetMedia order) decrypts every frame as it arrives and sees a complete, closed chain",
        build: |f| {
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                f.base.clone(),
                frames_of("A", &f.all_a),
                &f.normal,
                &[],
            )
        },
    },
    Case {
        name: "archive_start_at_fragment_2",
        proves: "a reader that starts at fragment 2 decrypts it from its own segment (header after the cluster)",
        build: |f| {
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                f.base[2..].to_vec(),
                frames_of("A", &[2, 3, 4]),
                &["started 2", "continued 3", "continued 4", "closed 4"],
                &[],
            )
        },
    },
    Case {
        name: "frame_bit_flipped",
        proves: "one flipped ciphertext bit is caught by that frame's tag; nothing of it is released",
        build: |f| {
            let mut s = f.base.clone();
            cluster_frames(&mut s[1])[2].data[3] ^= 0x01;
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without_rest((1, 2)),
                &f.normal,
                &["tampered 1 frame 2"],
            )
        },
    },
    Case {
        name: "frame_tag_flipped",
        proves: "a flipped tag byte fails the frame and the next header's digest",
        build: |f| {
            let mut s = f.base.clone();
            let d = &mut cluster_frames(&mut s[1])[2].data;
            let last = d.len() - 1;
            d[last] ^= 0x80;
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without_rest((1, 2)),
                &[
                    "started 0",
                    "continued 1",
                    "mismatch 1",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 1 frame 2"],
            )
        },
    },
    Case {
        name: "header_byte_flipped",
        proves: "a changed header byte fails the HPKE unwrap (the core is the HPKE info); its cluster is refused",
        build: |f| {
            let mut s = f.base.clone();
            edit_header_tags(&mut s, 2, |name, value| {
                if name.ends_with(".0") {
                    use base64::Engine;
                    let e = base64::engine::general_purpose::STANDARD;
                    let mut b = e.decode(value.as_bytes()).unwrap();
                    b[CORE_NAME_OFFSET + STREAM.len() + 8 + 3] ^= 0x01; // a session-id byte of the core
                    *value = e.encode(b);
                }
            });
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &[0, 1, 3, 4]),
                &[
                    "started 0",
                    "continued 1",
                    "gap 2..3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 2 header"],
            )
        },
    },
    Case {
        name: "frame_moved_to_other_index",
        proves: "frames swapped within a fragment fail (index is the nonce and in the AAD)",
        build: |f| {
            let mut s = f.base.clone();
            {
                // Move only the payloads: each slot keeps its track/timecode/flag, as a splicer would.
                let fr = cluster_frames(&mut s[1]);
                let one = fr[1].data.clone();
                fr[1].data = fr[3].data.clone();
                fr[3].data = one;
            }
            let released = without_rest((1, 1));
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                released,
                &[
                    "started 0",
                    "continued 1",
                    "mismatch 1",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 1 frame 1"],
            )
        },
    },
    Case {
        name: "frame_moved_to_other_fragment",
        proves: "a frame copied into another fragment fails (other frame key, header hash in the AAD)",
        build: |f| {
            let mut s = f.base.clone();
            let moved = cluster_frames(&mut s[1])[1].data.clone();
            cluster_frames(&mut s[2])[1].data = moved;
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without_rest((2, 1)),
                &[
                    "started 0",
                    "continued 1",
                    "continued 2",
                    "mismatch 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 2 frame 1"],
            )
        },
    },
    Case {
        name: "frame_moved_to_other_track",
        proves: "a frame relabelled to another track fails (track number in the AAD)",
        build: |f| {
            let mut s = f.base.clone();
            cluster_frames(&mut s[1])[1].track = 2;
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without_rest((1, 1)),
                &[
                    "started 0",
                    "continued 1",
                    "mismatch 1",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 1 frame 1"],
            )
        },
    },
    Case {
        name: "frame_retimed",
        proves: "a frame given another timecode fails (absolute timecode in the AAD)",
        build: |f| {
            let mut s = f.base.clone();
            cluster_frames(&mut s[1])[1].timecode += 1;
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without_rest((1, 1)),
                &[
                    "started 0",
                    "continued 1",
                    "mismatch 1",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 1 frame 1"],
            )
        },
    },
    Case {
        name: "frame_keyframe_flag_flipped",
        proves: "clearing the key-frame flag fails the frame (flag in the AAD)",
        build: |f| {
            let mut s = f.base.clone();
            cluster_frames(&mut s[1])[0].keyframe = false;
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without_rest((1, 0)),
                &[
                    "started 0",
                    "continued 1",
                    "mismatch 1",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 1 frame 0"],
            )
        },
    },
    Case {
        name: "frame_from_other_stream",
        proves: "a frame from the same camera's session on another stream fails",
        build: |f| {
            let mut s = f.base.clone();
            let mut other = f.seg_c.clone();
            cluster_frames(&mut s[1])[1].data = cluster_frames(&mut other[1])[1].data.clone();
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without_rest((1, 1)),
                &[
                    "started 0",
                    "continued 1",
                    "mismatch 1",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 1 frame 1"],
            )
        },
    },
    Case {
        name: "fragment_missing",
        proves: "a deleted fragment is reported as a gap",
        build: |f| {
            let mut s = f.base.clone();
            s.remove(2);
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &[0, 1, 3, 4]),
                &[
                    "started 0",
                    "continued 1",
                    "gap 2..3",
                    "continued 4",
                    "closed 4",
                ],
                &[],
            )
        },
    },
    Case {
        name: "fragment_truncated",
        proves: "frames cut from a fragment's end are reported when the next header arrives",
        build: |f| {
            let mut s = f.base.clone();
            cluster_frames(&mut s[1]).pop();
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without((1, 3)),
                &[
                    "started 0",
                    "continued 1",
                    "truncated 1 3/4",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &[],
            )
        },
    },
    Case {
        name: "session_tail_truncated",
        proves: "frames cut from the last fragment are reported by the end record",
        build: |f| {
            let mut s = f.base.clone();
            cluster_frames(&mut s[4]).pop();
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                without((4, 3)),
                &[
                    "started 0",
                    "continued 1",
                    "continued 2",
                    "continued 3",
                    "continued 4",
                    "truncated 4 3/4",
                    "closed 4",
                ],
                &[],
            )
        },
    },
    Case {
        name: "session_end_missing",
        proves: "a stream that stops without the end record is reported unterminated",
        build: |f| {
            let mut s = f.base.clone();
            s.pop();
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &[0, 1, 2, 3]),
                &[
                    "started 0",
                    "continued 1",
                    "continued 2",
                    "continued 3",
                    "unterminated 3",
                ],
                &[],
            )
        },
    },
    Case {
        name: "fragments_reordered",
        proves: "a fragment delivered after its successor is reported as reordered",
        build: |f| {
            let mut s = f.base.clone();
            s.swap(2, 3);
            let released = frames_of("A", &[0, 1, 3, 2, 4]);
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                released,
                &[
                    "started 0",
                    "continued 1",
                    "gap 2..3",
                    "reordered 2",
                    "continued 4",
                    "closed 4",
                ],
                &[],
            )
        },
    },
    Case {
        name: "fragment_duplicated",
        proves: "an identical re-send after a reconnect is dropped silently (released once)",
        build: |f| {
            let s = vec![
                f.base[0].clone(),
                f.base[1].clone(),
                f.base[2].clone(),
                f.base[1].clone(),
                f.base[2].clone(),
                f.base[3].clone(),
                f.base[4].clone(),
            ];
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &f.all_a),
                &[
                    "started 0",
                    "continued 1",
                    "continued 2",
                    "duplicate 1",
                    "duplicate 2",
                    "continued 3",
                    "continued 4",
                    "closed 4",
                ],
                &[],
            )
        },
    },
    Case {
        name: "fragment_replayed",
        proves: "an old fragment delivered again later is reported as a replay and not released",
        build: |f| {
            let s = vec![
                f.base[0].clone(),
                f.base[1].clone(),
                f.base[2].clone(),
                f.base[3].clone(),
                f.base[0].clone(),
                f.base[4].clone(),
            ];
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &f.all_a),
                &[
                    "started 0",
                    "continued 1",
                    "continued 2",
                    "continued 3",
                    "replayed 0",
                    "continued 4",
                    "closed 4",
                ],
                &[],
            )
        },
    },
    Case {
        name: "fragment_spliced_from_other_session",
        proves: "a fragment of another session of the same camera is reported as spliced",
        build: |f| {
            let mut s = f.base.clone();
            s.insert(3, f.seg_b[1].clone());
            let mut sealed = f.plain_a.clone();
            sealed.extend(all_plain("B", 3));
            // Neither the inserted fragment nor the one after it (which then continues a session
            // the chain no longer follows) is released; both are reported.
            let released = frames_of("A", &[0, 1, 2, 4]);
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                sealed,
                s,
                released,
                &[
                    "started 0",
                    "continued 1",
                    "continued 2",
                    "spliced 1",
                    "spliced 3",
                    "continued 4",
                    "closed 4",
                ],
                &[],
            )
        },
    },
    Case {
        name: "fragment_spliced_from_other_stream",
        proves: "a fragment sealed for another stream is refused",
        build: |f| {
            let mut s = f.base.clone();
            s.insert(3, f.seg_c[1].clone());
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &f.all_a),
                &f.normal,
                &["wrong-stream 1"],
            )
        },
    },
    Case {
        name: "unencrypted_fragment_injected",
        proves: "a cluster without an e2ee header is refused by default",
        build: |f| {
            let (s, _) = injected_cluster(&f.base);
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &f.all_a),
                &f.normal,
                &["unencrypted 12500"],
            )
        },
    },
    Case {
        name: "unencrypted_accepted_with_danger_flag",
        proves: "only danger_accept_plaintext lets a plaintext cluster through",
        build: |f| {
            let (s, injected) = injected_cluster(&f.base);
            let mut released = frames_of("A", &[0, 1, 2]);
            released.extend(injected.iter().map(|f| f.data.clone()));
            released.extend(frames_of("A", &[3, 4]));
            let mut sealed = f.plain_a.clone();
            sealed.push(b"injected plaintext".to_vec());
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                true,
                sealed,
                s,
                released,
                &f.normal,
                &[],
            )
        },
    },
    Case {
        name: "version_unknown",
        proves: "a header of an unknown format version is refused, and so is its cluster",
        build: |f| {
            let mut s = f.base.clone();
            edit_header_tags(&mut s, 2, |name, _| {
                *name = name.replace("kvs-e2ee.v1.", "kvs-e2ee.v2.")
            });
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &[0, 1, 3, 4]),
                &[
                    "started 0",
                    "continued 1",
                    "gap 2..3",
                    "continued 4",
                    "closed 4",
                ],
                &["unknown-version"],
            )
        },
    },
    Case {
        name: "viewer_not_a_recipient",
        proves: "a viewer whose key is not among the recipients gets a typed error and no plaintext",
        build: |f| {
            mk(
                &f.w.outsider,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                f.base[..1].to_vec(),
                vec![],
                &[],
                &["not-a-recipient 0"],
            )
        },
    },
    Case {
        name: "camera_untrusted",
        proves: "fragments from a camera the viewer does not trust are refused",
        build: |f| {
            mk(
                &f.w.viewer,
                vec![&f.w.other_camera],
                false,
                f.plain_a.clone(),
                f.base[..1].to_vec(),
                vec![],
                &[],
                &["untrusted-camera 0"],
            )
        },
    },
    Case {
        name: "viewer_revoked",
        proves: "after set_recipients drops a viewer, it cannot open the next fragment",
        build: |f| {
            mk(
                &f.w.second_viewer,
                vec![&f.w.camera],
                false,
                all_plain("R", 4),
                f.seg_r[..3].to_vec(),
                frames_of("R", &[0, 1]),
                &["started 0", "continued 1", "unterminated 1"],
                &["not-a-recipient 2"],
            )
        },
    },
    Case {
        name: "stanza_moved_to_other_header",
        proves: "a recipient stanza copied from another header of the same wrap epoch fails (the wrap key is exported per header hash)",
        build: |f| {
            // Header 2 carrying the viewer's stanza of header 3: same wrap epoch (same `enc`), so
            // only the per-header wrap key tells them apart.
            let mut s = f.base.clone();
            {
                use kvs_e2ee_envelope::header::Header;
                let mut two = header_bytes(&s, 2);
                let three = header_bytes(&s, 3);
                let (h2, core2) = Header::decode(&two).unwrap();
                let (h3, core3) = Header::decode(&three).unwrap();
                let id = f.w.viewer.key_id();
                let i2 = h2.stanzas.iter().position(|st| st.key_id == id).unwrap();
                let i3 = h3.stanzas.iter().position(|st| st.key_id == id).unwrap();
                assert_eq!(h2.stanzas[i2].enc, h3.stanzas[i3].enc, "one epoch");
                let len = h2.stanzas[i2].enc.len() + h2.stanzas[i2].wrapped.len() + 8;
                let (a, b) = (core2 + 1 + i2 * len, core3 + 1 + i3 * len);
                two[a..a + len].copy_from_slice(&three[b..b + len]);
                replace_header(&mut s, 2, &two);
            }
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                f.plain_a.clone(),
                s,
                frames_of("A", &[0, 1, 3, 4]),
                &[
                    "started 0",
                    "continued 1",
                    "gap 2..3",
                    "continued 4",
                    "closed 4",
                ],
                &["tampered 2 header"],
            )
        },
    },
    Case {
        name: "session_roundtrip_aes_256_gcm",
        proves: "a session whose headers name AES-256-GCM frames decrypts like the ChaCha20-Poly1305 one",
        build: |f| {
            mk(
                &f.w.viewer,
                vec![&f.w.camera],
                false,
                all_plain("G", FRAGMENTS),
                f.seg_g.clone(),
                frames_of("G", &f.all_a),
                &f.normal,
                &[],
            )
        },
    },
    Case {
        name: "frame_cipher_switched_to_aes_256_gcm",
        proves: CIPHER_SWITCHED,
        build: |f| cipher_switched(f, "a", &f.base, FrameCipher::Aes256Gcm),
    },
    Case {
        name: "frame_cipher_switched_to_chacha20_poly1305",
        proves: CIPHER_SWITCHED,
        build: |f| cipher_switched(f, "g", &f.seg_g, FrameCipher::ChaCha20Poly1305),
    },
];

/// The baseline session with a plaintext cluster of two frames inserted before fragment 3.
fn injected_cluster(base: &[Segment]) -> (Vec<Segment>, Vec<Frame>) {
    let mut s = base.to_vec();
    let injected: Vec<Frame> = (0..2)
        .map(|i| Frame {
            track: 1,
            timecode: 12_500 + i * 40,
            keyframe: i == 0,
            data: b"injected plaintext".to_vec(),
        })
        .collect();
    s.insert(
        3,
        vec![Item::Cluster {
            timecode: 12_500,
            frames: injected.clone(),
        }],
    );
    (s, injected)
}

const CIPHER_SWITCHED: &str = "a header whose frame cipher is rewritten (a downgrade or cross-cipher attempt) fails the HPKE unwrap; its cluster is refused";

/// A session whose header 2 names another frame cipher.
fn cipher_switched(f: &Fixtures, label: &str, session: &[Segment], to: FrameCipher) -> VectorCase {
    let (v, cam) = (&f.w.viewer, &f.w.camera);
    let mut s = session.to_vec();
    edit_header_tags(&mut s, 2, |name, value| {
        if name.ends_with(".0") {
            use base64::Engine;
            let e = base64::engine::general_purpose::STANDARD;
            let mut b = e.decode(value.as_bytes()).unwrap();
            b[CORE_CIPHER_OFFSET] = to.id();
            *value = e.encode(b);
        }
    });
    let src = if label == "a" { "A" } else { "G" };
    mk(
        v,
        vec![cam],
        false,
        all_plain(src, FRAGMENTS),
        s,
        frames_of(src, &[0, 1, 3, 4]),
        &[
            "started 0",
            "continued 1",
            "gap 2..3",
            "continued 4",
            "closed 4",
        ],
        &["tampered 2 header"],
    )
}

/// The baseline session and every case derived from it, named.
pub fn all_cases() -> Vec<VectorCase> {
    let fx = fixtures();
    CASES
        .iter()
        .map(|c| VectorCase {
            name: c.name.into(),
            proves: c.proves.into(),
            ..(c.build)(&fx)
        })
        .collect()
}
