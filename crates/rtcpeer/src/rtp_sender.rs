//! `RTCRtpSender` and `RTCRtpReceiver` as the application reads them: snapshots taken from the
//! connection's transceivers (`getSenders()` and `getReceivers()` list the senders and receivers
//! of the transceivers that are not stopped, as in webrtc-pc §4.4.1).

use crate::proto::{Codec, MediaType, TrackInit, TransceiverId, TransceiverInfo};

/// `RTCRtpSender`: what one transceiver sends.
#[derive(Debug, Clone, PartialEq)]
pub struct RTCRtpSender {
    /// The transceiver it belongs to (the handle for `replace_track`, `get_parameters`, …).
    pub transceiver: TransceiverId,
    /// The kind of media it sends.
    pub kind: MediaType,
    /// `sender.track`: the track it sends, `None` when it has none.
    pub track: Option<TrackInit>,
    /// The codec it sends with, once negotiated.
    pub codec: Option<Codec>,
}

/// `RTCRtpReceiver`: what one transceiver receives.
#[derive(Debug, Clone, PartialEq)]
pub struct RTCRtpReceiver {
    /// The transceiver it belongs to.
    pub transceiver: TransceiverId,
    /// The kind of media it receives.
    pub kind: MediaType,
    /// `receiver.track.id`: every receiver has a track, from the transceiver's creation on.
    pub track_id: String,
    /// The codecs it may receive, once negotiated.
    pub codecs: Vec<Codec>,
}

/// The senders of the transceivers that are not stopped, in transceiver order.
pub(crate) fn senders(transceivers: &[TransceiverInfo]) -> Vec<RTCRtpSender> {
    transceivers
        .iter()
        .filter(|t| !t.stopped)
        .map(|t| RTCRtpSender {
            transceiver: t.id,
            kind: t.kind,
            track: t.sender_track.clone(),
            codec: t.send_codec,
        })
        .collect()
}

/// The receivers of the transceivers that are not stopped, in transceiver order.
pub(crate) fn receivers(transceivers: &[TransceiverInfo]) -> Vec<RTCRtpReceiver> {
    transceivers
        .iter()
        .filter(|t| !t.stopped)
        .map(|t| RTCRtpReceiver {
            transceiver: t.id,
            kind: t.kind,
            track_id: t.receiver_track_id.clone(),
            codecs: t.receive_codecs.clone(),
        })
        .collect()
}
