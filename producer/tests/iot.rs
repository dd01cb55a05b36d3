//! The camera with AWS IoT credentials against kvs-local's credentials
//! endpoint: the real binary names each setup mistake an installer makes
//! (wrong endpoint, unknown role alias, certificate not attached to the
//! thing, CA file missing) and exits 2 before reading any media; and the
//! credentials a camera gets cannot write another stream or read any stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions, CredentialSource};
use kvs_e2ee_aws::control::{self, DataApi};
use kvs_e2ee_aws::error::ServiceErrorKind;
use kvs_e2ee_aws::getmedia::{StartSelector, get_media};
use kvs_e2ee_aws::iot::IotConfig;
use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaError, PutMediaRequest};
use kvs_e2ee_envelope::FrameCipher;
use kvs_e2ee_keys::PairFiles;
use kvs_e2ee_producer::config::{Config, Credentials, Input, Source, StreamSettings};
use kvs_e2ee_producer::engine::EngineConfig;
use kvs_e2ee_producer::run::{EXIT_SETUP, RunError, stream_with};
use kvs_local::iot::{KeyType, ProvisionedThing};
use kvs_local::{RunningServer, Server};
use tokio::sync::Notify;

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-clip.mkv");
/// Every external call of a failing run must end well within this.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// A kvs-local with one provisioned camera thing, `cam-1`, and its stream.
struct Site {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    keys: PairFiles,
    rt: tokio::runtime::Runtime,
    server: RunningServer,
    thing: ProvisionedThing,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    let keys = PairFiles::generate(&path, &mut rng).unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(Server::start(kvs_local::Config::new(path.join("kvs"))))
        .unwrap();
    let thing = server
        .provision_thing("cam-1", KeyType::EcP256, &path.join("thing"))
        .unwrap();
    let site = Site {
        _dir: dir,
        dir: path,
        keys,
        rt,
        server,
        thing,
    };
    for stream in ["cam-1", "cam-2"] {
        site.rt.block_on(async {
            let client = site.admin_client().await;
            control::create_stream(&client.control_client(), stream, 24, None)
                .await
                .unwrap();
        });
    }
    site
}

impl Site {
    async fn admin_client(&self) -> ClientConfig {
        ClientConfig::load(self.server.admin_client_options())
            .await
            .unwrap()
    }

    /// A client holding the camera's IoT credentials (thing `cam-1`).
    async fn camera_client(&self) -> ClientConfig {
        ClientConfig::load(ConfigOptions {
            region: Some(self.server.region().to_owned()),
            endpoint_url: Some(self.server.control_url().to_owned()),
            credentials: CredentialSource::Iot(IotConfig::new(
                self.server.iot_url().unwrap(),
                self.thing.role_alias.clone(),
                "cam-1",
                self.thing.certificate_path.clone(),
                self.thing.private_key_path.clone(),
                self.thing.ca_path.clone(),
            )),
            media_stall_grace: None,
            ca_bundle: None,
        })
        .await
        .unwrap()
    }

    /// The binary with a correct IoT setup, configured through the
    /// `AWS_IOT_CORE_*` variables as the KVS SDK samples do; each test then
    /// breaks one setting.
    fn producer(&self, stream: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvs-e2ee-producer"));
        cmd.args(["--stream", stream, "--source", CLIP]);
        cmd.arg("--identity").arg(&self.keys.camera);
        cmd.arg("--recipients").arg(&self.keys.recipients);
        cmd.args(["--endpoint-url", self.server.control_url()]);
        cmd.args(["--region", self.server.region()]);
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_IOT_CORE_THING_NAME",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", self.dir.join("no-config"));
        cmd.env(
            "AWS_SHARED_CREDENTIALS_FILE",
            self.dir.join("no-credentials"),
        );
        let endpoint = self.server.iot_addr().unwrap().to_string();
        cmd.env("AWS_IOT_CORE_CREDENTIAL_ENDPOINT", endpoint);
        cmd.env("AWS_IOT_CORE_CERT", &self.thing.certificate_path);
        cmd.env("AWS_IOT_CORE_PRIVATE_KEY", &self.thing.private_key_path);
        cmd.env("AWS_IOT_CORE_CA", &self.thing.ca_path);
        cmd.env("AWS_IOT_CORE_ROLE_ALIAS", &self.thing.role_alias);
        cmd
    }

    fn stored(&self, stream: &str) -> usize {
        let dir = self.server.state().streams.get(stream).unwrap().dir();
        kvs_local::media::store::FragmentStore::open(&dir).map_or(0, |s| s.fragments().len())
    }

    fn shutdown(self) {
        self.rt.block_on(self.server.shutdown());
    }
}

