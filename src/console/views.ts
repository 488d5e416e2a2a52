/**
 * The console's data as the JSON API answers it and the pages show it: counts grouped by
 * type and by shard, the console's own spend, and the list page. Shapes follow the CLI's
 * `--json` output where it has one (`oq workers`, `oq schedule show`, `oq get`).
 *
 * @module
 */

import {
  CENSUS_STATES,
  type CensusEntry,
  type CensusState,
  type TaskCensus,
} from "../queue/census.ts";
import { emptyCounts, RequestCounters, type RequestCounts } from "../s3/counters.ts";
import { type MeteredStore, MONTH_SECONDS, monthlyCost, totalRequests } from "./metered_store.ts";
import type { RefreshError, Snapshot, SnapshotCache } from "./snapshot.ts";

/** Counts of every state for one group (a task type or a shard). */
export type StateCounts = Record<CensusState, number> & { total: number };

function zero(): StateCounts {
  const c = Object.fromEntries(CENSUS_STATES.map((s) => [s, 0])) as StateCounts;
  c.total = 0;
  return c;
}

/** Counts grouped by task type or by shard, sorted by name. */
export function groupCounts(
  s: Snapshot,
  by: "taskType" | "shard",
): Array<{ name: string; counts: StateCounts }> {
  const groups = new Map<string, StateCounts>();
  for (const c of s.counts) {
    const name = c[by];
    let g = groups.get(name);
    if (!g) groups.set(name, g = zero());
    g[c.state] += c.count;
    g.total += c.count;
  }
  const names = [...groups.keys()].sort((a, b) =>
    by === "shard" ? Number(a) - Number(b) || (a < b ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0
  );
  return names.map((name) => ({ name, counts: groups.get(name)! }));
}

/** What the console itself has spent and will spend. */
export interface Spend {
  /** Refresh interval in seconds. */
  refreshSeconds: number;
  /** Successful refreshes so far. */
  refreshes: number;
  /** Requests of the last refresh, by kind. */
  perRefresh: RequestCounts;
  /** Their cost at AWS list prices, USD. */
  perRefreshUsd: number;
  /** Requests per 30-day month if a refresh happens every interval (someone always watching). */
  monthlyRequests: number;
  /** Their cost, USD. */
  monthlyUsd: number;
  /** Every request this console sent since it started (refreshes, pages, actions), by kind. */
  sinceStart: RequestCounts;
  /** Their cost, USD. */
  sinceStartUsd: number;
}

/** The console's spend from its meter and its last refresh. */
export function spendOf(store: MeteredStore, cache: SnapshotCache, last: Snapshot | null): Spend {
  const per = last?.requests ?? emptyCounts();
  const since = store.counters.snapshot();
  return {
    refreshSeconds: cache.refreshMs / 1000,
    refreshes: cache.refreshes,
    perRefresh: per,
    perRefreshUsd: RequestCounters.cost(per),
    monthlyRequests: Math.round(totalRequests(per) * MONTH_SECONDS * 1000 / cache.refreshMs),
    monthlyUsd: monthlyCost(per, cache.refreshMs),
    sinceStart: since,
    sinceStartUsd: RequestCounters.cost(since),
  };
}

/** `GET /api/overview`. */
export function overviewJson(
  s: Snapshot | null,
  error: RefreshError | null,
  cache: SnapshotCache,
  spend: Spend,
): Record<string, unknown> {
  const base = { error: error && { message: error.message, at: error.at.toISOString() }, spend };
  if (s === null) return { at: null, ...base };
  const now = s.at.getTime();
  return {
    at: s.at.toISOString(),
    ...base,
    totals: s.totals,
    byType: groupCounts(s, "taskType").map((g) => ({ taskType: g.name, ...g.counts })),
    byShard: groupCounts(s, "shard").map((g) => ({ shard: g.name, ...g.counts })),
    oldestReadyAt: s.oldestReadyAt?.toISOString() ?? null,
    oldestReadyAgeSeconds: s.oldestReadyAt
      ? Math.max(0, (now - s.oldestReadyAt.getTime()) / 1000)
      : null,
    census: s.census,
    workers: s.workers,
    schedules: s.schedules,
    depth: cache.samples.map((d) => ({ ...d, at: new Date(d.at).toISOString() })),
  };
}

/** A census entry in the API (the fields of `oq list --json` it has, plus `state`). */
export function entryJson(census: TaskCensus, e: CensusEntry): Record<string, unknown> {
  return { ...e, state: census.stateOf(e) };
}
