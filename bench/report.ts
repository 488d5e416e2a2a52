/**
 * The benchmark's result file (markdown) and its printed summary.
 */
import { REQUEST_KINDS, type RequestCounts } from "../src/s3/counters.ts";
import type { BacklogPoint } from "./backlog.ts";
import { capacityForMix, type RawCapacity } from "./raw.ts";
import { cost, emptyCounts, fmt, table } from "./util.ts";
import type { WorkloadResult } from "./workload.ts";

/** Everything a run produced. */
export interface BenchRun {
  command: string;
  startedAt: string;
  durationSecs: number;
  machine: Record<string, string>;
  backend: { name: string; version: string };
  settings: Record<string, unknown>;
  interference: string[];
  raw: RawCapacity[];
  workloads: WorkloadResult[];
  backlog: Array<{ where: string; points: BacklogPoint[] }>;
  notes: string[];
}

/** Requests per task of a workload: producer + workers. */
export function perTask(w: WorkloadResult, which: "total" | "workers" = "total"): RequestCounts {
  // Workers' requests per completed task; the producer's per submitted task (they differ
  // when a run was given up before every task completed).
  const out = emptyCounts();
  for (const k of REQUEST_KINDS) {
    out[k] = w.workerCounts[k] / Math.max(1, w.completed) +
      (which === "total" ? w.producerCounts[k] / Math.max(1, w.submitted) : 0);
  }
  return out;
}

/** Did every submitted task complete (no timeout, not given up)? */
export function complete(w: WorkloadResult): boolean {
  return w.finished && w.completed === w.submitted;
}

/** PUT-class (PUT, LIST, POST, bucket ops) and GET-class (GET, HEAD) per task. */
export function classes(c: RequestCounts): { putClass: number; getClass: number } {
  return {
    putClass: c.PUT + c.LIST + c.LIST_VERSIONS + c.DELETE_MANY + c.BUCKET,
    getClass: c.GET + c.HEAD,
  };
}

/** The raw capacity measured at the concurrency closest to a workload's. */
export function rawFor(run: BenchRun, w: WorkloadResult): RawCapacity | undefined {
  const want = w.workers * w.concurrency;
  return [...run.raw].sort((a, b) =>
    Math.abs(a.concurrency - want) - Math.abs(b.concurrency - want)
  )[0];
}

/**
 * Throughput against the server's raw capacity for the workers' request mix: the replayed
 * mix when measured, else the model from the per-kind rates.
 */
export function efficiency(
  run: BenchRun,
  w: WorkloadResult,
): { capacity: number; model: number; fraction: number } {
  const raw = rawFor(run, w);
  const model = raw ? capacityForMix(raw, perTask(w, "workers")) : Number.NaN;
  const capacity = w.replayCapacity ?? model;
  return { capacity, model, fraction: w.throughput / capacity };
}

function latencyCells(w: WorkloadResult): string[] {
  const s = (x: { p50: number; p95: number; p99: number }) =>
    `${fmt(x.p50 / 1000)} / ${fmt(x.p95 / 1000)} / ${fmt(x.p99 / 1000)}`;
  return [s(w.startLatency), s(w.completeLatency)];
}

