//! Fuzz target: the consumer's verify/decrypt pipeline on arbitrary GetMedia bytes, in
//! input-derived chunks (must never panic). Same entry point as the proptest in
//! `consumer/tests/robustness.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvs_e2ee_consumer::fuzzing::pipeline_arbitrary(data);
});
