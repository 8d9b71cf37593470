//! Where the shared SDP corpus is, for the tests that read it.

use std::path::PathBuf;

/// `shared/sdp-corpus` beside the repository root, or `$RTCPEER_SDP_CORPUS` when set
/// (for checkouts such as worktrees that do not sit beside `shared/`).
pub fn corpus_dir() -> PathBuf {
    let dir = match std::env::var_os("RTCPEER_SDP_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/sdp-corpus"),
    };
    assert!(
        dir.join("INDEX.md").is_file(),
        "the SDP corpus is missing: expected {} (the shared/ directory beside the repository root; or set RTCPEER_SDP_CORPUS)",
        dir.display()
    );
    dir
}
