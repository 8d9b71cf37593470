#!/bin/bash
# The interop matrix: rtcpeer against Chromium, Firefox and aiortc.
#   interop/run.sh [--peers chromium,firefox,aiortc] [--roles offer,answer]
#                  [--scenarios reliable,unordered,negotiated,close,serve-page,serve-whip,
#                               media-record,media-play,media-reflect,media-record-h264,...,
#                               perfect-negotiation]
#                  [--mdns on,off] [--count N] [--jobs N] [--out DIR]
#   serve-page / serve-whip: each browser against `rtcpeer serve` (serve_check.mjs).
#   media-*: media between each browser and `rtcpeer serve --record|--play|--reflect` (media_check.mjs).
#   relay: Chromium offers, rtcpeer answers, both relay-only through a coturn in the cell (turn_cell.sh).
#   simulcast-receive[-h264]: Chromium sends three rid layers to `rtcpeer serve --record` (simulcast_check.mjs).
#   perfect-negotiation: rtcpeer and Chromium both run the W3C pattern and change the connection at once.
#   interop/run.sh --self-check      the third-party peers against each other
# RTCPEER_BIN names the rtcpeer CLI (default target/release/rtcpeer).
# Installs what it needs first (setup.sh), then runs matrix.py; exit 1 if a cell fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/setup.sh"
exec python3 "$here/matrix.py" "$@"
