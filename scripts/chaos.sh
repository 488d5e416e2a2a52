#!/usr/bin/env bash
# The chaos run (`npm run chaos -- [--tasks 2000] [--workers 4] [--fault-rate 0.05]
# [--kill-every 5s] [--quick]`): oq through a fault-injecting proxy in front of moto, worker
# processes SIGKILLed and restarted; checks that every task completes exactly once in its
# record and explains every duplicate execution. Writes bench/results/*.md. See bench/chaos.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
exec node --import tsx bench/chaos.ts "$@"
