//! `get_stats` over real loopback sockets: the report's JSON parses, holds the browser's
//! types, and counts what the data channel carried.

mod common;

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use rtcpeer::{DataChannelMessage, RTCStatsReport, StatsKind, StatsType, TransceiverId};

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        * 1000.0
}

fn types(json: &serde_json::Value) -> BTreeSet<String> {
    json.as_object()
        .expect("an object keyed by id")
        .values()
        .filter_map(|v| v["type"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn get_stats_reports_the_transport_and_the_channel_in_browser_json() {
    let (mut pair, _) = connected_pair().await;
    let messages = ["one", "two", "three"];
    for m in messages {
        pair.offerer_channel.send_text(m).await.expect("send");
        assert_eq!(
            next_message(&mut pair.answerer_channel).await,
            DataChannelMessage::Text(m.into())
        );
    }
    let before = now_ms();
    let offerer: RTCStatsReport = pair.offerer.get_stats().await.expect("offerer stats");
    let answerer = pair.answerer.get_stats().await.expect("answerer stats");
    let after = now_ms();

    for report in [&offerer, &answerer] {
        assert!(
            report.dangling_references().is_empty(),
            "{:?}",
            report.dangling_references()
        );
        assert!(report.iter().all(|s| (before..=after).contains(&s.timestamp)));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON parses");
        let expected: BTreeSet<String> = [
            "peer-connection",
            "transport",
            "candidate-pair",
            "local-candidate",
            "remote-candidate",
            "certificate",
            "data-channel",
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        assert_eq!(types(&json), expected);
        let transport = report.of_type(StatsType::Transport).next().expect("transport");
        let t = &json[&transport.id];
        assert_eq!(t["dtlsState"], "connected");
        let pair_id = t["selectedCandidatePairId"].as_str().expect("a selected pair");
        assert_eq!(json[pair_id]["state"], "succeeded");
        assert!(json[pair_id]["bytesSent"].as_u64().unwrap() > 0);
    }

    let channel = |report: &RTCStatsReport| match &report.of_type(StatsType::DataChannel).next().expect("channel").kind
    {
        StatsKind::DataChannel(c) => c.clone(),
        other => panic!("{other:?}"),
    };
    let (sent, received) = (channel(&offerer), channel(&answerer));
    let bytes: u64 = messages.iter().map(|m| m.len() as u64).sum();
    assert_eq!((sent.messages_sent, sent.bytes_sent), (3, bytes));
    assert_eq!((received.messages_received, received.bytes_received), (3, bytes));
    assert_eq!(sent.label, received.label);

    // No transceiver: the selector forms have nothing to report.
    let none = pair
        .offerer
        .get_sender_stats(TransceiverId(0))
        .await
        .expect("sender stats");
    assert!(none.is_empty());
    assert!(pair
        .offerer
        .get_receiver_stats(TransceiverId(0))
        .await
        .expect("receiver stats")
        .is_empty());

    pair.offerer.close().await;
    assert!(
        pair.offerer.get_stats().await.is_err(),
        "a closed connection's task is gone"
    );
    pair.answerer.close().await;
}
