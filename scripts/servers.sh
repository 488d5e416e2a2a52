#!/usr/bin/env bash
# All test S3 servers: moto (required) and Ceph RGW (optional unless OQ_REQUIRE_CEPH=1).
# Usage: scripts/servers.sh start|stop|env
#   eval "$(scripts/servers.sh env)" or: set -a; . <(scripts/servers.sh env); set +a
# `stop` never fails and is idempotent, so `trap 'scripts/servers.sh stop' EXIT` is safe.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

start() { # on failure, stop what was started, so no caller is left with a half set
  "$HERE/moto.sh" start & # in parallel with Ceph: each takes ~1 s
  local moto=$! ceph_ok=1
  { "$HERE/ceph.sh" install && "$HERE/ceph.sh" start; } || ceph_ok=0
  wait "$moto" || { stop; echo "servers.sh: moto failed to start" >&2; exit 1; }
  if [ "$ceph_ok" = 0 ]; then
    if [ "${OQ_REQUIRE_CEPH:-0}" = 1 ]; then
      stop; echo "servers.sh: Ceph is required (OQ_REQUIRE_CEPH=1) but could not be installed or started" >&2; exit 1
    fi
    echo "servers.sh: WARNING: Ceph could not be installed or started; continuing without it (Ceph tests will skip)" >&2
  fi
}

stop() {
  "$HERE/ceph.sh" stop || echo "servers.sh: WARNING: ceph.sh stop failed" >&2
  "$HERE/moto.sh" stop || echo "servers.sh: WARNING: moto.sh stop failed" >&2
}

env_() { # only the servers that are running
  "$HERE/moto.sh" env 2>/dev/null || true
  "$HERE/ceph.sh" env 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_ ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 1 ;;
esac
