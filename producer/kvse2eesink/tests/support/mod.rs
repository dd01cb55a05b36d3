//! Helpers the GStreamer crates' integration tests share (`producer/kvse2eesink`'s,
//! and `consumer/kvse2eesrc`'s through `#[path]`): the keys and kvs-local set-up,
//! and GStreamer's command-line tools run against one plugin of this build,
//! as a user would load it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kvs_e2ee_aws::config::install_crypto_provider;
use kvs_e2ee_keys::PairFiles;
use kvs_local::{RunningServer, Server};

/// A directory under `work` holding only this build's `library` (e.g.
/// `libgstkvse2ee.so`, a link), for `GST_PLUGIN_PATH`: the deps folder itself
/// holds many unrelated libraries that GStreamer's scanner would try to load.
pub fn plugin_dir(work: &Path, library: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let so = [deps.join(library), deps.join("..").join(library)]
        .into_iter()
        .find(|p| p.is_file())
        .expect("cargo built the cdylib next to the test binary");
    let dir = work.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join(library);
    if !link.exists() {
        std::os::unix::fs::symlink(so.canonicalize().unwrap(), link).unwrap();
    }
    dir
}

/// Runs the GStreamer tool `tool` (`gst-launch-1.0`, `gst-inspect-1.0`) with
/// `args` (as a shell passes them), loading `library` from
/// `GST_PLUGIN_PATH` and keeping its registry under `work`; bounded by
/// `timeout`. Returns its exit status and output (stdout, then stderr).
pub fn gst_tool(
    tool: &str,
    library: &str,
    work: &Path,
    args: &[String],
    timeout: Duration,
) -> (bool, String) {
    let mut child = Command::new(tool)
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir(work, library))
        .env("GST_REGISTRY", work.join("registry.bin"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is installed (gstreamer1.0-tools): {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{tool} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (status.success(), text)
}

/// A temporary folder with a camera/viewer pair ([`PairFiles`]) and kvs-local
/// started in-process on `127.0.0.1:0`, its data in that folder.
pub struct Setup {
    _dir: tempfile::TempDir,
    /// The folder (keys, kvs-local's data, outputs).
    pub dir: PathBuf,
    /// The key files in `dir`.
    pub keys: PairFiles,
    /// kvs-local.
    pub server: RunningServer,
}

impl Setup {
    /// Generates the keys and starts kvs-local.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
        let keys = PairFiles::generate(&path, &mut rng).unwrap();
        install_crypto_provider();
        let mut config = kvs_local::Config::new(path.join("kvs"));
        // The HTTPS listener too, for the `ca-bundle` case.
        config.tls_listen = Some("127.0.0.1:0".parse().unwrap());
        let server = Server::start(config).await.unwrap();
        Self {
            _dir: dir,
            dir: path,
            keys,
            server,
        }
    }

    /// `access-key=… secret-key=…` of kvs-local's admin, as element properties.
    pub fn static_keys(&self) -> String {
        let c = self.server.admin_credentials();
        format!(
            "access-key={} secret-key={}",
            c.access_key_id(),
            c.secret_access_key()
        )
    }

    /// `kvse2eesink` streaming to `stream` on kvs-local with the camera's
    /// keys, then `extra` properties (later ones override earlier ones).
    pub fn sink(&self, stream: &str, extra: &str) -> String {
        format!(
            "kvse2eesink stream-name={stream} aws-region={} endpoint-url={} identity={} recipients={} {extra}",
            self.server.region(),
            self.server.control_url(),
            self.keys.camera.display(),
            self.keys.recipients.display(),
        )
    }
}
