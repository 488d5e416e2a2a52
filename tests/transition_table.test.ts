// oq-test: runtimes=node,bun,deno timeout=120
/**
 * The transition table (src/task/transition_table.ts) against the functions that consult it:
 * every (state, operation) pair, each in the record variants that pick among an operation's
 * next states (a cancel request, retries exhausted, the snooze limit, a permanent failure).
 * Allowed pairs write a next state the table lists, and together the variants reach every
 * state it lists; the others refuse with the table's reason and leave the record as it was.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import * as t from "../src/task/transitions.ts";
import {
  checkTransition,
  nextStates,
  type Operation,
  OPERATIONS,
  refusal,
  transitionRows,
  TRANSITIONS,
} from "../src/task/transition_table.ts";
import { TASK_STATUSES, type TaskRecord, type TaskStatus } from "../src/task/task.ts";
import { newTaskRecord, PROBE_PLACEMENT } from "../src/task/new_task.ts";
import { resolveQueueOptions } from "../src/protocol/options.ts";
import { it } from "./helpers.ts";

const T0 = Date.UTC(2026, 0, 1);
const NOW = T0 + 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const opts = resolveQueueOptions({ warn: () => {} });
const ref = { workerId: "w1", attempt: 1 };

/** Record variants: what, besides the state, decides an operation's next state. */
const VARIANTS = {
  plain: {},
  cancelRequested: { cancel_requested: true },
  retriesExhausted: { retry_count: 3, max_retries: 3 },
  snoozesExhausted: { snoozes: 2, max_snoozes: 2 },
} satisfies Record<string, Partial<TaskRecord>>;
type Variant = keyof typeof VARIANTS;

/**
 * A record in `status` that meets every condition of every operation except the state:
 * available, past its expiry only where an expiry matters, its lease ended, held by `ref`.
 */
async function recordIn(status: TaskStatus, variant: Variant, op: Operation): Promise<TaskRecord> {
  const base = await newTaskRecord("job", { n: 1 }, {}, opts, T0, PROBE_PLACEMENT);
  return {
    ...base,
    status,
    attempt: 1,
    worker_id: "w1",
    claimed_at: iso(T0),
    lease_expires_at: iso(T0 + 1000),
    available_at: iso(T0),
    // expire needs a passed expiry; claim needs none.
    expires_at: op === "expire" ? iso(T0 + 1000) : null,
    ...VARIANTS[variant],
  };
}

/** Run `op` on `rec` with arguments that meet its other conditions. */
function run(op: Operation, rec: TaskRecord, permanent: boolean): t.Transition {
  const failure = { message: "boom", kind: "retryable" as const, permanent };
  const random = () => 0.5;
  switch (op) {
    case "claim":
      return t.claim(rec, NOW, "w2", 30_000);
    case "complete":
      return t.complete(rec, NOW, ref, { done: true });
    case "failAttempt":
      return t.failAttempt(rec, NOW, ref, failure, random);
    case "recoverLease":
      return t.recoverLease(rec, NOW, random);
    case "extendLease":
      return t.extendLease(rec, NOW, ref, 30_000);
    case "release":
      return t.release(rec, NOW, ref);
    case "setProgress":
      return t.setProgress(rec, NOW, ref, 0.5);
    case "snooze":
      return t.snooze(rec, NOW, ref, 5_000, random);
    case "cancel":
      return t.cancel(rec, NOW, "no longer needed");
    case "expire":
      return t.expire(rec, NOW);
    case "retry":
      return t.retry(rec, NOW);
    case "archive":
      return t.archive(rec, NOW);
    case "moveLane":
      return t.moveLane(rec, NOW, rec.shard === "1" ? "2" : "1");
    case "markDeleting":
      return t.markDeleting(rec, NOW, { pending: true });
    case "leaveBatch":
      return t.leaveBatch({ ...rec, ready_batch: "01KBATCH0000000000000000AA" }, NOW);
  }
}

describe("transition table", () => {
  it("every (state, operation) pair: allowed ones reach exactly the listed states, others refuse", async () => {
    let allowed = 0;
    let refused = 0;
    for (const op of OPERATIONS) {
      for (const status of TASK_STATUSES) {
        const listed = nextStates(op, status);
        const reached = new Set<TaskStatus>();
        for (const variant of Object.keys(VARIANTS) as Variant[]) {
          for (const permanent of [false, true]) {
            const rec = await recordIn(status, variant, op);
            const before = structuredClone(rec);
            const r = run(op, rec, permanent);
            const what = `${op} on a ${status} task (${variant}, permanent ${permanent})`;
            assert.deepEqual(rec, before, `${what}: the record given is never changed`);
            if (listed.length === 0) {
              assert.equal(r.ok, false, `${what}: the table has no such transition`);
              assert.equal(!r.ok && r.reason, TRANSITIONS[op].refuse(status), what);
              assert.equal(!r.ok && r.status, status, what);
              refused++;
              continue;
            }
            if (!r.ok) {
              // Allowed by the table, refused by the record: only a repeated cancel request.
              assert.equal(op, "cancel", `${what}: ${r.reason}`);
              assert.equal(r.reason, "cancellation already requested");
              continue;
            }
            assert.ok(listed.includes(r.next.status), `${what} wrote ${r.next.status}`);
            assert.equal(r.next.revision, rec.revision + 1, what);
            assert.notEqual(r.next.write_id, rec.write_id, what);
            reached.add(r.next.status);
            allowed++;
          }
        }
        assert.deepEqual(
          [...reached].sort(),
          [...listed].sort(),
          `${op} from ${status}: the records reach every state the table lists, and no other`,
        );
      }
    }
    assert.ok(allowed > 0 && refused > 0, "allowed > 0 && refused > 0");
  });

  it("refusal and checkTransition follow the table", () => {
    assert.equal(refusal("claim", "pending"), null);
    assert.equal(refusal("claim", "running"), "task is running");
    assert.equal(refusal("complete", "failed"), "task is failed, not running");
    assert.equal(refusal("cancel", "completed"), "task is already completed");
    assert.doesNotThrow(() => checkTransition("failAttempt", "running", "failed"));
    assert.throws(
      () => checkTransition("complete", "running", "pending"),
      /complete may not move a running task to pending/,
    );
    assert.throws(() => checkTransition("archive", "archived", "archived"), /archive/);
  });

  it("every state but archived has a way out, and every listed state is a state", () => {
    for (const op of OPERATIONS) {
      for (const from of TASK_STATUSES) {
        for (const to of nextStates(op, from)) {
          assert.ok(TASK_STATUSES.includes(to), `${op}: ${to}`);
        }
      }
    }
    for (const s of TASK_STATUSES) {
      const out = OPERATIONS.flatMap((op) => nextStates(op, s)).filter((to) => to !== s);
      assert.equal(out.length === 0, s === "archived", `${s}: ${out.join(", ")}`);
    }
  });

  it("the rendered rows cover every allowed pair once", () => {
    const pairs = transitionRows().flatMap(([op, from]) =>
      from!.split(", ").map((s) => `${op!.replaceAll("`", "")} ${s}`)
    );
    const expected = OPERATIONS.flatMap((op) =>
      TASK_STATUSES.filter((s) => nextStates(op, s).length > 0).map((s) => `${op} ${s}`)
    );
    assert.deepEqual(pairs.sort(), expected.sort());
  });
});
