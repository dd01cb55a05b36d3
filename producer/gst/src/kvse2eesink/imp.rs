//! `kvse2eesink`'s implementation: properties (named like `kvssink`'s),
//! settings, state, and the BaseSink virtual methods. Media and engine work is
//! delegated to the producer's `gst::input` and to `bridge.rs`.

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use kvs_e2ee_producer::engine::EngineStats;
use kvs_e2ee_producer::media::SourceEvent;
use tokio::sync::watch;

use super::bridge::{SendError, Session, SessionError};
use super::settings::{IOT_STRUCTURE, Settings};
use super::{CAT, STATS_MESSAGE};
use kvs_e2ee_producer::gst::input::VideoInput;

/// kvssink's defaults, so a pipeline that relied on them behaves the same.
const DEFAULT_STREAM_NAME: &str = "DEFAULT_STREAM";
const DEFAULT_AWS_REGION: &str = "us-west-2";
const DEFAULT_FRAGMENT_DURATION_MS: u32 = 2000;
const DEFAULT_STORAGE_SIZE_MB: u32 = 128;
const DEFAULT_RETENTION_PERIOD_HOURS: u32 = 2;
const DEFAULT_RESTART_ON_ERROR: bool = true;

impl Default for Settings {
    fn default() -> Self {
        Self {
            stream_name: DEFAULT_STREAM_NAME.into(),
            aws_region: DEFAULT_AWS_REGION.into(),
            iot_certificate: None,
            access_key: None,
            secret_key: None,
            session_token: None,
            fragment_duration_ms: DEFAULT_FRAGMENT_DURATION_MS,
            storage_size_mb: DEFAULT_STORAGE_SIZE_MB,
            retention_period_hours: DEFAULT_RETENTION_PERIOD_HOURS,
            restart_on_error: DEFAULT_RESTART_ON_ERROR,
            recipients: None,
            identity: None,
            endpoint_url: None,
        }
    }
}

/// A streaming session and what the element tracks of its input.
struct Started {
    session: Session,
    input: VideoInput,
}

#[derive(Default)]
enum State {
    #[default]
    Stopped,
    Started(Box<Started>),
}

