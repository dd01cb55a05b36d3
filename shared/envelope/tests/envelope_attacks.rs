//! Each attack on the envelope, performed at envelope level against a KVS-ordered stream
//! (`common::getmedia_segments`), with the outcome a viewer must report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Item, STREAM, World, getmedia_segments, produce, read};
use kvs_e2ee_envelope::tags::{MAX_NAME_LEN, MAX_TAGS_PER_FRAGMENT, MAX_VALUE_LEN};
use kvs_e2ee_envelope::{
    Disposition, FragmentOpener, FrameCipher, FrameMeta, OpenError, OpenerConfig, SealError,
    SecretKey, SessionConfig, SessionSealer, TagEvent,
};

fn run_case(name: &str) {
    let cases = common::all_cases();
    let case = cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let outcome = read(&mut case.stream(), &case.segments);
    assert_eq!(outcome, case.expect, "case {name}: {}", case.proves);
    if !case.danger_accept_plaintext {
        for r in &outcome.released {
            assert!(
                case.sealed_plaintexts.contains(r),
                "{name}: released bytes the camera never sealed: {r:?}"
            );
        }
    }
}

#[test]
fn live_reader_decrypts_each_frame_in_getmedia_order() {
    run_case("session_roundtrip");
}

#[test]
fn archive_reader_decrypts_fragment_from_its_own_segment() {
    run_case("archive_start_at_fragment_2");
}

#[test]
fn consumer_rejects_tampered_frame_byte() {
    run_case("frame_bit_flipped");
}

#[test]
fn consumer_rejects_tampered_frame_tag() {
    run_case("frame_tag_flipped");
}

#[test]
fn consumer_rejects_tampered_header_byte() {
    run_case("header_byte_flipped");
}

#[test]
fn consumer_rejects_frame_moved_to_other_index() {
    run_case("frame_moved_to_other_index");
}

#[test]
fn consumer_rejects_frame_moved_to_other_fragment() {
    run_case("frame_moved_to_other_fragment");
}

#[test]
fn consumer_rejects_frame_moved_to_other_track() {
    run_case("frame_moved_to_other_track");
}

#[test]
fn consumer_rejects_retimed_frame() {
    run_case("frame_retimed");
}

#[test]
fn consumer_rejects_flipped_keyframe_flag() {
    run_case("frame_keyframe_flag_flipped");
}

#[test]
fn consumer_rejects_frame_from_other_stream() {
    run_case("frame_from_other_stream");
}

#[test]
fn consumer_reports_deleted_fragment() {
    run_case("fragment_missing");
}

#[test]
fn consumer_reports_truncated_fragment() {
    run_case("fragment_truncated");
}

#[test]
fn consumer_reports_truncated_session_tail() {
    run_case("session_tail_truncated");
}

#[test]
fn consumer_reports_missing_end_record() {
    run_case("session_end_missing");
}

#[test]
fn consumer_reports_reordered_fragments() {
    run_case("fragments_reordered");
}

#[test]
fn consumer_drops_identical_duplicate_silently() {
    run_case("fragment_duplicated");
}

#[test]
fn consumer_reports_replayed_fragment() {
    run_case("fragment_replayed");
}

#[test]
fn consumer_reports_fragment_spliced_from_other_session() {
    run_case("fragment_spliced_from_other_session");
}

#[test]
fn consumer_rejects_fragment_spliced_from_other_stream() {
    run_case("fragment_spliced_from_other_stream");
}

#[test]
fn consumer_rejects_unencrypted_fragment() {
    run_case("unencrypted_fragment_injected");
}

#[test]
fn consumer_accepts_plaintext_only_with_danger_flag() {
    run_case("unencrypted_accepted_with_danger_flag");
}

#[test]
fn consumer_rejects_unknown_version() {
    run_case("version_unknown");
}

#[test]
fn consumer_rejects_fragment_not_addressed_to_it() {
    run_case("viewer_not_a_recipient");
}

#[test]
fn consumer_rejects_untrusted_camera() {
    run_case("camera_untrusted");
}

#[test]
fn revoked_viewer_cannot_open_next_fragment() {
    run_case("viewer_revoked");
}

