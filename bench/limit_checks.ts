/**
 * Measuring the limits from the worker processes' records (harness/worker_process.ts with
 * `--record stdout`): handler runs as intervals, their maximum overlap (a concurrency limit)
 * and the most starts in any window (a rate limit). By wall time on one machine: the user's
 * view. Shared by bench/limits.ts and bench/chaos.ts.
 */
import type { FixtureProcess } from "../harness/procs.ts";

/**
 * Handler intervals [start, end] of the tasks in `ids`, from the processes' `exec` and `end`
 * events; a run with no end in a killed process ends at its kill (`killedAt` by pid), else
 * it is open (Infinity).
 */
export function intervals(
  procs: readonly FixtureProcess[],
  ids: ReadonlySet<string>,
  killedAt: ReadonlyMap<number, number>,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of procs) {
    const ends = new Map<string, number>();
    for (const e of p.events) {
      if (e.ev === "end") ends.set(`${e.task}/${e.attempt}`, e.at as number);
    }
    for (const e of p.events) {
      if (e.ev !== "exec" || !ids.has(e.task as string)) continue;
      const end = ends.get(`${e.task}/${e.attempt}`) ?? killedAt.get(p.pid) ?? Infinity;
      out.push([e.at as number, end]);
    }
  }
  return out;
}

/** Most intervals open at one instant (an end at t closes before a start at t). */
export function maxOverlap(iv: ReadonlyArray<[number, number]>): number {
  const points = iv.flatMap(([s, e]) => [[s, 1], [e, -1]] as Array<[number, number]>)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of points) max = Math.max(max, cur += d);
  return max;
}

/** Most starts in any window of `ms` (half-open, as the limit counts them). */
export function maxInWindow(starts: readonly number[], ms: number): number {
  const s = [...starts].sort((a, b) => a - b);
  let max = 0;
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    while (s[i]! - s[j]! >= ms) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

/** Handler start times (wall ms) of the tasks in `ids`, from every process. */
export function startTimes(procs: readonly FixtureProcess[], ids: ReadonlySet<string>): number[] {
  return procs.flatMap((p) =>
    p.events.filter((e) => e.ev === "exec" && ids.has(e.task as string)).map((e) => e.at as number)
  );
}

/**
 * How well a concurrency limit of `limit` was used by the runs `iv` (finite ones): the
 * share of `limit` x (first start to last end) that handlers ran, and the total time a slot
 * stood free between the first start and the last start (work was waiting then, in a
 * backlog run).
 */
export function slotUse(
  iv: ReadonlyArray<[number, number]>,
  limit: number,
): { share: number; freeSlotMs: number } {
  const done = iv.filter(([, e]) => Number.isFinite(e));
  if (done.length === 0) return { share: 0, freeSlotMs: 0 };
  const first = Math.min(...done.map(([s]) => s));
  const last = Math.max(...done.map(([, e]) => e));
  const lastStart = Math.max(...done.map(([s]) => s));
  const busy = done.reduce((sum, [s, e]) => sum + (e - s), 0);
  const points = done.flatMap(([s, e]) => [[s, 1], [e, -1]] as Array<[number, number]>)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let at = first;
  let freeSlotMs = 0;
  for (const [t, d] of points) {
    const until = Math.min(t, lastStart);
    if (until > at) freeSlotMs += (until - at) * Math.max(0, limit - cur);
    at = Math.max(at, t);
    cur += d;
  }
  return { share: busy / (limit * Math.max(1, last - first)), freeSlotMs };
}