function workloadRows(run: BenchRun, kind: WorkloadResult["kind"]): string {
  const rows = run.workloads.filter((w) => w.kind === kind).map((w) => {
    const pt = perTask(w);
    const { putClass, getClass } = classes(pt);
    const eff = efficiency(run, w);
    const rss = Math.max(...w.peakRssKb.filter(Number.isFinite)) / 1024;
    return [
      `${w.workers} x ${w.concurrency}`,
      `${w.completed}/${w.submitted}${
        w.aborted ? ` (given up: ${w.aborted})` : w.finished ? "" : " (timeout)"
      }`,
      fmt(w.throughput, 1),
      kind === "burn-down" ? `${fmt(eff.capacity, 1)} (model ${fmt(eff.model, 1)})` : "",
      kind === "burn-down" ? `${fmt(eff.fraction * 100, 0)}%` : "",
      fmt(putClass),
      fmt(getClass),
      fmt(pt.DELETE + pt.DELETE_MANY),
      fmt(cost(pt) * 1e6),
      fmt(w.conflicts / Math.max(1, w.completed), 3),
      ...latencyCells(w),
      fmt(rss, 0),
      fmt(w.workerCpuMs / Math.max(1, w.completed), 2),
      w.serverCpuMs === undefined ? "" : fmt(w.serverCpuMs / Math.max(1, w.completed), 2),
    ];
  });
  return table([
    "workers x conc.",
    "completed",
    "tasks/s",
    "raw capacity for the mix, replayed (model) tasks/s",
    "fraction",
    "PUT-class/task",
    "GET-class/task",
    "DELETE/task",
    "$ per M tasks",
    "conflicts/task",
    "submit→start s p50/p95/p99",
    "submit→complete s p50/p95/p99",
    "peak RSS MiB",
    "worker CPU ms/task",
    "server CPU ms/task",
  ], rows);
}

function kindsTable(run: BenchRun): string {
  const rows = run.workloads.map((w) => {
    const p = perTask(w, "total");
    const wk = perTask(w, "workers");
    return [
      `${w.kind} ${w.workers} x ${w.concurrency}`,
      ...REQUEST_KINDS.filter((k) => k !== "DELETE_MANY").map((k) =>
        `${fmt(p[k])} (${fmt(wk[k])})`
      ),
    ];
  });
  return table(["run", ...REQUEST_KINDS.filter((k) => k !== "DELETE_MANY")], rows);
}

function callsTable(run: BenchRun): string {
  const names = new Set<string>();
  for (const w of run.workloads) {
    for (const k of Object.keys(w.workerCalls)) names.add(k);
    for (const k of Object.keys(w.producerCalls)) names.add(k);
  }
  const sorted = [...names].sort();
  const rows = sorted.map((n) => [
    n,
    ...run.workloads.map((w) =>
      fmt(((w.workerCalls[n] ?? 0) + (w.producerCalls[n] ?? 0)) / Math.max(1, w.completed), 3)
    ),
  ]);
  return table(
    ["call", ...run.workloads.map((w) => `${w.kind} ${w.workers}x${w.concurrency}`)],
    rows,
  );
}

function backlogTable(points: BacklogPoint[]): string {
  const fmtCalls = (c: Record<string, number>) =>
    Object.entries(c).filter(([k]) => !k.startsWith("DELETE")).map(([k, v]) => `${k} ${v}`).join(
      ", ",
    );
  return table(
    [
      "backlog",
      "setup s",
      "poll + claim: requests",
      "calls",
      "monitor cycle: requests",
      "calls",
      "sweep step: requests",
    ],
    points.map((p) => [
      p.size.toLocaleString("en-US"),
      fmt(p.setupSecs, 1),
      p.pollClaim.requests +
      (p.pollClaim.claimed === 1 ? "" : ` (claimed ${p.pollClaim.claimed}!)`),
      fmtCalls(p.pollClaim.calls),
      p.monitor.requests,
      fmtCalls(p.monitor.calls),
      p.sweep ? `${p.sweep.requests} (${fmtCalls(p.sweep.calls)})` : "n/a",
    ]),
  );
}

/** Flat: the same requests at every backlog size. */
export function flat(points: BacklogPoint[], pick: (p: BacklogPoint) => number): boolean {
  return points.every((p) => pick(p) === pick(points[0]!));
}

