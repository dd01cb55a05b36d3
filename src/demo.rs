//! The one-command demo: kvs-local, an IoT-authenticated camera and a viewer, on one
//! machine, with the checks that show end-to-end encryption did its job.
//!
//! Steps, each a function below so a failure names the step:
//! 1. start kvs-local in-process on free ports, with its data folder under the work dir;
//! 2. provision an IoT thing (device certificate + key signed by kvs-local's CA) and create
//!    the stream as the account owner would (admin credentials);
//! 3. generate the camera key, the viewer key and a second viewer key that is *not* a
//!    recipient; write the recipients and trusted-cameras files;
//! 4. stream the bundled clip with the producer engine, authenticating with the device
//!    certificate through the IoT credentials provider (mutual TLS);
//! 5. read the stream back with the viewer engine into the output MKV;
//! 6. check: every input frame came back bit-identical, no frame of the clip appears in the
//!    fragments kvs-local stored, and the outsider key reads nothing.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions};
use kvs_e2ee_aws::control;
use kvs_e2ee_consumer::run::{Config as ViewerConfig, Mode, OutputTarget, Start};
use kvs_e2ee_consumer::{FailureKind, Outcome};
use kvs_e2ee_envelope::FrameCipher;
use kvs_e2ee_keys::{Identity, KeyKind, PairFiles};
use kvs_e2ee_mkv::MkvError;
use kvs_e2ee_producer::config::{
    Config as CameraConfig, Credentials as CameraCredentials, Input, IotConfig, Source,
};
use kvs_e2ee_producer::engine::{EngineConfig, EngineStats};
use kvs_local::iot::KeyType;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use tokio::sync::Notify;

use crate::clip::{Clip, DEMO_CLIP};

/// Stream and IoT thing name (the camera role's policy ties the stream to the thing).
pub const STREAM: &str = "front-door";
/// Retention of the demo stream, in hours.
const RETENTION_HOURS: i32 = 24;
/// Bytes of each probe cut from the middle of a clip frame to look for in stored data.
const PROBE_LEN: usize = 32;
/// How long the viewer waits with nothing new before it calls the read complete.
const CATCH_UP_IDLE: Duration = Duration::from_secs(2);
/// Upper bound on the viewer's read, so a broken stream cannot hang the demo.
const MAX_READ: Duration = Duration::from_secs(120);

/// Where the demo works and writes.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// A folder for kvs-local's data, the keys and the device certificate (a temp dir).
    pub work_dir: PathBuf,
    /// The decrypted, playable MKV.
    pub output: PathBuf,
}

