//! Tests of the Annex-B reader against committed samples and ffmpeg/ffprobe.
//! Offsets in errors point at the NAL unit header (after the start code).

#![allow(clippy::unwrap_used)]

use super::*;
use crate::test_support::{data, tool_available};

fn config() -> AnnexBConfig {
    AnnexBConfig {
        codec: Codec::H264,
        track_number: 1,
        frame_rate: "30".parse().unwrap(),
        start_time_ms: 1_700_000_000_000,
    }
}

/// Parses `bytes` fed in `chunk`-sized pieces; returns (tracks, frames).
fn parse_chunked(
    bytes: &[u8],
    chunk: usize,
) -> Result<(Vec<TrackInfo>, Vec<MediaFrame>), AnnexBError> {
    let mut p = AnnexBParser::new(config());
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    let mut drain = |p: &mut AnnexBParser| -> Result<(), AnnexBError> {
        while let Some(ev) = p.next_event()? {
            match ev {
                AnnexBEvent::Track(t) => tracks.push(t),
                AnnexBEvent::Frame(f) => frames.push(f),
            }
        }
        Ok(())
    };
    for piece in bytes.chunks(chunk.max(1)) {
        p.push(piece);
        drain(&mut p)?;
    }
    p.finish();
    drain(&mut p)?;
    Ok((tracks, frames))
}

/// NAL units of an Annex-B byte string (test helper, not the code under test).
fn split_nals(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut p = AnnexBParser::new(config());
    p.push(bytes);
    p.finish();
    let mut out = Vec::new();
    while let Some((nal, _)) = p.next_nal().unwrap() {
        out.push(nal.to_vec());
    }
    out
}

fn annexb(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(n);
    }
    out
}

/// AVCC sample → NAL units.
fn avcc_nals(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let len = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        out.push(data[4..4 + len].to_vec());
        data = &data[4 + len..];
    }
    out
}

#[test]
fn reader_splits_sample_into_sixty_frames_with_keyframes_every_thirty() {
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let (tracks, frames) = parse_chunked(&bytes, bytes.len()).unwrap();
    assert_eq!(frames.len(), 60);
    let keys: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.keyframe)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys, vec![0, 30]);
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].video, Some((320, 240)));
    assert_eq!(tracks[0].codec_id, "V_MPEG4/ISO/AVC");
    // Every NAL of the input appears in exactly one frame, in order.
    let from_frames: Vec<Vec<u8>> = frames.iter().flat_map(|f| avcc_nals(&f.data)).collect();
    assert_eq!(from_frames, split_nals(&bytes));
}

#[test]
fn reader_output_does_not_depend_on_chunking() {
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let whole = parse_chunked(&bytes, bytes.len()).unwrap();
    for chunk in [1, 2, 3, 5, 7, 1000] {
        assert_eq!(
            parse_chunked(&bytes, chunk).unwrap(),
            whole,
            "chunk size {chunk}"
        );
    }
}

#[test]
fn reader_timestamps_frames_from_fps_and_start_time() {
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let (_, frames) = parse_chunked(&bytes, 4096).unwrap();
    let start = config().start_time_ms;
    assert_eq!(frames[0].timecode_ms, start);
    assert_eq!(frames[1].timecode_ms, start + 33);
    assert_eq!(frames[2].timecode_ms, start + 67);
    assert_eq!(frames[30].timecode_ms, start + 1000);
    assert_eq!(frames[59].timecode_ms, start + 1967);
}

/// CodecPrivate of the first track of a Matroska file (a tiny EBML walk).
fn mkv_codec_private(mkv: &[u8]) -> Vec<u8> {
    fn vint(b: &[u8]) -> (u64, usize) {
        let len = b[0].leading_zeros() as usize + 1;
        let mut v = u64::from(b[0]) & (0xFF >> len);
        for &x in &b[1..len] {
            v = (v << 8) | u64::from(x);
        }
        (v, len)
    }
    fn id(b: &[u8]) -> (u32, usize) {
        let len = b[0].leading_zeros() as usize + 1;
        (
            b[..len].iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)),
            len,
        )
    }
    let mut pos = 0;
    while pos < mkv.len() {
        let (eid, il) = id(&mkv[pos..]);
        let (size, sl) = vint(&mkv[pos + il..]);
        let body = pos + il + sl;
        match eid {
            // Segment, Tracks, TrackEntry: descend.
            0x1853_8067 | 0x1654_AE6B | 0xAE => pos = body,
            0x63A2 => return mkv[body..body + size as usize].to_vec(),
            _ => pos = body + size as usize,
        }
    }
    panic!("no CodecPrivate");
}

