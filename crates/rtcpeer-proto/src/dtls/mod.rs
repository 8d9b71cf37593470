//! dtls (to be written).
