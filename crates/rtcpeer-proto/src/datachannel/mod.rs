//! datachannel (to be written).
