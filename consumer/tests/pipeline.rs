//! The verify/decrypt pipeline on locally sealed streams in GetMedia's byte layout: the
//! happy paths, every attack of FORMAT.md with its report, and that no byte of an
//! unauthenticated frame reaches the output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kvs_e2ee_consumer::pipeline::PipelineError;
use kvs_e2ee_consumer::reader::ReadError;
use kvs_e2ee_consumer::{Failure, FailureKind, FragmentRef};
use kvs_e2ee_envelope::Tag;

const SEED: u64 = 0x636f_6e73_756d_6572;

fn all_a() -> Vec<Vec<u8>> {
    frames_of("A", &[0, 1, 2, 3, 4])
}

/// Every written payload must be a plaintext the camera sealed (never ciphertext, never
/// injected data).
fn assert_only_sealed(out: &[u8], sealed: &[Vec<u8>]) {
    for p in read_output(out).payloads() {
        assert!(sealed.contains(&p), "unexpected bytes written: {p:?}");
    }
}

fn failure_kinds(s: &kvs_e2ee_consumer::Summary) -> Vec<FailureKind> {
    s.failures.iter().map(|f| f.kind.clone()).collect()
}

fn stopped_kind(err: Option<PipelineError>) -> (FailureKind, kvs_e2ee_consumer::FragmentRef) {
    match err {
        Some(PipelineError::Read(ReadError::Verification(f))) => (f.kind, f.fragment),
        other => panic!("expected a verification stop, got {other:?}"),
    }
}

#[test]
fn consumer_decrypts_live_order_and_restores_codec_data() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let bytes = encode(&segs);
    for chunk in [1, 7, 4096, usize::MAX] {
        let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
        let (out, summary, err) = run_pipeline(p, &bytes, chunk);
        assert!(err.is_none(), "chunk {chunk}: {err:?}");
        assert!(summary.all_verified(), "{summary}");
        assert_eq!(summary.fragments_verified, 5);
        assert_eq!(summary.frames_written, 20);
        let written = read_output(&out);
        assert_eq!(written.payloads(), all_a());
        // Timestamps and flags as the camera sealed them.
        for (n, f) in written.frames.iter().enumerate() {
            let (track, tc, key) = frame_meta(BASE_TC, n / FRAMES, n % FRAMES);
            assert_eq!((f.track, f.timecode, f.keyframe), (track, tc, key));
        }
        let video = &written.tracks[0];
        assert_eq!(
            video.codec_private.as_deref(),
            Some(&hex::decode(AVCC).unwrap()[..])
        );
        assert_eq!(
            video.video.map(|v| (v.pixel_width, v.pixel_height)),
            Some((1280, 720))
        );
        let audio = written.tracks[1].audio.expect("audio settings restored");
        assert_eq!((audio.sampling_frequency, audio.channels), (48_000.0, 2));
    }
}

#[test]
fn consumer_writes_each_frame_as_soon_as_it_authenticates() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let first_two = encode(&segs[..2]);
    let cluster1_frame1 = cluster_frames(&mut segs[1].clone())[1].data.clone();
    // Cut the input right after frame 1 of fragment 1 (its header came in segment 0).
    let full = encode(&segs);
    let cut = full
        .windows(cluster1_frame1.len())
        .position(|x| x == cluster1_frame1)
        .unwrap()
        + cluster1_frame1.len();
    assert!(cut < first_two.len());
    let mut p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    p.push(&full[..cut]).unwrap();
    assert_eq!(p.summary().frames_written, 4 + 2);
}

#[test]
fn consumer_decrypts_archive_order_from_mid_session() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, summary, err) = run_pipeline(p, &encode(&segs[2..]), 13);
    assert!(err.is_none(), "{err:?}");
    assert!(summary.all_verified());
    assert_eq!(read_output(&out).payloads(), frames_of("A", &[2, 3, 4]));
}

