//! Fuzz target: the Matroska demuxer on arbitrary bytes, whole and in input-derived chunks
//! (must never panic, and both feedings must agree). Same entry point as the proptest in
//! `shared/mkv/tests/mkv_roundtrip.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvs_e2ee_mkv::fuzzing::demux_arbitrary(data);
});
