//! Browser conformance, area 7 (data channels) on the runtime: what the application holds when
//! `datachannel` fires.

mod conformance_common;

use conformance_common::*;
use rtcpeer::DataChannelState;

#[tokio::test]
async fn dc18_dc19_dc20_the_remote_channel_is_open_when_announced_and_can_send_at_once() {
    let mut pair = connect(None).await.expect("connected");
    // `connect` returns the handle exactly as the `datachannel` event delivered it.
    assert_eq!(pair.answerer_channel.ready_state(), DataChannelState::Open);
    assert_eq!(pair.answerer_channel.label(), pair.offerer_channel.label());
    assert_eq!(pair.answerer_channel.id(), pair.offerer_channel.id());
    assert_eq!(pair.answerer_channel.ordered(), pair.offerer_channel.ordered());
    assert!(!pair.answerer_channel.negotiated());
    one_message(&mut pair, "after the event").await.expect("message");
    pair.offerer.close().await;
    pair.answerer.close().await;
}

#[tokio::test]
async fn dc15_a_channel_created_after_negotiation_has_its_id_at_once() {
    let pair = connect(None).await.expect("connected");
    let late = pair
        .answerer
        .create_data_channel("late", rtcpeer::DataChannelInit::default())
        .await
        .expect("late");
    let id = late.id().expect("an id at once");
    // The answerer is the DTLS client here (it answered `active`): even ids (RFC 8832 §6).
    assert_eq!(id % 2, 0);
    pair.offerer.close().await;
    pair.answerer.close().await;
}

#[tokio::test]
async fn dc20_closing_in_the_datachannel_handler_suppresses_open() {
    let mut pair = connect(None).await.expect("connected");
    // Nothing of the announced channel's stream has been read yet: close it "in the handler".
    pair.answerer_channel.close().await.expect("close");
    assert_eq!(pair.answerer_channel.ready_state(), DataChannelState::Closing);
    let mut events = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(std::time::Duration::from_secs(5), pair.answerer_channel.next_event()).await
    {
        events.push(event);
    }
    assert!(!events.contains(&rtcpeer::DataChannelEvent::Open), "{events:?}");
    assert_eq!(events.last(), Some(&rtcpeer::DataChannelEvent::Close), "{events:?}");
    assert_eq!(pair.answerer_channel.ready_state(), DataChannelState::Closed);
    pair.offerer.close().await;
    pair.answerer.close().await;
}
