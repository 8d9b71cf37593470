//! sctp (to be written).
