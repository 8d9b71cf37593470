//! The `rtcpeer` command-line tool.
fn main() {}