/// A demo step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// kvs-local did not start or provision.
    #[error("kvs-local: {0}")]
    KvsLocal(#[from] kvs_local::Error),
    /// A file of the demo could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Key generation or a key file failed.
    #[error("keys: {0}")]
    Keys(#[from] kvs_e2ee_keys::KeyError),
    /// The stream could not be created.
    #[error("creating the stream: {0}")]
    CreateStream(String),
    /// The camera failed.
    #[error("camera (kvs-e2ee-producer): {0}")]
    Camera(#[from] kvs_e2ee_producer::run::RunError),
    /// The viewer could not read.
    #[error("viewer (kvs-e2ee-consumer): {0}")]
    Viewer(#[from] kvs_e2ee_consumer::RunError),
    /// An MKV (the clip or the output) could not be parsed.
    #[error("{what}: {source}")]
    Mkv {
        /// Which file.
        what: &'static str,
        /// The cause.
        source: MkvError,
    },
    /// A check failed: the demo shows something is wrong.
    #[error("check failed: {0}")]
    Check(String),
}

/// What the demo did and found.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// kvs-local's control-plane URL.
    pub endpoint: String,
    /// The IoT credentials endpoint the camera used.
    pub iot_endpoint: String,
    /// The camera's numbers.
    pub camera: EngineStats,
    /// Fragments the viewer verified.
    pub fragments_verified: u64,
    /// Frames in the clip / frames decrypted (equal, and bit-identical, or the demo fails).
    pub frames: u64,
    /// Plaintext frame bytes decrypted.
    pub frame_bytes: u64,
    /// Fragment files kvs-local stored, and their bytes.
    pub stored_files: usize,
    /// Bytes of those files.
    pub stored_bytes: u64,
    /// Clip frames looked for in the stored data (none found, or the demo fails).
    pub probes: usize,
    /// What the viewer that is not a recipient was told.
    pub outsider_refusal: String,
    /// The decrypted MKV.
    pub output: PathBuf,
    /// Wall time of the demo.
    pub elapsed: Duration,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.camera;
        writeln!(
            f,
            "kvs-local:  {} (IoT credentials at {})",
            self.endpoint, self.iot_endpoint
        )?;
        writeln!(
            f,
            "camera:     {} fragments sealed and sent ({} bytes), {} PERSISTED, {} resent, {} dropped",
            c.fragments,
            c.bytes_sent,
            c.fragments_persisted,
            c.fragments_resent,
            c.dropped_fragments
        )?;
        writeln!(
            f,
            "viewer:     {} fragments verified, {} frames ({} bytes) decrypted, bit-identical to the clip",
            self.fragments_verified, self.frames, self.frame_bytes
        )?;
        writeln!(
            f,
            "cloud:      {} stored fragment files ({} bytes): none of {} probes cut from the clip's frames appears in them (ciphertext only)",
            self.stored_files, self.stored_bytes, self.probes
        )?;
        writeln!(
            f,
            "outsider:   a viewer key that is not a recipient was refused: {}",
            self.outsider_refusal
        )?;
        writeln!(
            f,
            "output:     {} (play it: ffplay {0})",
            self.output.display()
        )?;
        write!(f, "done in {:.1} s", self.elapsed.as_secs_f64())
    }
}

/// Runs the demo.
pub async fn run(opts: DemoOptions) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let server =
        kvs_local::Server::start(kvs_local::Config::new(opts.work_dir.join("kvs-data"))).await?;
    let result = run_on(&server, &opts, started).await;
    server.shutdown().await;
    result
}

async fn run_on(
    server: &kvs_local::RunningServer,
    opts: &DemoOptions,
    started: Instant,
) -> Result<DemoReport, DemoError> {
    let admin = admin_options(server);
    create_stream(&admin).await?;
    let device = server.provision_thing(STREAM, KeyType::EcP256, &opts.work_dir.join("device"))?;
    let keys = Keys::generate(&opts.work_dir.join("keys"))?;
    let clip_path = write_file(&opts.work_dir.join("clip.mkv"), DEMO_CLIP)?;

    let iot_endpoint = device
        .endpoint
        .clone()
        .ok_or_else(|| DemoError::Check("kvs-local reported no IoT endpoint".into()))?;
    let camera = kvs_e2ee_producer::run::run_with(
        CameraConfig {
            stream: kvs_e2ee_producer::config::StreamSettings {
                stream_name: STREAM.into(),
                identity: keys.pair.camera.clone(),
                recipients: keys.pair.recipients.clone(),
                create_stream: None,
                fragment_duration: Duration::from_secs(2),
                frame_cipher: FrameCipher::fastest_here(),
                buffer_size: 64 << 20,
                spool: None,
                stats_interval: None,
            },
            source: Source::Mkv(Input::File(clip_path)),
            endpoint_url: Some(server.control_url().to_owned()),
            ca_bundle: None,
            region: Some(server.region().to_owned()),
            credentials: CameraCredentials::Iot(IotConfig::new(
                iot_endpoint.clone(),
                device.role_alias.clone(),
                device.thing_name.clone(),
                device.certificate_path.clone(),
                device.private_key_path.clone(),
                device.ca_path.clone(),
            )),
        },
        EngineConfig::default(),
        Arc::new(Notify::new()),
    )
    .await?;

    let viewer = read_back(
        &admin,
        &keys.pair.viewer,
        &keys.pair.trusted_cameras,
        &opts.output,
    )
    .await?;
    let (frames, frame_bytes) = compare_frames(&opts.output)?;
    let stored = scan_stored(server.data_dir())?;
    let probes = clip_probes()?;
    if let Some(hit) = stored.find_any(&probes) {
        return Err(DemoError::Check(format!(
            "a frame of the clip appears in plaintext in {}",
            hit.display()
        )));
    }
    let outsider_refusal = outsider_is_refused(&admin, opts, &keys).await?;
    Ok(DemoReport {
        endpoint: server.control_url().to_owned(),
        iot_endpoint,
        camera,
        fragments_verified: viewer.summary.fragments_verified,
        frames,
        frame_bytes,
        stored_files: stored.files.len(),
        stored_bytes: stored.bytes,
        probes: probes.len(),
        outsider_refusal,
        output: opts.output.clone(),
        elapsed: started.elapsed(),
    })
}

