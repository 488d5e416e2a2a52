/**
 * The claiming half of a worker: which lanes (shard x task type) to list when (its
 * {@link PollSchedule}), what the listings found ({@link LaneListings}: candidates not yet
 * claimed, tasks found invalid, lanes listed together while the index is small), the task
 * types' flow control ({@link PausedTypes}) and the wake-up signals. {@link LanePoller.poll} is one
 * poll of `Worker.pollOnce`; the worker runs what it claims.
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { SignalWatcher } from "../protocol/signals.ts";
import type { EntryRef, Versioned } from "../protocol/tasks.ts";
import { type Candidate, claimCandidate, type ClaimGate, type Permit } from "./claim.ts";
import { BatchEntries } from "./batch_entries.ts";
import { laneKeyOf, LaneListings } from "./lane_listings.ts";
import { Limiter } from "./limiter.ts";
import { firstIds, GroupLeases } from "./group_leases.ts";
import type { PollResult, ResolvedWorkerOptions } from "./options.ts";
import { PausedTypes } from "./paused_types.ts";
import { PeerView } from "./peers.ts";
import { type Lane, PollSchedule } from "./poll_schedule.ts";

/** What the poller needs from its worker. */
export interface PollerHost {
  /** Free execution slots. */
  free(): number;
  /** True once the worker is stopping: claim nothing more. */
  stopping(): boolean;
  /** Run a claimed task; `permit` (a limited type's) is given back once its outcome is written. */
  start(claimed: Versioned, lease: EntryRef, permit?: Permit): void;
  /** Report an error (a bad object only the first time). */
  error(error: Error, context: string): void;
  /** Report an error as it is. */
  emit(error: Error, context: string): void;
}

/**
 * The lanes of one worker, polled and claimed from.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, Worker } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * await queue.submit("email", {});
 * const worker = new Worker(queue, "w1").task("email", () => ({ sent: true }));
 * (await worker.pollOnce()).claimed; // 1: Worker.pollOnce is LanePoller.poll
 * await worker.drain();
 * ```
 */
export class LanePoller {
  readonly #queue: QueueContext;
  readonly #workerId: string;
  readonly #taskTypes: readonly string[];
  readonly #o: ResolvedWorkerOptions;
  readonly #host: PollerHost;
  readonly #watcher: SignalWatcher;
  readonly #paused: PausedTypes;
  readonly #limiter: Limiter;
  readonly #groups: GroupLeases;
  /** The live workers sharing this one's types (src/worker/peers.ts). */
  readonly #peers: PeerView;
  /** What the listings found, lane by lane (src/worker/lane_listings.ts). */
  readonly #listings: LaneListings;
  #schedule: PollSchedule;
  /** Lanes waiting because their type's limits are reached (src/worker/limiter.ts). */
  readonly #heldBack = new Map<string, Lane>();

