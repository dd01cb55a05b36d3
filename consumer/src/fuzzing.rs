//! Entry point shared by the cargo-fuzz target `consumer_pipeline` (in `fuzz/`) and the
//! stable proptest in `consumer/tests/robustness.rs`: the pipeline on arbitrary GetMedia
//! bytes must never panic.

use kvs_e2ee_envelope::{OpenerConfig, SecretKey};

use crate::pipeline::{Pipeline, PipelineConfig};

/// Feeds `data` to a pipeline (fixed keys; `keep_going` and chunk size from the first byte).
pub fn pipeline_arbitrary(data: &[u8]) {
    let (first, rest) = data.split_first().unwrap_or((&0, &[]));
    let viewer = SecretKey::from_bytes([7; 32]);
    let camera = SecretKey::from_bytes([9; 32]);
    let mut pipeline = Pipeline::new(
        PipelineConfig {
            opener: OpenerConfig {
                stream_name: "fuzz".into(),
                identities: vec![viewer],
                trusted_cameras: vec![camera.public_key()],
                danger_accept_plaintext: false,
            },
            keep_going: first & 1 == 1,
            max_buffered_bytes: 1 << 20,
        },
        std::io::sink(),
    );
    let chunk = usize::from(first >> 1).max(1);
    for c in rest.chunks(chunk) {
        if pipeline.push(c).is_err() {
            return;
        }
    }
    let _ = pipeline.finish();
}
