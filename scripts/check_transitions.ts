/**
 * Gate check: the table of states and transitions in docs/format.md is the one the code uses
 * (`TRANSITIONS`, src/task/transition_table.ts). Renders the table from the data and fails
 * when the lines between the markers in docs/format.md say anything else (cell padding aside,
 * which `deno fmt` owns). `--write` puts the rendered table there instead.
 *
 *   node --import tsx scripts/check_transitions.ts [--write]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { transitionRows } from "../src/task/transition_table.ts";

const DOC = resolve(import.meta.dirname, "../docs/format.md");
const BEGIN = "<!-- transitions: rendered from src/task/transition_table.ts by " +
  "scripts/check_transitions.ts --write; the gate checks it -->";
const END = "<!-- end of transitions -->";
const HEADER = ["operation", "from", "to", "by"];

/** A markdown table, padded as `deno fmt` pads it. */
function render(rows: string[][]): string[] {
  const widths = HEADER.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(HEADER), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** The cells of a table's lines, padding and the separator line dropped. */
function cells(lines: string[]): string[][] {
  return lines.filter((l) => !/^\|[\s|-]*\|$/.test(l.trim()))
    .map((l) => l.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim()));
}

const text = readFileSync(DOC, "utf8");
const lines = text.split("\n");
const begin = lines.indexOf(BEGIN);
const end = lines.indexOf(END);
if (begin < 0 || end < begin) {
  console.error(`check_transitions: docs/format.md lacks the markers:\n${BEGIN}\n${END}`);
  process.exit(1);
}
const rendered = render(transitionRows());
if (process.argv.includes("--write")) {
  const table = ["", ...rendered, ""];
  writeFileSync(DOC, [...lines.slice(0, begin + 1), ...table, ...lines.slice(end)].join("\n"));
  console.log(`check_transitions: wrote ${rendered.length - 2} rows to docs/format.md`);
  process.exit(0);
}
const want = cells(rendered).map((r) => r.join(" | "));
const have = cells(lines.slice(begin + 1, end).filter((l) => l.trim() !== ""))
  .map((r) => r.join(" | "));
const missing = want.filter((r) => !have.includes(r));
const extra = have.filter((r) => !want.includes(r));
if (missing.length || extra.length || want.join("\n") !== have.join("\n")) {
  console.error("check_transitions: docs/format.md's transition table differs from TRANSITIONS");
  for (const r of missing) console.error(`  missing: ${r}`);
  for (const r of extra) console.error(`  not in the table: ${r}`);
  if (!missing.length && !extra.length) console.error("  the rows are in another order");
  console.error("  run: node --import tsx scripts/check_transitions.ts --write");
  process.exit(1);
}
console.log(`check_transitions: docs/format.md matches TRANSITIONS (${want.length - 1} rows)`);
