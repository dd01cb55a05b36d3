//! ListFragments and GetMediaForFragmentList through the real
//! `aws-sdk-kinesisvideoarchivedmedia` client (`kvs_e2ee_aws::archive`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::media::{
    Frag, create_stream, describe, events_of, producer_mkv, put_media, start_media,
};
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::archive::{TimestampKind, get_media_for_fragment_list, list_fragments};
use kvs_e2ee_aws::config::ClientConfig;
use kvs_e2ee_aws::getmedia::{TAG_CONTINUATION_TOKEN, TAG_FRAGMENT_NUMBER};
use kvs_e2ee_mkv::Event;
use kvs_local::RunningServer;

async fn archive_client(server: &RunningServer) -> aws_sdk_kinesisvideoarchivedmedia::Client {
    let cfg = ClientConfig::load(server.admin_client_options())
        .await
        .unwrap();
    cfg.archive_client(server.data_endpoint_url())
}

fn ms(t: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(t)
}

#[tokio::test]
async fn list_fragments_and_get_media_for_fragment_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let frags: Vec<Frag> = (1..=5).map(|i| Frag::new(i * 1_000, 4)).collect();
    let acks = put_media(&server, "cam1", &producer_mkv(&frags)).await;
    let numbers: Vec<String> = acks
        .iter()
        .step_by(3)
        .map(|a| a.fragment_number.clone().unwrap())
        .collect();
    let client = archive_client(&server).await;
    let stream = StreamId::Name("cam1".into());

    let listed = list_fragments(
        &client,
        &stream,
        ms(2_000),
        ms(4_000),
        TimestampKind::Producer,
    )
    .await
    .unwrap();
    assert_eq!(
        listed.iter().map(|f| f.number.clone()).collect::<Vec<_>>(),
        numbers[1..4]
    );
    assert_eq!(listed[0].producer_timestamp, ms(2_000));
    assert_eq!(listed[0].duration_ms, 120);
    assert!(listed[0].size_bytes > 4 * 100);

    let now = SystemTime::now();
    let by_server = list_fragments(
        &client,
        &stream,
        now - Duration::from_secs(60),
        now + Duration::from_secs(60),
        TimestampKind::Server,
    )
    .await
    .unwrap();
    assert_eq!(by_server.len(), 5);

    // Paging: the raw SDK with MaxResults 2 and the NextToken.
    let mut pages = 0;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = client.list_fragments().stream_name("cam1").max_results(2);
        req = match token.take() {
            Some(t) => req.next_token(t),
            None => req.fragment_selector(
                aws_sdk_kinesisvideoarchivedmedia::types::FragmentSelector::builder()
                    .fragment_selector_type(
                        aws_sdk_kinesisvideoarchivedmedia::types::FragmentSelectorType::ProducerTimestamp,
                    )
                    .timestamp_range(
                        aws_sdk_kinesisvideoarchivedmedia::types::TimestampRange::builder()
                            .start_timestamp(ms(0).into())
                            .end_timestamp(ms(10_000).into())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            ),
        };
        let page = req.send().await.unwrap();
        pages += 1;
        seen.extend(
            page.fragments()
                .iter()
                .map(|f| f.fragment_number().unwrap().to_owned()),
        );
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, numbers);

    // GetMediaForFragmentList: the named fragments, in the order asked, each a segment with
    // KVS's head tags.
    let wanted = vec![numbers[3].clone(), numbers[0].clone()];
    let mut media = get_media_for_fragment_list(&client, &stream, &wanted)
        .await
        .unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(c) = media.next_chunk().await {
            bytes.extend_from_slice(&c.unwrap());
        }
    })
    .await
    .unwrap();
    let events = events_of(&bytes);
    let got: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Tags(t) => t.get_str(TAG_FRAGMENT_NUMBER).map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(got, wanted);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Tags(t) if t.get(TAG_CONTINUATION_TOKEN).is_some()))
    );
    assert_eq!(
        describe(&events)[..8],
        [
            "EBML",
            "Segment",
            "Info",
            "Tracks",
            &format!(
                "Tags({TAG_FRAGMENT_NUMBER},AWS_KINESISVIDEO_SERVER_TIMESTAMP,AWS_KINESISVIDEO_PRODUCER_TIMESTAMP)"
            ),
            "Cluster",
            "Frame×4",
            "/Cluster"
        ]
    );

    // An unknown fragment: ResourceNotFoundException.
    let err = get_media_for_fragment_list(
        &client,
        &stream,
        &["91343852333000000000000000000000000000000000001".into()],
    )
    .await
    .expect_err("unknown fragment");
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");
    server.shutdown().await;
}