/// The element's instance data.
pub struct KvsE2eeSink {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Set by `unlock` so a render blocked on a full channel (or EOS waiting
    /// for acks) returns; kept outside `state`, which that render holds.
    flushing: watch::Sender<bool>,
}

impl Default for KvsE2eeSink {
    fn default() -> Self {
        Self {
            settings: Mutex::default(),
            state: Mutex::default(),
            flushing: watch::Sender::new(false),
        }
    }
}

/// Locks `m`, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// SAFETY: `object_subclass` expands to the GType registration GLib needs
// (`unsafe impl ObjectSubclassType`); the instance type is plain Rust data.
#[allow(unsafe_code)]
#[glib::object_subclass]
impl ObjectSubclass for KvsE2eeSink {
    const NAME: &'static str = "GstKvsE2eeSink";
    type Type = super::KvsE2eeSink;
    type ParentType = gst_base::BaseSink;
}

fn string_prop(name: &str, blurb: &str, default: Option<&str>) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn uint_prop(name: &str, blurb: &str, default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

impl ObjectImpl for KvsE2eeSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                string_prop("stream-name", "Name of the Kinesis video stream (created if missing)", Some(DEFAULT_STREAM_NAME)),
                string_prop("aws-region", "AWS region of the stream", Some(DEFAULT_AWS_REGION)),
                glib::ParamSpecBoxed::builder::<gst::Structure>("iot-certificate")
                    .blurb(
                        "AWS IoT credentials, as for kvssink: \"iot-certificate,endpoint=<credentials endpoint>,\
                         cert-path=<device cert>,key-path=<device key>,ca-path=<CA cert>,role-aliases=<role alias>\" \
                         (optional iot-thing-name, default the stream name)",
                    )
                    .mutable_ready()
                    .build(),
                string_prop("access-key", "AWS access key id (else iot-certificate or the standard credentials chain)", None),
                // Write-only: GStreamer prints readable properties (gst-launch -v,
                // debug logs); a secret must never appear there.
                glib::ParamSpecString::builder("secret-key")
                    .blurb("AWS secret access key (write-only)")
                    .write_only()
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("session-token")
                    .blurb("AWS session token for temporary credentials (write-only)")
                    .write_only()
                    .mutable_ready()
                    .build(),
                uint_prop("fragment-duration", "Target fragment duration in ms (fragments start at key frames; below 10000)", DEFAULT_FRAGMENT_DURATION_MS),
                uint_prop("storage-size", "Memory for fragments awaiting PERSISTED, in MB (oldest whole fragments are dropped when full)", DEFAULT_STORAGE_SIZE_MB),
                uint_prop("retention-period", "Retention in hours given to the stream when it is created", DEFAULT_RETENTION_PERIOD_HOURS),
                glib::ParamSpecBoolean::builder("restart-on-error")
                    .blurb("Reconnect and resend after a connection failure (else post an error)")
                    .default_value(DEFAULT_RESTART_ON_ERROR)
                    .mutable_ready()
                    .build(),
                string_prop("recipients", "Recipients file: the viewer public keys the stream is encrypted to (required)", None),
                string_prop("identity", "Camera identity file: the key that signs the stream (required)", None),
                string_prop("endpoint-url", "Control-plane endpoint URL override (e.g. kvs-local); default: the region's", None),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let text = || value.get::<Option<String>>().ok().flatten();
        let uint = || value.get::<u32>().unwrap_or_default();
        match pspec.name() {
            "stream-name" => s.stream_name = text().unwrap_or_default(),
            "aws-region" => s.aws_region = text().unwrap_or_default(),
            "iot-certificate" => {
                s.iot_certificate = value.get::<Option<gst::Structure>>().ok().flatten();
            }
            "access-key" => s.access_key = text(),
            "secret-key" => s.secret_key = text(),
            "session-token" => s.session_token = text(),
            "fragment-duration" => s.fragment_duration_ms = uint(),
            "storage-size" => s.storage_size_mb = uint(),
            "retention-period" => s.retention_period_hours = uint(),
            "restart-on-error" => {
                s.restart_on_error = value.get().unwrap_or(DEFAULT_RESTART_ON_ERROR)
            }
            "recipients" => s.recipients = text(),
            "identity" => s.identity = text(),
            "endpoint-url" => s.endpoint_url = text(),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "stream-name" => s.stream_name.to_value(),
            "aws-region" => s.aws_region.to_value(),
            "iot-certificate" => s.iot_certificate.to_value(),
            "access-key" => s.access_key.to_value(),
            "fragment-duration" => s.fragment_duration_ms.to_value(),
            "storage-size" => s.storage_size_mb.to_value(),
            "retention-period" => s.retention_period_hours.to_value(),
            "restart-on-error" => s.restart_on_error.to_value(),
            "recipients" => s.recipients.to_value(),
            "identity" => s.identity.to_value(),
            "endpoint-url" => s.endpoint_url.to_value(),
            // secret-key, session-token: write-only, never read back.
            _ => None::<String>.to_value(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Like kvssink, not clock-synchronised: live sources pace themselves,
        // and a file streams as fast as KVS accepts it.
        self.obj().set_sync(false);
    }
}

impl GstObjectImpl for KvsE2eeSink {}

impl ElementImpl for KvsE2eeSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Kinesis Video Streams end-to-end encrypting sink",
                "Sink/Network",
                "Encrypts H.264/H.265 end to end (kvs-e2ee) and streams it to Amazon Kinesis Video \
                 Streams; a drop-in for kvssink with recipients and identity properties",
                "kvs-e2ee developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = kvs_e2ee_producer::gst::accepted_caps();
            let sink = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .expect("the sink pad template is valid");
            vec![sink]
        });
        TEMPLATES.as_ref()
    }
}

