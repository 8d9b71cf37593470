#!/bin/bash
# Installs the third-party interop peers; idempotent and a fast no-op once done.
#   Debian: chromium, firefox-esr, ffmpeg (media cells), coturn (relay cell; apt-get update only when a package is missing)
#   interop/.venv: aiortc (wheels only)
#   interop/node_modules: playwright-core, puppeteer-core (from package-lock.json,
#   with every browser download switched off: the browsers come from Debian)
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1

say() { echo "setup: $*" >&2; }
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

missing=()
for pkg in chromium firefox-esr ffmpeg coturn; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
for tool in unshare ip; do
  command -v "$tool" >/dev/null || missing+=("$([ "$tool" = ip ] && echo iproute2 || echo util-linux)")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  if ! $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import aiortc' 2>/dev/null; then
  say "creating .venv with aiortc"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --only-binary=:all: aiortc
fi

if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/puppeteer-core ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
