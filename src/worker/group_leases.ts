/**
 * A worker's lease groups (src/protocol/lease_groups.ts): one deadline entry for the leases
 * of every task it claims from one listing of a lane, instead of one entry per task.
 *
 * A lane's group is opened at the first claim from a fresh listing, naming the candidates
 * of that listing (at most 100), and accepts claims for as long as a listing's candidates
 * are kept (`candidateTtlMs`, its hold). Its time is the hold's end plus the longest lease seen in the
 * lane (a task whose lease would end later gets its own entry). Once the group is closed (its
 * listing used up, expired or replaced, or the worker stopping) and every task claimed under
 * it has ended, its entry is deleted (free). A listing that offers a single candidate gets
 * no group: its own lease entry costs the same.
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { MAX_GROUP_TASKS, writeGroup, type WrittenGroup } from "../protocol/lease_groups.ts";
import type { EntryRef } from "../protocol/tasks.ts";
import type { Candidate } from "./claim.ts";

/** The lease group of one listing of a lane: its entry is written at its first claim. */
export interface OpenGroup {
  /** Its lane (`shard/type`). */
  readonly laneKey: string;
  /** Its shard and task type. */
  readonly shard: string;
  readonly taskType: string;
  /** Claims under it are made until then (store time, ms). */
  readonly holdUntil: number;
  /** The tasks it names. */
  readonly names: readonly string[];
  /** Tasks claimed under it whose attempt has not ended. */
  readonly live: Set<string>;
  /** Claims under way. */
  claiming: number;
  /** Still accepting claims. */
  open: boolean;
  /**
   * A claim under it failed in a way that may have landed (its task write's answer was
   * lost): the entry stays for the monitor, which recovers that task at the group's time.
   */
  kept?: boolean;
  /** Its entry, once the first claim asked for it (`null`: the write failed). */
  written?: Promise<(WrittenGroup & { from: number }) | null>;
}

/**
 * A lease covered by a group ends at most this long before the group's time (plus its
 * hold): a shorter one gets its own entry, so a crash's recovery waits at most this much
 * longer than with an entry per task.
 */
export const GROUP_SLACK_MS = 30_000;

/**
 * The lease groups of one worker.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { GroupLeases } from "./group_leases.ts";
 * const queue = new Queue(new MemoryStore());
 * const groups = new GroupLeases(queue.context, "w1", () => {});
 * await groups.closeAll(); // nothing open: no request
 * ```
 */
export class GroupLeases {
  readonly #queue: QueueContext;
  readonly #workerId: string;
  readonly #onError: (e: Error) => void;
  readonly #open = new Map<string, OpenGroup>(); // lane -> its group accepting claims
  readonly #byKey = new Map<string, OpenGroup>(); // entry key -> group (open or with live tasks)

  /** Groups of worker `workerId`. */
  constructor(queue: QueueContext, workerId: string, onError: (e: Error) => void) {
    this.#queue = queue;
    this.#workerId = workerId;
    this.#onError = onError;
  }

  /**
   * The group to claim `batch` under (ids from one listing of the lane; `rest(n)` gives
   * the first `n` of the listing's other candidates, asked only for a new group): the
   * lane's open group when it names them, else a new one that accepts claims for `holdMs`;
   * `null` when the tasks should have their own lease entries (a lone candidate).
   */
  async cover(
    shard: string,
    taskType: string,
    batch: readonly string[],
    rest: (n: number) => readonly string[],
    holdMs: number,
  ): Promise<OpenGroup | null> {
    const laneKey = `${shard}/${taskType}`;
    const now = this.#queue.clock.now();
    const cur = this.#open.get(laneKey);
    if (cur && cur.holdUntil >= now && batch.every((id) => cur.names.includes(id))) {
      cur.claiming += batch.length;
      return cur;
    }
    if (cur) await this.#close(cur);
    const names = [...new Set([...batch, ...rest(MAX_GROUP_TASKS)])].slice(0, MAX_GROUP_TASKS);
    if (names.length < 2 || !batch.every((id) => names.includes(id))) return null;
    const g: OpenGroup = {
      laneKey,
      shard,
      taskType,
      holdUntil: now + holdMs,
      names,
      live: new Set(),
      claiming: batch.length,
      open: true,
    };
    this.#open.set(laneKey, g);
    return g;
  }

