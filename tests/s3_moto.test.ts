// The S3 client against a real moto_server (OQ_TEST_MOTO_URL, set by scripts/servers.sh),
// with faults injected through the client's fetch option: a request is forwarded to moto
// and its answer is then "lost", which is how a write gets applied without us knowing.
import { before, describe } from "node:test";
import assert from "node:assert/strict";
import { PreconditionFailedError } from "../src/base/errors.ts";
import { S3Client } from "../src/s3/client.ts";
import type { FetchFunction } from "../src/s3/config.ts";
import { getEnv } from "../src/runtime/mod.ts";
import { assertHoldsLocalTime, it } from "./helpers.ts";

const url = getEnv("OQ_TEST_MOTO_URL");
const dec = new TextDecoder();

describe("S3Client against moto", { skip: url ? false : "OQ_TEST_MOTO_URL is not set" }, () => {
  const bucket = `oq-s3-${crypto.randomUUID().slice(0, 8)}`;
  let dropNext = 0; // answers to lose after forwarding
  const lossy: FetchFunction = async (request) => {
    const response = await fetch(request);
    if (dropNext > 0) {
      dropNext--;
      await response.arrayBuffer();
      throw new TypeError("fetch failed", { cause: new Error("socket hang up (injected)") });
    }
    return response;
  };
  const client = () =>
    new S3Client({
      endpoint: url!,
      bucket,
      accessKeyId: "testing",
      secretAccessKey: "testing",
      retryBaseDelayMs: 1,
      fetch: lossy,
    });
  let s3: S3Client;

  before(async () => {
    s3 = client();
    assert.equal(await s3.headBucket(), false);
    await s3.createBucket();
    await s3.createBucket(); // owned: fine
    assert.equal(await s3.getBucketVersioning(), "Unversioned");
    await s3.putBucketVersioning(true);
    assert.equal(await s3.getBucketVersioning(), "Enabled");
  });

  it("learns the clock from moto's Date header", () => {
    assert.equal(s3.clock.synced(), true);
    assertHoldsLocalTime(s3.clock); // moto runs on this machine
  });

  it("round-trips awkward keys through put, get, list, versions and batch delete", async () => {
    const p = `k-${crypto.randomUUID().slice(0, 6)}/`;
    const keys = [`${p} lead`, `${p}a b+c&d<e>`, `${p}pct%41`, `${p}ü/é`, `${p}007`, `${p}x!'()*~`];
    for (const k of keys) await s3.putObject(k, k);
    for (const k of keys) {
      const o = await s3.getObject(k);
      assert.ok(o?.kind === "object", 'o?.kind === "object"');
      assert.equal(dec.decode(o.body), k);
    }
    const listed = await s3.listObjects({ prefix: p });
    assert.deepEqual(listed.objects.map((o) => o.key), [...keys].sort());
    const versions = await s3.listObjectVersions({ prefix: p });
    assert.deepEqual(versions.versions.map((v) => v.key).sort(), [...keys].sort());
    const r = await s3.deleteObjects(keys.map((key) => ({ key })));
    assert.equal(r.errors.length, 0);
    assert.deepEqual(r.deleted.map((d) => d.key).sort(), [...keys].sort());
    assert.equal((await s3.listObjects({ prefix: p })).objects.length, 0);
  });

  it("answers conditional reads: If-None-Match 304, If-Match on HEAD, delete markers", async () => {
    const k = `c-${crypto.randomUUID().slice(0, 6)}`;
    const { etag } = await s3.putObject(k, "v1");
    assert.deepEqual(await s3.getObject(k, { ifNoneMatch: etag }), { kind: "not-modified", etag });
    assert.equal((await s3.headObject(k, { ifMatch: etag }))?.etag, etag);
    await assert.rejects(s3.getObject(k, { ifMatch: "0".repeat(32) }), PreconditionFailedError);
    const dm = await s3.deleteObject(k);
    assert.equal(dm.deleteMarker, true);
    assert.equal(await s3.getObject(k), null);
    assert.equal(await s3.getObject(k, { versionId: dm.versionId }), null);
    assert.equal(await s3.headObject(k, { versionId: dm.versionId }), null);
  });

  it("flags a 412 caused by our own lost write as ambiguous (If-Match)", async () => {
    const k = `amb-${crypto.randomUUID().slice(0, 6)}`;
    const first = await s3.putObject(k, "v1");
    const before = s3.counters.snapshot().PUT;
    dropNext = 1; // moto applies v2, we never hear of it; the retry then meets 412
    let caught: unknown;
    try {
      await s3.putObject(k, "v2 nonce=42", { ifMatch: first.etag });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof PreconditionFailedError, `got ${caught}`);
    assert.equal(caught.ambiguous, true);
    assert.equal(s3.counters.snapshot().PUT - before, 2, "one lost attempt and one retry");
    const now = await s3.getObject(k);
    assert.ok(now?.kind === "object", 'now?.kind === "object"');
    assert.equal(dec.decode(now.body), "v2 nonce=42", "our write won; the nonce proves it");
  });

  it("flags create-only writes the same way", async () => {
    const k = `once-${crypto.randomUUID().slice(0, 6)}`;
    dropNext = 1;
    let caught: unknown;
    try {
      await s3.putObject(k, "mine", { ifNoneMatch: "*" });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof PreconditionFailedError, `got ${caught}`);
    assert.equal(caught.ambiguous, true);
    const o = await s3.getObject(k);
    assert.equal(o?.kind === "object" && dec.decode(o.body), "mine");
  });

  it("accepts lifecycle rules with Content-MD5 and removes them", async () => {
    await s3.putBucketLifecycle([
      {
        id: "index",
        prefix: "ready/",
        noncurrentVersionExpirationDays: 1,
        expiredObjectDeleteMarker: true,
      },
      { id: "tmp", prefix: "tmp/", expirationDays: 3 },
    ]);
    await s3.putBucketLifecycle([]);
  });
});
