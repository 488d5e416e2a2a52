import { describe } from "node:test";
import assert from "node:assert/strict";
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  resolveRetryPolicy,
} from "../src/task/retry_policy.ts";
import * as t from "../src/task/transitions.ts";
import type { TaskRecord } from "../src/task/task.ts";
import { newTaskRecord, PROBE_PLACEMENT } from "../src/task/new_task.ts";
import { resolveQueueOptions } from "../src/protocol/options.ts";
import { it } from "./helpers.ts";

const T0 = Date.UTC(2026, 0, 1);
const opts = resolveQueueOptions({ warn: () => {} });

async function rec(o: Parameters<typeof newTaskRecord>[2] = {}): Promise<TaskRecord> {
  return await newTaskRecord("job", { n: 1 }, o, opts, T0, PROBE_PLACEMENT);
}

function ok(r: t.Transition): TaskRecord {
  assert.ok(r.ok, r.ok ? "" : r.reason);
  return r.next;
}

describe("transitions", () => {
  it("claim: pending to running with a lease; every write bumps revision and write_id", async () => {
    const r0 = await rec();
    const r1 = ok(t.claim(r0, T0, "w1", 30_000));
    assert.equal(r1.status, "running");
    assert.equal(r1.attempt, 1);
    assert.equal(r1.worker_id, "w1");
    assert.equal(r1.lease_expires_at, new Date(T0 + 30_000).toISOString());
    assert.equal(r1.revision, r0.revision + 1);
    assert.notEqual(r1.write_id, r0.write_id);
    assert.equal(t.claim(r1, T0, "w2", 1000).ok, false);
  });

  it("claim refuses tasks not yet available or expired", async () => {
    assert.equal(t.claim(await rec({ delaySeconds: 10 }), T0 + 9_999, "w", 1).ok, false);
    assert.equal(t.claim(await rec({ delaySeconds: 10 }), T0 + 10_000, "w", 1).ok, true);
    assert.equal(t.claim(await rec({ ttlSeconds: 5 }), T0 + 5_000, "w", 1).ok, false);
  });

  it("complete stores the output; only the attempt's own worker may complete", async () => {
    const r1 = ok(t.claim(await rec(), T0, "w1", 1000));
    assert.equal(t.complete(r1, T0, { workerId: "w2", attempt: 1 }, 1).ok, false);
    assert.equal(t.complete(r1, T0, { workerId: "w1", attempt: 2 }, 1).ok, false);
    const r2 = ok(t.complete(r1, T0 + 5, { workerId: "w1", attempt: 1 }, { sent: true }));
    assert.equal(r2.status, "completed");
    assert.deepEqual(r2.output, { sent: true });
    assert.equal(r2.lease_expires_at, null);
  });

  it("failAttempt: retry with back-off, then dead-letter when retries are exhausted", async () => {
    let r = await rec({ maxRetries: 2 });
    const ref = (a: number) => ({ workerId: "w", attempt: a });
    const failure = { message: "boom", kind: "retryable" as const, permanent: false };
    r = ok(t.claim(r, T0, "w", 1000));
    r = ok(t.failAttempt(r, T0, ref(1), failure, () => 0.5));
    assert.equal(r.status, "pending");
    assert.equal(r.retry_count, 1);
    assert.equal(r.available_at, new Date(T0 + 1000).toISOString());
    r = ok(t.claim(r, T0 + 1000, "w", 1000));
    r = ok(t.failAttempt(r, T0 + 1000, ref(2), failure, () => 0.5));
    assert.equal(r.available_at, new Date(T0 + 3000).toISOString(), "second delay doubles");
    r = ok(t.claim(r, T0 + 3000, "w", 1000));
    r = ok(t.failAttempt(r, T0 + 3000, ref(3), failure, () => 0.5));
    assert.equal(r.status, "failed");
    assert.equal(r.last_error, "boom");
    assert.deepEqual(r.errors.map((e) => e.attempt), [1, 2, 3]);
  });

  it("a permanent failure dead-letters at once", async () => {
    const r1 = ok(t.claim(await rec({ maxRetries: 5 }), T0, "w", 1000));
    const r2 = ok(
      t.failAttempt(r1, T0, { workerId: "w", attempt: 1 }, {
        message: "bad",
        kind: "permanent",
        permanent: true,
      }),
    );
    assert.equal(r2.status, "failed");
  });

  it("recoverLease only after the lease expired", async () => {
    const r1 = ok(t.claim(await rec(), T0, "w", 1000));
    assert.equal(t.recoverLease(r1, T0 + 999).ok, false);
    const r2 = ok(t.recoverLease(r1, T0 + 1000, () => 0.5));
    assert.equal(r2.status, "pending");
    assert.equal(r2.retry_count, 1);
    assert.match(r2.last_error!, /lease expired/);
    assert.equal(r2.errors[0]!.kind, "lease_expired");
  });

  it("cancel: pending is cancelled, running gets a request, terminal is left alone", async () => {
    const p = ok(t.cancel(await rec(), T0, "no longer needed"));
    assert.equal(p.status, "cancelled");
    assert.equal(p.cancel_reason, "no longer needed");
    const running = ok(t.claim(await rec(), T0, "w", 1000));
    const req = ok(t.cancel(running, T0, null));
    assert.equal(req.status, "running");
    assert.equal(req.cancel_requested, true);
    assert.equal(t.cancel(req, T0, null).ok, false);
    const done = ok(t.complete(req, T0, { workerId: "w", attempt: 1 }, "out"));
    assert.equal(done.status, "cancelled", "a cancel request turns completion into cancelled");
    const again = t.cancel(done, T0, null);
    assert.equal(again.ok, false);
    assert.equal(!again.ok && again.reason, "task is already cancelled");
  });

  it("expire, retry and archive", async () => {
    const e = ok(t.expire(await rec({ ttlSeconds: 1 }), T0 + 1000));
    assert.equal(e.status, "expired");
    const r = ok(t.retry(e, T0 + 2000));
    assert.equal(r.status, "pending");
    assert.equal(r.expires_at, null, "an expired task loses its expiry on retry");
    assert.equal(t.retry(r, T0).ok, false);
    const a = ok(t.archive(e, T0));
    assert.equal(a.status, "archived");
    assert.equal(t.archive(r, T0).ok, false);
  });

  it("release gives a running task back without counting a failure", async () => {
    const r1 = ok(t.claim(await rec(), T0, "w", 1000));
    const r2 = ok(t.release(r1, T0 + 10, { workerId: "w", attempt: 1 }));
    assert.equal(r2.status, "pending");
    assert.equal(r2.retry_count, 0);
  });
});

describe("retry policy", () => {
  it("doubles from 1 s and caps at 60 s", () => {
    const d = [0, 1, 2, 5, 6, 7, 20].map((i) => backoffDelayMs(DEFAULT_RETRY_POLICY, i, () => 0.5));
    assert.deepEqual(d, [1000, 2000, 4000, 32000, 60000, 60000, 60000]);
  });

  it("jitter stays within ±jitterPercent", () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(DEFAULT_RETRY_POLICY, 3, Math.random);
      assert.ok(d >= 6000 && d <= 10000, `${d}`);
    }
    assert.equal(backoffDelayMs(DEFAULT_RETRY_POLICY, 3, () => 0), 6000);
    assert.equal(backoffDelayMs(DEFAULT_RETRY_POLICY, 3, () => 1), 10000);
  });

  it("rejects invalid policies with the field name", () => {
    assert.throws(() => resolveRetryPolicy({ multiplier: 0.5 }), /retryPolicy.multiplier/);
    assert.throws(
      () => resolveRetryPolicy({ maxIntervalMs: 10, initialIntervalMs: 100 }),
      /maxIntervalMs/,
    );
  });
});
