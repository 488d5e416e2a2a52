// Error mapping and retries of the S3 client, over a scripted fetch stub.
import { describe } from "node:test";
import assert from "node:assert/strict";
import {
  AccessDeniedError,
  NoSuchBucketError,
  PreconditionFailedError,
  StoreError,
  TransientStoreError,
} from "../src/base/errors.ts";
import { errorXml, stubClient } from "./s3_support.ts";
import { it, until } from "./helpers.ts";

const ETAG = '"9b2cf535f27731c974343645a3985328"';

async function rejectsWith<T>(p: Promise<unknown>, cls: new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    return e;
  }
  assert.fail(`expected ${cls.name}`);
}

describe("S3Client over a stubbed fetch: errors", () => {
  it("reads a missing key, version or delete marker as null", async () => {
    const { client } = stubClient([
      { status: 404, body: errorXml("NoSuchKey") },
      { status: 404, body: errorXml("NoSuchVersion") },
      {
        status: 405,
        body: errorXml("MethodNotAllowed"),
        headers: { "x-amz-delete-marker": "true" },
      },
      { status: 404 }, // HEAD: no body
    ]);
    assert.equal(await client.getObject("k"), null);
    assert.equal(await client.getObject("k", { versionId: "v" }), null);
    assert.equal(await client.getObject("k", { versionId: "dm" }), null);
    assert.equal(await client.headObject("k"), null);
    assert.equal(client.counters.snapshot().GET, 3, "404 is not retried");
  });

  it("maps NoSuchBucket, 403, 412, 409 and If-Match on a missing key", async () => {
    const { client } = stubClient([
      { status: 404, body: errorXml("NoSuchBucket") },
      { status: 403, body: errorXml("AccessDenied", "Access Denied") },
      { status: 403 }, // HEAD: no body
      { status: 412, body: errorXml("PreconditionFailed") },
      { status: 409, body: errorXml("ConditionalRequestConflict") },
      { status: 404, body: errorXml("NoSuchKey") },
    ]);
    const nb = await rejectsWith(client.getObject("k"), NoSuchBucketError);
    assert.equal(nb.context.s3Code, "NoSuchBucket");
    const ad = await rejectsWith(client.putObject("k", "x"), AccessDeniedError);
    assert.match(ad.message, /PutObject failed on "k": AccessDenied \(HTTP 403\)/);
    await rejectsWith(client.headObject("k"), AccessDeniedError);
    const pf = await rejectsWith(
      client.putObject("k", "x", { ifMatch: "e" }),
      PreconditionFailedError,
    );
    assert.equal(pf.code, "PreconditionFailed");
    assert.equal(pf.ambiguous, false);
    await rejectsWith(client.putObject("k", "x", { ifNoneMatch: "*" }), PreconditionFailedError);
    const missing = await rejectsWith(
      client.putObject("k", "x", { ifMatch: "e" }),
      PreconditionFailedError,
    );
    assert.equal(missing.context.status, 404, "AWS answers If-Match on a missing key with 404");
  });

  it("retries 503 SlowDown, then succeeds; every attempt is counted", async () => {
    const { client, requests } = stubClient([
      { status: 503, body: errorXml("SlowDown", "Please reduce your request rate.") },
      { status: 503, body: errorXml("SlowDown") },
      { status: 200, headers: { etag: ETAG } },
    ]);
    const r = await client.putObject("k", "x");
    assert.equal(r.etag, "9b2cf535f27731c974343645a3985328");
    assert.equal(requests.length, 3);
    assert.equal(client.counters.snapshot().PUT, 3);
  });

  it("gives up after maxAttempts with TransientStoreError naming the code", async () => {
    const { client, requests } = stubClient([{ status: 503, body: errorXml("SlowDown") }], {
      maxAttempts: 3,
    });
    const e = await rejectsWith(client.getObject("tasks/x"), TransientStoreError);
    assert.equal(e.code, "SlowDown");
    assert.equal(e.context.status, 503);
    assert.equal(e.context.requestId, "4442587FB7D0A2F9");
    assert.match(
      e.message,
      /GetObject failed on "tasks\/x": SlowDown \(HTTP 503\).*after 3 attempts/,
    );
    assert.equal(requests.length, 3);
    assert.equal(client.counters.snapshot().GET, 3);
  });

  it("retries a reset connection and maps a persistent one to TransientStoreError", async () => {
    const reset = new TypeError("fetch failed", {
      cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    });
    const once = stubClient([{ throw: reset }, { status: 200, headers: { etag: ETAG } }]);
    await once.client.putObject("k", "x");
    assert.equal(once.requests.length, 2);
    const always = stubClient([{ throw: reset }]);
    const e = await rejectsWith(always.client.putObject("k", "x"), TransientStoreError);
    assert.equal(e.code, "NetworkError");
    assert.match(e.message, /ECONNRESET/);
    assert.equal(always.requests.length, 4, "default maxAttempts is 4");
  });

  it("times out a hung request, retries it, and maps it to TransientStoreError", async () => {
    const { client, requests } = stubClient([{ hang: true }], {
      requestTimeoutMs: 20,
      maxAttempts: 2,
    });
    // A request that never answers: only the timeout ends it (else the test times out).
    const e = await rejectsWith(client.headObject("k"), TransientStoreError);
    assert.equal(e.code, "Timeout");
    assert.equal(requests.length, 2);
  });

  it("does not retry other 4xx errors", async () => {
    const { client, requests } = stubClient([{
      status: 400,
      body: errorXml("InvalidArgument", "bad"),
    }]);
    const e = await rejectsWith(client.putObject("k", "x"), StoreError);
    assert.equal(e.code, "InvalidArgument");
    assert.ok(!(e instanceof TransientStoreError), "!(e instanceof TransientStoreError)");
    assert.equal(requests.length, 1);
  });

  it("marks a 412 after a lost attempt as ambiguous (Ceph: 500 UnknownError, then 412)", async () => {
    const { client, requests } = stubClient([
      { status: 500, body: errorXml("UnknownError") },
      { status: 412, body: errorXml("PreconditionFailed") },
    ]);
    const e = await rejectsWith(
      client.putObject("k", "x", { ifMatch: "e" }),
      PreconditionFailedError,
    );
    assert.equal(e.ambiguous, true);
    assert.match(e.message, /may have been applied/);
    assert.equal(requests.length, 2);
    // SlowDown rejects a request up front: the 412 after it is not ambiguous.
    const slow = stubClient([{ status: 503, body: errorXml("SlowDown") }, {
      status: 412,
      body: errorXml("PreconditionFailed"),
    }]);
    const e2 = await rejectsWith(
      slow.client.putObject("k", "x", { ifNoneMatch: "*" }),
      PreconditionFailedError,
    );
    assert.equal(e2.ambiguous, false);
  });

  // No wall-time bound: the request never answers and the backoff is ten minutes, so only
  // the abort can end either call before the test's timeout.
  it("stops at once when the caller aborts, during a request or a backoff", async () => {
    const controller = new AbortController();
    const hung = stubClient([{ hang: true }], { requestTimeoutMs: 600_000 });
    const p = hung.client.getObject("k", { signal: controller.signal });
    await until(() => hung.requests.length === 1, 30_000, "the request");
    controller.abort(new Error("caller gave up"));
    await assert.rejects(p, /caller gave up/);
    assert.equal(hung.requests.length, 1);

    const c2 = new AbortController();
    const slow = stubClient([{ status: 503, body: errorXml("SlowDown") }], {
      retryBaseDelayMs: 600_000,
      retryMaxDelayMs: 600_000,
      random: () => 1,
    });
    const p2 = slow.client.putObject("k", "x", { signal: c2.signal });
    await until(() => slow.requests.length === 1, 30_000, "the first attempt");
    c2.abort(new Error("stop now"));
    await assert.rejects(p2, /stop now/);
    assert.equal(slow.requests.length, 1);

    const c3 = new AbortController();
    c3.abort(new Error("already"));
    const none = stubClient([{ status: 200 }]);
    await assert.rejects(none.client.getObject("k", { signal: c3.signal }), /already/);
    assert.equal(none.requests.length, 0);
  });

  it("never puts credentials in error messages", async () => {
    const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const { client } = stubClient([{
      status: 403,
      body: errorXml("SignatureDoesNotMatch", `echo ${secret} AKIDEXAMPLE12345`),
    }]);
    const e = await rejectsWith(client.getObject("k"), AccessDeniedError);
    assert.ok(!e.message.includes(secret), "!e.message.includes(secret)");
    assert.ok(!e.message.includes("AKIDEXAMPLE12345"), '!e.message.includes("AKIDEXAMPLE12345")');
    assert.ok(
      !JSON.stringify(e.context).includes(secret),
      "!JSON.stringify(e.context).includes(secret)",
    );
  });
});