#[test]
fn consumer_rejects_tampered_frame() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    cluster_frames(&mut segs[1])[2].data[3] ^= 0x01;
    let bad = cluster_frames(&mut segs[1])[2].data.clone();
    let bytes = encode(&segs);

    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, _, err) = run_pipeline(p, &bytes, 100);
    let (kind, at) = stopped_kind(err);
    assert_eq!(kind, FailureKind::TamperedFrame { frame: 2 });
    assert_eq!(at.seq, Some(1));
    assert_eq!(at.timecode, Some(11_000));
    assert!(at.kvs_number.is_some() && at.producer_time.is_some());
    let msg = format!(
        "{}",
        PipelineError::Read(ReadError::Verification(Box::new(
            kvs_e2ee_consumer::Failure { fragment: at, kind }
        )))
    );
    assert!(
        msg.contains("seq 1") && msg.contains("timecode 11000") && msg.contains("tampered frame"),
        "{msg}"
    );
    let mut expect = frames_of("A", &[0]);
    expect.extend([plaintext("A", 1, 0), plaintext("A", 1, 1)]);
    assert_eq!(read_output(&out).payloads(), expect);
    assert!(!contains(&out, &bad[..bad.len() - 16]));

    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, err) = run_pipeline(p, &bytes, 100);
    assert!(err.is_none());
    assert_eq!(
        failure_kinds(&summary),
        vec![FailureKind::TamperedFrame { frame: 2 }]
    );
    assert!(!summary.all_verified());
    assert_eq!(summary.fragments_verified, 4);
    let written = read_output(&out).payloads();
    assert_eq!(written.len(), 18, "the rest of the bad fragment is skipped");
    assert!(!written.contains(&plaintext("A", 1, 3)));
    assert_only_sealed(&out, &all_a());
}

#[test]
fn consumer_rejects_tampered_header() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    // Flip a byte in every copy of header 2 (its tags end in `.2.0`).
    for seg in &mut segs {
        for item in seg.iter_mut() {
            if let Item::Tags { tags } = item {
                for (name, value) in tags.iter_mut() {
                    if name == "kvs-e2ee.v1.2.0" {
                        let mut b = value.clone().into_bytes();
                        b[36] = if b[36] == b'A' { b'B' } else { b'A' }; // a session-id byte
                        *value = String::from_utf8(b).unwrap();
                    }
                }
            }
        }
    }
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, err) = run_pipeline(p, &encode(&segs), 64);
    assert!(err.is_none());
    let kinds = failure_kinds(&summary);
    assert!(kinds.contains(&FailureKind::TamperedHeader), "{kinds:?}");
    assert_eq!(read_output(&out).payloads(), frames_of("A", &[0, 1, 3, 4]));
}

#[test]
fn consumer_reports_missing_fragment() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    segs.remove(2);
    let bytes = encode(&segs);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, _, err) = run_pipeline(p, &bytes, 500);
    let (kind, at) = stopped_kind(err);
    assert_eq!(kind, FailureKind::Missing { missing: 2..3 });
    assert_eq!(at.seq, Some(3));
    assert_eq!(read_output(&out).payloads(), frames_of("A", &[0, 1]));

    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &bytes, 500);
    assert_eq!(summary.fragments_missing, 1);
    assert_eq!(
        failure_kinds(&summary),
        vec![FailureKind::Missing { missing: 2..3 }]
    );
    assert_eq!(read_output(&out).payloads(), frames_of("A", &[0, 1, 3, 4]));
}

#[test]
fn consumer_reports_reordered_fragments() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    segs.swap(2, 3);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (_, summary, _) = run_pipeline(p, &encode(&segs), 500);
    assert_eq!(
        failure_kinds(&summary),
        vec![
            FailureKind::Missing { missing: 2..3 },
            FailureKind::Reordered
        ]
    );
}

#[test]
fn consumer_drops_producer_resends_silently() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let resent = vec![
        segs[0].clone(),
        segs[1].clone(),
        segs[2].clone(),
        segs[1].clone(),
        segs[2].clone(),
        segs[3].clone(),
        segs[4].clone(),
    ];
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, summary, err) = run_pipeline(p, &encode(&resent), 333);
    assert!(err.is_none(), "{err:?}");
    assert!(summary.all_verified());
    assert_eq!(summary.duplicates_dropped, 2);
    assert_eq!(read_output(&out).payloads(), all_a());
}