  /** Poll `shards` for `taskTypes` on behalf of worker `workerId`. */
  constructor(
    queue: QueueContext,
    workerId: string,
    taskTypes: readonly string[],
    shards: readonly string[],
    options: ResolvedWorkerOptions,
    host: PollerHost,
  ) {
    this.#queue = queue;
    this.#workerId = workerId;
    this.#taskTypes = taskTypes;
    this.#o = options;
    this.#host = host;
    this.#watcher = new SignalWatcher(queue.store, queue.keys);
    this.#paused = new PausedTypes(queue, options.safetyPollIntervalMs);
    this.#limiter = new Limiter(
      queue,
      (e, context) => host.emit(e, context),
      (taskType) => this.#freed(taskType),
    );
    this.#groups = new GroupLeases(queue, workerId, (e) => host.emit(e, "lease group"));
    this.#peers = new PeerView(queue, workerId, taskTypes, {
      intervalMs: options.peerCheckIntervalMs,
      // A busy worker beats every heartbeatIntervalMs: two beats missed, it is gone.
      freshMs: options.heartbeatIntervalMs * 2.5,
    }, queue.clock.now());
    this.#schedule = this.#newSchedule(shards);
    this.#listings = new LaneListings(
      queue,
      options,
      (e, context) => host.emit(e, context),
      new BatchEntries(
        queue,
        (e, context) => host.error(e, context),
        this.#peers.source((e) => this.#host.emit(e, "peers")),
      ),
    );
  }

  /**
   * An attempt no longer needs the entry covering its lease (its own, or its lease
   * group's: src/worker/group_leases.ts).
   */
  releaseLease(lease: EntryRef, taskId: string): Promise<void> {
    return this.#groups.release(lease, taskId);
  }

  /**
   * An attempt claimed from this poller has ended: the ready entry it was claimed under is
   * no longer left out of the candidates (the task may be pending under the same key).
   */
  attemptEnded(lease: EntryRef): void {
    this.#listings.unskip(lease.key, this.#queue.clock.now());
  }

  /** Claim nothing more under the lease groups open (the worker stops). */
  closeGroups(): Promise<void> {
    return this.#groups.closeAll();
  }

  /** Poll other shards from now on (after a reshard): their lanes are due at once. */
  setShards(shards: readonly string[]): void {
    void this.#groups.closeAll();
    this.#listings.clear();
    this.#heldBack.clear();
    this.#schedule = this.#newSchedule(shards);
  }

  #newSchedule(shards: readonly string[]): PollSchedule {
    const spread = (taskType: string) => this.#peers.sharing(taskType);
    const rank = (taskType: string) => this.#peers.rank(taskType);
    return new PollSchedule(
      shards,
      this.#taskTypes,
      this.#o,
      this.#queue.clock.now(),
      spread,
      rank,
    );
  }

  /** Store time of the next poll event (a lane due, or a wake-up check). */
  nextEventAt(): number {
    return this.#schedule.nextEventAt();
  }

  /** Task types that are paused (as last read). */
  pausedTypes(): string[] {
    return this.#paused.paused();
  }

  /**
   * One poll: check wake-up signals if due, list the due lanes, claim up to the free
   * slots and start the handlers.
   */
  async poll(): Promise<PollResult> {
    const q = this.#queue;
    const schedule = this.#schedule;
    const result: PollResult = { listed: 0, wakeChecks: 0, claimed: 0, skipped: 0 };
    let now = q.clock.now();
    await this.#groups.closeExpired(now);
    let changed: string[] = [];
    if (schedule.wakeCheckDue(now)) {
      changed = await this.#watcher.check(this.#taskTypes);
      result.wakeChecks++;
      schedule.wakeChecked(now);
      if (changed.length) schedule.wake(changed, now);
    }
    // Pause and resume touch the type's signal: re-read the control of changed types.
    for (const error of await this.#paused.refresh(this.#taskTypes, changed, now)) {
      this.#host.emit(error, "flow control");
    }
    if (this.#host.free() === 0) return result;
    // Active lanes: how many workers share them (a LIST of the heartbeats once a minute).
    if (this.#peers.due(now) && !schedule.isIdle(now)) {
      const before = this.#taskTypes.map((t) => JSON.stringify(this.#peers.counted(t)));
      await this.#peers.refresh(now).catch((e) => this.#host.emit(e as Error, "peers"));
      // Batches are shared out among the workers counted (src/worker/batch_entries.ts): the
      // candidates buffered under another count are listed again.
      if (this.#taskTypes.some((t, i) => JSON.stringify(this.#peers.counted(t)) !== before[i])) {
        this.#listings.clear();
      }
    }
    const due = schedule.dueLanes(now).filter((l) => this.#claimable(l, now));
    // List the due lanes without fresh candidates (together while the index is small), then
    // claim lane by lane. Candidates not claimed now stay buffered for the next free slot.
    const failedLanes = new Set<string>();
    const roomOf = new Map<string, number>(); // limited types found full in this poll
    const lanes = await this.#listings.list(due, this.#schedule, now, failedLanes, {
      claimable: (l) => !this.#paused.isPaused(l.taskType) && !this.#heldBack.has(laneKeyOf(l)),
      listed: () => result.listed++,
    });
    for (const lane of this.#claimOrder(lanes)) {
      const laneKey = laneKeyOf(lane);
      if (failedLanes.has(laneKey)) continue;
      const buffered = this.#listings.get(laneKey);
      if (!buffered) continue;
      // The type's flow control is read before its first claim (one GET per type).
      if (buffered.candidates.length > 0) {
        for (const error of await this.#paused.ensure([lane.taskType], now)) {
          this.#host.emit(error, "flow control");
        }
        if (!this.#paused.mayClaim(lane.taskType)) {
          this.#listings.delete(laneKey);
          schedule.listed(lane, now, 0, buffered.nextDueAt);
          continue;
        }
      }
      if (this.#host.stopping() || this.#host.free() === 0) {
        if (buffered.candidates.length === 0 && buffered.deferred > 0) {
          schedule.waiting(lane, now, buffered.nextDueAt);
        } else schedule.listed(lane, now, buffered.candidates.length, buffered.nextDueAt);
        continue;
      }
      now = q.clock.now();
      // A limited type: claim at most the room its limits leave (a full type: no task read).
      const limited = buffered.candidates.length > 0
        ? await this.#room(lane, now, roomOf)
        : { room: Infinity };
      if (limited === null) continue;
      this.#heldBack.delete(laneKey);
      let room = limited.room;
      const candidates = buffered.candidates;
      let nextAt = buffered.nextDueAt;
      this.#listings.delete(laneKey);
      let claimedHere = 0;
      let taken = 0; // candidates another worker had already taken
      let limitedUntil: number | null | undefined = undefined;
      while (
        candidates.length && this.#host.free() > 0 && !this.#host.stopping() && taken === 0 &&
        room > 0
      ) {
        const batch = candidates.splice(0, Math.min(this.#host.free(), room));
        room -= batch.length;
        // Leases indexed by the ready entries (no write), or one lease group's entry for the
        // claims from this listing (none for a lone task); a batch entry's tasks always take
        // the group (their entry outlives their leases: src/worker/batch_entries.ts).
        const readyIndex = this.#o.leaseEntryAfterMs > 0;
        const inGroup = (c: Candidate) => !readyIndex || c.batch !== undefined;
        const grouping = batch.filter(inGroup);
        const group = grouping.length === 0 ? null : await this.#groups.cover(
          lane.shard,
          lane.taskType,
          grouping.map((c) => c.entry.taskId),
          (n) => firstIds(candidates, inGroup, n),
          this.#o.candidateTtlMs,
        );
        await Promise.all(batch.map(async (c) => {
          const inReady = !inGroup(c);
          const r = await claimCandidate(
            q,
            c,
            this.#workerId,
            this.#o.leaseGraceSeconds * 1000,
            undefined,
            limited.gate,
            inReady
              ? "ready"
              : group && inGroup(c)
              ? { entry: (leaseMs) => this.#groups.entry(group, leaseMs) }
              : undefined,
          )
            .catch(
              (e) => {
                this.#host.emit(e as Error, `claim ${c.entry.taskId}`);
                return null;
              },
            );
          if (group && inGroup(c)) {
            const claimed = r?.kind === "claimed" && r.grouped;
            const outcome = claimed ? "claimed" : r === null ? "unknown" : "not claimed";
            await this.#groups.settled(group, c.entry.taskId, outcome);
          }
          if (r === null) return;
          if (r.kind === "claimed") {
            claimedHere++;
            // Its entry stays in the lane while it runs: not a candidate for this worker.
            const leaseEnd = Date.parse(r.claimed.rec.lease_expires_at ?? "");
            if (inReady) this.#listings.skipEntry(c.entry.key, leaseEnd + 1, now);
            this.#host.start(r.claimed, r.lease, r.permit);
          } else if (r.kind === "limited") {
            candidates.unshift(c); // not claimed: still a candidate
            room = 0;
            limitedUntil = r.retryAt;
          } else if (r.kind === "invalid") {
            this.#listings.markBad(c.entry.taskId, now + 600_000, now);
            this.#host.error(r.error, `task ${c.entry.taskId} skipped`);
          } else {
            result.skipped++;
            // A task running under its ready entry: skipped until its lease ends (then
            // recovered if still running). Taken, when claimed since this listing.
            // (Not a batch's task: its batch is known to be worked; a LIST would show it again.)
            const gone = r.notBefore === undefined || (r.claimedAt ?? 0) >= buffered.listedAt;
            if (gone && c.batch === undefined) taken++;
            if (r.notBefore !== undefined) {
              this.#listings.skipEntry(c.entry.key, r.notBefore, now);
              nextAt = nextAt === null ? r.notBefore : Math.min(nextAt, r.notBefore);
            }
          }
        }));
      }
      // A buffer is worth keeping only while nobody else works the lane: once a candidate
      // turns out taken, the rest are likely taken too, and a fresh LIST is cheaper than
      // the GETs it would take to find out.
      if (candidates.length > 0 && taken === 0) {
        // Keep the listing's own expiry: a buffer never outlives candidateTtlMs.
        this.#listings.set(laneKey, { ...buffered, candidates, nextDueAt: nextAt });
      } else {
        await this.#groups.closeLane(lane.shard, lane.taskType);
      }
      result.claimed += claimedHere;
      if (limitedUntil !== undefined) {
        roomOf.set(lane.taskType, 0);
        this.#wait(lane, now, limitedUntil);
        continue;
      }
      // The lane stays hot only if it gave work or still holds unclaimed candidates. A lane
      // this worker emptied (its listing held all of it, all claimed here) is not listed
      // again at once: nothing was left to find.
      const drained = buffered.complete && candidates.length === 0 && taken === 0;
      const found = claimedHere + (taken === 0 ? candidates.length : 0);
      // Nothing to claim but batches whose bodies wait for records to be used up: work is
      // there, so the lane is not backed off as an empty one.
      if (found === 0 && buffered.deferred > 0) schedule.waiting(lane, now, nextAt);
      else schedule.listed(lane, now, found, nextAt, drained);
    }
    return result;
  }

  // The room a limited type's limits leave (null: none; the lane waits), and its gate.
  async #room(
    lane: Lane,
    now: number,
    roomOf: Map<string, number>,
  ): Promise<{ room: number; gate?: ClaimGate } | null> {
    const limits = this.#paused.limits(lane.taskType);
    if (limits === null) return { room: Infinity };
    if (roomOf.get(lane.taskType) === 0) {
      this.#wait(lane, now, null);
      return null;
    }
    try {
      const r = await this.#limiter.room(lane.taskType, limits);
      if (r.room > 0) return { room: r.room, gate: this.#limiter.gate(lane.taskType, limits) };
      roomOf.set(lane.taskType, 0);
      this.#wait(lane, now, r.retryAt);
    } catch (e) {
      this.#schedule.failed(lane, now);
      this.#host.emit(e as Error, `limits of ${lane.taskType}`);
    }
    return null;
  }

  // A lane with work its type's limits hold back stays active (it has work): it looks again
  // at `retryAt` or after its back-off (5 s at most), or at once when a release or a limit
  // change touches the type's signal. Its buffered candidates are kept.
  #wait(lane: Lane, now: number, retryAt: number | null): void {
    const at = Math.max(retryAt ?? now, now + this.#o.pollIntervalMs);
    this.#schedule.listed(lane, now, 0, at);
    lane.activeAt = now;
    this.#heldBack.set(laneKeyOf(lane), lane);
  }

  // This worker gave back a slot of `taskType`: its lanes of the type that the limit held
  // back look again at the next poll (the worker loop wakes when the attempt ends), so a
  // worker with more of the type's work reuses the slot instead of waiting out its back-off.
  #freed(taskType: string): void {
    const lanes = [...this.#heldBack.values()].filter((l) => l.taskType === taskType);
    for (const lane of lanes) this.#heldBack.delete(laneKeyOf(lane));
    this.#schedule.wakeLanes(lanes, this.#queue.clock.now());
  }

  // A paused type's lanes are not listed (no request) and go idle as empty lanes do; the
  // resume's signal wakes them.
  #claimable(lane: Lane, now: number): boolean {
    if (!this.#paused.isPaused(lane.taskType)) return true;
    this.#listings.delete(laneKeyOf(lane));
    this.#schedule.listed(lane, now, 0, null);
    return false;
  }

  // Lanes are claimed from in the order given, unless some hold prioritised work: then the
  // lane whose first candidate sorts first goes first, so the highest level available (as
  // aged by its wait) is claimed first across lanes too.
  #claimOrder(lanes: Lane[]): Lane[] {
    const head = (l: Lane) => this.#listings.get(laneKeyOf(l))?.candidates[0]?.entry;
    if (!lanes.some((l) => (head(l)?.priority ?? 0) !== 0)) return lanes;
    return [...lanes].sort((a, b) => (head(a)?.sortAt ?? Infinity) - (head(b)?.sortAt ?? Infinity));
  }
}
