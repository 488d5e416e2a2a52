// Requests the S3 client sends (URLs, headers, signing, bodies) and its clock, over a
// scripted fetch stub.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { StoreError } from "../src/base/errors.ts";
import { md5Base64 } from "../src/s3/md5.ts";
import { errorXml, stubClient } from "./s3_support.ts";
import { it } from "./helpers.ts";

const enc = new TextEncoder();
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

describe("S3Client over a stubbed fetch: streamed bodies", () => {
  it("a streamed PUT is signed with its SHA-256 and sent again in full after a 503", async () => {
    const { client, requests } = stubClient([
      { status: 503, body: errorXml("ServiceUnavailable") },
      { status: 200, headers: { etag: ETAG } },
    ]);
    const parts = ['{"blob":"', "x".repeat(100_000), '"}'].map((p) => enc.encode(p));
    const whole = parts.map((p) => new TextDecoder().decode(p)).join("");
    const sha256 = createHash("sha256").update(whole).digest("hex");
    let opened = 0;
    const body = {
      size: enc.encode(whole).length,
      sha256,
      chunks: async function* () {
        opened++;
        yield* parts;
      },
    };
    const r = await client.putObject("payloads/0/t/input-x", body);
    assert.equal(r.etag, "9b2cf535f27731c974343645a3985328");
    assert.equal(requests.length, 2, "retried once");
    assert.equal(opened, 2, "the body was produced again for the retry");
    for (const req of requests) {
      assert.equal(req.body, whole, "each attempt sent the whole body");
      assert.equal(req.headers.get("x-amz-content-sha256"), sha256);
    }
  });

  it("a streamed GET gives its chunks; a failure while reading is a TransientStoreError", async () => {
    const { client } = stubClient([() => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (!sent) {
            sent = true;
            c.enqueue(enc.encode("first"));
          } else c.error(new Error("connection reset"));
        },
      });
      return new Response(body, { status: 200, headers: { etag: ETAG, "content-length": "10" } });
    }]);
    const o = await client.getObjectStream("payloads/0/t/input-x");
    assert.ok(o !== null, "found");
    assert.equal(o.size, 10);
    const it = o.chunks[Symbol.asyncIterator]();
    assert.equal(new TextDecoder().decode((await it.next()).value), "first");
    const e = await rejectsWith(it.next(), StoreError);
    assert.equal(e.code, "NetworkError");
    assert.equal(e.name, "TransientStoreError");
    assert.match(e.message, /reading the body: connection reset/);
  });
});