#[test]
fn remaining_viewer_still_opens_after_revocation() {
    let mut w = World::new(7);
    let mut s = w.sealer(
        STREAM,
        vec![w.viewer.public_key(), w.second_viewer.public_key()],
    );
    let keep = vec![w.viewer.public_key()];
    let put = produce(&mut w, &mut s, "R", 1000, 4, true, |f, s| {
        if f == 2 {
            s.set_recipients(keep.clone()).unwrap();
        }
    });
    let out = read(
        &mut w.stream(&w.viewer, vec![w.camera.public_key()]),
        &getmedia_segments(&put),
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.released.len(), 4 * common::FRAMES);
}

#[test]
fn consumer_rejects_stanza_moved_from_another_header() {
    run_case("stanza_moved_to_other_header");
}

#[test]
fn aes_256_gcm_session_round_trips() {
    run_case("session_roundtrip_aes_256_gcm");
}

#[test]
fn consumer_rejects_rewritten_frame_cipher() {
    run_case("frame_cipher_switched_to_aes_256_gcm");
    run_case("frame_cipher_switched_to_chacha20_poly1305");
}

/// Headers of one recipient's stanzas: the `enc` of each header, in order.
fn stanza_encs(segments: &[common::Segment], viewer: &SecretKey, headers: u64) -> Vec<Vec<u8>> {
    use kvs_e2ee_envelope::header::Header;
    use kvs_e2ee_envelope::tags::decode_tags;
    let mut encs = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for seg in segments {
        for item in seg {
            if let Item::Tags { tags } = item {
                for blob in decode_tags(tags).unwrap() {
                    let blob = blob.unwrap();
                    seen.entry(blob.seq).or_insert(blob.bytes);
                }
            }
        }
    }
    for seq in 0..headers {
        let (h, _) = Header::decode(&seen[&seq]).unwrap();
        let st = h
            .stanzas
            .iter()
            .find(|s| s.key_id == viewer.key_id())
            .unwrap();
        encs.push(st.enc.to_vec());
    }
    encs
}

#[test]
fn wrap_epochs_change_on_recipient_change_and_after_their_length_and_still_open() {
    use kvs_e2ee_envelope::suite::WRAP_EPOCH_HEADERS;
    let mut w = World::new(9);
    let mut s = w.sealer(STREAM, vec![w.viewer.public_key()]);
    let again = vec![w.viewer.public_key(), w.second_viewer.public_key()];
    let total = WRAP_EPOCH_HEADERS as usize + 4;
    let put = produce(&mut w, &mut s, "E", 1000, total, true, |f, s| {
        if f == 2 {
            s.set_recipients(again.clone()).unwrap();
        }
    });
    let segments = getmedia_segments(&put);
    let out = read(
        &mut w.stream(&w.viewer, vec![w.camera.public_key()]),
        &segments,
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.released.len(), total * common::FRAMES);
    let encs = stanza_encs(&segments, &w.viewer, total as u64);
    // Fragments 0-1: epoch 1; from 2 (recipients changed): epoch 2 for WRAP_EPOCH_HEADERS
    // headers; then epoch 3.
    assert_eq!(encs[0], encs[1]);
    assert_ne!(encs[1], encs[2]);
    let second_epoch_end = 2 + WRAP_EPOCH_HEADERS as usize;
    assert!(encs[2..second_epoch_end].iter().all(|e| *e == encs[2]));
    assert_ne!(encs[second_epoch_end - 1], encs[second_epoch_end]);
}

#[test]
fn sealer_refuses_too_many_recipients_with_limit() {
    let mut w = World::new(3);
    let keys: Vec<_> = (0..64)
        .map(|_| SecretKey::generate(&mut w.rng).public_key())
        .collect();
    let err = SessionSealer::new(
        SessionConfig {
            stream_name: STREAM.into(),
            camera: w.camera.clone(),
            recipients: keys.clone(),
            tracks: World::tracks(),
            frame_cipher: FrameCipher::ChaCha20Poly1305,
        },
        &mut w.rng,
    )
    .err()
    .expect("64 recipients cannot fit");
    let SealError::TooManyRecipients { count, max } = err else {
        panic!("wrong error {err}");
    };
    assert_eq!(count, 64);
    assert!((8..64).contains(&max), "max {max}");
    // Exactly `max` fit, and their headers stay within every KVS limit.
    let mut s = w.sealer(STREAM, keys[..1].to_vec());
    assert_eq!(s.max_recipients(), max);
    s.set_recipients(keys[..max].to_vec()).unwrap();
    assert!(matches!(
        s.set_recipients(keys[..max + 1].to_vec()),
        Err(SealError::TooManyRecipients { .. })
    ));
    assert!(matches!(
        s.set_recipients(Vec::new()),
        Err(SealError::NoRecipients)
    ));
}

