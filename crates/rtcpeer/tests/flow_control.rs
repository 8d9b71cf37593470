//! Flow control in both directions over real loopback sockets.

mod common;

use std::time::Duration;

use common::{connected_pair, next_message, PATIENCE};
use rtcpeer::{DataChannelMessage, RECEIVE_BACKLOG_LIMIT, SEND_HIGH_WATER_MARK};
use tokio::time::timeout;

const MESSAGE: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_while_the_channel_buffers_more_than_the_high_water_mark() {
    let (mut pair, _) = connected_pair().await;
    let count = 3 * SEND_HIGH_WATER_MARK / MESSAGE;
    let sender = pair.offerer_channel.clone();
    let sending = tokio::spawn(async move {
        let mut highest = 0;
        for i in 0..count {
            sender.send(&vec![i as u8; MESSAGE]).await.expect("send");
            highest = highest.max(sender.buffered_amount());
        }
        highest
    });
    for i in 0..count {
        assert_eq!(
            next_message(&mut pair.answerer_channel).await,
            DataChannelMessage::Binary(vec![i as u8; MESSAGE])
        );
    }
    let highest = timeout(PATIENCE, sending).await.expect("sends finish").expect("sender");
    assert!(
        highest <= SEND_HIGH_WATER_MARK + MESSAGE,
        "bufferedAmount reached {highest}, above the high-water mark {SEND_HIGH_WATER_MARK} plus one message"
    );
    pair.offerer.close().await;
    pair.answerer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_does_not_read_stops_the_network_and_loses_nothing() {
    let (mut pair, _) = connected_pair().await;
    // More than the backlog allows, so the receiving task has to stop reading its sockets.
    let count = RECEIVE_BACKLOG_LIMIT / MESSAGE + 64;
    let sender = pair.offerer_channel.clone();
    let sending = tokio::spawn(async move {
        for i in 0..count {
            if sender.send(&vec![(i % 251) as u8; MESSAGE]).await.is_err() {
                return i;
            }
        }
        count
    });
    // Nobody reads. The task reads its sockets until the unread messages fill the backlog…
    timeout(PATIENCE, async {
        while pair.answerer.transport_stats().await.expect("stats").bytes_received < RECEIVE_BACKLOG_LIMIT as u64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the receiver reads until its backlog is full");
    // …and then stops, although the sender has megabytes more to give.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = pair.answerer.transport_stats().await.expect("stats");
    let ceiling = RECEIVE_BACKLOG_LIMIT as u64 * 11 / 10;
    assert!(
        stalled.bytes_received < ceiling,
        "the task kept reading past the backlog limit (+10% for headers): {stalled:?}"
    );
    assert!(!sending.is_finished(), "every send completed although nobody read");
    for i in 0..count {
        assert_eq!(
            next_message(&mut pair.answerer_channel).await,
            DataChannelMessage::Binary(vec![(i % 251) as u8; MESSAGE]),
            "message {i}"
        );
    }
    assert_eq!(
        timeout(PATIENCE, sending).await.expect("sends finish").expect("sender"),
        count
    );
    pair.offerer.close().await;
    pair.answerer.close().await;
}
