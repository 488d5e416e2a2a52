/**
 * Listing a worker's lanes of the ready index: one LIST per lane, or one LIST of all of
 * them at once.
 *
 * Lanes are `ready/{shard}/{type}/`, so a worker's lanes share a prefix (`ready/` when it
 * works every shard). While the index is small, which is the steady state of a queue that
 * keeps up, one LIST of that prefix answers for every lane: it costs what one lane's LIST
 * costs, and the worker's lanes are then listed together instead of one after the other
 * (at 1 task/s with 4 shards, a quarter of the LISTs; docs/polling.md). A combined page
 * that comes back truncated (a backlog, or another type's entries in the way) covers only
 * the lanes before its last key; the others are listed one by one, and the worker lists
 * lane by lane until the index has been small again for a while
 * ({@link ListingMode}).
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import type { EntryRef } from "../protocol/tasks.ts";
import { pageCovers } from "../store/paging.ts";
import type { VersionInfo } from "../store/types.ts";
import { MAX_PRIORITY_SHIFT_MS } from "../task/priority.ts";
import type { BatchHandle, Candidate } from "./claim.ts";

/** What one LIST of a lane found. */
export interface LaneListing {
  /** Due entries, in the order they sort (due time moved by priority). */
  candidates: Candidate[];
  /** Earliest due time of the future entries the page reached, if any. */
  nextDueAt: number | null;
  /** Entry versions to delete: delete markers and noncurrent versions left by others. */
  junk: EntryRef[];
  /** The page held the whole lane (it was not truncated): nothing more was due then. */
  complete: boolean;
  /** Where the next page starts, when the page was truncated. */
  next?: { keyMarker: string; versionIdMarker?: string };
}

/** A lane as the listing needs it. */
export interface LaneRef {
  /** Shard. */
  readonly shard: string;
  /** Task type. */
  readonly taskType: string;
}

/** List one lane (one LIST request; ListObjectVersions so every entry has its version id). */
export async function listLane(
  queue: QueueContext,
  shard: string,
  taskType: string,
  now: number,
  limit: number,
  signal?: AbortSignal,
  after?: { keyMarker: string; versionIdMarker?: string },
): Promise<LaneListing> {
  const page = await queue.tasks.laneVersions(shard, taskType, limit, signal, after);
  const listing = listingOf(queue, page.versions, now, !page.isTruncated);
  if (page.isTruncated && page.nextKeyMarker !== undefined) {
    listing.next = { keyMarker: page.nextKeyMarker, versionIdMarker: page.nextVersionIdMarker };
  }
  return listing;
}

/** A combined listing: each covered lane's part, and the lanes it did not reach. */
export interface CombinedListing<L extends LaneRef> {
  /** Listings of the lanes the page reached (complete when the page held the whole lane). */
  listings: Map<L, LaneListing>;
  /** Lanes after the page's last key: not listed. */
  uncovered: L[];
  /** The page was truncated. */
  truncated: boolean;
}

/**
 * The prefix all `lanes` share, when listing it is worth it: at least two lanes, and a
 * prefix under `ready/`. `null` otherwise.
 */
export function combinedPrefix(queue: QueueContext, lanes: readonly LaneRef[]): string | null {
  if (lanes.length < 2) return null;
  const prefixes = lanes.map((l) => queue.keys.readyTypePrefix(l.shard, l.taskType));
  let common = prefixes[0]!;
  for (const p of prefixes) {
    let i = 0;
    while (i < common.length && i < p.length && common[i] === p[i]) i++;
    common = common.slice(0, i);
  }
  // Cut back to a whole path segment (`ready/0/` rather than `ready/0/em` of two types).
  common = common.slice(0, common.lastIndexOf("/") + 1);
  return common.startsWith(queue.keys.readyRoot()) ? common : null;
}

/**
 * List `lanes` with one LIST of their common `prefix` ({@link combinedPrefix}), at most
 * `limit` versions, and split the page by lane. Entries of lanes not in `lanes` (other
 * types, other shards) are passed over.
 */
export async function listLanes<L extends LaneRef>(
  queue: QueueContext,
  prefix: string,
  lanes: readonly L[],
  now: number,
  limit: number,
  signal?: AbortSignal,
): Promise<CombinedListing<L>> {
  const page = await queue.store.listVersions({ prefix, maxKeys: limit, signal });
  const byPrefix = new Map<string, VersionInfo[]>();
  const prefixOf = (l: L) => queue.keys.readyTypePrefix(l.shard, l.taskType);
  for (const l of lanes) byPrefix.set(prefixOf(l), []);
  for (const v of page.versions) {
    // `ready/{shard}/{type}/`: the lane prefix is the key up to its third slash after `ready/`.
    const lanePrefix = lanePrefixOf(queue, v.key);
    if (lanePrefix !== null) byPrefix.get(lanePrefix)?.push(v);
  }
  const out: CombinedListing<L> = {
    listings: new Map(),
    uncovered: [],
    truncated: page.isTruncated,
  };
  for (const l of lanes) {
    const p = prefixOf(l);
    // Truncated: a lane whose keys all sort before the last key is whole, the lane holding
    // it is partly listed, and the lanes after it were not reached.
    const covers = pageCovers(page, p);
    if (covers === "none") out.uncovered.push(l);
    else out.listings.set(l, listingOf(queue, byPrefix.get(p)!, now, covers === "whole"));
  }
  return out;
}

