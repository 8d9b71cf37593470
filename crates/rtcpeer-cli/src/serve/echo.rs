//! Echoing a data channel: every message the remote sends comes back unchanged.
//!
//! Kept here until the shared `echo` module of the CLI lands; then the server uses that one.

use rtcpeer::{DataChannelEvent, RTCDataChannel};
use tracing::{debug, warn};

/// Sends every message received on `channel` back on it, text as text and binary as binary,
/// until the channel closes.
pub async fn echo_channel(mut channel: RTCDataChannel) {
    while let Some(event) = channel.next_event().await {
        match event {
            DataChannelEvent::Message(message) => {
                if let Err(error) = channel.send_message(message).await {
                    warn!(label = channel.label(), %error, "echo failed");
                    break;
                }
            }
            DataChannelEvent::Close => break,
            other => debug!(label = channel.label(), ?other, "channel event"),
        }
    }
}