/// Runs `cmd` and checks it ended with a setup error (status 2) within the
/// time limit, without storing anything; returns its stderr.
fn setup_failure(site: &Site, mut cmd: Command) -> String {
    let t0 = std::time::Instant::now();
    let out: Output = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(t0.elapsed() < RUN_LIMIT, "took {:?}: {err}", t0.elapsed());
    assert_eq!(out.status.code(), Some(i32::from(EXIT_SETUP)), "{err}");
    assert_eq!(site.stored("cam-1"), 0, "{err}");
    let key = std::fs::read_to_string(&site.thing.private_key_path).unwrap();
    let key_body = key.lines().nth(1).unwrap();
    assert!(!err.contains(key_body), "private key in output");
    err
}

#[test]
fn correct_iot_setup_streams_with_the_aws_iot_core_variables() {
    let site = site();
    let out = site.producer("cam-1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(site.stored("cam-1") >= 2, "{err}");
    site.shutdown();
}

#[test]
fn wrong_iot_endpoint_is_named_as_unreachable() {
    let site = site();
    // A port nothing listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let wrong = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut cmd = site.producer("cam-1");
    cmd.env("AWS_IOT_CORE_CREDENTIAL_ENDPOINT", &wrong);
    let err = setup_failure(&site, cmd);
    assert!(
        err.contains("IoT credentials endpoint") && err.contains(&wrong),
        "{err}"
    );
    assert!(err.contains("unreachable"), "{err}");
    assert!(err.contains("--iot-endpoint"), "{err}");
    site.shutdown();
}

/// A reachable endpoint that is not a credentials provider (here kvs-local's
/// plain-HTTP control plane, as when the KVS endpoint is given instead): the
/// TLS handshake fails and the message still points at --iot-endpoint.
#[test]
fn non_iot_endpoint_is_named() {
    let site = site();
    let wrong = site
        .server
        .control_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut cmd = site.producer("cam-1");
    cmd.env("AWS_IOT_CORE_CREDENTIAL_ENDPOINT", &wrong);
    let err = setup_failure(&site, cmd);
    assert!(
        err.contains(&wrong) && err.contains("--iot-endpoint"),
        "{err}"
    );
    assert!(err.contains("iot:CredentialProvider"), "{err}");
    site.shutdown();
}

#[test]
fn unknown_role_alias_is_named() {
    let site = site();
    let mut cmd = site.producer("cam-1");
    cmd.env("AWS_IOT_CORE_ROLE_ALIAS", "NoSuchAlias");
    let err = setup_failure(&site, cmd);
    assert!(err.contains("\"NoSuchAlias\""), "{err}");
    assert!(err.contains("Role alias does not exist"), "{err}");
    assert!(err.contains("--iot-role-alias"), "{err}");
    site.shutdown();
}

#[test]
fn certificate_not_attached_to_the_thing_is_named() {
    let site = site();
    let mut cmd = site.producer("cam-1");
    cmd.args(["--iot-thing-name", "cam-2"]);
    let err = setup_failure(&site, cmd);
    assert!(err.contains("\"cam-2\""), "{err}");
    assert!(err.contains("Invalid thing name passed"), "{err}");
    assert!(err.contains("not attached to the thing"), "{err}");
    assert!(err.contains("--iot-thing-name"), "{err}");
    site.shutdown();
}

#[test]
fn missing_ca_file_is_named() {
    let site = site();
    let missing = site.dir.join("AmazonRootCA1.pem");
    let mut cmd = site.producer("cam-1");
    cmd.env("AWS_IOT_CORE_CA", &missing);
    let err = setup_failure(&site, cmd);
    assert!(
        err.contains("IoT CA") && err.contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(
        err.contains("does not exist") && err.contains("--iot-ca"),
        "{err}"
    );
    // Not given at all: the provider trusts no system roots, so it is required.
    let mut cmd = site.producer("cam-1");
    cmd.env_remove("AWS_IOT_CORE_CA");
    let err = setup_failure(&site, cmd);
    assert!(
        err.contains("IoT credentials are partly configured: missing --iot-ca (AWS_IOT_CORE_CA)"),
        "{err}"
    );
    site.shutdown();
}

/// The camera's policy (the KVS guide's, scoped by
/// `credentials-iot:ThingName`) lets it write its own stream only: the
/// producer path refuses `cam-2` as not authorized, and GetMedia /
/// GetDataEndpoint for reading fail on every stream, its own included.
#[test]
fn camera_credentials_cannot_write_another_stream_or_read_any() {
    let site = site();
    site.rt.block_on(async {
        let camera = site.camera_client().await;
        // Writing another stream through the producer's own path.
        // What `kvs-e2ee-producer --stream cam-2 --source CLIP --identity … --recipients …`
        // configures.
        let config = Config {
            stream: StreamSettings {
                stream_name: "cam-2".into(),
                identity: site.keys.camera.clone(),
                recipients: site.keys.recipients.clone(),
                create_stream: None,
                fragment_duration: Duration::from_secs(2),
                frame_cipher: FrameCipher::fastest_here(),
                buffer_size: 60_000_000,
                spool: None,
                stats_interval: None,
            },
            source: Source::Mkv(Input::File(CLIP.into())),
            endpoint_url: None,
            ca_bundle: None,
            region: None,
            credentials: Credentials::DefaultChain,
        };
        let run = stream_with(
            config,
            camera.clone(),
            EngineConfig::default(),
            Arc::new(Notify::new()),
        );
        let err = tokio::time::timeout(RUN_LIMIT, run)
            .await
            .unwrap()
            .unwrap_err();
        let RunError::Api(api) = &err else {
            panic!("expected a refused API call, got {err}");
        };
        assert_eq!(api.kind, ServiceErrorKind::NotAuthorized, "{err}");
        assert_eq!(err.exit_code(), EXIT_SETUP);
        assert!(err.to_string().contains("cam-2"), "{err}");
        assert!(err.to_string().contains("IAM policy"), "{err}");
        // PutMedia straight to cam-2's data endpoint (looked up by the
        // admin) is refused too: the check is not only in the control plane.
        let admin = site.admin_client().await;
        let cam2 = StreamId::Name("cam-2".into());
        let endpoint =
            control::get_data_endpoint(&admin.control_client(), &cam2, DataApi::PutMedia)
                .await
                .unwrap();
        let put = put_media_refusal(&camera, &endpoint, "cam-2").await;
        assert_eq!(put, Some(403), "PutMedia to another stream");
        let own = put_media_refusal(&camera, &endpoint, "cam-1").await;
        assert_eq!(own, None, "PutMedia to its own stream is allowed");
        // Reading: no stream, its own included.
        for stream in ["cam-1", "cam-2"] {
            let id = StreamId::Name(stream.into());
            let lookup =
                control::get_data_endpoint(&camera.control_client(), &id, DataApi::GetMedia).await;
            let read_endpoint = match lookup {
                Err(e) => {
                    assert_eq!(e.kind, ServiceErrorKind::NotAuthorized, "{e}");
                    control::get_data_endpoint(&admin.control_client(), &id, DataApi::GetMedia)
                        .await
                        .unwrap()
                }
                Ok(endpoint) => endpoint,
            };
            let media = camera.media_client(&read_endpoint);
            let read =
                tokio::time::timeout(RUN_LIMIT, get_media(&media, &id, &StartSelector::Earliest))
                    .await
                    .unwrap();
            let Err(e) = read else {
                panic!("{stream}: GetMedia with camera credentials was allowed");
            };
            assert_eq!(e.kind, ServiceErrorKind::NotAuthorized, "{stream}: {e}");
        }
    });
    assert_eq!(site.stored("cam-2"), 0);
    site.shutdown();
}

/// Opens a PutMedia request signed with `client`'s credentials, ends its
/// body at once, and returns the HTTP status of a refusal (`None`: accepted).
async fn put_media_refusal(client: &ClientConfig, endpoint: &str, stream: &str) -> Option<u16> {
    let req = PutMediaRequest::new(
        endpoint,
        StreamId::Name(stream.into()),
        SystemTime::now(),
        client.credentials().await.unwrap(),
        client.region(),
    );
    let (mut sender, mut acks) = PutMediaConnection::open(req).await.unwrap();
    sender.finish();
    let mut refusal = None;
    while let Some(event) = tokio::time::timeout(RUN_LIMIT, acks.recv()).await.unwrap() {
        match event {
            Err(PutMediaError::Service { error, .. }) => {
                assert_eq!(error.kind(), ServiceErrorKind::NotAuthorized, "{error}");
                refusal = Some(error.status);
            }
            Err(e) => panic!("PutMedia to {stream}: {e}"),
            Ok(_) => {}
        }
    }
    refusal
}