#[test]
fn consumer_rejects_replayed_fragment() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let replayed = vec![
        segs[0].clone(),
        segs[1].clone(),
        segs[2].clone(),
        segs[3].clone(),
        segs[0].clone(),
        segs[4].clone(),
    ];
    let bytes = encode(&replayed);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (_, _, err) = run_pipeline(p, &bytes, 333);
    assert_eq!(stopped_kind(err).0, FailureKind::Replayed);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &bytes, 333);
    assert_eq!(failure_kinds(&summary), vec![FailureKind::Replayed]);
    assert_eq!(
        read_output(&out).payloads(),
        all_a(),
        "the replay is not shown twice"
    );
}

#[test]
fn consumer_rejects_spliced_fragment() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let camera = w.camera.clone();
    let mut other = w.camera_sealer(STREAM, &camera);
    let put_b = produce(&mut w, &mut other, "B", 50_000, 3, true, |_, _| {});
    let segs_b = getmedia_segments(&put_b);
    let mut spliced = segs.clone();
    spliced.insert(3, segs_b[1].clone());
    let bytes = encode(&spliced);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, _, err) = run_pipeline(p, &bytes, 333);
    let (kind, fragment) = stopped_kind(err);
    // Named like every other failure (KVS number, seq, timecode, producer time), and
    // by the session and camera it came from.
    let expected = FailureKind::Spliced {
        session: other.session_id(),
        camera: Some(camera.key_id()),
    };
    assert_eq!(kind, expected);
    assert_eq!(
        fragment,
        FragmentRef {
            kvs_number: Some(kvs_number(3)),
            seq: Some(1),
            timecode: Some(51_000),
            producer_time: Some(producer_time(51_000)),
        }
    );
    let report = Failure { fragment, kind }.to_string();
    assert_eq!(
        report,
        format!(
            "fragment {} (seq 1, timecode 51000, producer time 1700000051.000): spliced \
             fragment: from another camera session (camera {}, session {})",
            kvs_number(3),
            camera.key_id(),
            other.session_id()
        )
    );
    assert_eq!(read_output(&out).payloads(), frames_of("A", &[0, 1, 2]));

    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &bytes, 333);
    assert!(failure_kinds(&summary).contains(&expected));
    assert!(
        !contains(&out, b"B: fragment"),
        "spliced frames are skipped"
    );
    assert_only_sealed(&out, &all_a());
}

#[test]
fn consumer_rejects_fragment_of_other_stream() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let camera = w.camera.clone();
    let mut other = w.camera_sealer("back-yard", &camera);
    let put_c = produce(&mut w, &mut other, "C", 60_000, 3, true, |_, _| {});
    let segs_c = getmedia_segments(&put_c);
    let mut spliced = segs.clone();
    spliced.insert(3, segs_c[1].clone());
    let bytes = encode(&spliced);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (_, _, err) = run_pipeline(p, &bytes, 333);
    assert_eq!(
        stopped_kind(err).0,
        FailureKind::WrongStream {
            found: "back-yard".into()
        }
    );
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &bytes, 333);
    assert_eq!(
        failure_kinds(&summary),
        vec![FailureKind::WrongStream {
            found: "back-yard".into()
        }]
    );
    assert_eq!(read_output(&out).payloads(), all_a());
}

#[test]
fn consumer_rejects_untrusted_camera_and_writes_nothing() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let p = pipeline(&w.viewer, vec![w.other_camera.public_key()], false);
    let (out, _, err) = run_pipeline(p, &encode(&segs), 333);
    let (kind, at) = stopped_kind(err);
    assert_eq!(
        kind,
        FailureKind::UntrustedCamera {
            camera: w.camera.key_id()
        }
    );
    assert_eq!(at.seq, Some(0));
    assert!(out.is_empty());
}

#[test]
fn consumer_refuses_when_not_a_recipient() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let p = pipeline(&w.outsider, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &encode(&segs), 333);
    assert!(out.is_empty());
    assert!(!summary.all_verified());
    assert!(summary.failures.iter().all(|f| matches!(
        &f.kind,
        FailureKind::NotARecipient { recipients } if recipients == &vec![w.viewer.key_id()]
    )));
    assert_eq!(
        summary.failures.len(),
        5,
        "one report per fragment: {summary}"
    );
}

