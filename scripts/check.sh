#!/usr/bin/env bash
# The gate (`npm run check`): format, lint, type-check (Deno, with every doc example, and
# tsc), doc-lint of the public API, and a JSR publish dry run. Run it before every commit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
step() { echo "--- $*"; "$@"; }
step deno fmt --check
step deno lint
step deno check --doc mod.ts cli.ts console.ts src/ # the code and every example in its doc comments
step tsc --noEmit -p .
step deno doc --lint mod.ts console.ts
step deno publish --dry-run --allow-dirty --quiet
echo "check: all passed"
