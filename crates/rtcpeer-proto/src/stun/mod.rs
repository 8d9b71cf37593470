//! stun (to be written).
