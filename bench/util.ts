/**
 * Small helpers shared by the benchmark and the chaos run: argument parsing, statistics,
 * shell commands, machine facts, formatting.
 */
import { concatBytes, readFileBytes, spawnProcess } from "../src/runtime/mod.ts";
import { PRICE_PER_REQUEST, REQUEST_KINDS, type RequestCounts } from "../src/s3/counters.ts";
import { emptyCounts } from "../src/s3/counters.ts";
import { procCpuMs } from "../harness/procs.ts";

/** Repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;

/** `--name value`, `--name=value` and bare `--flag` (value "1"); one value per name. */
export function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") continue;
    if (!a.startsWith("--")) throw new TypeError(`Unexpected argument ${JSON.stringify(a)}`);
    const eq = a.indexOf("=");
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) out.set(a.slice(2), argv[++i]!);
    else out.set(a.slice(2), "1");
  }
  return out;
}

/** A numeric option; `RangeError` naming it when it is not a number. */
export function numberArg(args: Map<string, string>, name: string, dflt: number): number {
  const v = args.get(name);
  if (v === undefined) return dflt;
  const n = Number(v.replace(/_/g, "").replace(/s$/, ""));
  if (!Number.isFinite(n)) throw new RangeError(`--${name} must be a number, got ${v}`);
  return n;
}

/** Comma-separated integers. */
export function listArg(args: Map<string, string>, name: string, dflt: number[]): number[] {
  const v = args.get(name);
  if (v === undefined) return dflt;
  const out = v.split(",").map((s) => Number(s.trim().replace(/_/g, "")));
  if (out.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new RangeError(`--${name} must be integers separated by commas, got ${v}`);
  }
  return out;
}

/** Percentile (nearest rank) of numbers; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50/p95/p99/max of a sample. */
export function summary(values: readonly number[]): {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
} {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : Number.NaN,
  };
}

/** Wait. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait until `f` holds (checked every `everyMs`); false on timeout. */
export async function waitUntil(
  f: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) return false;
    await sleep(everyMs);
  }
  return true;
}

/** Run a command to completion; its stdout and stderr as text. */
export async function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const p = await spawnProcess({
    command,
    args,
    env,
    cwd: ROOT,
    onStdout: (c) => out.push(c),
    onStderr: (c) => err.push(c),
  });
  const s = await p.exited;
  const text = (cs: Uint8Array[]) => new TextDecoder().decode(concatBytes(cs));
  return { code: s.code, stdout: text(out), stderr: text(err) };
}

/** Facts about this machine and the tools, for the result files. */
export async function machineInfo(): Promise<Record<string, string>> {
  const text = async (path: string) => {
    const b = await readFileBytes(path).catch(() => null);
    return b ? new TextDecoder().decode(b) : "";
  };
  const cpuinfo = await text("/proc/cpuinfo");
  const meminfo = await text("/proc/meminfo");
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN);
  const nproc = (await run("nproc", []).catch(() => ({ stdout: "?" }))).stdout.trim();
  const version = async (cmd: string, args: string[]) =>
    (await run(cmd, args).catch(() => ({ stdout: "?", stderr: "" }))).stdout.trim().split("\n")[0]!;
  const loadavg = (await text("/proc/loadavg")).trim();
  return {
    nproc,
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "?",
    memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    os: (await text("/etc/os-release")).match(/^PRETTY_NAME="?([^"\n]*)/m)?.[1] ?? "?",
    kernel: (await text("/proc/sys/kernel/osrelease")).trim(),
    node: await version("node", ["--version"]),
    bun: await version(`${ROOT}node_modules/.bin/bun`, ["--version"]),
    deno: await version(`${ROOT}node_modules/.bin/deno`, ["--version"]),
    git: await version("git", ["rev-parse", "--short", "HEAD"]),
    loadavgAtStart: loadavg,
  };
}

/**
 * Processes that used more than 10% of a core during a `windowMs` sample (from
 * /proc/{pid}/stat), except `ownPids`: evidence of interference on a shared machine.
 */
export async function busyProcesses(
  ownPids: readonly number[] | (() => readonly number[]),
  windowMs = 1000,
): Promise<string[]> {
  // Read at the end of the window too: a server restarted during it is still ours.
  const own = () => typeof ownPids === "function" ? ownPids() : ownPids;
  const ownAtStart = own();
  const fs = await import("node:fs/promises");
  const ticks = async () => {
    const out = new Map<number, number>();
    for (const name of await fs.readdir("/proc").catch(() => [] as string[])) {
      if (!/^\d+$/.test(name)) continue;
      const ms = await procCpuMs(Number(name));
      if (!Number.isNaN(ms)) out.set(Number(name), ms);
    }
    return out;
  };
  const a = await ticks();
  const t = performance.now();
  await sleep(windowMs);
  const b = await ticks();
  const secs = (performance.now() - t) / 1000;
  const out: string[] = [];
  for (const [pid, after] of b) {
    const cpu = (after - (a.get(pid) ?? after)) / 1000 / secs; // share of one core
    if (cpu < 0.1 || ownAtStart.includes(pid) || own().includes(pid)) continue;
    const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replace(
      /\0/g,
      " ",
    ).trim();
    out.push(`${pid} ${Math.round(cpu * 100)}% ${cmd.slice(0, 160)}`);
  }
  return out;
}

/** Cost in USD of request counts at AWS list prices. */
export function cost(counts: RequestCounts): number {
  return REQUEST_KINDS.reduce((s, k) => s + counts[k] * PRICE_PER_REQUEST[k], 0);
}

/** Sum request counts. */
export function addCounts(into: RequestCounts, more: Partial<RequestCounts>): RequestCounts {
  for (const k of REQUEST_KINDS) into[k] += more[k] ?? 0;
  return into;
}

/** Zero counts. */
export { emptyCounts };

/** `1.23` style. */
export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return "n/a";
  return n.toFixed(digits);
}

/** A markdown table. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.map(String).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A short random id. */
export function shortId(): string {
  return crypto.randomUUID().slice(0, 8);
}

/** Samples the summed RSS of some processes (e.g. the server) and keeps the peak. */
export class RssSampler {
  #peakKb = 0;
  #lastKb = 0;
  readonly #timer: ReturnType<typeof setInterval>;

  /** Sample `pids()` every `everyMs`. */
  constructor(pids: () => number[], everyMs = 2000) {
    this.#timer = setInterval(() => void this.#sample(pids()), everyMs);
  }

  async #sample(pids: number[]): Promise<void> {
    let kb = 0;
    for (const pid of pids) {
      const b = await readFileBytes(`/proc/${pid}/status`).catch(() => null);
      kb += Number(/^VmRSS:\s+(\d+) kB/m.exec(b ? new TextDecoder().decode(b) : "")?.[1] ?? 0);
    }
    this.#lastKb = kb;
    this.#peakKb = Math.max(this.#peakKb, kb);
  }

  /** Peak since the last reset, KiB. */
  get peakKb(): number {
    return this.#peakKb;
  }

  /** Latest sample, KiB. */
  get lastKb(): number {
    return this.#lastKb;
  }

  /** Start a new peak. */
  reset(): void {
    this.#peakKb = this.#lastKb;
  }

  /** Stop sampling. */
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** CPU time (user + system, ms) used so far by the processes `pids`; 0 for one that is gone. */
export async function cpuMsOf(pids: number[]): Promise<number> {
  let ms = 0;
  for (const pid of pids) ms += (await procCpuMs(pid)) || 0;
  return ms;
}
