//! jsep (to be written).