#[test]
fn avcc_matches_ffmpeg_codec_private_for_the_same_stream() {
    let mkv = std::fs::read(data("sample-320x240.mkv")).unwrap();
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let (tracks, _) = parse_chunked(&bytes, 4096).unwrap();
    assert_eq!(tracks[0].codec_private, mkv_codec_private(&mkv));
}

fn first_track(name: &str) -> TrackInfo {
    let bytes = std::fs::read(data(name)).unwrap();
    parse_chunked(&bytes, 4096).unwrap().0.remove(0)
}

#[test]
fn sps_dimensions_account_for_cropping_chroma_and_fields() {
    // Expected sizes are the encoder's input sizes from tests/data/README.md.
    for (file, size) in [
        ("sps-1920x1080.h264", (1920, 1080)),
        ("sps-322x182-crop.h264", (322, 182)),
        ("sps-352x288-yuv444-cqm.h264", (352, 288)),
        ("sps-640x480-yuv422-10bit.h264", (640, 480)),
        ("sps-720x576-interlaced.h264", (720, 576)),
    ] {
        assert_eq!(first_track(file).video, Some(size), "{file}");
    }
}

#[test]
fn sps_parses_high_profile_fields_and_scaling_lists() {
    let bytes = std::fs::read(data("sps-352x288-yuv444-cqm.h264")).unwrap();
    let sps_nal = split_nals(&bytes)
        .into_iter()
        .find(|n| n[0] & 0x1F == 7)
        .unwrap();
    let sps = Sps::parse(&sps_nal).unwrap();
    assert_eq!((sps.profile_idc, sps.chroma_format_idc), (244, 3));
    let bytes = std::fs::read(data("sps-640x480-yuv422-10bit.h264")).unwrap();
    let sps_nal = split_nals(&bytes)
        .into_iter()
        .find(|n| n[0] & 0x1F == 7)
        .unwrap();
    let sps = Sps::parse(&sps_nal).unwrap();
    assert_eq!(
        (
            sps.profile_idc,
            sps.chroma_format_idc,
            sps.bit_depth_luma_minus8
        ),
        (122, 2, 2)
    );
    // The avcC of a High profile carries the chroma/bit-depth extension.
    let cp = first_track("sps-640x480-yuv422-10bit.h264").codec_private;
    assert_eq!(&cp[cp.len() - 4..], &[0xFC | 2, 0xF8 | 2, 0xF8 | 2, 0]);
}

