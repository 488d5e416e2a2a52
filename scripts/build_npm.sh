#!/usr/bin/env bash
# The npm package's JavaScript (`npm run build:npm`, also run by `npm pack` via prepack):
# ESM .js plus .d.ts of mod.ts, cli.ts and console.ts into dist/npm, by tsc (the compiler the
# gate already runs: the emitted code is the sources with types erased, one file per module,
# and `rewriteRelativeImportExtensions` turns the `.ts` imports Deno and JSR need into `.js`,
# so the sources stay as they are; a bundler would add a second tool and merge modules).
# cli.js gets a node shebang: the package's `bin` runs it under Node.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
rm -rf dist/npm
tsc -p tsconfig.npm.json
{ echo '#!/usr/bin/env node'; cat dist/npm/cli.js; } > dist/npm/cli.js.tmp
mv dist/npm/cli.js.tmp dist/npm/cli.js
chmod +x dist/npm/cli.js
echo "build:npm: $(find dist/npm -name '*.js' | wc -l) modules in dist/npm"
