//! The receive jitter buffer: RTP payloads of one stream in, complete frames out, in order.
