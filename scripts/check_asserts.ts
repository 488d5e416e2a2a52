/**
 * Gate: every `assert.ok(...)` in the tests gives its message. Without one, a failing
 * assertion makes node:assert rebuild the message from the test's source, and under tsx we
 * saw that never finish: a failing test in tests/lease_groups.test.ts hung past its own
 * timeout instead of failing (with a message it failed in 41 ms). A failing test must fail,
 * never hang (issue 13), so the message is required.
 *
 * Usage: node --import tsx scripts/check_asserts.ts [dir...]   (default: tests)
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return files(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

/** Offsets of `assert.ok(` calls in `src` that have a single argument. */
export function messageless(src: string): number[] {
  const out: number[] = [];
  for (const m of src.matchAll(/assert\.ok\(/g)) {
    let depth = 1;
    let quote: string | null = null;
    let topComma = -1;
    let j = m.index! + m[0].length;
    for (; j < src.length && depth > 0; j++) {
      const c = src[j]!;
      if (quote !== null) {
        if (c === "\\") j++;
        else if (c === quote) quote = null;
      } else if (c === '"' || c === "'" || c === "`") quote = c;
      else if ("([{".includes(c)) depth++;
      else if (")]}".includes(c)) depth--;
      else if (c === "," && depth === 1 && topComma < 0) topComma = j;
    }
    // After the first top-level comma there must be more than a trailing comma.
    const rest = topComma >= 0 ? src.slice(topComma + 1, j - 1).trim() : "";
    const hasMessage = rest !== "" && rest !== ",";
    if (!hasMessage) out.push(m.index!);
  }
  return out;
}

const dirs = process.argv.slice(2);
let bad = 0;
for (const file of (dirs.length ? dirs : ["tests"]).flatMap(files)) {
  const src = readFileSync(file, "utf8");
  for (const at of messageless(src)) {
    const line = src.slice(0, at).split("\n").length;
    console.error(`${file}:${line}: assert.ok without a message`);
    bad++;
  }
}
if (bad > 0) {
  console.error(`check_asserts: ${bad} assert.ok call(s) without a message (give each one)`);
  process.exit(1);
}
console.log("check_asserts: every assert.ok in the tests has a message");
