#!/usr/bin/env bash
# The gate (`npm run check`): format, lint, type-check (Deno, with every doc example, and
# tsc), doc-lint of the public API, and a JSR publish dry run. Run it before every commit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
step() { echo "--- $*"; "$@"; }
step deno fmt --check
step deno lint
# docs/format.md's table of states and transitions is the one the code uses (TRANSITIONS).
step node --import tsx scripts/check_transitions.ts
# Every assert.ok in the tests gives its message (a message-less failure was seen to hang).
step node --import tsx scripts/check_asserts.ts
step deno check --doc mod.ts cli.ts console.ts src/ # the code and every example in its doc comments
step tsc --noEmit -p .
# Import cycles (type-only imports too) and the layer rules of docs/architecture.md.
step depcruise src mod.ts cli.ts console.ts --config .dependency-cruiser.cjs
step bash scripts/check_sizes.sh
step node --import tsx scripts/check_examples.ts # every exported value has an @example
step deno doc --lint mod.ts console.ts
# The library bundles for a browser or a Worker with no externals and no shims: no node:*,
# Deno or Bun module is reachable from mod.ts or console.ts (src/runtime/portable.ts only).
# Any esbuild warning fails the step too.
bundle_browser() {
  local out
  out=$(esbuild --bundle --platform=browser --format=esm --log-level=warning \
    --outdir=tmp/check-bundle mod.ts console.ts 2>&1) || { echo "$out"; return 1; }
  if [ -n "$out" ]; then echo "$out"; return 1; fi
}
step bundle_browser
# The npm package (dist/npm, built by tsc) exports what the JSR package exports.
step bash scripts/build_npm.sh
step node --import tsx scripts/check_exports.ts
# `deno publish` prints warnings (e.g. unanalyzable-dynamic-import) even with --quiet, and
# still exits 0: fail on any.
publish_dry_run() {
  local out
  out=$(deno publish --dry-run --allow-dirty --quiet 2>&1) || { echo "$out"; return 1; }
  if grep -q 'warning' <<<"$out"; then echo "$out"; return 1; fi
}
step publish_dry_run
echo "check: all passed"