#[test]
fn reader_rejects_frames_without_parameter_sets_naming_the_offset() {
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let nals: Vec<Vec<u8>> = split_nals(&bytes)
        .into_iter()
        .filter(|n| !matches!(n[0] & 0x1F, 7 | 8))
        .collect();
    let err = parse_chunked(&annexb(&nals), 4096).unwrap_err();
    assert!(
        matches!(err, AnnexBError::NoParameterSets { offset: 4 }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("no SPS/PPS before the first frame at byte 4"),
        "{err}"
    );
}

#[test]
fn reader_rejects_non_annexb_input() {
    let err = parse_chunked(b"\x1a\x45\xdf\xa3 matroska", 3).unwrap_err();
    assert!(
        matches!(err, AnnexBError::NotAnnexB { offset: 0 }),
        "{err:?}"
    );
}

#[test]
fn reader_skips_frames_before_the_first_idr() {
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let (_, all) = parse_chunked(&bytes, 4096).unwrap();
    // Parameter sets, then frames 1.. (the stream starts mid-GOP).
    let params: Vec<Vec<u8>> = split_nals(&bytes)
        .into_iter()
        .filter(|n| matches!(n[0] & 0x1F, 7 | 8))
        .take(2)
        .collect();
    let mut nals = params;
    for f in &all[1..] {
        nals.extend(avcc_nals(&f.data));
    }
    let mut p = AnnexBParser::new(config());
    p.push(&annexb(&nals));
    p.finish();
    let mut frames = Vec::new();
    while let Some(ev) = p.next_event().unwrap() {
        if let AnnexBEvent::Frame(f) = ev {
            frames.push(f);
        }
    }
    assert_eq!(p.skipped_before_keyframe(), 29);
    assert_eq!(frames.len(), 30);
    assert!(frames[0].keyframe);
}

#[test]
fn reader_groups_multi_slice_pictures_by_first_mb_in_slice() {
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let mut nals: Vec<Vec<u8>> = split_nals(&bytes)
        .into_iter()
        .filter(|n| matches!(n[0] & 0x1F, 7 | 8))
        .take(2)
        .collect();
    // first_mb_in_slice: ue(0) = '1', ue(10) = '0001011'.
    nals.push(vec![0x65, 0x88, 0x80]); // IDR, first_mb 0
    nals.push(vec![0x65, 0x17, 0x80]); // IDR, first_mb 10: same picture
    nals.push(vec![0x41, 0x88, 0x80]); // non-IDR, first_mb 0: new picture
    nals.push(vec![0x41, 0x17, 0x80]); // first_mb 10: same picture
    nals.push(vec![0x06, 0x05, 0x80]); // SEI after a picture: new access unit
    nals.push(vec![0x41, 0x88, 0x80]);
    let (_, frames) = parse_chunked(&annexb(&nals), 5).unwrap();
    let shapes: Vec<(bool, usize)> = frames
        .iter()
        .map(|f| (f.keyframe, avcc_nals(&f.data).len()))
        .collect();
    assert_eq!(shapes, vec![(true, 4), (false, 2), (false, 2)]);
}

#[test]
fn reader_rejects_oversized_exp_golomb_in_slice_header() {
    let bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    let mut nals: Vec<Vec<u8>> = split_nals(&bytes)
        .into_iter()
        .filter(|n| matches!(n[0] & 0x1F, 7 | 8))
        .take(2)
        .collect();
    nals.push(vec![0x65, 0x88, 0x80]);
    nals.push(vec![0x41, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let err = parse_chunked(&annexb(&nals), 4096).unwrap_err();
    assert!(
        matches!(
            err,
            AnnexBError::Malformed {
                what: "slice header",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn frame_rate_parses_integers_decimals_and_fractions() {
    assert_eq!(
        "30".parse::<FrameRate>().unwrap(),
        FrameRate::new(30, 1).unwrap()
    );
    assert_eq!(
        "29.97".parse::<FrameRate>().unwrap(),
        FrameRate::new(2997, 100).unwrap()
    );
    let ntsc: FrameRate = "30000/1001".parse().unwrap();
    assert_eq!(ntsc.timecode_ms(0, 30_000), 1_001_000);
    for bad in ["0", "-1", "abc", "30/0", "1.", "100000", ""] {
        assert!(bad.parse::<FrameRate>().is_err(), "{bad}");
    }
}

#[test]
fn reader_frame_count_matches_ffprobe() {
    if !tool_available("ffprobe") {
        return;
    }
    let path = data("sample-320x240.h264");
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let expected: usize = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (_, frames) = parse_chunked(&std::fs::read(&path).unwrap(), 4096).unwrap();
    assert_eq!(frames.len(), expected);
}

#[test]
fn reader_handles_ffmpeg_multi_slice_720p_like_ffprobe() {
    if !tool_available("ffmpeg") || !tool_available("ffprobe") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slices.h264");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=1280x720:rate=25",
            "-t",
            "1",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-x264-params",
            "slices=4",
            "-g",
            "10",
            "-threads",
            "1",
        ])
        .args(["-bsf:v", "h264_mp4toannexb", "-f", "h264"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let expected: usize = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (tracks, frames) = parse_chunked(&std::fs::read(&path).unwrap(), 65536).unwrap();
    assert_eq!(frames.len(), expected);
    assert_eq!(frames.iter().filter(|f| f.keyframe).count(), 3);
    assert_eq!(tracks[0].video, Some((1280, 720)));
}

#[tokio::test]
async fn async_reader_reads_a_file_in_chunks() {
    let file = tokio::fs::File::open(data("sample-320x240.h264"))
        .await
        .unwrap();
    let mut r = AnnexBReader::new(file, config());
    let mut n = 0;
    while let Some(ev) = r.next_event().await.unwrap() {
        if matches!(ev, AnnexBEvent::Frame(_)) {
            n += 1;
        }
    }
    assert_eq!(n, 60);
}

fn parse_h265(name: &str) -> (Vec<TrackInfo>, Vec<MediaFrame>) {
    let bytes = std::fs::read(data(name)).unwrap();
    let mut p = AnnexBParser::new(AnnexBConfig {
        codec: Codec::H265,
        ..config()
    });
    p.push(&bytes);
    p.finish();
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    while let Some(ev) = p.next_event().unwrap() {
        match ev {
            AnnexBEvent::Track(t) => tracks.push(t),
            AnnexBEvent::Frame(f) => frames.push(f),
        }
    }
    (tracks, frames)
}

#[test]
fn h265_reader_groups_access_units_and_marks_irap_keyframes() {
    let (tracks, frames) = parse_h265("sample-hevc-320x240.h265");
    assert_eq!(frames.len(), 30);
    let keys: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.keyframe)
        .map(|(i, _)| i)
        .collect();
    // Decode-order positions of the IRAPs, as `ffprobe -show_packets` flags
    // them (K) in the .mkv ffmpeg wrote from the same encoder output.
    assert_eq!(keys, vec![0, 13]);
    assert_eq!(tracks[0].codec_id, "V_MPEGH/ISO/HEVC");
    assert_eq!(tracks[0].video, Some((320, 240)));
    let (tracks, _) = parse_h265("sps-hevc-1920x1080-10bit.h265");
    assert_eq!(tracks[0].video, Some((1920, 1080)));
    // hvcC byte 17 = 0xF8 | bitDepthLumaMinus8.
    assert_eq!(tracks[0].codec_private[17], 0xF8 | 2);
}

#[test]
fn hvcc_matches_ffmpeg_codec_private_for_the_same_stream() {
    let mkv = std::fs::read(data("sample-hevc-320x240.mkv")).unwrap();
    let (tracks, _) = parse_h265("sample-hevc-320x240.h265");
    assert_eq!(tracks[0].codec_private, mkv_codec_private(&mkv));
}

#[test]
fn reader_emits_a_new_track_when_parameter_sets_change() {
    let mut bytes = std::fs::read(data("sample-320x240.h264")).unwrap();
    bytes.extend(std::fs::read(data("sps-1920x1080.h264")).unwrap());
    let (tracks, frames) = parse_chunked(&bytes, 4096).unwrap();
    let sizes: Vec<_> = tracks.iter().map(|t| t.video).collect();
    assert_eq!(sizes, vec![Some((320, 240)), Some((1920, 1080))]);
    assert_eq!(frames.len(), 62);
    assert!(frames[60].keyframe);
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    /// Byte strings rich in start codes and NAL headers, so parsing reaches
    /// the SPS, slice-header and avcC/hvcC code rather than stopping early.
    fn annexb_like() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(vec![0u8, 0, 1]),
            Just(vec![0u8, 0, 0, 1]),
            Just(vec![0x67u8, 0x64, 0x00, 0x1F]),
            Just(vec![0x68u8, 0xEE]),
            Just(vec![0x65u8, 0x88]),
            Just(vec![0x40u8, 0x01, 0x0C]),
            Just(vec![0x42u8, 0x01, 0x01]),
            Just(vec![0x44u8, 0x01, 0xC0]),
            Just(vec![0x26u8, 0x01, 0xAF]),
            prop::collection::vec(any::<u8>(), 0..24),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn reader_never_panics_on_arbitrary_input(bytes in annexb_like(), chunk in 1usize..64, hevc in any::<bool>()) {
            let codec = if hevc { Codec::H265 } else { Codec::H264 };
            let mut p = AnnexBParser::new(AnnexBConfig { codec, ..config() });
            'outer: for piece in bytes.chunks(chunk) {
                p.push(piece);
                loop {
                    match p.next_event() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
            p.finish();
            while let Ok(Some(_)) = p.next_event() {}
        }

        #[test]
        fn sps_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Sps::parse(&bytes);
            let _ = HevcSps::parse(&bytes);
        }
    }
}