fn admin_options(server: &kvs_local::RunningServer) -> ConfigOptions {
    server.admin_client_options()
}

async fn create_stream(admin: &ConfigOptions) -> Result<(), DemoError> {
    let client = ClientConfig::load(admin.clone())
        .await
        .map_err(|e| DemoError::CreateStream(e.to_string()))?;
    control::create_stream(
        &client.control_client(),
        STREAM,
        RETENTION_HOURS,
        Some("video/h264"),
    )
    .await
    .map_err(|e| DemoError::CreateStream(e.to_string()))?;
    // kvs-local makes a stream ACTIVE at once; DescribeStream proves it is there.
    control::describe_stream(&client.control_client(), &StreamId::Name(STREAM.into()))
        .await
        .map_err(|e| DemoError::CreateStream(e.to_string()))?;
    Ok(())
}

/// The demo's key files.
struct Keys {
    /// The camera and the viewer, each the other's recipient / trusted camera.
    pair: PairFiles,
    /// A second viewer key that is not a recipient.
    outsider: PathBuf,
}

impl Keys {
    fn generate(dir: &Path) -> Result<Self, DemoError> {
        std::fs::create_dir_all(dir).map_err(|source| DemoError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut rng = UnwrapErr(SysRng);
        let pair = PairFiles::generate(dir, &mut rng)?;
        let outsider = dir.join("outsider.key");
        Identity::generate(KeyKind::Viewer, &mut rng).save_new(&outsider)?;
        Ok(Self { pair, outsider })
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<PathBuf, DemoError> {
    std::fs::write(path, bytes).map_err(|source| DemoError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(path.to_owned())
}

fn viewer_config(
    admin: &ConfigOptions,
    identity: &Path,
    trusted: &Path,
) -> Result<ViewerConfig, DemoError> {
    let identities = Identity::load_kind(identity, KeyKind::Viewer)?
        .secrets()
        .cloned()
        .collect();
    let trusted_cameras = kvs_e2ee_keys::KeyList::load(trusted, KeyKind::Camera)?
        .keys()
        .cloned()
        .collect();
    Ok(ViewerConfig {
        stream: STREAM.into(),
        identities,
        trusted_cameras,
        mode: Mode::Live {
            start: Start::Earliest,
            until_current: true,
        },
        max_duration: Some(MAX_READ),
        keep_going: false,
        inspect: false,
        client: admin.clone(),
        catch_up_idle: CATCH_UP_IDLE,
        progress: None,
        stop: None,
    })
}

async fn read_back(
    admin: &ConfigOptions,
    viewer: &Path,
    trusted: &Path,
    output: &Path,
) -> Result<Outcome, DemoError> {
    let outcome = kvs_e2ee_consumer::run(
        viewer_config(admin, viewer, trusted)?,
        &OutputTarget::File(output.to_owned()),
    )
    .await?;
    if let Some(stopped) = &outcome.stopped {
        return Err(DemoError::Check(format!(
            "the viewer stopped early: {stopped}"
        )));
    }
    if !outcome.summary.all_verified() {
        return Err(DemoError::Check(format!(
            "the viewer did not verify everything:\n{}",
            outcome.summary
        )));
    }
    Ok(outcome)
}

/// Every frame of the clip, in order per track, equals the decrypted frame; returns the
/// frame count and bytes.
fn compare_frames(output: &Path) -> Result<(u64, u64), DemoError> {
    let input = Clip::parse(DEMO_CLIP).map_err(|source| DemoError::Mkv {
        what: "the bundled clip",
        source,
    })?;
    let bytes = std::fs::read(output).map_err(|source| DemoError::Io {
        path: output.to_owned(),
        source,
    })?;
    let decrypted = Clip::parse(&bytes).map_err(|source| DemoError::Mkv {
        what: "the decrypted output",
        source,
    })?;
    let mut frames = 0u64;
    let mut total = 0u64;
    for track in input.tracks.iter().map(|t| t.number) {
        let a: Vec<_> = input.frames_of(track).collect();
        let b: Vec<_> = decrypted.frames_of(track).collect();
        if a.len() != b.len() {
            return Err(DemoError::Check(format!(
                "track {track}: the clip has {} frames, the output {}",
                a.len(),
                b.len()
            )));
        }
        if let Some(i) = a.iter().zip(&b).position(|(x, y)| x.data != y.data) {
            return Err(DemoError::Check(format!(
                "track {track}: frame {i} differs between the clip and the output"
            )));
        }
        frames += a.len() as u64;
        total += a.iter().map(|f| f.data.len() as u64).sum::<u64>();
    }
    Ok((frames, total))
}

/// The fragment files kvs-local stored, as every window of [`PROBE_LEN`] bytes.
struct Stored {
    files: Vec<PathBuf>,
    bytes: u64,
    windows: Vec<(HashSet<[u8; PROBE_LEN]>, PathBuf)>,
}

impl Stored {
    fn find_any(&self, probes: &[[u8; PROBE_LEN]]) -> Option<&Path> {
        self.windows
            .iter()
            .find(|(w, _)| probes.iter().any(|p| w.contains(p)))
            .map(|(_, path)| path.as_path())
    }
}

fn scan_stored(data_dir: &Path) -> Result<Stored, DemoError> {
    let mut stored = Stored {
        files: Vec::new(),
        bytes: 0,
        windows: Vec::new(),
    };
    let mut dirs = vec![data_dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| DemoError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| DemoError::Io {
                    path: dir.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "mkv") {
                let bytes = std::fs::read(&path).map_err(|source| DemoError::Io {
                    path: path.clone(),
                    source,
                })?;
                stored.bytes += bytes.len() as u64;
                let windows = bytes
                    .windows(PROBE_LEN)
                    .filter_map(|w| <[u8; PROBE_LEN]>::try_from(w).ok())
                    .collect();
                stored.windows.push((windows, path.clone()));
                stored.files.push(path);
            }
        }
    }
    if stored.files.is_empty() {
        return Err(DemoError::Check(format!(
            "kvs-local stored no fragment files under {}",
            data_dir.display()
        )));
    }
    Ok(stored)
}

/// [`PROBE_LEN`] bytes from the middle of every clip frame long enough to hold them.
fn clip_probes() -> Result<Vec<[u8; PROBE_LEN]>, DemoError> {
    let clip = Clip::parse(DEMO_CLIP).map_err(|source| DemoError::Mkv {
        what: "the bundled clip",
        source,
    })?;
    Ok(clip
        .frames
        .iter()
        .filter(|f| f.data.len() >= 2 * PROBE_LEN)
        .filter_map(|f| {
            let mid = f.data.len() / 2 - PROBE_LEN / 2;
            <[u8; PROBE_LEN]>::try_from(&f.data[mid..mid + PROBE_LEN]).ok()
        })
        .collect())
}

/// Reads with the outsider key: it must get nothing and be told it is not a recipient.
async fn outsider_is_refused(
    admin: &ConfigOptions,
    opts: &DemoOptions,
    keys: &Keys,
) -> Result<String, DemoError> {
    let output = opts.work_dir.join("outsider.mkv");
    let outcome = kvs_e2ee_consumer::run(
        viewer_config(admin, &keys.outsider, &keys.pair.trusted_cameras)?,
        &OutputTarget::File(output),
    )
    .await?;
    if outcome.summary.frames_written > 0 || outcome.success() {
        return Err(DemoError::Check(format!(
            "a viewer that is not a recipient was given {} frames",
            outcome.summary.frames_written
        )));
    }
    let refused = outcome
        .summary
        .failures
        .iter()
        .find(|f| matches!(f.kind, FailureKind::NotARecipient { .. }));
    match (refused, &outcome.stopped) {
        (Some(f), _) => Ok(f.to_string()),
        (None, Some(stopped)) => Ok(stopped.to_string()),
        (None, None) => Err(DemoError::Check(
            "the outsider read failed without saying it is not a recipient".into(),
        )),
    }
}
