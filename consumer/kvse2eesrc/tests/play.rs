//! `kvs-e2ee-consumer --play`'s playback (`kvs_e2ee_consumer::play`, feature
//! `gstreamer`) headless: a stream published with `kvse2eesink` (300 frames)
//! is read from kvs-local, verified, and played into a `fakesink` video sink
//! that plays in real time (`sync=true`) — every frame is decoded and shown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use gst::prelude::*;
use kvs_e2ee_aws::config::{ConfigOptions, CredentialSource};
use kvs_e2ee_consumer::play::{PlayOptions, Player};
use kvs_e2ee_consumer::run::{Config, Mode, Start};
use kvs_e2ee_keys::{Identity, KeyKind, KeyList, PairFiles};
use kvs_local::Server;

const SOURCE: &str = "videotestsrc num-buffers=300 ! video/x-raw,width=160,height=120,framerate=30/1 \
                      ! x264enc key-int-max=30 speed-preset=ultrafast tune=zerolatency ! h264parse";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_decodes_and_shows_every_frame_headless() {
    gst::init().unwrap();
    gstkvse2ee::plugin_register_static().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    PairFiles::generate(path, &mut rng).unwrap();
    let server = Server::start(kvs_local::Config::new(path.join("kvs")))
        .await
        .unwrap();
    let c = server.admin_credentials();

    // Publish with the sink element.
    let publish = format!(
        "{SOURCE} ! kvse2eesink stream-name=movie aws-region={} endpoint-url={} identity={} \
         recipients={} access-key={} secret-key={}",
        server.region(),
        server.control_url(),
        path.join("camera.key").display(),
        path.join("recipients.txt").display(),
        c.access_key_id(),
        c.secret_access_key(),
    );
    tokio::time::timeout(
        Duration::from_secs(40),
        tokio::task::spawn_blocking(move || {
            let pipeline = gst::parse::launch(&publish).unwrap();
            pipeline.set_state(gst::State::Playing).unwrap();
            let bus = pipeline.bus().unwrap();
            let msg = bus
                .timed_pop_filtered(
                    gst::ClockTime::from_seconds(40),
                    &[gst::MessageType::Eos, gst::MessageType::Error],
                )
                .expect("the publishing pipeline ended");
            assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
            pipeline.set_state(gst::State::Null).unwrap();
        }),
    )
    .await
    .expect("published in time")
    .unwrap();

    // Play it back as `--play --start earliest --until-current` does.
    let player = Player::new(&PlayOptions {
        video_sink: "fakesink sync=true".into(),
        audio_sink: "fakesink".into(),
    })
    .unwrap();
    let config = Config {
        stream: "movie".into(),
        identities: Identity::load_kind(&path.join("viewer.key"), KeyKind::Viewer)
            .unwrap()
            .secrets()
            .cloned()
            .collect(),
        trusted_cameras: KeyList::load(&path.join("cameras.txt"), KeyKind::Camera)
            .unwrap()
            .keys()
            .copied()
            .collect(),
        mode: Mode::Live {
            start: Start::Earliest,
            until_current: true,
        },
        max_duration: Some(Duration::from_secs(30)),
        keep_going: false,
        inspect: false,
        client: ConfigOptions {
            region: Some(server.region().to_owned()),
            endpoint_url: Some(server.control_url().to_owned()),
            credentials: CredentialSource::Static(c),
            media_stall_grace: None,
            ca_bundle: None,
        },
        catch_up_idle: Duration::from_secs(1),
        progress: None,
        stop: None,
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(35),
        kvs_e2ee_consumer::run_with_output(config, Box::new(player.writer())),
    )
    .await
    .expect("the read finished in time")
    .unwrap();
    assert!(outcome.success(), "{}", outcome.summary);
    let frames = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || player.finish()),
    )
    .await
    .expect("playback finished in time (timestamps play in real time, not from the epoch)")
    .unwrap()
    .unwrap();
    assert_eq!(frames, 300, "every frame was decoded and shown");
}
