#!/usr/bin/env bash
# The test command (`npm test`): start the test S3 servers, run every test file on Node, Bun
# and Deno, stop the servers (also on failure). Each file runs in its own process group under
# a hard time limit, so a test that hangs fails its file instead of hanging the run.
#
# A test file may declare, in a line of its own near the top:
#   // oq-test: runtimes=node timeout=600
# runtimes: where it runs (default node,bun,deno); timeout: seconds for the whole file on one
# runtime (default 300). Keep the store conformance suite and the CLI tests on all three
# runtimes; a file whose cases exercise no runtime-specific code may run on one.
#
#   OQ_TEST_RUNTIMES=node,bun,deno   which runtimes (default: all three)
#   OQ_TEST_FILES="tests/a.test.ts"   which files (default: tests/*.test.ts)
#   OQ_TEST_ALL_RUNTIMES=1            ignore the files' runtimes= (run each on every runtime)
#   OQ_REQUIRE_BACKENDS=moto,ceph     fail instead of skipping when these are unavailable
#   OQ_TEST_NO_SERVERS=1              do not start servers or install Chromium (use what is there)
#   OQ_REQUIRE_BROWSER=1              fail instead of skipping the browser tests without Chromium
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
runtimes="${OQ_TEST_RUNTIMES:-node,bun,deno}"
start_all=$(date +%s)

if [ "${OQ_TEST_NO_SERVERS:-0}" != 1 ]; then
  trap 'bash scripts/servers.sh stop' EXIT
  bash scripts/servers.sh start
  set -a
  # shellcheck disable=SC1090
  . <(bash scripts/servers.sh env)
  set +a
  # Debian's Chromium for the console's browser tests (installed once; needs root).
  if ! bash scripts/chromium.sh install; then
    [ "${OQ_REQUIRE_BROWSER:-0}" = 1 ] && { echo "test.sh: Chromium is required (OQ_REQUIRE_BROWSER=1)" >&2; exit 1; }
    echo "test.sh: WARNING: Chromium could not be installed; the browser tests will skip" >&2
  fi
fi

# shellcheck disable=SC2206
files=(${OQ_TEST_FILES:-tests/*.test.ts})
declare -a failed=() timed_out=() summary=()

# The value of key $2 in file $1's `// oq-test:` line, or $3.
setting() {
  local line
  line=$(grep -m1 -E '^// oq-test:' "$1" || true)
  if [[ $line =~ (^|[[:space:]])$2=([^[:space:]]+) ]]; then echo "${BASH_REMATCH[2]}"; else echo "$3"; fi
}

run_one() { # runtime file seconds
  case "$1" in
    node) node --import tsx --test --test-force-exit --test-concurrency=1 "$2" ;;
    bun) bun test --timeout "$(($3 * 1000))" "./$2" ;;
    # --no-check: type-checking is the gate's job (tsc over src/ and tests/, deno check);
    # deno test would check the whole module graph again for every file (about 10 s each).
    deno) deno test -A --quiet --no-check "$2" ;;
    *) echo "unknown runtime $1" >&2; return 2 ;;
  esac
}

# Under Node the CLI tests run oq as the npm package's JavaScript (what `npm i oq` users run),
# built here from the sources, not through tsx: a tsx start costs about 1.5 s more per command.
if [[ ",$runtimes," == *",node,"* ]] && [ -z "${OQ_NODE_CLI:-}" ]; then
  rm -rf dist/test-node
  tsc -p tsconfig.npm.json --outDir dist/test-node --declaration false
  export OQ_NODE_CLI="$PWD/dist/test-node/cli.js"
fi

first_runtime=1
for rt in ${runtimes//,/ }; do
  # moto keeps every object of every test bucket in memory and slows down as it grows (4 GB
  # after one runtime's run; OOM-killed after several): a fresh one for each runtime.
  if [ "${OQ_TEST_NO_SERVERS:-0}" != 1 ] && [ "$first_runtime" = 0 ]; then
    bash scripts/moto.sh stop
    bash scripts/moto.sh start
    set -a
    # shellcheck disable=SC1090
    . <(bash scripts/moto.sh env)
    set +a
  fi
  first_runtime=0
  for f in "${files[@]}"; do
    want=$(setting "$f" runtimes node,bun,deno)
    [ "${OQ_TEST_ALL_RUNTIMES:-0}" = 1 ] && want=node,bun,deno
    [[ ",$want," == *",$rt,"* ]] || continue
    secs=$(setting "$f" timeout 300)
    echo "=== $rt $f (limit ${secs} s) ==="
    t0=$(date +%s)
    # `timeout` runs the command in a process group of its own and signals the whole group,
    # so workers and servers a hung test started are stopped with it.
    set +e
    timeout --kill-after=15 "$secs" bash -c "$(declare -f run_one); run_one $rt $f $secs"
    code=$?
    set -e
    took=$(($(date +%s) - t0))
    if [ "$code" = 124 ] || [ "$code" = 137 ]; then
      echo "!!! $rt $f: TIMED OUT after ${secs} s (the file's limit); its processes were killed" >&2
      timed_out+=("$rt $f")
      failed+=("$rt $f")
    elif [ "$code" != 0 ]; then
      failed+=("$rt $f")
    fi
    summary+=("$(printf '%5d s  %-4s %-40s %s' "$took" "$rt" "$f" "$([ "$code" = 0 ] && echo ok || echo FAILED)")")
  done
done

echo
echo "=== summary (wall time $(($(date +%s) - start_all)) s) ==="
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${#failed[@]} file run(s):" >&2
  printf '  %s\n' "${failed[@]}" >&2
  [ "${#timed_out[@]}" -gt 0 ] && printf '  timed out: %s\n' "${timed_out[@]}" >&2
  exit 1
fi
echo "all passed"
