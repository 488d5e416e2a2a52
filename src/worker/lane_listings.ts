/**
 * What a worker's listings found, lane by lane: the candidates not yet claimed (kept for
 * `candidateTtlMs`), tasks found invalid (skipped for a while), and the listing of the due
 * lanes, together while the ready index is small (src/worker/listing.ts).
 *
 * @module
 */

import { mapLimit } from "../base/concurrency.ts";
import type { QueueContext } from "../protocol/context.ts";
import type { BatchEntries } from "./batch_entries.ts";
import type { Candidate } from "./claim.ts";
import {
  combinedPrefix,
  type LaneListing,
  ListingMode,
  listLane,
  listLanes,
  orderLevels,
} from "./listing.ts";
import type { Lane, PollSchedule } from "./poll_schedule.ts";

// Pages of one lane listed in one poll when every due entry is left out.
const MAX_PAGES = 5;

// Skips kept before the ended ones are dropped (checked when one is added).
const MAX_SKIPPED = 10_000;
// How long an ended attempt's entry is remembered: longer than any LIST stays in flight.
const ENDED_KEPT_MS = 60_000;

/** A lane's candidates from its last listing. */
export interface Buffered {
  /** Candidates not claimed yet, in the order to try them. */
  candidates: Candidate[];
  /** Earliest due time of the future entries the listing saw. */
  nextDueAt: number | null;
  /** Store time of the listing. */
  listedAt: number;
  /** Store time after which the candidates are too old to try. */
  until: number;
  /** The listing held the whole lane. */
  complete: boolean;
  /** Batch entries listed whose bodies wait: the records held are at their bound. */
  deferred: number;
}

/** The key of a lane in maps: `{shard}/{type}`. */
export function laneKeyOf(lane: { shard: string; taskType: string }): string {
  return `${lane.shard}/${lane.taskType}`;
}

/** The settings the listings use. */
export interface ListingSettings {
  /** Entries per lane listing. */
  listLimit: number;
  /** How long candidates stay worth trying. */
  candidateTtlMs: number;
  /** How long a truncated combined listing sends the worker lane by lane. */
  idleAfterMs: number;
}

/**
 * The listings of one worker.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, Worker } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * await queue.submit("email", {});
 * const worker = new Worker(queue, "w1").task("email", () => ({ sent: true }));
 * (await worker.pollOnce()).listed; // 1: every lane of the worker with one LIST
 * await worker.drain();
 * ```
 */
export class LaneListings {
  readonly #queue: QueueContext;
  readonly #o: ListingSettings;
  readonly #emit: (error: Error, context: string) => void;
  readonly #mode: ListingMode;
  readonly #bad = new Map<string, number>();
  readonly #skips = new Map<string, number>();
  /** Entries whose attempt here ended, and when: a LIST begun before may still show them. */
  readonly #ended = new Map<string, number>();
  readonly #buffers = new Map<string, Buffered>();
  readonly #batches: BatchEntries;

  /**
   * Listings for a worker of `queue`; `emit` reports a failed LIST; `batches` expands the
   * batch entries listed.
   */
  constructor(
    queue: QueueContext,
    settings: ListingSettings,
    emit: (error: Error, context: string) => void,
    batches: BatchEntries,
  ) {
    this.#queue = queue;
    this.#batches = batches;
    this.#o = settings;
    this.#emit = emit;
    this.#mode = new ListingMode(settings.idleAfterMs);
  }

  /** A lane's buffered candidates. */
  get(laneKey: string): Buffered | undefined {
    return this.#buffers.get(laneKey);
  }

  /** Keep what is left of a lane's candidates. */
  set(laneKey: string, buffered: Buffered): void {
    this.#buffers.set(laneKey, buffered);
  }

  /** Drop a lane's candidates. */
  delete(laneKey: string): void {
    this.#buffers.delete(laneKey);
  }

  /** Drop every lane's candidates (the shards changed). */
  clear(): void {
    this.#buffers.clear();
  }