/** The verdicts on issue 8's targets. */
export function targets(run: BenchRun): string[] {
  const out: string[] = [];
  const burn = run.workloads.filter((w) => w.kind === "burn-down" && w.completed > 0);
  for (const w of burn) {
    const { putClass, getClass } = classes(perTask(w));
    const eff = efficiency(run, w);
    const name = `${w.workers} worker(s) x ${w.concurrency}`;
    const perTaskText = `${fmt(putClass)} PUT-class + ${fmt(getClass)} GET-class per task`;
    if (!complete(w)) {
      out.push(
        `${name}: INCOMPLETE, ${w.completed}/${w.submitted} completed (${
          w.aborted ?? "timeout"
        }) ` +
          `at ${fmt(w.throughput, 1)} tasks/s; ${perTaskText} (completed): no verdict`,
      );
      continue;
    }
    const verdict = !Number.isFinite(eff.fraction)
      ? "not measured"
      : eff.fraction > 1.2
      ? "no verdict: the capacity estimate is below what oq achieved, so it is not reliable here"
      : eff.fraction >= 0.8
      ? "MET"
      : "NOT MET";
    out.push(
      `${name}: ${perTaskText} (target <= 4 + 1: ${
        putClass <= 4 && getClass <= 1 ? "MET" : "NOT MET"
      }); ${fmt(w.throughput, 1)} tasks/s = ${fmt(eff.fraction * 100, 0)}% of the raw capacity ` +
        `for the mix (target >= 80%: ${verdict})`,
    );
  }
  if (burn.length > 1) {
    const base = burn[0]!;
    const scaling = burn.map((w) => `${w.workers}: ${fmt(w.throughput / base.throughput)}x`).join(
      ", ",
    );
    out.push(`scaling of throughput vs ${base.workers} worker(s): ${scaling}`);
  }
  for (const b of run.backlog) {
    const poll = flat(b.points, (p) => p.pollClaim.requests);
    const mon = flat(b.points, (p) => p.monitor.requests);
    const sweeps = b.points.map((p) => p.sweep?.requests).filter((x) => x !== undefined);
    out.push(
      `backlog (${b.where}, ${b.points.map((p) => p.size).join(" / ")}): poll + claim ` +
        `${b.points.map((p) => p.pollClaim.requests).join(" / ")} requests (flat: ${
          poll ? "MET" : "NOT MET"
        }); ` +
        `monitor cycle ${b.points.map((p) => p.monitor.requests).join(" / ")} (flat: ${
          mon ? "MET" : "NOT MET"
        })` +
        (sweeps.length
          ? `; sweep step ${sweeps.join(" / ")} (bounded by its page and maxGets)`
          : ""),
    );
  }
  return out;
}

