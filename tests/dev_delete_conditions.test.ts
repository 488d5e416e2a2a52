// Conditional deletes on `oq dev`: DeleteObject honours If-Match (an ETag or *),
// x-amz-if-match-last-modified-time and x-amz-if-match-size, and DeleteObjects the same
// conditions as the ETag, LastModifiedTime and Size elements of each <Object>; a failed
// condition deletes nothing.
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import type { DevServer } from "../src/dev/main.ts";
import { md5Base64 } from "../src/s3/md5.ts";
import { testBucket } from "./backends.ts";
import { call, errorCode, signer, startTestServer } from "./dev_backend.ts";

const T = { timeout: 30_000 };
const aws = signer();

describe("oq dev: conditional deletes", () => {
  let dev: DevServer;
  const bucket = testBucket();
  let base = "";
  before(async () => {
    dev = await startTestServer({ bucket });
    base = `${dev.url}/${bucket}`;
  });
  after(async () => await dev?.stop());

  /** PUT `body` at `key`; its ETag and Last-Modified. */
  async function put(key: string, body: string) {
    const r = await call(aws, `${base}/${key}`, { method: "PUT", body });
    assert.equal(r.status, 200);
    const head = await call(aws, `${base}/${key}`, { method: "HEAD" });
    return { etag: r.headers.get("etag")!, lastModified: head.headers.get("last-modified")! };
  }
  const exists = async (key: string) =>
    (await call(aws, `${base}/${key}`, { method: "HEAD" })).status;
  const del = (key: string, headers: Record<string, string>) =>
    call(aws, `${base}/${key}`, { method: "DELETE", headers });

  it("DeleteObject: If-Match with an ETag or *", T, async () => {
    const { etag } = await put("m/etag", "one");
    const bad = await del("m/etag", { "if-match": '"0123"' });
    assert.equal(bad.status, 412);
    assert.equal(errorCode(bad.body), "PreconditionFailed");
    assert.equal(await exists("m/etag"), 200);
    assert.equal((await del("m/etag", { "if-match": etag })).status, 204);
    assert.equal(await exists("m/etag"), 404);
    const gone = await del("m/etag", { "if-match": "*" });
    assert.equal(gone.status, 404);
    assert.equal(errorCode(gone.body), "NoSuchKey");
    await put("m/etag", "two");
    assert.equal((await del("m/etag", { "if-match": "*" })).status, 204);
    assert.equal(await exists("m/etag"), 404);
  });

  it("DeleteObject: x-amz-if-match-size and x-amz-if-match-last-modified-time", T, async () => {
    const { lastModified } = await put("m/size", "12345");
    const wrongSize = await del("m/size", { "x-amz-if-match-size": "4" });
    assert.equal(wrongSize.status, 412);
    assert.equal(await exists("m/size"), 200);
    const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const wrongTime = await del("m/size", { "x-amz-if-match-last-modified-time": earlier });
    assert.equal(wrongTime.status, 412);
    assert.equal(await exists("m/size"), 200);
    const badValue = await del("m/size", { "x-amz-if-match-size": "five" });
    assert.equal(badValue.status, 400);
    assert.equal(errorCode(badValue.body), "InvalidArgument");
    const ok = await del("m/size", {
      "x-amz-if-match-size": "5",
      "x-amz-if-match-last-modified-time": lastModified,
    });
    assert.equal(ok.status, 204);
    assert.equal(await exists("m/size"), 404);
  });

  it("DeleteObjects: ETag, Size and LastModifiedTime per object", T, async () => {
    const a = await put("d/a", "aaa");
    await put("d/b", "bbb");
    const c = await put("d/c", "ccc");
    const lastModified = new Date(Date.parse(c.lastModified)).toISOString();
    const xml = `<Delete>` +
      `<Object><Key>d/a</Key><ETag>${a.etag.replaceAll('"', "&quot;")}</ETag></Object>` +
      `<Object><Key>d/b</Key><ETag>"0123"</ETag></Object>` +
      `<Object><Key>d/c</Key><Size>3</Size><LastModifiedTime>${lastModified}</LastModifiedTime></Object>` +
      `<Object><Key>d/c2</Key><Size>9</Size></Object>` +
      `</Delete>`;
    const body = new TextEncoder().encode(xml);
    const r = await call(aws, `${base}?delete`, {
      method: "POST",
      body,
      headers: { "content-md5": md5Base64(body) },
    });
    assert.equal(r.status, 200);
    const deleted = [...r.body.matchAll(/<Deleted><Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
    assert.deepEqual(deleted, ["d/a", "d/c"]);
    const errors = [...r.body.matchAll(/<Error><Key>([^<]*)<\/Key><Code>([^<]*)<\/Code>/g)]
      .map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(errors, ["d/b PreconditionFailed", "d/c2 NoSuchKey"]);
    assert.equal(await exists("d/a"), 404);
    assert.equal(await exists("d/b"), 200);
    assert.equal(await exists("d/c"), 404);
  });
});