#[test]
fn tags_never_exceed_kvs_limits_even_at_max_recipients() {
    let mut w = World::new(4);
    // Longest stream name KVS allows and a large HEVC-sized CodecPrivate.
    let stream = "s".repeat(256);
    let mut tracks = World::tracks();
    tracks[0].codec_private = vec![0xab; 200];
    let probe = SessionSealer::new(
        SessionConfig {
            stream_name: stream.clone(),
            camera: w.camera.clone(),
            recipients: vec![w.viewer.public_key()],
            tracks: tracks.clone(),
            frame_cipher: FrameCipher::ChaCha20Poly1305,
        },
        &mut w.rng,
    )
    .unwrap();
    let max = probe.max_recipients();
    let recipients: Vec<_> = (0..max)
        .map(|_| SecretKey::generate(&mut w.rng).public_key())
        .collect();
    let mut s = SessionSealer::new(
        SessionConfig {
            stream_name: stream,
            camera: w.camera.clone(),
            recipients,
            tracks,
            frame_cipher: FrameCipher::ChaCha20Poly1305,
        },
        &mut w.rng,
    )
    .unwrap();
    let put = produce(&mut w, &mut s, "L", 0, 3, true, |_, _| {});
    for item in &put {
        if let Item::Tags { tags } = item {
            assert!(tags.len() <= MAX_TAGS_PER_FRAGMENT, "{} tags", tags.len());
            for (n, v) in tags {
                assert!(n.len() <= MAX_NAME_LEN && v.len() <= MAX_VALUE_LEN);
                assert!(!n.starts_with("AWS"));
            }
        }
    }
}

