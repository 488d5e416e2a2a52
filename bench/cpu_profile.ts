/**
 * Where a process's CPU went, from a V8 `.cpuprofile` (`node --cpu-prof`): busy time (idle
 * left out) split into groups (fetch/undici, web streams, node:http, socket writes, crypto,
 * GC, oq's own folders, ...). A sample counts for the nearest frame, itself or a caller,
 * that belongs to a group, so a built-in called from undici counts as undici.
 *
 *   node --import tsx bench/cpu_profile.ts CPU.*.cpuprofile [TASKS]
 *
 * With TASKS, each group is also shown in ms per task. See bench/README.md ("Where a
 * worker's CPU goes").
 */
import { cliArgs, readFileBytes } from "../src/runtime/mod.ts";

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const GROUPS: Array<[string, (f: CallFrame) => boolean]> = [
  ["GC", (f) => f.functionName === "(garbage collector)"],
  ["idle", (f) => f.functionName === "(idle)"],
  ["(program: native, unattributed)", (f) => f.functionName === "(program)"],
  [
    "socket writes (syscalls, loopback TCP)",
    (f) =>
      f.url === "" &&
      /^(writev|writeBuffer|writeLatin1String|writeUtf8String)$/.test(f.functionName),
  ],
  ["crypto (node:crypto, WebCrypto)", (f) => /internal\/crypto|webcrypto/.test(f.url)],
  ["aws4fetch signer", (f) => /aws4fetch/.test(f.url)],
  ["web streams", (f) => /webstreams/.test(f.url)],
  ["fetch (undici)", (f) => /undici/.test(f.url)],
  ["node:http client", (f) => /^node:_?http/.test(f.url)],
  [
    "node net and streams",
    (f) => /^node:(net|stream|internal\/stream_base|internal\/streams|internal\/net)/.test(f.url),
  ],
  [
    "events, AbortSignal",
    (f) => /abort_controller|event_target|abort_listener|^node:events/.test(f.url),
  ],
  [
    "module loading (start-up)",
    (f) => /modules\/esm|modules\/cjs|tsx|esbuild|wasm:|cjs-module-lexer/.test(f.url),
  ],
  ["XML parser", (f) => /fast-xml-parser|path-expression-matcher|@nodable/.test(f.url)],
  ["zod", (f) => /\/zod\//.test(f.url)],
];

function groupOf(f: CallFrame): string | undefined {
  for (const [name, test] of GROUPS) if (test(f)) return name;
  const own = /\/(src\/[^/]+|harness|bench)\/[^/]+\.ts$/.exec(f.url);
  if (own && !f.url.includes("node_modules")) return `oq ${own[1]}`;
  return undefined;
}

/** Busy milliseconds by group, and the total busy time. */
function summarise(profile: Profile): { busyMs: number; groups: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const memo = new Map<number, string>();
  const attribute = (n: ProfileNode): string => {
    const known = memo.get(n.id);
    if (known !== undefined) return known;
    const up = parent.get(n.id);
    const g = groupOf(n.callFrame) ?? (up ? attribute(up) : "other Node internals");
    memo.set(n.id, g);
    return g;
  };
  const groups = new Map<string, number>();
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const g = attribute(byId.get(profile.samples[i]!)!);
    if (g === "idle") continue;
    busyUs += us;
    groups.set(g, (groups.get(g) ?? 0) + us / 1000);
  }
  return { busyMs: busyUs / 1000, groups };
}

const [file, tasksArg] = cliArgs();
if (!file) throw new TypeError("Usage: bench/cpu_profile.ts FILE.cpuprofile [TASKS]");
const bytes = await readFileBytes(file);
if (!bytes) throw new Error(`No file ${file}`);
const { busyMs, groups } = summarise(JSON.parse(new TextDecoder().decode(bytes)));
const tasks = Number(tasksArg ?? 0);
const perTask = (ms: number) => tasks > 0 ? ` | ${(ms / tasks).toFixed(2)}` : "";
console.log(`busy ${(busyMs / 1000).toFixed(2)} s${perTask(busyMs)}${tasks ? " ms/task" : ""}`);
console.log(`| share | ms${tasks ? " | ms/task" : ""} | group |`);
for (const [g, ms] of [...groups].sort((a, b) => b[1] - a[1])) {
  const share = ((100 * ms) / busyMs).toFixed(1);
  console.log(`| ${share}% | ${ms.toFixed(0)}${perTask(ms)} | ${g} |`);
}
