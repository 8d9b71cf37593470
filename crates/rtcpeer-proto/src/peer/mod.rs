//! peer (to be written).
