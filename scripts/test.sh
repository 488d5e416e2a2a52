#!/usr/bin/env bash
# The test command (`npm test`): start the test S3 servers, run the whole suite on Node,
# Bun and Deno, stop the servers (also on failure).
#   OQ_TEST_RUNTIMES=node,bun,deno   which runtimes (default: all three)
#   OQ_REQUIRE_BACKENDS=moto,ceph     fail instead of skipping when these are unavailable
#   OQ_TEST_NO_SERVERS=1              do not start servers (use what the env already names)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
runtimes="${OQ_TEST_RUNTIMES:-node,bun,deno}"

if [ "${OQ_TEST_NO_SERVERS:-0}" != 1 ]; then
  trap 'bash scripts/servers.sh stop' EXIT
  bash scripts/servers.sh start
  set -a
  # shellcheck disable=SC1090
  . <(bash scripts/servers.sh env)
  set +a
fi

files=(tests/*.test.ts)
status=0
for rt in ${runtimes//,/ }; do
  echo "=== tests on $rt ==="
  case "$rt" in
    node) node --import tsx --test --test-concurrency=1 "${files[@]}" || status=1 ;;
    bun) bun test --timeout 600000 "${files[@]/#/./}" || status=1 ;;
    deno) deno test -A --quiet "${files[@]}" || status=1 ;;
    *) echo "unknown runtime $rt" >&2; exit 2 ;;
  esac
done
exit $status