#[test]
fn consumer_refuses_injected_unencrypted_fragment() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    let injected: Vec<Frame> = (0..2)
        .map(|i| Frame {
            track: 1,
            timecode: 12_500 + i * 40,
            keyframe: i == 0,
            data: b"injected plaintext".to_vec(),
        })
        .collect();
    segs.insert(
        3,
        vec![Item::Cluster {
            timecode: 12_500,
            frames: injected,
        }],
    );
    let bytes = encode(&segs);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, _, err) = run_pipeline(p, &bytes, 333);
    let (kind, at) = stopped_kind(err);
    assert_eq!(kind, FailureKind::Unencrypted);
    assert_eq!(at.timecode, Some(12_500));
    assert!(!contains(&out, b"injected plaintext"));

    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &bytes, 333);
    assert_eq!(failure_kinds(&summary), vec![FailureKind::Unencrypted]);
    assert!(!contains(&out, b"injected plaintext"));
    assert_eq!(read_output(&out).payloads(), all_a());
}

#[test]
fn consumer_refuses_unknown_envelope_version() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    for seg in &mut segs {
        for item in seg.iter_mut() {
            if let Item::Tags { tags } = item {
                let renamed: Vec<Tag> = tags
                    .iter()
                    .map(|(n, v)| (n.replace("kvs-e2ee.v1.2.", "kvs-e2ee.v2.2."), v.clone()))
                    .collect();
                *tags = renamed;
            }
        }
    }
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (_, _, err) = run_pipeline(p, &encode(&segs), 333);
    assert!(matches!(
        stopped_kind(err).0,
        FailureKind::UnknownVersion { .. }
    ));
}

#[test]
fn consumer_reports_missing_frames() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    cluster_frames(&mut segs[1]).pop();
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &encode(&segs), 333);
    assert_eq!(
        failure_kinds(&summary),
        vec![FailureKind::MissingFrames {
            expected: 4,
            seen: 3
        }]
    );
    assert_eq!(summary.failures[0].fragment.seq, Some(1));
    assert_eq!(read_output(&out).payloads().len(), 19);
}

#[test]
fn consumer_resumes_mid_fragment_without_gap_or_duplicate() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let head = encode(&segs[..2]);
    let seg2 = encode(&segs[2..3]);
    let tail = encode(&segs[3..]);
    let frame1 = cluster_frames(&mut segs[2].clone())[1].data.clone();
    let in_cluster = seg2
        .windows(frame1.len())
        .position(|w| w == frame1)
        .unwrap()
        + 5;
    for cut in [1, 60, in_cluster, seg2.len() / 2, seg2.len() - 30] {
        let mut p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
        p.push(&head).unwrap();
        p.push(&seg2[..cut]).unwrap();
        p.reconnected();
        // The resumed response starts with the interrupted fragment again.
        p.push(&seg2).unwrap();
        let (out, summary, err) = run_pipeline(p, &tail, 999);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        assert!(summary.all_verified(), "cut {cut}: {summary}");
        assert_eq!(read_output(&out).payloads(), all_a(), "cut {cut}");
        assert_eq!(
            summary.fragments_resumed,
            u64::from(cut == in_cluster),
            "cut {cut}"
        );
    }
}

#[test]
fn consumer_output_is_accepted_by_ffprobe() {
    if !have_tool("ffprobe") {
        return;
    }
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, _, err) = run_pipeline(p, &encode(&segs), 4096);
    assert!(err.is_none());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mkv");
    std::fs::write(&path, &out).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .arg("stream=codec_name,nb_read_packets")
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let text = String::from_utf8(probe.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, vec!["h264,15", "aac,5"], "{text}");

    if have_tool("mkvinfo") {
        let info = std::process::Command::new("mkvinfo")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            info.status.success(),
            "{}",
            String::from_utf8_lossy(&info.stderr)
        );
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(text.contains("Pixel width: 1280"), "{text}");
        assert!(text.contains("Codec's private data: size 42"), "{text}");
        assert!(text.contains("Sampling frequency: 48000"), "{text}");
    }
}

#[test]
fn consumer_reports_one_failure_for_a_flipped_frame_tag() {
    let mut w = World::new(SEED);
    let mut segs = session(&mut w);
    let d = &mut cluster_frames(&mut segs[1])[2].data;
    let last = d.len() - 1;
    d[last] ^= 0x80;
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
    let (out, summary, _) = run_pipeline(p, &encode(&segs), 100);
    // The next header's digest mismatch names the same fragment: not reported twice.
    assert_eq!(
        failure_kinds(&summary),
        vec![FailureKind::TamperedFrame { frame: 2 }]
    );
    assert_only_sealed(&out, &all_a());
}