/** Whether a worker lists its lanes together or one by one. */
export class ListingMode {
  #perLaneUntil = -Infinity;
  readonly #backoffMs: number;

  /** `backoffMs`: how long a truncated combined page sends the worker back to lane by lane. */
  constructor(backoffMs: number) {
    this.#backoffMs = backoffMs;
  }

  /** List lanes together at `now`? */
  combined(now: number): boolean {
    return now >= this.#perLaneUntil;
  }

  /** A combined page came back truncated: lane by lane for a while. */
  truncated(now: number): void {
    this.#perLaneUntil = now + this.#backoffMs;
  }
}

/**
 * Shuffle candidates so that workers listing the same lane try different tasks first, but
 * only within runs of one priority level: the order between levels (by sort time, which is
 * what makes priorities and their aging work) is kept. Without priorities, a full shuffle.
 */
export function shuffleLevels(a: Candidate[]): Candidate[] {
  let start = 0;
  for (let end = 1; end <= a.length; end++) {
    if (end < a.length && a[end]!.entry.priority === a[start]!.entry.priority) continue;
    for (let i = end - 1; i > start; i--) {
      const j = start + Math.floor(Math.random() * (i - start + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    start = end;
  }
  return a;
}

/**
 * {@link shuffleLevels} for candidates that may include a batch entry's tasks: within a
 * level, each batch's tasks stay together in the order {@link BatchEntries.expand} gave
 * them, at a random place among the other candidates, and the batches in their own
 * `order` (the same for this worker at every listing).
 */
export function orderLevels(a: Candidate[]): Candidate[] {
  if (!a.some((c) => c.batch !== undefined)) return shuffleLevels(a);
  const units: Array<{ level: number; first: number; at: number; items: Candidate[] }> = [];
  const batchUnits = new Map<BatchHandle, (typeof units)[number]>();
  for (const [i, c] of a.entries()) {
    const unit = c.batch ? batchUnits.get(c.batch) : undefined;
    if (unit !== undefined) {
      unit.items.push(c);
      continue;
    }
    const u = { level: c.entry.priority, first: i, at: Math.random(), items: [c] };
    units.push(u);
    if (c.batch) batchUnits.set(c.batch, u);
  }
  // Every unit at a random place; the batches then take their places in their own order.
  const batches = [...batchUnits.entries()];
  const places = batches.map(([, u]) => u.at).sort((x, y) => x - y);
  batches.sort(([x], [y]) => x.order - y.order).forEach(([, u], i) => u.at = places[i]!);
  // Levels keep the listing's order (by the sort time of their first candidate).
  const levelAt = new Map<number, number>();
  for (const u of units) if (!levelAt.has(u.level)) levelAt.set(u.level, u.first);
  units.sort((x, y) => levelAt.get(x.level)! - levelAt.get(y.level)! || x.at - y.at);
  return units.flatMap((u) => u.items);
}

function lanePrefixOf(queue: QueueContext, key: string): string | null {
  const root = queue.keys.readyRoot();
  if (!key.startsWith(root)) return null;
  const shardEnd = key.indexOf("/", root.length);
  const typeEnd = shardEnd < 0 ? -1 : key.indexOf("/", shardEnd + 1);
  return typeEnd < 0 ? null : key.slice(0, typeEnd + 1);
}

// One lane's versions (in key order, newest version first) as a listing.
function listingOf(
  queue: QueueContext,
  versions: readonly VersionInfo[],
  now: number,
  complete: boolean,
): LaneListing {
  const out: LaneListing = { candidates: [], nextDueAt: null, junk: [], complete };
  const deadKeys = new Set<string>();
  for (const v of versions) {
    if (v.isDeleteMarker && v.isLatest) deadKeys.add(v.key);
    if (deadKeys.has(v.key) || !v.isLatest) {
      out.junk.push({ key: v.key, versionId: v.versionId });
      continue;
    }
    // A task's entry, or a batch entry (expanded into its tasks by the worker).
    const entry = queue.keys.parseReady(v.key) ?? queue.keys.parseReadyBatch(v.key);
    if (entry === null) continue; // not ours: leave it alone
    if (entry.dueAt > now) {
      out.nextDueAt = out.nextDueAt === null ? entry.dueAt : Math.min(out.nextDueAt, entry.dueAt);
      // Keys sort by due time moved by the priority's worth (src/task/priority.ts): a
      // lower level may be due further on, but past `now` plus the largest move nothing is.
      if (entry.sortAt > now + MAX_PRIORITY_SHIFT_MS) break;
      continue;
    }
    out.candidates.push({ entry, versionId: v.versionId, writtenAt: v.lastModified.getTime() });
  }
  return out;
}
