/**
 * Claiming work: a candidate (from a listing of the ready index, src/worker/listing.ts) is
 * claimed with one compare-and-swap on the task object. Losing the race is normal flow.
 *
 * Cost of a successful claim: one GET (the task) and one PUT (the task), or the PUT alone for a
 * batch task whose record its batch entry carries (src/worker/batch_entries.ts); the ready entry
 * stays as the index of the lease and is deleted (by version id: free, no delete marker)
 * when the attempt ends (docs/format.md, "Leases in the ready entry"). With
 * `leaseEntryAfterMs` 0: a PUT of the lease entry first and the DELETE of the ready entry
 * after; under a lease group (src/worker/group_leases.ts) the lease entry is the group's,
 * one PUT for up to 100 claims. A limited type adds its gate's requests
 * (src/worker/limiter.ts) before the task's write.
 *
 * @module
 */

import { ORPHAN_ENTRY_AGE_MS } from "../protocol/lanes.ts";
import type { QueueContext } from "../protocol/context.ts";
import { SchemaError } from "../base/errors.ts";
import type { ReadyEntry } from "../protocol/keys.ts";
import type { EntryRef, Versioned } from "../protocol/tasks.ts";
import type { TaskRecord } from "../task/task.ts";
import * as transitions from "../task/transitions.ts";

/** A ready entry that is due. */
export interface Candidate {
  /** The parsed entry. */
  entry: ReadyEntry;
  /** Its version id (for the delete). */
  versionId: string;
  /** When the entry was written. */
  writtenAt: number;
  /**
   * Set when the entry is a batch entry (src/worker/batch_entries.ts) and `entry.taskId` one
   * of the tasks it names: the entry is never deleted for one task; the task is said to
   * have left it instead.
   */
  batch?: BatchHandle;
}

/** What a batch candidate's claim tells its batch. */
export interface BatchHandle {
  /** The task named `taskId` has left the entry for good. */
  left(taskId: string): Promise<void>;
  /**
   * Where the batch goes among a listing's candidates, in [0, 1): the same for this worker
   * at every listing, different from worker to worker.
   */
  readonly order: number;
  /**
   * False for a task of another worker's share of the batch that is left alone for now: a
   * task of that share was found taken (src/worker/batch_entries.ts).
   */
  wanted(taskId: string): boolean;
  /**
   * A claim of `taskId` found it not claimable: taken (by the worker `takenBy`, that ran or
   * runs its last attempt), or not to be run (`takenBy` null: cancelled, expired, gone).
   */
  notClaimable(taskId: string, takenBy: string | null): void;
  /**
   * The task as its producer wrote it (the record and ETag the batch entry carries), to
   * claim without reading it first; `undefined` when there is none to assume.
   */
  written(taskId: string): Versioned | undefined;
  /** A write that assumed `written` (from {@link written}) lost: `current` is the task now. */
  lost(written: Versioned, current: Versioned | null): void;
  /** A write that assumed a record of this batch won. */
  won(): void;
  /** The claim that was given the record of `taskId` has ended, whatever it did. */
  settled(taskId: string): void;
}

/** Outcome of trying to claim one candidate. */
export type ClaimResult =
  | {
    kind: "claimed";
    claimed: Versioned;
    /** The entry covering its lease: its own, or the lease group's. */
    lease: EntryRef;
    permit?: Permit;
    /** The lease is the group's (`lease` is its entry). */
    grouped: boolean;
  }
  | {
    kind: "skipped";
    reason: string;
    /** A task running under its ready entry: not claimable before (its lease's end). */
    notBefore?: number;
    /** ... and when it was claimed. */
    claimedAt?: number;
  }
  | { kind: "invalid"; error: SchemaError }
  /** The type's limit refused the claim (nothing written to the task): retry at `retryAt`. */
  | { kind: "limited"; retryAt: number | null };

/**
 * A limited type's admission (src/worker/limiter.ts): asked once the task is known
 * claimable, before the lease entry and the task write.
 */
export interface ClaimGate {
  /** Admit the claim that would write `next`, or refuse it until `retryAt`. */
  admit(next: TaskRecord): Promise<{ permit: Permit } | { retryAt: number | null }>;
}

/** What a gate granted: given back once the attempt's outcome is written (or the claim failed). */
export interface Permit {
  /** Give the permit back. Never throws. */
  release(): Promise<void>;
  /** Asked just before the handler starts; false: give the task back unstarted. */
  beforeStart?(): Promise<boolean>;
}