#[test]
fn consumer_restores_codec_data_from_header() {
    let mut w = World::new(5);
    let mut s = w.sealer(STREAM, vec![w.viewer.public_key()]);
    let tags = s.begin_fragment(0, &mut w.rng).unwrap();
    let mut o = w.opener(&w.viewer, vec![w.camera.public_key()]);
    let events = o.on_tags(&tags).unwrap();
    let [TagEvent::HeaderVerified(info)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(info.tracks, World::tracks());
    assert_eq!(info.seq, 0);
    assert_eq!(info.session, s.session_id());
}

#[test]
fn header_repeat_is_ignored_not_reverified() {
    let mut w = World::new(6);
    let mut s = w.sealer(STREAM, vec![w.viewer.public_key()]);
    let first = s.begin_fragment(0, &mut w.rng).unwrap();
    let second = s.begin_fragment(1000, &mut w.rng).unwrap();
    let mut o = w.opener(&w.viewer, vec![w.camera.public_key()]);
    o.on_tags(&first).unwrap();
    let events = o.on_tags(&second).unwrap();
    assert!(matches!(events[0], TagEvent::HeaderRepeated { seq: 0 }));
    assert!(matches!(events[1], TagEvent::HeaderVerified(ref i) if i.seq == 1));
}

const KEY_FRAME_AT_0: FrameMeta = FrameMeta {
    track: 1,
    timecode: 0,
    keyframe: true,
};

#[test]
fn opener_never_releases_frame_shorter_than_tag() {
    let mut w = World::new(8);
    let mut s = w.sealer(STREAM, vec![w.viewer.public_key()]);
    let tags = s.begin_fragment(0, &mut w.rng).unwrap();
    let mut o = w.opener(&w.viewer, vec![w.camera.public_key()]);
    o.on_tags(&tags).unwrap();
    let start = o.begin_fragment(0).unwrap();
    assert_eq!(start.disposition, Disposition::Release);
    let mut short = vec![0u8; 15];
    assert!(matches!(
        o.open_frame(&KEY_FRAME_AT_0, &mut short),
        Err(OpenError::Tampered {
            seq: 0,
            frame: Some(0)
        })
    ));
}

#[test]
fn opener_requires_a_fragment_before_frames() {
    let w = World::new(9);
    let mut o = FragmentOpener::new(OpenerConfig {
        stream_name: STREAM.into(),
        identities: vec![w.viewer.clone()],
        trusted_cameras: vec![w.camera.public_key()],
        danger_accept_plaintext: false,
    });
    assert!(matches!(
        o.open_frame(&KEY_FRAME_AT_0, &mut [0u8; 32]),
        Err(OpenError::NoFragment)
    ));
}

#[test]
fn sealer_refuses_non_increasing_fragment_timecodes() {
    let mut w = World::new(10);
    let mut s = w.sealer(STREAM, vec![w.viewer.public_key()]);
    s.begin_fragment(1000, &mut w.rng).unwrap();
    assert!(matches!(
        s.begin_fragment(1000, &mut w.rng),
        Err(SealError::TimecodeNotIncreasing { .. })
    ));
}

#[test]
fn new_session_after_graceful_stop_is_not_an_alarm() {
    let mut w = World::new(11);
    let mut a = w.sealer(STREAM, vec![w.viewer.public_key()]);
    let mut put = produce(&mut w, &mut a, "A", 1000, 2, true, |_, _| {});
    let mut b = w.sealer(STREAM, vec![w.viewer.public_key()]);
    let put_b = produce(&mut w, &mut b, "B", 9000, 2, true, |_, _| {});
    let mut segs = getmedia_segments(&put);
    segs.extend(getmedia_segments(&put_b));
    put.clear();
    let out = read(&mut w.stream(&w.viewer, vec![w.camera.public_key()]), &segs);
    assert_eq!(
        out.events,
        [
            "started 0",
            "continued 1",
            "closed 1",
            "new-session previous_closed=true",
            "continued 1",
            "closed 1"
        ]
    );
    assert!(out.errors.is_empty());
}

/// A reader whose connection dropped in the middle of fragment 1 sees that cluster again
/// from its start: `restart_fragment` reopens it from frame 0 without a chain verdict, and
/// the next header's commitment still checks the whole fragment.
#[test]
fn restart_fragment_reopens_a_cluster_resent_after_reconnect() {
    let mut w = World::new(0x7265_7374);
    let mut sealer = w.sealer(STREAM, vec![w.viewer.public_key()]);
    let put = produce(&mut w, &mut sealer, "A", 1_000, 3, true, |_, _| {});
    let viewer = w.viewer.clone();
    let mut opener = w.opener(&viewer, vec![w.camera.public_key()]);
    let mut labels = Vec::new();
    let mut cut_done = false;
    for item in &put {
        match item {
            Item::Tags { tags } => {
                for ev in opener.on_tags(tags).unwrap() {
                    if let TagEvent::Chain(c) = ev {
                        labels.push(common::event_label(&c));
                    }
                }
            }
            Item::Cluster { timecode, frames } => {
                labels.extend(
                    opener
                        .begin_fragment(*timecode)
                        .unwrap()
                        .events
                        .iter()
                        .map(common::event_label),
                );
                let cut = if *timecode == 2_000 && !cut_done {
                    2
                } else {
                    frames.len()
                };
                for f in &frames[..cut] {
                    let mut d = f.data.clone();
                    assert!(opener.open_frame(&f.meta(), &mut d).unwrap().is_some());
                }
                if cut < frames.len() {
                    // Reconnected: the same cluster comes again from its first frame.
                    cut_done = true;
                    assert!(
                        !opener.restart_fragment(*timecode + 1),
                        "only the open fragment"
                    );
                    assert!(opener.restart_fragment(*timecode));
                    for f in frames {
                        let mut d = f.data.clone();
                        let n = opener.open_frame(&f.meta(), &mut d).unwrap();
                        assert_eq!(
                            n.map(|n| d[..n].to_vec()),
                            Some(common::plaintext(
                                "A",
                                1,
                                frames.iter().position(|x| x == f).unwrap()
                            ))
                        );
                    }
                }
                labels.extend(opener.end_fragment().iter().map(common::event_label));
            }
        }
    }
    assert!(cut_done);
    assert!(
        !opener.restart_fragment(3_000),
        "no fragment is open after the last one ended"
    );
    labels.extend(opener.finish().iter().map(common::event_label));
    assert_eq!(
        labels,
        ["started 0", "continued 1", "continued 2", "closed 2"]
    );
}
