#!/usr/bin/env bash
# Installs the Debian programs the workspace tests use (idempotent; a fast no-op once done):
#   ffmpeg (ffprobe checks the media files rtcpeer writes), coturn (the TURN server of the TURN tests),
#   nftables, iproute2 and python3 (the network-namespace tests: NAT routers, links, the impairment
#   relay scripts/netns/impair.py; crates/rtcpeer-cli/tests/netns.rs).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
missing=()
for pkg in ffmpeg coturn nftables iproute2 python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  if ! $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
