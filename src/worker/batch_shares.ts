/**
 * How the workers of a type share a batch entry's tasks out without a request
 * (src/worker/batch_entries.ts): each of the `n` live workers counted (src/worker/peers.ts)
 * owns the body's tasks `i` with `(i + h) mod n` equal to its rank (`h` from the entry's key,
 * alike for every worker).
 *
 * A worker takes its own share of every batch first, in body order and the batches by key
 * (as every worker goes), claiming without a read. The other shares come after, owner by
 * owner from the next rank on, each from its end and read first: a worker out of work of its
 * own meets an owner still at it where the two cross, and two such workers start on
 * different owners. A share found taken by its owner is passed (left alone in every batch)
 * for {@link PASSED_MS}: the owner goes through its batches in the same order. Each batch's
 * keeper (the owner of its first task) passes nothing: it reads every task of the other
 * shares, so that one worker sees them all leave and deletes the entry.
 *
 * @module
 */

import { fnv1a } from "../base/ids.ts";

/**
 * A share of another worker found taken by its owner is left alone this long (were the
 * owner and the batch's keeper both gone, the count of peers changes within minutes).
 */
export const PASSED_MS = 30_000;
// Passes kept before the ended ones are dropped.
const MAX_PASSES = 256;

/** The live workers of a type (this one included), and this one's place among them. */
export interface PeerCount {
  /** How many, at least 1. */
  sharing: number;
  /** This worker's place, 0 .. `sharing` - 1 (every worker sees the same order). */
  rank: number;
  /** The workers' heartbeat keys, by rank (none: the owners of shares are not checked). */
  keys?: readonly string[];
  /**
   * The last two counts found the same workers (none: taken as settled). Until then
   * workers may disagree on the shares (some are still starting): nothing is assumed.
   */
  settled?: boolean;
}

/** One worker alone. */
export const ALONE: PeerCount = { sharing: 1, rank: 0 };

/** Where a worker's batches learn who shares its types (src/worker/peers.ts). */
export interface PeerSource {
  /** The count for `taskType` (`undefined` until counted). */
  count(taskType: string): PeerCount | undefined;
  /** Count now if not counted yet (batches were listed); a failure is reported, not thrown. */
  first(): Promise<void>;
  /** Another worker took a task of this worker's share of a batch: the count is out of date. */
  disagree(taskType: string): void;
}

/** A worker that never counts: alone. */
export const NO_PEERS: PeerSource = {
  count: () => ALONE,
  first: () => Promise.resolve(),
  disagree: () => {},
};

/** A run of a batch's tasks, claimed together (src/worker/listing.ts, orderLevels). */
export interface Part {
  ids: string[];
  /** Where the run goes among the candidates, in [0, 1). */
  order: number;
  /**
   * This worker's own share (the whole batch when not shared out): its records are assumed
   * (with others: once shared out), and a task of it found taken by another worker tells that
   * the count is out of date.
   */
  own: boolean;
  /**
   * Another worker's share (`{type}/{workers}/{rank}`), passed for a while once one of its
   * tasks is found taken by its owner (`ownerKey`, its heartbeat key). None for the
   * keeper.
   */
  owner?: string;
  ownerKey?: string;
}

/**
 * Are batches shared out among `peers`? Not when alone, nor while the counts change (the
 * workers starting or stopping would disagree on the shares and meet in them): each worker
 * then goes through each batch from a place of its own, reading first.
 */
export function sharedOut(peers: PeerCount): boolean {
  return peers.sharing > 1 && peers.settled !== false;
}

/** What a batch was shared out as: `""` not shared out, `{workers}/{rank}` shared. */
export function shareSignature(peers: PeerCount): string {
  return sharedOut(peers) ? `${peers.sharing}/${peers.rank % peers.sharing}` : "";
}

/**
 * Batch `key`'s tasks `ids` (in body order) in runs for a worker of `taskType` among
 * `peers`: not shared out, one run from a place of this worker's own (`seed`); shared, its
 * own share first, then the others' (each from its end).
 *
 * @example
 * ```ts
 * import { sharesOf } from "./batch_shares.ts";
 * const parts = sharesOf("ready/0/job/k", "job", ["a", "b", "c", "d"], { sharing: 2, rank: 0 }, "s");
 * parts.map((p) => p.ids.length); // [2, 2]: its own share, then the other's
 * ```
 */
export function sharesOf(
  key: string,
  taskType: string,
  ids: readonly string[],
  peers: PeerCount,
  seed: string,
): Part[] {
  if (!sharedOut(peers)) {
    const spread = fnv1a(`${seed}/${key}`);
    const from = spread % Math.max(1, ids.length);
    const rotated = [...ids.slice(from), ...ids.slice(0, from)];
    return [{ ids: rotated, order: spread / 2 ** 32, own: true }];
  }
  const n = peers.sharing;
  const rank = peers.rank % n;
  const h = fnv1a(key);
  const keeper = h % n === rank;
  const parts: Part[] = Array.from({ length: n }, (_, k) => ({
    ids: [],
    // Own shares first, by key; then the others', by owner, and by key backwards.
    order: (k + (k === 0 ? h : 2 ** 32 - 1 - h) / 2 ** 32) / n,
    own: k === 0,
    owner: k === 0 || keeper ? undefined : `${taskType}/${n}/${(rank + k) % n}`,
    ownerKey: k === 0 || keeper ? undefined : peers.keys?.[(rank + k) % n],
  }));
  for (const [i, id] of ids.entries()) parts[distance(i, h, n, rank)]!.ids.push(id);
  for (const p of parts.slice(1)) p.ids.reverse();
  return parts;
}

/** The tasks of `ids` (in body order) in this worker's own share of batch `key`. */
export function ownShare(key: string, ids: readonly string[], peers: PeerCount): Set<string> {
  if (!sharedOut(peers)) return new Set(ids);
  const h = fnv1a(key);
  const n = peers.sharing;
  return new Set(ids.filter((_, i) => distance(i, h, n, peers.rank % n) === 0));
}

/** The other workers' shares found taken by their owners, until when. */
export class Passes {
  readonly #until = new Map<string, number>();

  /** Is `part` passed at `now`? */
  passed(part: Part, now: number): boolean {
    return part.owner !== undefined && (this.#until.get(part.owner) ?? -Infinity) > now;
  }

  /**
   * A task of `part` was found taken at `now` by the worker whose heartbeat key is
   * `takerKey`: its share is passed if that is its owner.
   */
  taken(part: Part, takerKey: string, now: number): void {
    if (part.owner === undefined) return;
    if (part.ownerKey !== undefined && takerKey !== part.ownerKey) return; // owner not seen
    this.#until.set(part.owner, now + PASSED_MS);
    if (this.#until.size <= MAX_PASSES) return;
    for (const [k, until] of this.#until) if (until <= now) this.#until.delete(k);
  }
}

// How far from `rank` the owner of a batch's task `i` is, among `n` workers: 0 for its own
// share (the owner's rank is `(i + h) mod n`).
function distance(i: number, h: number, n: number, rank: number): number {
  return ((i + h) % n - rank + n) % n;
}