  /** Leave a task found invalid out of this worker's candidates until `until`. */
  markBad(taskId: string, until: number, now: number): void {
    this.#bad.set(taskId, until);
    if (this.#bad.size > MAX_SKIPPED) prune(this.#bad, now);
  }

  /**
   * Leave a ready entry out of this worker's candidates until `until`: it indexes a running
   * task's lease (claimed here or by another worker). By key: the task's next entry (a
   * retry's) is a candidate as soon as it is due.
   */
  skipEntry(key: string, until: number, now: number): void {
    this.#skips.set(key, until);
    if (this.#skips.size > MAX_SKIPPED) prune(this.#skips, now);
  }

  /**
   * The attempt claimed under a ready entry ended at `now` (its entry deleted, or left as
   * the task's pending entry by a give-back). The entry is a candidate again for listings
   * begun from `now` on; a LIST already in flight may show the deleted entry, and claiming
   * from it would cost a GET of a finished task.
   */
  unskip(key: string, now: number): void {
    this.#skips.delete(key);
    this.#ended.delete(key); // re-inserted last: the map stays in order of ending
    this.#ended.set(key, now);
    for (const [k, at] of this.#ended) {
      if (at > now - ENDED_KEPT_MS && this.#ended.size <= MAX_SKIPPED) break;
      this.#ended.delete(k);
    }
  }

  /**
   * List the `due` lanes that have no fresh candidates. While the index is small, one LIST
   * of the common prefix of every lane `claimable` answers for all of them: lanes it found
   * work in join the lanes to claim from, the empty ones count as listed in `schedule`.
   * Lanes whose LIST failed are added to `failed`. Returns the lanes to claim from.
   */
  async list(
    due: Lane[],
    schedule: PollSchedule,
    now: number,
    failed: Set<string>,
    hooks: { claimable: (lane: Lane) => boolean; listed: () => void },
  ): Promise<Lane[]> {
    const q = this.#queue;
    let perLane = due.filter((l) => !this.#fresh(laneKeyOf(l), now));
    const extra: Lane[] = [];
    const all = perLane.length === 0 || !this.#mode.combined(now) ? [] : [
      ...perLane,
      ...schedule.lanes.filter((l) => !perLane.includes(l) && hooks.claimable(l)),
    ];
    const prefix = combinedPrefix(q, all);
    if (prefix !== null) {
      try {
        const limit = Math.min(1000, this.#o.listLimit * all.length);
        const c = await listLanes(q, prefix, all, now, limit);
        hooks.listed();
        if (c.truncated) this.#mode.truncated(now);
        for (const [lane, listing] of c.listings) {
          await this.#keep(lane, listing, now);
          if (due.includes(lane)) continue;
          if (listing.candidates.length > 0) extra.push(lane);
          else schedule.listed(lane, now, 0, listing.nextDueAt);
        }
        perLane = perLane.filter((l) => !c.listings.has(l));
      } catch (e) {
        for (const lane of perLane) {
          failed.add(laneKeyOf(lane));
          schedule.failed(lane, now);
        }
        this.#emit(e as Error, `poll ${prefix}`);
        return due;
      }
    }
    await mapLimit(perLane, 8, async (lane) => {
      try {
        const list = (after?: LaneListing["next"]) =>
          listLane(q, lane.shard, lane.taskType, now, this.#o.listLimit, undefined, after);
        let listing = await list();
        hooks.listed();
        // A full page of entries this worker leaves out (running tasks' leases, listed first
        // as the oldest due): the next pages, a few at most, so that the lane's pending tasks
        // behind them are reached.
        for (
          let page = 1;
          page < MAX_PAGES && listing.next && this.#noneLeft(listing, now);
          page++
        ) {
          await this.#deleteJunk(listing);
          const more = await list(listing.next);
          hooks.listed();
          listing = { ...more, candidates: [...listing.candidates, ...more.candidates] };
        }
        await this.#keep(lane, listing, now);
      } catch (e) {
        failed.add(laneKeyOf(lane));
        schedule.failed(lane, now);
        this.#emit(e as Error, `poll ${laneKeyOf(lane)}`);
      }
    });
    return [...due, ...extra];
  }

  // Due entries were listed, and every one is left out.
  #noneLeft(listing: LaneListing, now: number): boolean {
    return listing.candidates.length > 0 &&
      listing.candidates.every((c) => this.#leftOut(c, now));
  }

  #deleteJunk(listing: LaneListing): Promise<unknown> {
    const junk = listing.junk.splice(0);
    return Promise.all(junk.map((j) => this.#queue.tasks.deleteEntry(j)));
  }

  // A lane's listing: its junk deleted, its candidates buffered (those left out excepted).
  async #keep(lane: Lane, listing: LaneListing, now: number): Promise<void> {
    await this.#deleteJunk(listing);
    const listed = await this.#batches.expand(listing.candidates, now);
    const candidates = orderLevels(
      listed.candidates.filter((c) => !this.#leftOut(c, now) && !this.#endedSince(c, now)),
    );
    this.#buffers.set(laneKeyOf(lane), {
      candidates,
      nextDueAt: listing.nextDueAt,
      listedAt: now,
      until: now + this.#o.candidateTtlMs,
      // Batches whose bodies wait (the records held are at their bound) are still there.
      complete: listing.complete && listed.deferred === 0,
      deferred: listed.deferred,
    });
  }

  #fresh(laneKey: string, now: number): boolean {
    const b = this.#buffers.get(laneKey);
    return b !== undefined && b.until >= now && b.candidates.length > 0;
  }

  // A task found invalid, or an entry indexing a running task's lease (skipped until it ends).
  #leftOut(c: Candidate, now: number): boolean {
    return this.#isBad(c.entry.taskId, now) || (this.#skips.get(c.entry.key) ?? 0) > now;
  }

  // The entry's attempt here ended at or after `listedAt`: the listing may predate its delete.
  #endedSince(c: Candidate, listedAt: number): boolean {
    return (this.#ended.get(c.entry.key) ?? -Infinity) >= listedAt;
  }

  #isBad(taskId: string, now: number): boolean {
    const until = this.#bad.get(taskId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#bad.delete(taskId);
    return false;
  }
}

// Forget skips that have ended (entries not listed again are never looked up).
function prune(skips: Map<string, number>, now: number): void {
  for (const [k, until] of skips) if (until <= now) skips.delete(k);
}
