#!/bin/bash
# Starts Chromium with every --disable-features=… / --enable-features=… switch
# merged into one each: Chromium honours only the last of each, and Playwright
# passes its own list, which would otherwise drop ours (or ours drop its).
set -euo pipefail
args=()
disabled=()
enabled=()
for a in "$@"; do
  case "$a" in
    --disable-features=*) disabled+=("${a#--disable-features=}") ;;
    --enable-features=*) enabled+=("${a#--enable-features=}") ;;
    *) args+=("$a") ;;
  esac
done
merged=()
join() { local IFS=,; echo "$*"; }
if ((${#disabled[@]})); then merged+=("--disable-features=$(join "${disabled[@]}")"); fi
if ((${#enabled[@]})); then merged+=("--enable-features=$(join "${enabled[@]}")"); fi
exec "${CHROMIUM_BIN:-/usr/lib/chromium/chromium}" "${merged[@]}" "${args[@]}"
