//! Why a frame could not be packetized or a set of payloads could not be depacketized.

/// An error packetizing an encoded frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    /// The frame has no bytes.
    #[error("the frame is empty")]
    EmptyFrame,
    /// A codec that sends one frame per payload got a frame larger than a payload.
    #[error("the {len}-byte frame does not fit one {max_payload}-byte payload")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The largest payload allowed.
        max_payload: usize,
    },
    /// The largest payload allowed leaves no room for the payload format's headers.
    #[error("a maximum payload of {max_payload} bytes is below the {minimum} bytes this format needs")]
    MaxPayloadTooSmall {
        /// The largest payload allowed.
        max_payload: usize,
        /// The smallest the payload format can work with.
        minimum: usize,
    },
    /// The frame is not what the codec's bitstream says a frame looks like.
    #[error("malformed frame: {0}")]
    MalformedFrame(&'static str),
    /// The payload format carries no frames of its own (RTX).
    #[error("this payload format carries no frames")]
    NoFrames,
}

/// An error rebuilding a frame from its RTP payloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    /// No payloads were given.
    #[error("no payloads were given")]
    NoPayloads,
    /// The payload format carries no frames of its own (RTX).
    #[error("this payload format carries no frames")]
    NoFrames,
    /// A payload has no bytes (or nothing after its payload descriptor).
    #[error("a payload is empty")]
    EmptyPayload,
    /// An audio codec got several payloads for one frame.
    #[error("{0} payloads for a codec that sends one payload per frame")]
    OnePayloadPerFrame(usize),
    /// A header or length field runs past the end of the payload.
    #[error("{0} runs past the end of the payload")]
    Truncated(&'static str),
    /// The first payload does not carry the codec's start-of-frame flag.
    #[error("the first payload does not start a frame")]
    NotFrameStart,
    /// A later payload carries the start-of-frame flag.
    #[error("payload {0} starts a new frame in the middle of one")]
    FrameRestarted(usize),
    /// The last payload leaves the frame (or a fragment) unfinished.
    #[error("the last payload does not finish the frame")]
    NotFrameEnd,
    /// A payload does not continue what the previous payload left open, or continues
    /// something that was never started.
    #[error("payload {0} does not continue the previous one")]
    Discontinuity(usize),
    /// The payloads of one frame disagree on the picture id.
    #[error("picture id {found} in a frame that started with picture id {first}")]
    PictureIdMismatch {
        /// The picture id of the first payload.
        first: u16,
        /// The differing picture id.
        found: u16,
    },
    /// An Opus packet breaks the framing rules of RFC 6716 section 3.
    #[error("malformed Opus packet: {0}")]
    Opus(&'static str),
    /// An H.264 NAL unit type that is reserved, or not allowed in packetization-mode 1.
    #[error("H.264 NAL unit type {0} is not allowed in packetization-mode 1")]
    UnsupportedNalType(u8),
    /// An AV1 OBU (or its element in a payload) is malformed.
    #[error("malformed AV1 OBU: {0}")]
    Av1(&'static str),
    /// A LEB128 length is longer than 8 bytes or larger than 2^32 - 1.
    #[error("a LEB128 length is too long or too large")]
    BadLeb128,
}
