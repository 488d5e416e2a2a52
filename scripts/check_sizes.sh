#!/usr/bin/env bash
# Files of one concept: no source file over 400 lines (split past it; docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=400
over=$(find src mod.ts cli.ts console.ts -name '*.ts' -print0 | xargs -0 wc -l | awk -v l="$limit" '$2 != "total" && $1 > l { print "  " $2 ": " $1 " lines" }')
if [ -n "$over" ]; then
  echo "check_sizes: files over $limit lines (split them by concept):" >&2
  echo "$over" >&2
  exit 1
fi
echo "check_sizes: no source file over $limit lines"
