//! `kvse2eesrc`'s implementation: properties, settings, state, and the
//! BaseSrc/PushSrc virtual methods. Reading, verifying and decrypting is the
//! viewer library's, run by `bridge.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;
use kvs_e2ee_aws::settings::SecretText;

use super::CAT;
use super::bridge::{Next, Session};
use super::settings::Settings;

/// The viewer's defaults.
const DEFAULT_STREAM_NAME: &str = "DEFAULT_STREAM";
const DEFAULT_AWS_REGION: &str = "us-west-2";
const DEFAULT_START: &str = "now";
const DEFAULT_UNTIL_CURRENT: bool = false;

impl Default for Settings {
    fn default() -> Self {
        Self {
            stream_name: DEFAULT_STREAM_NAME.into(),
            aws_region: DEFAULT_AWS_REGION.into(),
            identity: None,
            trusted_cameras: None,
            start: DEFAULT_START.into(),
            until_current: DEFAULT_UNTIL_CURRENT,
            endpoint_url: None,
            access_key: None,
            secret_key: None,
            session_token: None,
        }
    }
}

#[derive(Default)]
enum State {
    #[default]
    Stopped,
    Started(Session),
}

/// The element's instance data.
#[derive(Default)]
pub struct KvsE2eeSrc {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Set by `unlock` so a `create` waiting for the next chunk returns;
    /// kept outside `state`, which that `create` holds.
    flushing: AtomicBool,
}

/// Locks `m`, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// SAFETY: `object_subclass` expands to the GType registration GLib needs
// (`unsafe impl ObjectSubclassType`); the instance type is plain Rust data.
#[allow(unsafe_code)]
#[glib::object_subclass]
impl ObjectSubclass for KvsE2eeSrc {
    const NAME: &'static str = "GstKvsE2eeSrc";
    type Type = super::KvsE2eeSrc;
    type ParentType = gst_base::PushSrc;
}

fn string_prop(name: &str, blurb: &str, default: Option<&str>) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn secret_prop(name: &str, blurb: &str) -> glib::ParamSpec {
    // Write-only: GStreamer prints readable properties (gst-launch -v, debug
    // logs); a secret must never appear there.
    glib::ParamSpecString::builder(name)
        .blurb(blurb)
        .write_only()
        .mutable_ready()
        .build()
}

impl ObjectImpl for KvsE2eeSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                string_prop("stream-name", "Name of the Kinesis video stream to read", Some(DEFAULT_STREAM_NAME)),
                string_prop("aws-region", "AWS region of the stream", Some(DEFAULT_AWS_REGION)),
                string_prop("identity", "Viewer identity file: the key(s) the stream is encrypted to (required)", None),
                string_prop("trusted-cameras", "File listing the camera public keys whose streams are trusted (required)", None),
                string_prop(
                    "start",
                    "Where to start: now | earliest | fragment:N | producer-time:T | server-time:T (T: RFC 3339 or epoch seconds)",
                    Some(DEFAULT_START),
                ),
                glib::ParamSpecBoolean::builder("until-current")
                    .blurb("End the stream (EOS) once caught up with the newest fragment, instead of following it live")
                    .default_value(DEFAULT_UNTIL_CURRENT)
                    .mutable_ready()
                    .build(),
                string_prop("endpoint-url", "Control-plane endpoint URL override (e.g. kvs-local); default: the region's", None),
                string_prop("access-key", "AWS access key id (else the standard credentials chain)", None),
                secret_prop("secret-key", "AWS secret access key (write-only)"),
                secret_prop("session-token", "AWS session token for temporary credentials (write-only)"),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let text = || value.get::<Option<String>>().ok().flatten();
        match pspec.name() {
            "stream-name" => s.stream_name = text().unwrap_or_default(),
            "aws-region" => s.aws_region = text().unwrap_or_default(),
            "identity" => s.identity = text(),
            "trusted-cameras" => s.trusted_cameras = text(),
            "start" => s.start = text().unwrap_or_default(),
            "until-current" => s.until_current = value.get().unwrap_or(DEFAULT_UNTIL_CURRENT),
            "endpoint-url" => s.endpoint_url = text(),
            "access-key" => s.access_key = text(),
            // Moved into zeroizing storage; GLib's copy in `value` is freed
            // (not wiped) by GLib, which we cannot change.
            "secret-key" => s.secret_key = text().map(SecretText::new),
            "session-token" => s.session_token = text().map(SecretText::new),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "stream-name" => s.stream_name.to_value(),
            "aws-region" => s.aws_region.to_value(),
            "identity" => s.identity.to_value(),
            "trusted-cameras" => s.trusted_cameras.to_value(),
            "start" => s.start.to_value(),
            "until-current" => s.until_current.to_value(),
            "endpoint-url" => s.endpoint_url.to_value(),
            "access-key" => s.access_key.to_value(),
            // secret-key, session-token: write-only, never read back.
            _ => None::<String>.to_value(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // A byte stream (MKV) without timestamps: matroskademux timestamps the
        // frames. Live when following the stream, but the demuxer and sinks
        // pace playback, so the source itself is not marked live.
        self.obj().set_format(gst::Format::Bytes);
    }
}

impl GstObjectImpl for KvsE2eeSrc {}

impl ElementImpl for KvsE2eeSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Kinesis Video Streams end-to-end encrypted source",
                "Source/Network",
                "Reads a Kinesis Video Stream encrypted end to end (kvs-e2ee), verifies and \
                 decrypts every frame locally, and outputs the plain MKV",
                "kvs-e2ee developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-matroska").build();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &caps,
            )
            .expect("the src pad template is valid");
            vec![src]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseSrcImpl for KvsE2eeSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        gst::debug!(CAT, imp = self, "starting with {settings:?}");
        let config = settings
            .validate()
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        self.flushing.store(false, Ordering::SeqCst);
        let session = Session::start(config).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Failed,
                ("cannot start the reading thread: {}", e)
            )
        })?;
        gst::info!(CAT, imp = self, "reading stream {}", settings.stream_name);
        *lock(&self.state) = State::Started(session);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let State::Started(session) = std::mem::take(&mut *lock(&self.state)) {
            session.stop();
        }
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        // A live read: no random access (matroskademux reads in push mode).
        false
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let caps = gst::Caps::builder("video/x-matroska").build();
        Some(match filter {
            Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
            None => caps,
        })
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl PushSrcImpl for KvsE2eeSrc {
    fn create(
        &self,
        _buffer: Option<&mut gst::BufferRef>,
    ) -> Result<CreateSuccess, gst::FlowError> {
        let mut state = lock(&self.state);
        let State::Started(session) = &mut *state else {
            return Err(gst::FlowError::Flushing);
        };
        match session.next(|| self.flushing.load(Ordering::SeqCst)) {
            Next::Data(bytes) => Ok(CreateSuccess::NewBuffer(gst::Buffer::from_mut_slice(bytes))),
            Next::Eos => {
                gst::info!(CAT, imp = self, "caught up, every fragment verified: EOS");
                Err(gst::FlowError::Eos)
            }
            Next::Flushing => Err(gst::FlowError::Flushing),
            Next::Error(e) => {
                gst::element_imp_error!(self, gst::ResourceError::Read, ("{}", e));
                Err(gst::FlowError::Error)
            }
        }
    }
}
