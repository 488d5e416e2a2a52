// `oq dev` behaves like S3 where Ceph's s3-tests look: stored metadata and representation
// headers, conditional PUT in its four forms, ListBuckets paging, ListObjectsV2 tokens and
// url encoding, version ids and delete-marker headers, CopyObject metadata and errors,
// response-* overrides, strict XML bodies, GetObjectAttributes and CORS preflights.
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import type { DevServer } from "../src/dev/main.ts";
import { testBucket } from "./backends.ts";
import { call, errorCode, signer, startTestServer } from "./dev_backend.ts";
import { signedRaw } from "./dev_raw.ts";

const aws = signer();
const T = { timeout: 30_000 };

describe("oq dev: S3 compatibility details", () => {
  let dev: DevServer;
  let base: string;
  const bucket = testBucket();
  // Keys are percent-encoded (aws4fetch would sign a raw "+" as a space).
  const put = (key: string, init: RequestInit = {}) =>
    call(aws, `${base}/${key.split("/").map(encodeURIComponent).join("/")}`, {
      method: "PUT",
      body: "x",
      ...init,
    });
  before(async () => {
    dev = await startTestServer({ bucket });
    base = `${dev.url}/${bucket}`;
  });
  after(async () => await dev?.stop());

  it(
    "stores user metadata and representation headers, returns them on GET and HEAD",
    T,
    async () => {
      const headers = {
        "x-amz-meta-color": "blue",
        "x-amz-meta-empty": "",
        "cache-control": "max-age=60",
        expires: "Thu, 01 Dec 2044 16:00:00 GMT",
        "content-disposition": 'attachment; filename="a.txt"',
        "content-language": "fr",
      };
      assert.equal((await put("meta/a", { headers })).status, 200);
      for (const method of ["GET", "HEAD"]) {
        const r = await call(aws, `${base}/meta/a`, { method });
        assert.equal(r.headers.get("x-amz-meta-color"), "blue", method);
        assert.equal(r.headers.get("x-amz-meta-empty"), "", method);
        assert.equal(r.headers.get("cache-control"), "max-age=60");
        assert.equal(r.headers.get("expires"), "Thu, 01 Dec 2044 16:00:00 GMT");
        assert.equal(r.headers.get("content-disposition"), 'attachment; filename="a.txt"');
        assert.equal(r.headers.get("content-language"), "fr");
      }
      // A GET answer that says gzip would be decompressed by fetch: Content-Encoding on HEAD.
      await put("meta/enc", { headers: { "content-encoding": "aws-chunked, gzip" } });
      const enc = await call(aws, `${base}/meta/enc`, { method: "HEAD" });
      assert.equal(enc.headers.get("content-encoding"), "gzip", "aws-chunked is not stored");
      await put("meta/a");
      const replaced = await call(aws, `${base}/meta/a`, { method: "HEAD" });
      assert.equal(replaced.headers.get("x-amz-meta-color"), null, "a new PUT replaces metadata");
      const big = await put("meta/big", { headers: { "x-amz-meta-big": "x".repeat(2100) } });
      assert.equal(big.status, 400);
      assert.equal(errorCode(big.body), "MetadataTooLarge");
    },
  );

  it(
    "bucket names follow S3's rules: each label starts and ends with a letter or digit",
    T,
    async () => {
      const create = (name: string) => call(aws, `${dev.url}/${name}`, { method: "PUT" });
      for (
        const bad of [
          "foo-.bar",
          "foo.-bar",
          "a..b",
          "ab",
          "Abc",
          "-abc",
          "abc-",
          "192.168.1.1",
          "xn--abc",
          "sthree-abc",
          "abc-s3alias",
          "abc--ol-s3",
          "a".repeat(64),
        ]
      ) {
        const r = await create(bad);
        assert.equal(r.status, 400, bad);
        assert.equal(errorCode(r.body), "InvalidBucketName", bad);
      }
      for (const good of ["foo.bar-baz", "a-b.c1.d", "x".repeat(63), "abc"]) {
        assert.equal((await create(good)).status, 200, good);
        assert.equal((await call(aws, `${dev.url}/${good}`, { method: "DELETE" })).status, 204);
      }
    },
  );

  it(
    "keeps non-ASCII metadata sent as UTF-8 and answers it in latin-1 or RFC 2047",
    T,
    async () => {
      // "Hello Worldé" and "€" as the UTF-8 bytes a client sends, one character per byte.
      const utf8 = (s: string) => String.fromCharCode(...new TextEncoder().encode(s));
      const r = await signedRaw(dev.url, {
        method: "PUT",
        path: `/${bucket}/meta/unicode`,
        headers: { "x-amz-meta-a": utf8("Hello Worldé"), "x-amz-meta-b": utf8("5 €") },
        body: "x",
      });
      assert.equal(r.status, 200, r.body);
      const got = await signedRaw(dev.url, { method: "HEAD", path: `/${bucket}/meta/unicode` });
      assert.equal(got.headers["x-amz-meta-a"], "Hello Worldé", "node:http decodes latin-1");
      assert.equal(got.headers["x-amz-meta-b"], `=?UTF-8?B?${btoa(utf8("5 €"))}?=`);
    },
  );

  it(
    "conditional PUT: If-None-Match and If-Match, each with * or an ETag, as AWS evaluates them",
    T,
    async () => {
      const status = async (key: string, headers: Record<string, string>) => {
        const r = await put(key, { headers });
        return `${r.status}${r.status === 200 ? "" : ` ${errorCode(r.body)}`}`;
      };
      const k = "cond/k";
      assert.equal(await status(k, { "if-match": "*" }), "404 NoSuchKey");
      assert.equal(await status(k, { "if-match": '"bad"' }), "404 NoSuchKey");
      assert.equal(await status(k, { "if-none-match": '"deadbeef"' }), "200");
      const etag = (await call(aws, `${base}/${k}`, { method: "HEAD" })).headers.get("etag")!;
      assert.equal(await status(k, { "if-none-match": "*" }), "412 PreconditionFailed");
      assert.equal(await status(k, { "if-none-match": etag }), "412 PreconditionFailed");
      assert.equal(await status(k, { "if-none-match": '"other"' }), "200");
      assert.equal(await status(k, { "if-match": "*" }), "200");
      assert.equal(await status(k, { "if-match": '"bad"' }), "412 PreconditionFailed");
      assert.equal(await status(k, { "if-match": etag }), "200", "same body, same ETag");
      await call(aws, `${base}/${k}`, { method: "DELETE" });
      assert.equal(
        await status(k, { "if-match": "*" }),
        "404 NoSuchKey",
        "a delete marker is no object",
      );
      assert.equal(await status(k, { "if-none-match": etag }), "200");
    },
  );

  it(
    "ListBuckets pages with max-buckets and continuation tokens, and filters by prefix",
    T,
    async () => {
      const other = await startTestServer({ memory: true });
      try {
        const names = ["pg-a", "pg-b", "pg-c"];
        for (const n of names) {
          assert.equal(
            (await call(aws, `${other.url}/${n}`, { method: "PUT" })).status,
            200,
          );
        }
        const seen: string[] = [];
        let token: string | undefined;
        for (let page = 0; page < 5; page++) {
          const q = `max-buckets=2${
            token ? `&continuation-token=${encodeURIComponent(token)}` : ""
          }`;
          const r = await call(aws, `${other.url}/?${q}`);
          assert.equal(r.status, 200, r.body);
          seen.push(...[...r.body.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]!));
          token = /<ContinuationToken>([^<]*)</.exec(r.body)?.[1];
          if (token === undefined) break;
        }
        assert.deepEqual(seen, names);
        const filtered = await call(aws, `${other.url}/?prefix=pg-b`);
        assert.deepEqual([...filtered.body.matchAll(/<Name>([^<]*)</g)].map((m) => m[1]), ["pg-b"]);
        const bad = await call(aws, `${other.url}/?max-buckets=0`);
        assert.equal(errorCode(bad.body), "InvalidArgument");
      } finally {
        await other.stop();
      }
    },
  );

  it(
    "ListObjectsV2: an empty continuation token lists from the start; url encoding as AWS",
    T,
    async () => {
      for (const k of ["enc/foo+1/bar", "enc/quux ab/thud", "enc/asdf+b"]) await put(k);
      const empty = await call(aws, `${base}?list-type=2&prefix=enc/&continuation-token=`);
      assert.equal(empty.status, 200, empty.body);
      assert.match(empty.body, /<ContinuationToken><\/ContinuationToken>/);
      assert.equal([...empty.body.matchAll(/<Key>/g)].length, 3);
      const v2 = await call(aws, `${base}?list-type=2&prefix=enc/&delimiter=/&encoding-type=url`);
      assert.deepEqual(
        [...v2.body.matchAll(/<Prefix>([^<]*)<\/Prefix>/g)].map((m) => m[1]),
        ["enc/", "enc/foo%2B1/", "enc/quux%20ab/"],
        "spaces are %20, not +",
      );
      const v1 = await call(aws, `${base}?prefix=enc/%0A&encoding-type=url`);
      assert.match(v1.body, /<Prefix>enc\/\n<\/Prefix>/, "ListObjects v1 leaves Prefix unencoded");
    },
  );

  it(
    "no version id for writes to unversioned or suspended buckets; x-amz-delete-marker: false",
    T,
    async () => {
      const b = testBucket();
      assert.equal((await call(aws, `${dev.url}/${b}`, { method: "PUT" })).status, 200);
      const plain = await call(aws, `${dev.url}/${b}/k`, { method: "PUT", body: "1" });
      assert.equal(plain.headers.get("x-amz-version-id"), null);
      await call(aws, `${dev.url}/${b}/k`, { method: "DELETE" });
      const gone = await call(aws, `${dev.url}/${b}/k`, { method: "HEAD" });
      assert.equal(gone.status, 404);
      assert.equal(gone.headers.get("x-amz-delete-marker"), "false");
      const suspend =
        "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>";
      await call(aws, `${dev.url}/${b}?versioning`, { method: "PUT", body: suspend });
      const suspended = await call(aws, `${dev.url}/${b}/k`, { method: "PUT", body: "2" });
      assert.equal(suspended.status, 200);
      assert.equal(suspended.headers.get("x-amz-version-id"), null);
      const marker = await call(aws, `${dev.url}/${b}/k`, { method: "DELETE" });
      assert.equal(marker.headers.get("x-amz-delete-marker"), "true");
      const hidden = await call(aws, `${dev.url}/${b}/k`, { method: "HEAD" });
      assert.equal(hidden.headers.get("x-amz-delete-marker"), "true");
    },
  );

  it(
    "CopyObject copies or replaces metadata, and its errors name the missing source",
    T,
    async () => {
      await put("copy/src", {
        headers: { "x-amz-meta-a": "1", "content-type": "audio/ogg", "cache-control": "no-cache" },
      });
      const copied = await call(aws, `${base}/copy/kept`, {
        method: "PUT",
        headers: { "x-amz-copy-source": `/${bucket}/copy/src` },
      });
      assert.equal(copied.status, 200, copied.body);
      const kept = await call(aws, `${base}/copy/kept`, { method: "HEAD" });
      assert.equal(kept.headers.get("x-amz-meta-a"), "1");
      assert.equal(kept.headers.get("content-type"), "audio/ogg");
      assert.equal(kept.headers.get("cache-control"), "no-cache");
      await call(aws, `${base}/copy/replaced`, {
        method: "PUT",
        headers: {
          "x-amz-copy-source": `/${bucket}/copy/src`,
          "x-amz-metadata-directive": "REPLACE",
          "x-amz-meta-b": "2",
          "content-type": "audio/mpeg",
        },
      });
      const replaced = await call(aws, `${base}/copy/replaced`, { method: "HEAD" });
      assert.equal(replaced.headers.get("x-amz-meta-a"), null);
      assert.equal(replaced.headers.get("x-amz-meta-b"), "2");
      assert.equal(replaced.headers.get("content-type"), "audio/mpeg");
      assert.equal(replaced.headers.get("cache-control"), null);
      const noKey = await call(aws, `${base}/copy/dest`, {
        method: "PUT",
        headers: { "x-amz-copy-source": `/${bucket}/copy/missing` },
      });
      assert.equal(noKey.status, 404);
      assert.equal(errorCode(noKey.body), "NoSuchKey");
      assert.match(noKey.body, /<Key>copy\/missing<\/Key>/);
      const noBucket = await call(aws, `${base}/copy/dest`, {
        method: "PUT",
        headers: { "x-amz-copy-source": `/${bucket}-none/x` },
      });
      assert.equal(errorCode(noBucket.body), "NoSuchBucket");
      assert.match(noBucket.body, new RegExp(`<BucketName>${bucket}-none</BucketName>`));
    },
  );

  it("response-* overrides apply, and CR or LF in one is 400 InvalidArgument", T, async () => {
    await put("ovr/a");
    const ok = await call(
      aws,
      `${base}/ovr/a?response-content-type=text%2Fplain&response-cache-control=no-store`,
    );
    assert.equal(ok.headers.get("content-type"), "text/plain");
    assert.equal(ok.headers.get("cache-control"), "no-store");
    for (const bad of ["a%0D%0Ab", "a%0Ab", "a%0Db"]) {
      const r = await call(aws, `${base}/ovr/a?response-content-disposition=${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(errorCode(r.body), "InvalidArgument");
    }
  });

  it(
    "XML bodies: an unclosed root, a second root, &#0; or an unknown entity are MalformedXML",
    T,
    async () => {
      const b = testBucket();
      await call(aws, `${dev.url}/${b}`, { method: "PUT" });
      const versioning = (body: string) =>
        call(aws, `${dev.url}/${b}?versioning`, { method: "PUT", body });
      const good = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
      assert.equal((await versioning(good)).status, 200);
      for (
        const bad of [
          "<VersioningConfiguration><Status>Enabled</Status>",
          `${good}<VersioningConfiguration/>`,
          "<VersioningConfiguration><Status>Enabled&#0;</Status></VersioningConfiguration>",
          "<VersioningConfiguration><Status>&bogus;</Status></VersioningConfiguration>",
        ]
      ) {
        const r = await versioning(bad);
        assert.equal(r.status, 400, bad);
        assert.equal(errorCode(r.body), "MalformedXML", bad);
      }
    },
  );

  it("GetObjectAttributes answers ETag, StorageClass and ObjectSize", T, async () => {
    const p = await put("attr/a", { body: "foo" });
    const r = await call(aws, `${base}/attr/a?attributes`, {
      headers: { "x-amz-object-attributes": "ETag,StorageClass,ObjectSize,ObjectParts" },
    });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, new RegExp(`<ETag>${p.headers.get("etag")!.replaceAll('"', "")}</ETag>`));
    assert.match(r.body, /<StorageClass>STANDARD<\/StorageClass><ObjectSize>3<\/ObjectSize>/);
    assert.doesNotMatch(r.body, /ObjectParts/);
    assert.equal(r.headers.get("x-amz-version-id"), p.headers.get("x-amz-version-id"));
  });

  it(
    "CORS preflights are refused (no CORS configuration); anonymous requests to a missing bucket get 404",
    T,
    async () => {
      const noOrigin = await fetch(`${base}/k`, { method: "OPTIONS" });
      assert.equal(noOrigin.status, 400);
      assert.equal(errorCode(await noOrigin.text()), "BadRequest");
      const withOrigin = await fetch(`${base}/k`, {
        method: "OPTIONS",
        headers: { origin: "http://example.com", "access-control-request-method": "GET" },
      });
      assert.equal(withOrigin.status, 403);
      await withOrigin.body?.cancel();
      const missing = await fetch(`${dev.url}/${bucket}-gone/k`);
      assert.equal(missing.status, 404);
      assert.equal(errorCode(await missing.text()), "NoSuchBucket");
      const existing = await fetch(`${base}/k`);
      assert.equal(existing.status, 403, "anonymous access to a bucket is still refused");
      await existing.body?.cancel();
    },
  );
});
