#!/bin/sh
# Runs a command in a private network namespace, so no peer can send anything
# off the machine:
#   lo      127.0.0.1 (and ::1), with multicast on
#   rtc0    a bridge with NO ports (nothing attached, nothing leaves through it)
#           holding 192.0.2.1/32 (RFC 5737 documentation address, exists only
#           inside this namespace; packets to it are delivered locally).
#   8.8.8.8/32 via rtc0, src 192.0.2.1: never used to send anything. Browsers
#           without media permission gather only on the address of their
#           "default route" probe, and Chromium ignores a loopback one: this
#           route makes that address 192.0.2.1 for both Chromium and Firefox.
#   224.0.0.0/4 via rtc0: where mDNS queries go (looped back to local sockets).
#   ns.sh CMD [ARGS...]
# Root needs only a new network namespace; anyone else also a user namespace.
if [ "$(id -u)" = 0 ]; then flags=-n; else flags=-rn; fi
exec unshare $flags sh -c '
  set -e
  ip link set lo up
  ip link add rtc0 type bridge
  ip addr add 192.0.2.1/32 dev rtc0
  ip link set rtc0 up
  ip route add 8.8.8.8/32 dev rtc0 src 192.0.2.1
  ip route add 224.0.0.0/4 dev rtc0
  exec "$@"' sh "$@"
