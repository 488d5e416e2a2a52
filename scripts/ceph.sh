#!/usr/bin/env bash
# Throw-away single-node Ceph (1 mon, 1 memstore OSD, radosgw on loopback) for tests.
# Usage: scripts/ceph.sh install|start|stop|env
# All config, data, pid and log files live in $OQ_SERVERS_DIR/ceph (default tmp/servers/ceph);
# nothing under /etc/ceph or /var/lib/ceph is read or written.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

DIR="$SERVERS_DIR/ceph"
export CEPH_CONF="$DIR/ceph.conf" # every ceph tool reads our conf, never /etc/ceph/ceph.conf
ACCESS_KEY=oqtestaccess
SECRET_KEY=oqtestsecret1234567890
RGW=client.rgw.oq
BINS="ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool"

installed() { local b; for b in $BINS; do command -v "$b" >/dev/null || return 1; done; }

install() {
  installed && return 0
  [ "$(id -u)" = 0 ] || die "Ceph is missing and we are not root; as root run: apt-get install radosgw ceph-mon ceph-osd ceph-common"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd ceph-common >&2 \
    || die "apt-get install radosgw ceph-mon ceph-osd ceph-common failed"
  installed || die "packages installed but Ceph binaries are still missing from PATH"
}

# Start daemon $1 (a name for its pid file) in the foreground (-f) in the background, so $! is
# the daemon itself: no pid file race, and stop kills exactly what we started.
spawn() {
  local name=$1; shift
  "$@" -f </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
}

stop() {
  kill_pidfile "$DIR/run/rgw.pid" radosgw
  kill_pidfile "$DIR/run/osd.pid" ceph-osd
  kill_pidfile "$DIR/run/mon.pid" ceph-mon
  rm -rf "$DIR" # memstore/mon data is throw-away; a fresh cluster each start
}

fail() { # print the daemon logs' tails, tear down, exit
  tail -n 20 "$DIR"/log/*.out "$DIR"/log/*.log >&2 2>/dev/null || true
  stop
  die "$*"
}

start() {
  if alive "$DIR/run/rgw.pid" && [ -s "$DIR/env" ]; then return 0; fi # already up
  installed || die "Ceph is not installed: run scripts/ceph.sh install (as root)"
  stop # leftovers of a crashed run
  mkdir -p "$DIR"/{run,log,mon/ceph-a,osd/ceph-0,rgw,crash}
  local mon_port rgw_port fsid osd_uuid
  mon_port=$(free_port)
  rgw_port=$(free_port)
  while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(free_port); done
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
# msgr2 only: one mon port, fewer OSD ports.
ms bind msgr1 = false
# No cephx: nothing to leak, no keyrings to create.
auth cluster required = none
auth service required = none
auth client required = none
# With auth none, the default "secure" mon mode makes radosgw hang ~300 s connecting to the mon.
ms mon client mode = crc
# Point every default path away from /etc/ceph, /var/lib/ceph, /var/run/ceph, /var/log/ceph.
keyring = $DIR/keyring
run dir = $DIR/run
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/crash
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id
rgw data = $DIR/rgw
# One OSD: pools must be size 1 (no replicas), with few PGs so they go active fast.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
# Commit map changes after 10 ms instead of 1 s; start-up makes ~10 of them (~12 s -> ~1 s).
paxos propose interval = 0.01
# The mon checks free space on the disk holding its data: don't warn below 1% free, and never
# shut down for lack of space (CI disks are often nearly full; our data is tiny).
mon data avail warn = 1
mon data avail crit = 0

[osd]
# Objects live in RAM: fast, nothing to mkfs on disk, gone when the OSD stops.
osd objectstore = memstore
public addr = 127.0.0.1
cluster addr = 127.0.0.1

[$RGW]
# Without tcp_nodelay every small GET/LIST answer waits ~40 ms (Nagle + delayed ACK).
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
EOF
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed"
  spawn mon ceph-mon -i a
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  local id
  id=$(ceph --connect-timeout 20 osd new "$osd_uuid" 2>>"$DIR/log/mkfs.out") || fail "mon did not answer (ceph osd new)"
  [ "$id" = 0 ] || fail "unexpected osd id '$id'"
  ceph-osd -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/mkfs.out" 2>&1 || fail "ceph-osd --mkfs failed"
  spawn osd ceph-osd -i 0
  spawn rgw radosgw -n "$RGW"
  wait_http "http://127.0.0.1:$rgw_port/" 60 "$(cat "$DIR/run/rgw.pid")" || fail "radosgw did not answer on port $rgw_port"
  radosgw-admin user create --uid oqtest --display-name "oq tests" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >>"$DIR/log/mkfs.out" 2>&1 || fail "radosgw-admin user create failed"
  printf 'OQ_TEST_CEPH_URL=http://127.0.0.1:%s\nOQ_TEST_CEPH_ACCESS_KEY=%s\nOQ_TEST_CEPH_SECRET_KEY=%s\n' \
    "$rgw_port" "$ACCESS_KEY" "$SECRET_KEY" >"$DIR/env"
}

env_() {
  alive "$DIR/run/rgw.pid" && [ -s "$DIR/env" ] || die "Ceph is not running (scripts/ceph.sh start)"
  cat "$DIR/env"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) env_ ;;
  *) die "usage: $0 install|start|stop|env" ;;
esac
