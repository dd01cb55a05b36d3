//! `kvse2eesink`'s implementation: properties (named like `kvssink`'s),
//! settings, state, the request pads `video_%u` and `audio_%u` (as
//! `kvssink`'s), and the element's virtual methods. Interleaving is
//! `collect.rs`; media and engine work is delegated to the producer's
//! `gst::input`/`gst::audio` and to `bridge.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use kvs_e2ee_aws::settings::SecretText;
use kvs_e2ee_producer::engine::EngineStats;
use kvs_e2ee_producer::gst_input::audio::AudioInput;
use kvs_e2ee_producer::gst_input::input::{Timeline, VideoInput};
use kvs_e2ee_producer::media::{SourceEvent, TrackInfo};
use tokio::sync::watch;

use super::bridge::{SendError, Session, SessionError};
use super::collect::{Collector, PadKind, Refused};
use super::settings::{IOT_STRUCTURE, Settings};
use super::{CAT, STATS_MESSAGE};

/// kvssink's defaults, so a pipeline that relied on them behaves the same.
const DEFAULT_STREAM_NAME: &str = "DEFAULT_STREAM";
const DEFAULT_AWS_REGION: &str = "us-west-2";
const DEFAULT_FRAGMENT_DURATION_MS: u32 = 2000;
const DEFAULT_STORAGE_SIZE_MB: u32 = 128;
const DEFAULT_RETENTION_PERIOD_HOURS: u32 = 2;
const DEFAULT_RESTART_ON_ERROR: bool = true;
/// Ours, not kvssink's: the producer's `--frame-cipher` default.
const DEFAULT_FRAME_CIPHER: &str = "auto";

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
            ca_bundle: None,
            frame_cipher: DEFAULT_FRAME_CIPHER.into(),
        }
    }
}

/// Names of the request pad templates, as `kvssink`'s.
const VIDEO_TEMPLATE: &str = "video_%u";
const AUDIO_TEMPLATE: &str = "audio_%u";

/// A streaming session and what the element tracks of its input.
struct Started {
    session: Session,
    video: VideoInput,
    audio: AudioInput,
    /// One timeline for both pads, so audio and video keep their distance.
    timeline: Timeline,
    /// The video track as the video input last described it.
    video_track: Option<TrackInfo>,
    /// The track set last sent to the engine.
    sent_tracks: Option<Vec<TrackInfo>>,
    /// Audio frames dropped because no video track was known yet (they would
    /// precede the first key frame, which the engine skips anyway).
    audio_before_video: u64,
}

#[derive(Default)]
enum State {
    #[default]
    Stopped,
    Started(Box<Started>),
}

/// The request pads in use (at most one of each, as `kvssink`).
#[derive(Default)]
struct Pads {
    video: Option<gst::Pad>,
    audio: Option<gst::Pad>,
}

impl Pads {
    fn slot(&mut self, kind: PadKind) -> &mut Option<gst::Pad> {
        match kind {
            PadKind::Video => &mut self.video,
            PadKind::Audio => &mut self.audio,
        }
    }
}

/// The element's instance data. Lock order: `pads` → the collector → `state`.
pub struct KvsE2eeSink {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Set on flush and on the way down to READY so a streaming thread
    /// blocked on a full channel (or EOS waiting for acks) returns; kept
    /// outside `state`, which that thread holds.
    flushing: watch::Sender<bool>,
    /// Interleaves the pads' buffers in timestamp order.
    collector: Collector<gst::Buffer>,
    pads: Mutex<Pads>,
    /// Whether a video pad exists (read while the collector is locked, where
    /// `pads` may not be taken).
    has_video: AtomicBool,
}