/** A lease group the claim may record instead of writing a lease entry (src/worker/group_leases.ts). */
export interface ClaimGroup {
  /**
   * The group's entry, written by the first claim that asks (sized for its lease of
   * `leaseMs`); `null` when it could not be written.
   */
  entry(leaseMs: number): Promise<GroupEntry | null>;
}

/** A lease group's entry. */
export interface GroupEntry {
  /** The entry. */
  ref: EntryRef;
  /** What a task claimed under it records in `lease_group`. */
  tail: string;
  /** Leases ending by then are covered (ms). */
  at: number;
  /**
   * ... and not before this: a much shorter lease gets its own entry, so that its recovery
   * after a crash does not wait for the group's time (ms).
   */
  from: number;
}

/**
 * Claim one candidate for `workerId`: read the task (or assume the record its batch entry
 * carries: a write that loses then reads it and decides again), and if it is claimable write the
 * lease entry (unless `leaseBy` says where the lease is indexed: `group`'s entry, written
 * before, or the ready entry itself, kept until the attempt ends), then the task
 * (compare-and-swap), then delete the ready entry (not when it indexes the lease). Stale
 * entries met on the way are deleted (by version id); a ready entry that indexes a running
 * task's lease is kept, and the task recovered once its lease has ended. Never throws for a
 * lost race.
 */
export async function claimCandidate(
  queue: QueueContext,
  c: Candidate,
  workerId: string,
  leaseGraceMs: number,
  signal?: AbortSignal,
  gate?: ClaimGate,
  leaseBy?: ClaimGroup | "ready",
): Promise<ClaimResult> {
  if (c.batch && leaseBy === "ready") {
    throw new TypeError(`Task ${c.entry.taskId} of a batch entry cannot have its lease there`);
  }
  const ref: EntryRef = { key: c.entry.key, versionId: c.versionId };
  if (c.batch && !c.batch.wanted(c.entry.taskId)) {
    return { kind: "skipped", reason: "another worker's share, found taken" };
  }
  // A batch task as its producer wrote it, to write over without reading it: a write that
  // loses reads the task (src/protocol/stored.ts, writeOrRead), and we decide again with it.
  const assumed = c.batch?.written(c.entry.taskId);
  let seen = null as Versioned | null; // the task as last seen (not an assumed record)
  try {
    const r = assumed !== undefined
      ? await decide(assumed, true)
      : await decide(await queue.tasks.read(c.entry.taskId, signal), false);
    if (r.kind === "skipped") c.batch?.notClaimable(c.entry.taskId, seen?.rec.worker_id ?? null);
    return r;
  } catch (e) {
    if (e instanceof SchemaError) return { kind: "invalid", error: e };
    throw e;
  } finally {
    if (assumed !== undefined) c.batch!.settled(c.entry.taskId);
  }

  // Write `next` over `current` (compare-and-swap): the new version; `null` when it lost;
  // for an `assumed` record, the task as it is now when it lost.
  async function swap(
    next: TaskRecord,
    current: Versioned,
    assumed: boolean,
  ): Promise<Versioned | null | { now: Versioned | null }> {
    if (!assumed) return await queue.tasks.replace(next, current.etag);
    const w = await queue.tasks.writeOrRead(next, current.etag);
    if ("written" in w) {
      c.batch!.won();
      return w.written;
    }
    c.batch!.lost(current, w.current);
    return { now: w.current };
  }

  async function decide(current: Versioned | null, assumed: boolean): Promise<ClaimResult> {
    if (!assumed) seen = current;
    const now = queue.clock.now();
    if (current === null) {
      // The producer writes the entry before the task: a young entry may be mid-submit.
      if (now - c.writtenAt > ORPHAN_ENTRY_AGE_MS) await dropEntry(queue, c, ref);
      return { kind: "skipped", reason: "task not found" };
    }
    const rec = current.rec;
    if (rec.task_type !== c.entry.taskType) {
      await dropEntry(queue, c, ref);
      return { kind: "skipped", reason: "entry type does not match the task" };
    }
    if (leasedByEntry(queue, rec, c.entry.key)) return await leasedTask(queue, current, c, ref);
    if (rec.status !== "pending") {
      await dropEntry(queue, c, ref);
      return { kind: "skipped", reason: `task is ${rec.status}` };
    }
    if (queue.tasks.readyKey(rec) !== c.entry.key) {
      // A newer entry exists for the task's current available_at (written before the change).
      await dropEntry(queue, c, ref);
      return { kind: "skipped", reason: "entry is stale" };
    }
    if (rec.expires_at !== null && Date.parse(rec.expires_at) <= now) {
      const t = transitions.expire(rec, now);
      const w = t.ok ? await swap(t.next, current, assumed) : null;
      if (w !== null && "now" in w) return await decide(w.now, false);
      if (w !== null) await dropEntry(queue, c, ref);
      return { kind: "skipped", reason: "task expired" };
    }
    // A delayed task must not start early by the store's clock: allow for its uncertainty.
    const delayed = rec.available_at !== rec.created_at;
    const margin = delayed ? queue.store.clockUncertaintyMs() : 0;
    const leaseMs = rec.timeout_seconds * 1000 + leaseGraceMs;
    // Fail early when the claim cannot apply (before any write, the group's included).
    const inReady = leaseBy === "ready";
    const check = transitions.claim(
      rec,
      now - margin,
      workerId,
      leaseMs,
      inReady ? "ready" : undefined,
    );
    if (!check.ok) return { kind: "skipped", reason: check.reason };
    let permit: Permit | undefined;
    if (gate) {
      const a = await gate.admit(check.next);
      if (!("permit" in a)) return { kind: "limited", retryAt: a.retryAt };
      permit = a.permit;
    }
    // A request that throws from here on keeps the permit: the task write may have landed, so
    // the holder stays until its claim window and lease end, then is checked (and the task
    // fenced if still pending) and evicted.
    // Index first: a crash after the entry's PUT leaves an entry the monitor checks and drops.
    // The group's entry covers the lease only if the lease ends within its bounds. Under
    // "ready", the ready entry is the index already: no write before the task's.
    const group = leaseBy === undefined || inReady ? undefined : leaseBy;
    const g = group ? await group.entry(leaseMs) : null;
    const leaseEnd = now - margin + leaseMs;
    const grouped = g !== null && leaseEnd <= g.at && leaseEnd >= g.from;
    const t = grouped
      ? transitions.claim(rec, now - margin, workerId, leaseMs, { group: g.tail })
      : check;
    if (!t.ok) { // (not reached: the same claim as `check`, with the group named)
      await permit?.release();
      return { kind: "skipped", reason: t.reason };
    }
    const lease = inReady ? ref : grouped ? g.ref : await queue.tasks.putLease(t.next);
    const claimed = await swap(t.next, current, assumed);
    if (claimed === null || "now" in claimed) {
      if (!grouped && !inReady) await queue.tasks.deleteEntry(lease);
      await permit?.release();
      if (claimed !== null) return await decide(claimed.now, false);
      return { kind: "skipped", reason: "lost the race" };
    }
    if (!inReady) await dropEntry(queue, c, ref);
    return { kind: "claimed", claimed, lease, permit, grouped };
  }
}

