/**
 * Re-render benchmark result files from the figures they carry (after a change to the
 * report's layout or verdicts), without running anything again:
 *
 *   node --import tsx bench/render.ts bench/results/FILE.md [...]
 *
 * Files whose JSON block holds the whole run are re-rendered from it; older files (JSON with
 * raw, workloads and backlog only) get the machine, settings, interference and notes back
 * from their own markdown.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { type BenchRun, markdown } from "./report.ts";

function fromOldFile(
  text: string,
  json: Pick<BenchRun, "raw" | "workloads" | "backlog">,
): BenchRun {
  const section = (name: string) => {
    const start = text.indexOf(`## ${name}`);
    if (start < 0) return "";
    const end = text.indexOf("\n## ", start + 3);
    return text.slice(start, end < 0 ? undefined : end);
  };
  const title = /^# oq benchmark: (\S+), (\S+)$/m.exec(text);
  const command = /^Command: `(.*)` \((\d+) s\)$/m.exec(text);
  const machine: Record<string, string> = {};
  let backendVersion = "?";
  for (const m of section("Machine and versions").matchAll(/^\| (\S[^|]*?) \| ([^|]*?) \|$/gm)) {
    if (m[1] === "---" || m[1] === "") continue;
    if (m[1] === "backend") backendVersion = m[2]!;
    else machine[m[1]!] = m[2]!;
  }
  const settings = JSON.parse(/^Settings: `(.*)`$/m.exec(text)?.[1] ?? "{}");
  const bullets = (s: string) => [...s.matchAll(/^- (.*)$/gm)].map((m) => m[1]!);
  const notes = bullets(section("Targets (issue 8)")).filter((l) =>
    !/^\d+ worker\(s\) x|^scaling of throughput|^backlog \(/.test(l)
  );
  return {
    command: command?.[1] ?? "?",
    startedAt: title?.[2] ?? "?",
    durationSecs: Number(command?.[2] ?? NaN),
    machine,
    backend: { name: title?.[1] ?? "?", version: backendVersion },
    settings,
    interference: bullets(section("Interference")),
    raw: json.raw,
    workloads: json.workloads,
    backlog: json.backlog,
    notes,
  };
}

for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  const block = /```json\n([\s\S]*?)\n```/.exec(text)?.[1];
  if (!block) throw new Error(`${file}: no JSON block`);
  const json = JSON.parse(block);
  const run: BenchRun = "machine" in json ? json : fromOldFile(text, json);
  writeFileSync(file, markdown(run));
  console.log(`re-rendered ${file}`);
}