impl Default for KvsE2eeSink {
    fn default() -> Self {
        Self {
            settings: Mutex::default(),
            state: Mutex::default(),
            flushing: watch::Sender::new(false),
            collector: Collector::default(),
            pads: Mutex::default(),
            has_video: AtomicBool::new(false),
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
    type ParentType = gst::Element;
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
                string_prop("ca-bundle", "PEM file of CAs to trust for the endpoints besides the system roots (e.g. kvs-local's DATA_DIR/ca.pem); default: AWS_CA_BUNDLE", None),
                // A string, not an enum, so that a wrong value is reported at
                // state change naming the property, like the others.
                string_prop(
                    "frame-cipher",
                    "Frame cipher: auto (AES-256-GCM on CPUs with AES instructions, else ChaCha20-Poly1305), \
                     chacha20-poly1305 or aes-256-gcm; viewers read both",
                    Some(DEFAULT_FRAME_CIPHER),
                ),
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
            // Moved into zeroizing storage; GLib's copy in `value` is freed
            // (not wiped) by GLib, which we cannot change.
            "secret-key" => s.secret_key = text().map(SecretText::new),
            "session-token" => s.session_token = text().map(SecretText::new),
            "fragment-duration" => s.fragment_duration_ms = uint(),
            "storage-size" => s.storage_size_mb = uint(),
            "retention-period" => s.retention_period_hours = uint(),
            "restart-on-error" => {
                s.restart_on_error = value.get().unwrap_or(DEFAULT_RESTART_ON_ERROR)
            }
            "recipients" => s.recipients = text(),
            "identity" => s.identity = text(),
            "endpoint-url" => s.endpoint_url = text(),
            "ca-bundle" => s.ca_bundle = text(),
            "frame-cipher" => {
                s.frame_cipher = text().unwrap_or_else(|| DEFAULT_FRAME_CIPHER.into())
            }
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
            "ca-bundle" => s.ca_bundle.to_value(),
            "frame-cipher" => s.frame_cipher.to_value(),
            // secret-key, session-token: write-only, never read back.
            _ => None::<String>.to_value(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // A sink: bins wait for its EOS message. Like kvssink, it is not
        // clock-synchronised: live sources pace themselves, and a file
        // streams as fast as KVS accepts it.
        self.obj().set_element_flags(gst::ElementFlags::SINK);
    }
}

impl GstObjectImpl for KvsE2eeSink {}

impl ElementImpl for KvsE2eeSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Kinesis Video Streams end-to-end encrypting sink",
                "Sink/Network",
                "Encrypts H.264/H.265 video and optional AAC/G.711 audio end to end (kvs-e2ee) \
                 and streams it to Amazon Kinesis Video Streams; a drop-in for kvssink with \
                 recipients and identity properties",
                "kvs-e2ee developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let template = |name, caps: gst::Caps| {
                gst::PadTemplate::new(
                    name,
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &caps,
                )
                .expect("the request pad templates are valid")
            };
            vec![
                template(
                    VIDEO_TEMPLATE,
                    kvs_e2ee_producer::gst_input::accepted_caps(),
                ),
                template(
                    AUDIO_TEMPLATE,
                    kvs_e2ee_producer::gst_input::audio::accepted_caps(),
                ),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let (kind, pad_name) = match templ.name_template() {
            VIDEO_TEMPLATE => (PadKind::Video, "video_0"),
            AUDIO_TEMPLATE => (PadKind::Audio, "audio_0"),
            other => {
                gst::warning!(CAT, imp = self, "not our pad template: {other}");
                return None;
            }
        };
        if name.is_some_and(|n| n != pad_name) {
            gst::warning!(
                CAT,
                imp = self,
                "custom pad names are not supported; the pad is {pad_name}"
            );
        }
        let mut pads = lock(&self.pads);
        if let Some(existing) = pads.slot(kind) {
            // Like kvssink: a KVS stream has one video track and at most one
            // audio track. Said on the bus too, since gst-launch-1.0 only
            // reports that the link failed.
            let what = match kind {
                PadKind::Video => "video",
                PadKind::Audio => "audio",
            };
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                (
                    "kvse2eesink takes one {what} stream and already has {}; \
                     a Kinesis video stream carries one video and at most one audio track",
                    existing.name()
                )
            );
            return None;
        }
        let pad = gst::Pad::builder_from_template(templ)
            .name(pad_name)
            .chain_function(move |pad, parent, buffer| {
                KvsE2eeSink::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.chain(pad, kind, buffer),
                )
            })
            .event_function(move |_pad, parent, event| {
                KvsE2eeSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(kind, event),
                )
            })
            .build();
        self.collector.add_pad(kind);
        if kind == PadKind::Video {
            self.has_video.store(true, Ordering::SeqCst);
        }
        if let Err(e) = self.obj().add_pad(&pad) {
            gst::warning!(CAT, imp = self, "cannot add {pad_name}: {e}");
            self.collector.remove_pad(kind, |k, b| self.consume(k, b));
            return None;
        }
        *pads.slot(kind) = Some(pad.clone());
        gst::debug!(CAT, imp = self, "added {pad_name}");
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let mut pads = lock(&self.pads);
        let Some(kind) = [PadKind::Video, PadKind::Audio]
            .into_iter()
            .find(|k| pads.slot(*k).as_ref() == Some(pad))
        else {
            return;
        };
        *pads.slot(kind) = None;
        if kind == PadKind::Video {
            self.has_video.store(false, Ordering::SeqCst);
        }
        // The other pad no longer waits for this one.
        self.collector.remove_pad(kind, |k, b| self.consume(k, b));
        let _ = pad.set_active(false);
        let _ = self.obj().remove_pad(pad);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                self.start().map_err(|msg| {
                    self.post_error_message(msg);
                    gst::StateChangeError
                })?;
            }
            gst::StateChange::PausedToReady => {
                // Release the streaming threads (blocked in the collector, on
                // a full channel or in EOS's wait for acks) before the pads
                // are deactivated, which waits for them.
                self.flushing.send_replace(true);
                self.collector.flush_start();
            }
            _ => {}
        }
        let result = self.parent_change_state(transition);
        match transition {
            gst::StateChange::PausedToReady => self.stop(),
            gst::StateChange::ReadyToPaused if result.is_err() => self.stop(),
            _ => {}
        }
        result
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

    /// READY → PAUSED: validates the settings and sets up the stream.
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
        gst::info!(
            CAT,
            imp = self,
            "frames sealed with {}",
            validated.config.frame_cipher
        );
        self.flushing.send_replace(false);
        self.collector.reset();
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
            video: VideoInput::default(),
            audio: AudioInput::default(),
            timeline: Timeline::default(),
            video_track: None,
            sent_tracks: None,
            audio_before_video: 0,
        }));
        Ok(())
    }

    /// PAUSED → READY (pads inactive): ends the session without EOS.
    fn stop(&self) {
        if let State::Started(started) = std::mem::take(&mut *lock(&self.state)) {
            started.session.stop();
        }
    }

    fn chain(
        &self,
        pad: &gst::Pad,
        kind: PadKind,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(buffer) = running_time(pad, buffer) else {
            gst::trace!(CAT, obj = pad, "dropping a buffer outside the segment");
            return Ok(gst::FlowSuccess::Ok);
        };
        // Interleave on decode order (DTS), as collectpads does.
        let key = buffer.dts_or_pts().map(gst::ClockTime::nseconds);
        match self
            .collector
            .push(kind, key, buffer, |k, b| self.consume(k, b))
        {
            Ok(()) => Ok(gst::FlowSuccess::Ok),
            Err(Refused::Flushing) => Err(gst::FlowError::Flushing),
            Err(Refused::Failed(e)) => Err(e),
        }
    }

    /// One buffer, in interleaved order, into the engine (with the track set
    /// first when it changed). Runs with the collector locked.
    fn consume(&self, kind: PadKind, buffer: gst::Buffer) -> Result<(), gst::FlowError> {
        let mut state = lock(&self.state);
        let State::Started(started) = &mut *state else {
            return Err(gst::FlowError::Flushing);
        };
        let started = &mut **started;
        let input_error = |e: kvs_e2ee_producer::gst_input::input::MediaError| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
            gst::FlowError::Error
        };
        let events = match kind {
            PadKind::Video => started
                .video
                .buffer_on(&buffer, &mut started.timeline)
                .map_err(input_error)?,
            PadKind::Audio if started.video_track.is_none() => {
                if !self.has_video.load(Ordering::SeqCst) {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("kvse2eesink needs video on a video_%u pad: Kinesis Video Streams \
                          fragments start at video key frames, audio alone cannot be streamed")
                    );
                    return Err(gst::FlowError::Error);
                }
                if started.audio_before_video == 0 {
                    gst::debug!(
                        CAT,
                        imp = self,
                        "dropping audio until the video track is known"
                    );
                }
                started.audio_before_video += 1;
                return Ok(());
            }
            PadKind::Audio => vec![SourceEvent::Frame(
                started
                    .audio
                    .buffer(&buffer, &mut started.timeline)
                    .map_err(input_error)?,
            )],
        };
        for event in events {
            match event {
                SourceEvent::Tracks(tracks) => started.video_track = tracks.into_iter().next(),
                frame @ SourceEvent::Frame(_) => {
                    self.send_tracks(started)?;
                    self.send(started, frame)?;
                }
            }
        }
        Ok(())
    }

    /// Sends the track set (video, then audio) if it differs from the last
    /// one sent: the engine starts a new Matroska segment on a change.
    fn send_tracks(&self, started: &mut Started) -> Result<(), gst::FlowError> {
        let current = || started.video_track.iter().chain(started.audio.track());
        // Per frame: compare in place, copy only on a change.
        if started
            .sent_tracks
            .as_ref()
            .is_some_and(|sent| sent.iter().eq(current()))
        {
            return Ok(());
        }
        let tracks: Vec<TrackInfo> = current().cloned().collect();
        gst::info!(
            CAT,
            imp = self,
            "tracks: {}",
            tracks
                .iter()
                .map(|t| t.codec_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        started.sent_tracks = Some(tracks.clone());
        self.send(started, SourceEvent::Tracks(tracks))
    }

    fn sink_event(&self, kind: PadKind, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Caps(c) => self.set_caps(kind, c.caps()),
            gst::EventView::Eos(_) => {
                if self.collector.eos(kind, |k, b| self.consume(k, b)) {
                    return self.finish(event.seqnum());
                }
                true
            }
            gst::EventView::FlushStart(_) => {
                self.flushing.send_replace(true);
                self.collector.flush_start();
                true
            }
            gst::EventView::FlushStop(_) => {
                self.collector.reset();
                self.flushing.send_replace(false);
                true
            }
            // Nothing downstream to forward to; segments, tags and the like
            // are not needed (timestamps are placed on our own timeline).
            _ => true,
        }
    }

    /// New caps on `kind`'s pad; the track set is sent with the next frame.
    fn set_caps(&self, kind: PadKind, caps: &gst::CapsRef) -> bool {
        let mut state = lock(&self.state);
        let State::Started(started) = &mut *state else {
            gst::warning!(CAT, imp = self, "caps before start");
            return false;
        };
        gst::debug!(CAT, imp = self, "{kind:?} caps {caps}");
        let result = match kind {
            PadKind::Video => started.video.set_caps(caps).map(|events| {
                for event in events {
                    if let SourceEvent::Tracks(tracks) = event {
                        started.video_track = tracks.into_iter().next();
                    }
                }
            }),
            PadKind::Audio => started.audio.set_caps(caps).map(drop),
        };
        if let Err(e) = result {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
            return false;
        }
        true
    }

    /// EOS on every pad: flush, wait for the last PERSISTED ack, then post
    /// the final stats and EOS.
    fn finish(&self, seqnum: gst::Seqnum) -> bool {
        {
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
                    Err(SessionError::Interrupted) => return true,
                    Err(e) => {
                        self.post_session_error(&e);
                        return false;
                    }
                }
            }
        }
        let obj = self.obj();
        let _ = obj.post_message(
            gst::message::Eos::builder()
                .src(&*obj)
                .seqnum(seqnum)
                .build(),
        );
        true
    }
}

/// `buffer` with its timestamps turned into running time on `pad`'s segment,
/// as kvssink's collectpads clip function does; `None` for a buffer outside
/// the segment. Pads' timestamps can only be compared as running time:
/// encoders put their output segment far from zero (GstVideoEncoder starts
/// at 1000 h so that DTS before PTS stays positive) while an audio source
/// starts at 0.
fn running_time(pad: &gst::Pad, mut buffer: gst::Buffer) -> Option<gst::Buffer> {
    let Some(segment) = pad
        .sticky_event::<gst::event::Segment>(0)
        .and_then(|e| e.segment().clone().downcast::<gst::ClockTime>().ok())
    else {
        return Some(buffer);
    };
    let pts = match buffer.pts() {
        Some(pts) => Some(segment.to_running_time(pts)?),
        None => None,
    };
    let dts = buffer.dts().and_then(|dts| segment.to_running_time(dts));
    let b = buffer.make_mut();
    b.set_pts(pts);
    b.set_dts(dts);
    Some(buffer)
}