  /**
   * The group's entry, written by the first claim that needs it (one PUT), sized for that
   * claim's lease of `leaseMs`: its time is the hold's end plus `leaseMs` plus the store
   * clock's uncertainty. `null` when the write failed (the claims write their own entries).
   */
  entry(g: OpenGroup, leaseMs: number): Promise<(WrittenGroup & { from: number }) | null> {
    g.written ??= (async () => {
      const now = this.#queue.clock.now();
      const at = g.holdUntil + leaseMs + this.#queue.store.clockUncertaintyMs();
      try {
        const w = await writeGroup(this.#queue, g.shard, g.taskType, this.#workerId, g.names, at);
        this.#byKey.set(w.ref.key, g);
        return { ...w, from: w.at - (g.holdUntil - now) - GROUP_SLACK_MS };
      } catch (e) {
        this.#onError(e as Error);
        return null;
      }
    })();
    return g.written;
  }

  /**
   * A claim under `g` ended: `taskId` claimed under it (its attempt runs), not claimed, or
   * unknown (the claim threw: its task write may have landed with the group named, and no
   * attempt here will end it, so the group's entry is left for the monitor).
   */
  async settled(
    g: OpenGroup,
    taskId: string,
    outcome: "claimed" | "not claimed" | "unknown",
  ): Promise<void> {
    g.claiming--;
    if (outcome === "claimed") g.live.add(taskId);
    if (outcome === "unknown") g.kept = true;
    await this.#deleteIfDone(g);
  }

  /**
   * An attempt no longer needs the entry covering its lease: a lease entry is deleted; a
   * group drops the task and is deleted once closed with nothing left under it.
   */
  async release(lease: EntryRef, taskId: string): Promise<void> {
    const g = this.#byKey.get(lease.key);
    if (g === undefined) return await this.#queue.tasks.deleteEntry(lease);
    g.live.delete(taskId);
    await this.#deleteIfDone(g);
  }

  /** No more claims under the lane's group (its listing is used up or dropped). */
  async closeLane(shard: string, taskType: string): Promise<void> {
    const g = this.#open.get(`${shard}/${taskType}`);
    if (g) await this.#close(g);
  }

  /** Close the groups whose hold has passed. */
  async closeExpired(now: number): Promise<void> {
    for (const g of [...this.#open.values()]) if (g.holdUntil < now) await this.#close(g);
  }

  /** Close every group (the worker stops, or its lanes change). */
  async closeAll(): Promise<void> {
    for (const g of [...this.#open.values()]) await this.#close(g);
  }

  async #close(g: OpenGroup): Promise<void> {
    g.open = false;
    if (this.#open.get(g.laneKey) === g) this.#open.delete(g.laneKey);
    await this.#deleteIfDone(g);
  }

  async #deleteIfDone(g: OpenGroup): Promise<void> {
    if (g.open || g.claiming > 0 || g.live.size > 0) return;
    const w = await g.written;
    if (!w || !this.#byKey.has(w.ref.key)) return;
    this.#byKey.delete(w.ref.key);
    if (!g.kept) await this.#queue.tasks.deleteEntry(w.ref);
  }
}

/**
 * The ids of the first `n` candidates that `keep` keeps, for {@link GroupLeases.cover}'s
 * `rest` (a buffer may hold thousands: the tasks of many batch entries).
 */
export function firstIds(
  candidates: readonly Candidate[],
  keep: (c: Candidate) => boolean,
  n: number,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < candidates.length && out.length < n; i++) {
    if (keep(candidates[i]!)) out.push(candidates[i]!.entry.taskId);
  }
  return out;
}
