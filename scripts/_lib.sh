# Shared helpers for scripts/{moto,ceph,servers}.sh. Sourced, not executed.
# OQ_SERVERS_DIR is the base state dir; each server uses a sub-dir (moto/, ceph/).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVERS_DIR="${OQ_SERVERS_DIR:-$REPO_ROOT/tmp/servers}"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# A currently free TCP port on loopback (the kernel picks it; tiny race until we bind it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# True if pid $1 is a live process (a zombie counts as dead: PID 1 here may not reap).
running() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
# True if the pid in file $1 is a live process.
alive() { [ -s "$1" ] && running "$(cat "$1")"; }

# Kill the pid in file $1 (TERM, then KILL after ~10 s), wait until it is gone, remove the file.
# Only that pid is touched, and only if its command line contains $2 (guards against a
# recycled pid after a reboot). Idempotent: a missing file or a dead pid is fine.
kill_pidfile() {
  local f=$1 pat=$2 pid cmd i
  [ -s "$f" ] || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [[ $cmd == *"$pat"* ]]; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 100); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then kill -9 "$pid" 2>/dev/null || true; sleep 0.1; fi
  fi
  rm -f "$f"
}

# Wait up to $2 seconds until an HTTP GET of $1 gets any HTTP answer (any status code).
# With $3 (a pid), give up at once if that process dies.
wait_http() {
  python3 - "$@" <<'PY'
import os, sys, time, urllib.request, urllib.error
url, secs, pid = sys.argv[1], float(sys.argv[2]), (sys.argv[3] if len(sys.argv) > 3 else "")
end = time.time() + secs
while time.time() < end:
    try:
        urllib.request.urlopen(url, timeout=1); sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except Exception:
        pass
    if pid:
        try: state = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1][0]
        except OSError: state = "Z"
        if state == "Z": sys.exit(2)
    time.sleep(0.05)
sys.exit(1)
PY
}
