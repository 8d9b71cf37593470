//! Helpers shared by the fuzz targets: a compact, socket-free network that
//! connects two sans-IO [`PeerConnection`]s, and a reader for the
//! length-prefixed operations the whole-connection targets decode from
//! their input.

#![forbid(unsafe_code)]

pub mod ops;
pub mod sim;
