#!/usr/bin/env bash
# The benchmark (`npm run bench -- --backend moto|ceph|dev|memory|endpoint=URL [--quick] ...`):
# starts the backend itself, measures raw server capacity, burn-down and steady-rate oq
# workloads with worker processes, and backlog scaling; writes bench/results/*.md.
# Flags: see bench/main.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
exec node --import tsx bench/main.ts "$@"