/** True when the ready entry `key` indexes the lease of `rec`, a running task. */
export function leasedByEntry(queue: QueueContext, rec: TaskRecord, key: string): boolean {
  return rec.status === "running" && rec.lease_index === "ready" &&
    queue.tasks.readyKey(rec) === key;
}

// A running task whose lease the entry indexes: left alone until the lease ends (the
// poller skips it until then, `notBefore`), then recovered as the monitor recovers an
// expired lease entry (src/monitor/monitor.ts), deciding with the store's time minus its
// uncertainty. A recovered task no longer needs the entry (a retry has its own, written
// first); one that changed meanwhile is left to the next listing.
async function leasedTask(
  queue: QueueContext,
  v: Versioned,
  c: Candidate,
  ref: EntryRef,
): Promise<ClaimResult> {
  const now = queue.clock.now() - queue.store.clockUncertaintyMs();
  const leaseEnd = Date.parse(v.rec.lease_expires_at ?? "");
  if (!(leaseEnd <= now)) {
    const claimedAt = Date.parse(v.rec.claimed_at ?? "");
    return { kind: "skipped", reason: "task is running", notBefore: leaseEnd + 1, claimedAt };
  }
  const t = transitions.recoverLease(v.rec, now);
  if (!t.ok) return { kind: "skipped", reason: t.reason };
  const w = t.next.status === "pending"
    ? await queue.tasks.makePending(t.next, v.etag)
    : await queue.tasks.replace(t.next, v.etag);
  if (w !== null && !(w.rec.status === "pending" && queue.tasks.readyKey(w.rec) === ref.key)) {
    await dropEntry(queue, c, ref);
  }
  return { kind: "skipped", reason: w === null ? "task changed" : "lease ended: recovered" };
}

// The candidate's task no longer needs its entry: delete a task's own entry (by version
// id); a batch entry only learns that the task has left it.
function dropEntry(queue: QueueContext, c: Candidate, ref: EntryRef): Promise<void> {
  return c.batch ? c.batch.left(c.entry.taskId) : queue.tasks.deleteEntry(ref);
}
