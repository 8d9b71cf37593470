#!/bin/sh
# Runs a command beside a coturn, inside the caller's network namespace (ns.sh): the TURN server of
# the `relay` cells.
#   turn_cell.sh LOGDIR CMD [ARGS...]
# coturn listens on 127.0.0.1:3478 (UDP and TCP) with the long-term user test:test, relays from
# 127.0.0.1:49160-49200 and may relay to loopback peers (both peers' relayed candidates are on
# 127.0.0.1, so without --allow-loopback-peers the relayed packets would vanish). Its log goes to
# LOGDIR/turn.log (--verbose: every request, refresh and deletion). The exit code is CMD's; coturn
# is stopped when CMD ends.
set -eu
logs=$1
shift
mkdir -p "$logs"
turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port=3478 \
  --lt-cred-mech --user=test:test --realm=example.org --fingerprint --no-tls --no-dtls \
  --no-cli --allow-loopback-peers --min-port=49160 --max-port=49200 \
  --userdb="$logs/turndb" --pidfile="$logs/turn.pid" --log-file="$logs/turn.log" \
  --simple-log --no-stdout-log --verbose </dev/null >/dev/null 2>&1 &
turn=$!
trap 'kill "$turn" 2>/dev/null; wait "$turn" 2>/dev/null || true' EXIT
tries=0
until python3 -c 'import socket; socket.create_connection(("127.0.0.1", 3478), 0.2).close()' 2>/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 100 ] || ! kill -0 "$turn" 2>/dev/null; then
    echo "turn_cell.sh: coturn did not start listening; log:" >&2
    cat "$logs/turn.log" >&2 2>/dev/null || true
    exit 5
  fi
  sleep 0.1
done
set +e
"$@"
code=$?
exit "$code"