#[test]
fn consumer_rejects_fragment_spliced_from_other_trusted_camera() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let other_camera = w.other_camera.clone();
    let mut other = w.camera_sealer(STREAM, &other_camera);
    let put_o = produce(&mut w, &mut other, "O", 70_000, 3, true, |_, _| {});
    let segs_o = getmedia_segments(&put_o);
    let expected = FailureKind::Spliced {
        session: other.session_id(),
        camera: Some(other_camera.key_id()),
    };
    // A fragment from the middle of the other session (caught when it begins), and its
    // last one, whose segment also carries its end record (caught from the end record,
    // before the fragment begins): either report names the KVS fragment it came in.
    for (o, seq) in [(1, 1), (2, 3)] {
        let mut spliced = segs.clone();
        spliced.insert(3, segs_o[o].clone());
        // Both cameras trusted: the splice is still caught (another camera mid-session).
        let p = pipeline(
            &w.viewer,
            vec![w.camera.public_key(), w.other_camera.public_key()],
            true,
        );
        let (out, summary, _) = run_pipeline(p, &encode(&spliced), 333);
        let f = summary
            .failures
            .iter()
            .find(|f| f.kind == expected)
            .unwrap_or_else(|| panic!("no splice of segment {o} reported: {summary}"));
        let timecode = 70_000 + 1000 * o as u64;
        assert_eq!(
            f.fragment,
            FragmentRef {
                kvs_number: Some(kvs_number(3)),
                seq: Some(seq),
                timecode: Some(timecode),
                producer_time: Some(producer_time(timecode)),
            },
            "{f}"
        );
        assert!(!contains(&out, b"O: fragment"));
    }
}

#[test]
fn consumer_refuses_fragments_after_the_viewer_is_revoked() {
    let mut w = World::new(SEED);
    let camera = w.camera.clone();
    let outsider = w.outsider.public_key();
    let mut sealer = w.camera_sealer(STREAM, &camera);
    let mut put = produce(&mut w, &mut sealer, "A", BASE_TC, 2, false, |_, _| {});
    sealer.set_recipients(vec![outsider]).unwrap();
    let more = produce(
        &mut w,
        &mut sealer,
        "R",
        BASE_TC + 2_000,
        2,
        true,
        |_, _| {},
    );
    put.extend(more);
    let segs = getmedia_segments(&put);
    let p = pipeline(&w.viewer, vec![w.camera.public_key()], false);
    let (out, _, err) = run_pipeline(p, &encode(&segs), 333);
    let (kind, at) = stopped_kind(err);
    assert_eq!(
        kind,
        FailureKind::NotARecipient {
            recipients: vec![w.outsider.key_id()]
        }
    );
    assert_eq!(at.seq, Some(2));
    assert_eq!(read_output(&out).payloads(), frames_of("A", &[0, 1]));
}

#[test]
fn a_flipped_timecode_scale_in_the_getmedia_stream_stops_the_read_before_any_frame_of_it() {
    let mut w = World::new(SEED);
    let segs = session(&mut w);
    let mut bytes = encode(&segs);
    // The second segment's TimecodeScale (ID 2A D7 B1, one-byte size, 1 000 000).
    let ids: Vec<usize> = bytes
        .windows(3)
        .enumerate()
        .filter(|(_, win)| *win == [0x2A, 0xD7, 0xB1])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ids.len(), segs.len(), "one Info per segment");
    let id = ids[1];
    let len = usize::from(bytes[id + 3] & 0x7F);
    bytes[id + 3 + len] ^= 0x01;
    for keep_going in [false, true] {
        let p = pipeline(&w.viewer, vec![w.camera.public_key()], keep_going);
        let (out, summary, err) = run_pipeline(p, &bytes, 4096);
        match &err {
            Some(PipelineError::Read(ReadError::TimecodeScale { found: 1_000_001 })) => {}
            other => panic!("expected a re-timing refusal, got {other:?}"),
        }
        // Only fragment 0 was written, and at its own times.
        let written = read_output(&out);
        assert_eq!(written.payloads(), frames_of("A", &[0]), "{summary}");
        assert!(
            written.frames.iter().all(|f| f.timecode < BASE_TC + 1_000),
            "a frame was written with a wrong time"
        );
    }
}
