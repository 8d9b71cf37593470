#!/usr/bin/env bash
# The project's one test command, run by developers and by CI (.ci/run):
# formatting, lints with warnings as errors, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
if [ -z "${RTCPEER_PLAIN_CARGO:-}" ] && cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace
    cargo test --workspace --doc
else
    cargo test --workspace
fi