describe("S3Client over a stubbed fetch: requests", () => {
  it("signs with the real payload SHA-256 and sends the body", async () => {
    const { client, requests } = stubClient([{
      status: 200,
      headers: { etag: ETAG, "x-amz-version-id": "v1" },
    }]);
    const r = await client.putObject("tasks/0/a b.json", '{"a":1}', {
      contentType: "application/json",
    });
    assert.deepEqual(r, { etag: "9b2cf535f27731c974343645a3985328", versionId: "v1" });
    const req = requests[0]!;
    assert.equal(req.method, "PUT");
    assert.equal(req.url.href, "http://s3.test:9000/bkt/tasks/0/a%20b.json");
    assert.equal(req.body, '{"a":1}');
    assert.equal(req.headers.get("content-type"), "application/json");
    const sha = createHash("sha256").update('{"a":1}').digest("hex");
    assert.equal(req.headers.get("x-amz-content-sha256"), sha);
    const auth = req.headers.get("authorization") ?? "";
    assert.match(
      auth,
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345\/\d{8}\/us-east-1\/s3\/aws4_request/,
    );
    assert.match(auth, /SignedHeaders=[^,]*x-amz-content-sha256/);
    assert.equal(client.counters.snapshot().PUT, 1);
  });

  it("sends If-Match unquoted on a PUT and quoted on a GET; If-None-Match: * on create", async () => {
    const { client, requests } = stubClient([{ status: 200, headers: { etag: ETAG } }]);
    await client.putObject("k", "x", { ifMatch: ETAG });
    await client.putObject("k", "x", { ifMatch: "9b2cf535f27731c974343645a3985328" });
    await client.putObject("k", "x", { ifNoneMatch: "*" });
    await client.getObject("k", { ifMatch: "9b2cf535f27731c974343645a3985328" });
    assert.equal(requests[0]!.headers.get("if-match"), "9b2cf535f27731c974343645a3985328");
    assert.equal(requests[1]!.headers.get("if-match"), "9b2cf535f27731c974343645a3985328");
    assert.equal(requests[2]!.headers.get("if-none-match"), "*");
    assert.equal(requests[3]!.headers.get("if-match"), ETAG);
    assert.match(requests[0]!.headers.get("authorization")!, /if-match/, "the condition is signed");
  });

  it("reads an object, unquoting its ETag, and a 304 as not-modified", async () => {
    const { client, requests } = stubClient([
      {
        status: 200,
        body: "hello",
        headers: {
          etag: ETAG,
          "last-modified": "Sun, 22 Nov 2026 12:00:00 GMT",
          "x-amz-version-id": "v7",
          "content-type": "text/plain",
        },
      },
      { status: 304, headers: { etag: ETAG } },
    ]);
    const o = await client.getObject("k", { versionId: "v7" });
    assert.ok(o && o.kind === "object", 'o && o.kind === "object"');
    assert.equal(new TextDecoder().decode(o.body), "hello");
    assert.equal(o.etag, "9b2cf535f27731c974343645a3985328");
    assert.equal(o.size, 5);
    assert.equal(o.versionId, "v7");
    assert.equal(o.contentType, "text/plain");
    assert.equal(o.lastModified.toISOString(), "2026-11-22T12:00:00.000Z");
    assert.equal(requests[0]!.url.search, "?versionId=v7");
    const nm = await client.getObject("k", { ifNoneMatch: "9b2cf535f27731c974343645a3985328" });
    assert.deepEqual(nm, { kind: "not-modified", etag: "9b2cf535f27731c974343645a3985328" });
    assert.equal(requests[1]!.headers.get("if-none-match"), ETAG);
    assert.equal(client.counters.snapshot().GET, 2);
  });

  it("lists with encoding-type=url and the given parameters", async () => {
    const { client, requests } = stubClient([{
      status: 200,
      body:
        `<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Contents><Key>p%2Fa+b</Key><LastModified>2026-01-01T00:00:00Z</LastModified><ETag>"e"</ETag><Size>3</Size></Contents></ListBucketResult>`,
    }]);
    const page = await client.listObjects({
      prefix: "p/",
      delimiter: "/",
      startAfter: "p/0",
      maxKeys: 10,
      continuationToken: "t+/=",
    });
    assert.deepEqual(page.objects.map((o) => o.key), ["p/a b"]);
    const q = requests[0]!.url.searchParams;
    assert.equal(q.get("list-type"), "2");
    assert.equal(q.get("encoding-type"), "url");
    assert.equal(q.get("prefix"), "p/");
    assert.equal(q.get("delimiter"), "/");
    assert.equal(q.get("start-after"), "p/0");
    assert.equal(q.get("max-keys"), "10");
    assert.equal(q.get("continuation-token"), "t+/=");
    assert.equal(client.counters.snapshot().LIST, 1);
    await assert.rejects(client.listObjects({ maxKeys: 1001 }), RangeError);
  });

  it("splits DeleteObjects into requests of at most 1000 keys, each with Content-MD5", async () => {
    const { client, requests } = stubClient([(r) => {
      const keys = [...r.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
      const deleted = keys.map((k) => `<Deleted><Key>${k}</Key></Deleted>`).join("");
      return new Response(`<DeleteResult>${deleted}</DeleteResult>`, { status: 200 });
    }]);
    const entries = Array.from({ length: 2500 }, (_, i) => ({ key: `k${i}` }));
    const result = await client.deleteObjects(entries);
    assert.equal(requests.length, 3);
    assert.equal(result.deleted.length, 2500);
    assert.equal(result.deleted[2499]!.key, "k2499");
    for (const r of requests) {
      assert.equal(r.method, "POST");
      assert.equal(r.url.search, "?delete");
      assert.equal(r.headers.get("content-md5"), md5Base64(enc.encode(r.body)));
      assert.match(r.body, /<Quiet>false<\/Quiet>/);
    }
    assert.equal(client.counters.snapshot().DELETE_MANY, 3);
    assert.deepEqual(await client.deleteObjects([]), { deleted: [], errors: [] });
    assert.equal(requests.length, 3, "no request for no entries");
  });

  it("sends lifecycle rules with Content-MD5, and deletes them for an empty list", async () => {
    const { client, requests } = stubClient([{ status: 200 }, { status: 204 }]);
    await client.putBucketLifecycle([{
      id: "idx",
      prefix: "ready/",
      noncurrentVersionExpirationDays: 1,
    }]);
    await client.putBucketLifecycle([]);
    assert.equal(requests[0]!.method, "PUT");
    assert.equal(requests[0]!.url.href, "http://s3.test:9000/bkt/?lifecycle");
    assert.equal(requests[0]!.headers.get("content-md5"), md5Base64(enc.encode(requests[0]!.body)));
    assert.equal(requests[1]!.method, "DELETE");
    assert.equal(client.counters.snapshot().BUCKET, 2);
  });

  it("creates a bucket: no body in us-east-1, LocationConstraint elsewhere, owned is fine", async () => {
    const east = stubClient([{ status: 409, body: errorXml("BucketAlreadyOwnedByYou") }]);
    await east.client.createBucket();
    assert.equal(east.requests[0]!.body, "");
    const west = stubClient([{ status: 200 }], { region: "eu-west-1" });
    await west.client.createBucket();
    assert.match(west.requests[0]!.body, /<LocationConstraint>eu-west-1<\/LocationConstraint>/);
    const taken = stubClient([{ status: 409, body: errorXml("BucketAlreadyExists") }]);
    const e = await rejectsWith(taken.client.createBucket(), StoreError);
    assert.equal(e.code, "BucketAlreadyExists");
  });

  it("reports a delete marker and its version id", async () => {
    const { client } = stubClient([{
      status: 204,
      headers: { "x-amz-delete-marker": "true", "x-amz-version-id": "dm1" },
    }]);
    assert.deepEqual(await client.deleteObject("k"), { deleteMarker: true, versionId: "dm1" });
    assert.equal(client.counters.snapshot().DELETE, 1);
  });
});

describe("S3Client over a stubbed fetch: clock", () => {
  it("learns the server time from Date headers and signs with it", async () => {
    let local = Date.parse("2026-11-22T12:00:00.000Z");
    const serverDate = "Sun, 22 Nov 2026 13:00:00 GMT"; // the server is an hour ahead
    const { client, requests } = stubClient([{
      status: 200,
      headers: { date: serverDate, etag: ETAG },
    }], {
      localNow: () => local,
    });
    assert.equal(client.clock.synced(), false);
    await client.putObject("k", "x");
    assert.equal(client.clock.synced(), true);
    assert.ok(client.clock.uncertaintyMs() <= 510, "one sample: half a second, plus the slack");
    assert.ok(
      Math.abs(client.clock.now() - Date.parse("2026-11-22T13:00:00.500Z")) <= 500,
      'Math.abs(client.clock.now() - Date.parse("2026-11-22T13:00:00.500Z")) <= 500',
    );
    assert.equal(
      requests[0]!.headers.get("x-amz-date"),
      "20261122T120000Z",
      "first request: local time",
    );
    local += 1000;
    await client.putObject("k", "x");
    assert.match(
      requests[1]!.headers.get("x-amz-date")!,
      /^20261122T1300/,
      "then the server's time",
    );
  });

  it("retries RequestTimeTooSkewed once the clock has a sample", async () => {
    const { client, requests } = stubClient([
      { status: 403, body: errorXml("RequestTimeTooSkewed") },
      { status: 200, headers: { etag: ETAG } },
    ]);
    await client.putObject("k", "x");
    assert.equal(requests.length, 2);
  });
});
