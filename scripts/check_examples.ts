/**
 * Gate: every value the packages export (classes, functions, constants of mod.ts and
 * console.ts) has a doc comment with an `@example` (which `deno check --doc` then
 * type-checks). Types and interfaces are documented but need no example.
 *
 *   node --import tsx scripts/check_examples.ts
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

interface DocNode {
  name: string;
  declarations: Array<{
    kind: string;
    location: { filename: string; line: number };
    jsDoc?: { tags?: Array<{ kind: string }> };
  }>;
}

const entries = ["mod.ts", "console.ts"];
// The project's own Deno (a devDependency), also when node_modules/.bin is not on PATH.
const deno = existsSync("node_modules/.bin/deno") ? "node_modules/.bin/deno" : "deno";
const missing: string[] = [];
let checked = 0;
for (const entry of entries) {
  // deno doc warns about unresolved types of dev dependencies on stderr: keep it quiet.
  const out = execFileSync(deno, ["doc", "--json", entry], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const doc = JSON.parse(out) as { nodes: Record<string, { symbols: DocNode[] }> };
  for (const mod of Object.values(doc.nodes)) {
    for (const s of mod.symbols) {
      const values = s.declarations.filter((d) => d.kind !== "interface" && d.kind !== "typeAlias");
      if (values.length === 0) continue;
      checked++;
      const d = values[0]!;
      const tags = s.declarations.flatMap((x) => x.jsDoc?.tags ?? []);
      if (!tags.some((t) => t.kind === "example")) {
        const file = d.location.filename.replace(/^file:\/\//, "").replace(`${process.cwd()}/`, "");
        missing.push(`  ${entry}: ${s.name} (${d.kind}, ${file}:${d.location.line})`);
      }
    }
  }
}
if (missing.length > 0) {
  console.error(`check_examples: ${missing.length} exported values have no @example:`);
  console.error(missing.join("\n"));
  process.exit(1);
}
console.log(`check_examples: all ${checked} exported values have an @example`);
