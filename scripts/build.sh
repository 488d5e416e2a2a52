#!/usr/bin/env bash
# Build the single-file `oq` executable: `bun build --compile` (works offline).
# `scripts/build.sh deno` uses `deno compile` instead, which downloads Deno's runtime
# (denort) and so only works on machines that can reach dl.deno.land.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
mkdir -p dist
if [ "${1:-bun}" = deno ]; then
  deno compile -A --output dist/oq cli.ts
else
  bun build --compile --minify --format=esm --bytecode cli.ts --outfile dist/oq
fi
ls -l dist/oq