impl KvsE2eeSink {
    /// Posts the engine's counters as a `kvse2eesink-stats` element message.
    fn post_stats(element: &super::KvsE2eeSink, s: EngineStats, last: bool) {
        let structure = gst::Structure::builder(STATS_MESSAGE)
            .field("fragments", s.fragments)
            .field("fragments-persisted", s.fragments_persisted)
            .field("fragments-resent", s.fragments_resent)
            .field("dropped-fragments", s.dropped_fragments)
            .field("bytes-sent", s.bytes_sent)
            .field("connections", s.connections)
            .field("reconnects", s.reconnects)
            .field("rotations", s.rotations)
            .field("eos", last)
            .build();
        let _ = element.post_message(
            gst::message::Element::builder(structure)
                .src(element)
                .build(),
        );
    }

    /// Reports why the session ended as an element error.
    fn post_session_error(&self, e: &SessionError) {
        if e.is_input() {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
        } else {
            gst::element_imp_error!(self, gst::ResourceError::Write, ("{}", e));
        }
    }

    /// The engine stopped taking frames: collect and report its error.
    fn session_ended(&self, started: &mut Started) -> gst::FlowError {
        match started.session.finish() {
            Err(SessionError::Interrupted) => gst::FlowError::Flushing,
            Err(e) => {
                self.post_session_error(&e);
                gst::FlowError::Error
            }
            Ok(_) => {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Write,
                    ("the stream ended before EOS")
                );
                gst::FlowError::Error
            }
        }
    }

    fn send(&self, started: &mut Started, event: SourceEvent) -> Result<(), gst::FlowError> {
        match started.session.send(event) {
            Ok(()) => Ok(()),
            Err(SendError::Flushing) => Err(gst::FlowError::Flushing),
            Err(SendError::Ended) => Err(self.session_ended(started)),
        }
    }
}

impl BaseSinkImpl for KvsE2eeSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        gst::debug!(CAT, imp = self, "starting with {settings:?}");
        if settings.iot_certificate.is_some() {
            gst::info!(
                CAT,
                imp = self,
                "credentials from the {IOT_STRUCTURE} property"
            );
        }
        let validated = settings
            .validate()
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        self.flushing.send_replace(false);
        let weak = self.obj().downgrade();
        let session = Session::start(validated, self.flushing.clone(), move |stats| {
            if let Some(element) = weak.upgrade() {
                Self::post_stats(&element, stats, false);
            }
        })
        .map_err(|e| match e {
            SessionError::Credentials(_) => {
                gst::error_msg!(gst::ResourceError::NotAuthorized, ("{}", e))
            }
            _ => gst::error_msg!(gst::ResourceError::OpenWrite, ("{}", e)),
        })?;
        gst::info!(CAT, imp = self, "stream {} is ready", settings.stream_name);
        *lock(&self.state) = State::Started(Box::new(Started {
            session,
            input: VideoInput::default(),
        }));
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let State::Started(started) = std::mem::take(&mut *lock(&self.state)) {
            started.session.stop();
        }
        Ok(())
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let mut state = lock(&self.state);
        let State::Started(started) = &mut *state else {
            return Err(gst::loggable_error!(CAT, "caps before start"));
        };
        let events = started.input.set_caps(caps).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
            gst::loggable_error!(CAT, "{e}")
        })?;
        gst::debug!(CAT, imp = self, "caps {caps}");
        for event in events {
            self.send(started, event)
                .map_err(|e| gst::loggable_error!(CAT, "cannot start the track: {e:?}"))?;
        }
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = lock(&self.state);
        let State::Started(started) = &mut *state else {
            return Err(gst::FlowError::Flushing);
        };
        let events = started.input.buffer(buffer).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
            gst::FlowError::Error
        })?;
        for event in events {
            self.send(started, event)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            let mut state = lock(&self.state);
            if let State::Started(started) = &mut *state {
                gst::info!(
                    CAT,
                    imp = self,
                    "EOS: flushing and waiting for the last PERSISTED ack"
                );
                match started.session.finish() {
                    Ok(stats) => {
                        gst::info!(
                            CAT,
                            imp = self,
                            "all {} fragments persisted",
                            stats.fragments_persisted
                        );
                        Self::post_stats(&self.obj(), stats, true);
                    }
                    Err(SessionError::Interrupted) => {}
                    Err(e) => {
                        self.post_session_error(&e);
                        return false;
                    }
                }
            }
        }
        self.parent_event(event)
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.send_replace(true);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.send_replace(false);
        Ok(())
    }
}
