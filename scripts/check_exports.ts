/**
 * Gate check: the npm package and the JSR package export the same things. Entry points:
 * the keys of package.json `exports` and deno.json `exports` are equal. Names: for each
 * entry point, the names (values and types) the JSR module (the TypeScript source) exports
 * equal those of the npm package's `.d.ts`, and every value name is also exported by its
 * `.js`. Needs `npm run build:npm` first. Run: `node --import tsx scripts/check_exports.ts`.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");
const readJson = (name: string) => JSON.parse(readFileSync(resolve(root, name), "utf8"));
const jsr: Record<string, string> = readJson("deno.json").exports;
const npm: Record<string, { types: string; default: string }> = readJson("package.json").exports;

const problems: string[] = [];
const jsrKeys = Object.keys(jsr).sort();
const npmKeys = Object.keys(npm).sort();
if (jsrKeys.join() !== npmKeys.join()) {
  problems.push(`entry points differ: JSR ${jsrKeys.join(", ")}; npm ${npmKeys.join(", ")}`);
}

const files = jsrKeys.flatMap((k) => npm[k] ? [jsr[k]!, npm[k].types, npm[k].default] : [jsr[k]!])
  .map((f) => resolve(root, f));
const program = ts.createProgram(files, {
  allowJs: true,
  allowImportingTsExtensions: true,
  noEmit: true,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  target: ts.ScriptTarget.ES2022,
  skipLibCheck: true,
  types: ["node"],
});
const checker = program.getTypeChecker();

/** Exported names of a module file, split into values and types. */
function exportsOf(file: string): { values: Set<string>; types: Set<string> } {
  const source = program.getSourceFile(resolve(root, file));
  if (!source) throw new Error(`${file} is missing: run npm run build:npm first`);
  const symbol = checker.getSymbolAtLocation(source);
  const values = new Set<string>();
  const types = new Set<string>();
  for (const s of symbol ? checker.getExportsOfModule(symbol) : []) {
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    if (target.flags & ts.SymbolFlags.Value) values.add(s.name);
    if (target.flags & ts.SymbolFlags.Type) types.add(s.name);
  }
  return { values, types };
}

const diff = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();
let names = 0;
for (const key of jsrKeys) {
  if (!npm[key]) continue;
  const source = exportsOf(jsr[key]!);
  const dts = exportsOf(npm[key].types);
  const js = exportsOf(npm[key].default);
  for (const kind of ["values", "types"] as const) {
    const onlyJsr = diff(source[kind], dts[kind]);
    const onlyNpm = diff(dts[kind], source[kind]);
    if (onlyJsr.length) problems.push(`${key}: ${kind} only on JSR: ${onlyJsr.join(", ")}`);
    if (onlyNpm.length) problems.push(`${key}: ${kind} only on npm: ${onlyNpm.join(", ")}`);
  }
  const notInJs = diff(dts.values, js.values);
  if (notInJs.length) problems.push(`${key}: values missing from the .js: ${notInJs.join(", ")}`);
  names += new Set([...source.values, ...source.types]).size;
}
if (problems.length) {
  console.error(`check_exports: the npm and JSR packages differ:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`check_exports: ${jsrKeys.length} entry points, ${names} names, npm = JSR`);