/** The markdown result file. */
export function markdown(run: BenchRun): string {
  const lines: string[] = [];
  lines.push(`# oq benchmark: ${run.backend.name}, ${run.startedAt}`);
  lines.push("");
  lines.push(`Command: \`${run.command}\` (${fmt(run.durationSecs, 0)} s)`);
  lines.push("");
  lines.push("## Machine and versions");
  lines.push("");
  lines.push(table(["", ""], [
    ...Object.entries(run.machine).map(([k, v]) => [k, v]),
    ["backend", run.backend.version],
  ]));
  lines.push("");
  lines.push("Settings: `" + JSON.stringify(run.settings) + "`");
  lines.push("");
  lines.push("## Interference");
  lines.push("");
  if (run.interference.length === 0) lines.push("No other busy process seen during the run.");
  else {
    lines.push(
      "Processes not started by this run that used more than 10% of a core during a 1 s sample " +
        "(sampled every 20 s; time UTC, pid, share of one core, command). The machine has " +
        run.machine.nproc +
        " cores, so they competed with the server, the workers and the harness:",
    );
    lines.push("");
    for (const l of run.interference) lines.push(`- ${l}`);
  }
  lines.push("");
  lines.push("## Targets (issue 8)");
  lines.push("");
  for (const t of targets(run)) lines.push(`- ${t}`);
  for (const n of run.notes) lines.push(`- ${n}`);
  lines.push("");
  lines.push("## Raw server capacity (plain requests through S3Store, harness process)");
  lines.push("");
  lines.push(table(
    [
      "concurrency",
      "PUT/s",
      "GET/s",
      "LIST(100)/s",
      "DELETE/s",
      "PUT p50/p95 ms",
      "LIST p50/p95 ms",
      "errors",
    ],
    run.raw.map((r) => [
      r.concurrency,
      fmt(r.PUT.perSec, 0),
      fmt(r.GET.perSec, 0),
      fmt(r.LIST.perSec, 0),
      fmt(r.DELETE.perSec, 0),
      `${fmt(r.PUT.p50Ms, 1)} / ${fmt(r.PUT.p95Ms, 1)}`,
      `${fmt(r.LIST.p50Ms, 1)} / ${fmt(r.LIST.p95Ms, 1)}`,
      r.PUT.errors + r.GET.errors + r.LIST.errors + r.DELETE.errors,
    ]),
  ));
  lines.push("");
  lines.push(
    "Measured in a bucket first filled with 2.5 x tasks objects of 1 KB (a burn-down bucket holds about " +
      "2 versions per task at its start and 3 at its end; moto's ListObjectVersions slows down with " +
      "the number of objects in the whole bucket). LIST is ListObjectVersions of a 100-key prefix, " +
      "as a worker lists a lane. Raw capacity for a mix = 1 / Σ (requests of kind k per task / raw " +
      "rate of k) with the workers' own per-task mix of that run, at the raw concurrency closest to " +
      "workers x concurrency. The replayed capacity runs the same mix as plain requests (each kind " +
      "in the run's per-task proportions, entries empty, task objects 1 KB, LISTs of the same " +
      "page size) from the harness at the workload's concurrency, right after the workload, in the " +
      "filled bucket; the fraction uses it.",
  );
  for (const kind of ["burn-down", "steady"] as const) {
    if (!run.workloads.some((w) => w.kind === kind)) continue;
    lines.push("");
    lines.push(
      `## ${kind === "burn-down" ? "Burn-down (tasks submitted up front)" : "Steady rate"}`,
    );
    lines.push("");
    lines.push(workloadRows(run, kind));
    lines.push("");
    for (const w of run.workloads.filter((x) => x.kind === kind)) {
      lines.push(
        `- ${w.workers} x ${w.concurrency} (${w.runtime}): submit ${fmt(w.submitSecs, 1)} s (${
          fmt(w.submitRate, 0)
        } tasks/s); window ${
          fmt(w.windowSecs, 1)
        } s (store clock, first claim to last completion); ` +
          `wall ${fmt(w.wallSecs, 1)} s, then ${
            fmt(w.cleanupSecs ?? Number.NaN, 1)
          } s until the ready index was empty; claims ${w.claimed}; lost task writes and task GETs beyond one per claim ${w.conflicts}; ` +
          `left in indexes: ready ${w.leftover.ready}, deadlines ${w.leftover.deadlines}; worker errors: ${
            JSON.stringify(w.errors)
          }; peak RSS per worker (MiB): ${
            w.peakRssKb.map((k) => fmt(k / 1024, 0)).join(", ")
          }; CPU: workers ${fmt(w.workerCpuMs / 1000, 1)} s (main threads ${
            fmt(w.workerMainCpuMs / 1000, 1)
          } s)${
            w.serverCpuMs === undefined ? "" : `, server ${fmt(w.serverCpuMs / 1000, 1)} s`
          } (workers from ready to exit; server from the first submit)`,
      );
    }
  }
  if (run.workloads.length) {
    lines.push("");
    lines.push("## Requests per task by kind: all processes (workers only)");
    lines.push("");
    lines.push(kindsTable(run));
    lines.push("");
    lines.push("## Calls per task by operation and key (producer + workers)");
    lines.push("");
    lines.push(callsTable(run));
  }
  for (const b of run.backlog) {
    lines.push("");
    lines.push(`## Backlog scaling: ${b.where}`);
    lines.push("");
    lines.push(backlogTable(b.points));
  }
  lines.push("");
  lines.push("## Raw figures");
  lines.push("");
  lines.push("```json");
  lines.push(
    JSON.stringify(run, null, 1),
  );
  lines.push("```");
  lines.push("");
  return lines.join("\n");
}
