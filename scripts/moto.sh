#!/usr/bin/env bash
# moto S3 emulator on a free loopback port for tests (state in memory, gone on stop).
# Usage: scripts/moto.sh start|stop|env   State: $OQ_SERVERS_DIR/moto (default tmp/servers/moto)
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

DIR="$SERVERS_DIR/moto"

stop() { kill_pidfile "$DIR/pid" moto_server; rm -f "$DIR/port"; }

start() {
  if alive "$DIR/pid" && [ -s "$DIR/port" ]; then return 0; fi # already up
  command -v moto_server >/dev/null || die "moto_server not found; install it with: pip install 'moto[server]'"
  stop # leftovers of a crashed run
  mkdir -p "$DIR"
  local port try
  for try in 1 2 3; do # retry: another process may grab the free port before moto binds it
    port=$(free_port)
    # $! is moto itself: a pyenv shim exec()s into python, it does not fork.
    moto_server -H 127.0.0.1 -p "$port" </dev/null >"$DIR/moto.log" 2>&1 &
    echo $! >"$DIR/pid"
    if wait_http "http://127.0.0.1:$port/" 30 "$!"; then echo "$port" >"$DIR/port"; return 0; fi
    stop
  done
  tail -n 20 "$DIR/moto.log" >&2
  die "moto_server did not answer (log: $DIR/moto.log)"
}

env_() {
  alive "$DIR/pid" && [ -s "$DIR/port" ] || die "moto is not running (scripts/moto.sh start)"
  echo "OQ_TEST_MOTO_URL=http://127.0.0.1:$(cat "$DIR/port")"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_ ;;
  *) die "usage: $0 start|stop|env" ;;
esac
