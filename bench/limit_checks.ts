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
