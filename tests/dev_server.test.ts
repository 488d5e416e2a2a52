// `oq dev`: the store conformance suite over HTTP (memory and directory modes), SigV4
// and wire-format checks with aws4fetch, a restart in directory mode, and boto3 driving
// the server. Lifecycle and start-up options: dev_main.test.ts.
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEV_DEFAULTS, type DevServer } from "../src/dev/main.ts";
import type { StoredObject } from "../src/store/types.ts";
import { testBucket } from "./backends.ts";
import {
  amzDate,
  call,
  devBackend,
  devStore,
  errorCode,
  removeDir,
  signer,
  startTestServer,
  tempDir,
} from "./dev_backend.ts";
import { storeConformance } from "./store_conformance.ts";
import { it } from "./helpers.ts";

storeConformance(devBackend("memory"));
storeConformance(devBackend("dir"));

const dec = new TextDecoder();
const text = (o: unknown) => dec.decode((o as StoredObject).body);

describe("oq dev: SigV4 and the wire format", () => {
  let dev: DevServer;
  const bucket = testBucket();
  const aws = signer();
  let base: string;
  before(async () => {
    dev = await startTestServer({ bucket });
    base = `${dev.url}/${bucket}`;
  });
  after(async () => await dev?.stop());

  it("refuses unsigned requests with 403 AccessDenied, an XML body and the common headers", async () => {
    const res = await fetch(`${dev.url}/`);
    const body = await res.text();
    assert.equal(res.status, 403);
    assert.equal(errorCode(body), "AccessDenied");
    assert.match(body, /<RequestId>[0-9A-F]+<\/RequestId>/);
    assert.ok(
      res.headers.get("date") && res.headers.get("x-amz-request-id") && res.headers.get("server"),
      'res.headers.get("date") && res.headers.get("x-amz-request-id") && res.headers.get("server")',
    );
    assert.equal(res.headers.get("x-amz-request-id"), /<RequestId>([^<]*)/.exec(body)?.[1]);
  });

  it("refuses a wrong secret (SignatureDoesNotMatch) and an unknown key (InvalidAccessKeyId)", async () => {
    const wrong = await call(signer("not-the-secret"), `${dev.url}/`);
    assert.equal(wrong.status, 403);
    assert.equal(errorCode(wrong.body), "SignatureDoesNotMatch");
    assert.match(wrong.body, /<CanonicalRequest>/);
    const unknown = await call(signer(DEV_DEFAULTS.secretAccessKey, "someone"), `${dev.url}/`);
    assert.equal(unknown.status, 403);
    assert.equal(errorCode(unknown.body), "InvalidAccessKeyId");
    const ok = await call(aws, `${dev.url}/`);
    assert.equal(ok.status, 200);
    assert.match(ok.body, new RegExp(`<Name>${bucket}</Name>`));
  });

  it("accepts up to 15 minutes of clock skew, then answers RequestTimeTooSkewed", async () => {
    const near = await call(aws, `${base}?versioning`, {
      aws: { datetime: amzDate(Date.now() - 10 * 60_000) },
    });
    assert.equal(near.status, 200);
    assert.match(near.body, /<Status>Enabled<\/Status>/);
    const far = await call(aws, `${base}?versioning`, {
      aws: { datetime: amzDate(Date.now() - 20 * 60_000) },
    });
    assert.equal(far.status, 403);
    assert.equal(errorCode(far.body), "RequestTimeTooSkewed");
  });

  it("checks the payload hash: UNSIGNED-PAYLOAD and a real SHA-256 pass, a mismatch is refused", async () => {
    const unsigned = await call(aws, `${base}/p/unsigned`, { method: "PUT", body: "abc" });
    assert.equal(unsigned.status, 200);
    const sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; // sha256("abc")
    const real = await call(aws, `${base}/p/real`, {
      method: "PUT",
      body: "abc",
      headers: { "x-amz-content-sha256": sha },
    });
    assert.equal(real.status, 200);
    const bad = await call(aws, `${base}/p/bad`, {
      method: "PUT",
      body: "abd",
      headers: { "x-amz-content-sha256": sha },
    });
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad.body), "XAmzContentSHA256Mismatch");
    assert.equal((await call(aws, `${base}/p/bad`)).status, 404, "nothing was stored");
  });

  it("serves presigned URLs until they expire", async () => {
    await call(aws, `${base}/pre/x`, { method: "PUT", body: "presigned" });
    const url =
      (await aws.sign(`${base}/pre/x?X-Amz-Expires=60`, { aws: { signQuery: true } })).url;
    const res = await fetch(url);
    assert.equal(await res.text(), "presigned");
    const old = (await aws.sign(`${base}/pre/x?X-Amz-Expires=60`, {
      aws: { signQuery: true, datetime: amzDate(Date.now() - 120_000) },
    })).url;
    const expired = await fetch(old);
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /Request has expired/);
  });

  it("checks Content-MD5 and x-amz-checksum-crc32 (BadDigest)", async () => {
    const md5 = await call(aws, `${base}/d/md5`, {
      method: "PUT",
      body: "hello world",
      headers: { "content-md5": "XrY7u+Ae7tCTyyK7j1rNww==" },
    });
    assert.equal(md5.status, 200);
    const badMd5 = await call(aws, `${base}/d/md5`, {
      method: "PUT",
      body: "hello",
      headers: { "content-md5": "XrY7u+Ae7tCTyyK7j1rNww==" },
    });
    assert.equal(errorCode(badMd5.body), "BadDigest");
    const crc = await call(aws, `${base}/d/crc`, {
      method: "PUT",
      body: "hello world",
      headers: { "x-amz-checksum-crc32": "DUoRhQ==" },
    });
    assert.equal(crc.status, 200);
    assert.equal(crc.headers.get("x-amz-checksum-crc32"), "DUoRhQ==");
    const badCrc = await call(aws, `${base}/d/crc`, {
      method: "PUT",
      body: "hello",
      headers: { "x-amz-checksum-crc32": "DUoRhQ==" },
    });
    assert.equal(badCrc.status, 400);
    assert.equal(errorCode(badCrc.body), "BadDigest");
  });

  it("decodes aws-chunked uploads with a trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER)", async () => {
    const chunked = (crc: string) =>
      call(aws, `${base}/c/chunked`, {
        method: "PUT",
        body: `6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`,
        headers: {
          "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
          "content-encoding": "aws-chunked",
          "x-amz-decoded-content-length": "11",
          "x-amz-trailer": "x-amz-checksum-crc32",
        },
      });
    assert.equal((await chunked("DUoRhQ==")).status, 200);
    assert.equal((await call(aws, `${base}/c/chunked`)).body, "hello world");
    assert.equal(errorCode((await chunked("AAAAAA==")).body), "BadDigest");
  });

  it("answers S3's object headers, delete-marker headers and XML errors", async () => {
    const put = await call(aws, `${base}/h/obj`, {
      method: "PUT",
      body: "12345",
      headers: { "content-type": "text/plain" },
    });
    const etag = put.headers.get("etag")!;
    const version = put.headers.get("x-amz-version-id")!;
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    assert.ok(version, "version");
    const head = await call(aws, `${base}/h/obj`, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), "5");
    assert.equal(head.headers.get("content-type"), "text/plain");
    assert.equal(head.headers.get("etag"), etag);
    assert.equal(head.headers.get("x-amz-version-id"), version);
    assert.ok(
      !Number.isNaN(Date.parse(head.headers.get("last-modified")!)),
      '!Number.isNaN(Date.parse(head.headers.get("last-modified")!))',
    );
    assert.equal(
      (await call(aws, `${base}/h/obj`, { headers: { "if-none-match": etag } })).status,
      304,
    );
    const del = await call(aws, `${base}/h/obj`, { method: "DELETE" });
    assert.equal(del.status, 204);
    assert.equal(del.headers.get("x-amz-delete-marker"), "true");
    const marker = del.headers.get("x-amz-version-id")!;
    const gone = await call(aws, `${base}/h/obj`);
    assert.equal(gone.status, 404);
    assert.equal(gone.headers.get("x-amz-delete-marker"), "true");
    assert.equal(gone.headers.get("x-amz-version-id"), marker);
    assert.equal(errorCode(gone.body), "NoSuchKey");
    assert.match(gone.body, new RegExp(`<Key>h/obj</Key>.*<Resource>/${bucket}/h/obj</Resource>`));
    const goneHead = await call(aws, `${base}/h/obj`, { method: "HEAD" });
    assert.equal(goneHead.status, 404);
    assert.equal(goneHead.body, "", "HEAD errors have no body");
    const byMarker = await call(aws, `${base}/h/obj?versionId=${encodeURIComponent(marker)}`);
    assert.equal(byMarker.status, 405);
    assert.equal(byMarker.headers.get("x-amz-delete-marker"), "true");
    const missing = await call(aws, `${dev.url}/${bucket}-nope/x`);
    assert.equal(errorCode(missing.body), "NoSuchBucket");
    assert.equal(
      (await call(aws, `${base}?policy`)).status,
      501,
      "unsupported sub-resources are refused, not misread",
    );
  });
});

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    n += e.isDirectory() ? await countFiles(join(dir, String(e.name))) : 1;
  }
  return n;
}

describe("oq dev: directory mode survives a restart", () => {
  let dir: string;
  let dev: DevServer | undefined;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dev?.stop();
    await removeDir(dir);
  });

  it("keeps versions, delete markers, ETags, version ids and lifecycle rules", async () => {
    dev = await startTestServer({ dir, bucket: "restart" });
    let s = devStore(dev.url, "restart");
    const v1 = await s.put("tasks/a.json", '{"n":1}');
    const v2 = await s.put("tasks/a.json", '{"n":2}');
    await s.put("tasks/b.json", "b");
    const marker = await s.delete("tasks/b.json");
    await s.put("same/1", "same bytes");
    await s.put("same/2", "same bytes");
    const tmp = await s.put("tmp/x", "x");
    await s.delete("tmp/x", { versionId: tmp.versionId });
    await s.putLifecycle([{
      id: "idx",
      prefix: "ready/",
      noncurrentVersionExpirationDays: 1,
      expiredObjectDeleteMarker: true,
    }]);
    const versions = await s.listVersions({});
    await dev.stop();
    // Leftovers of a crash: a temporary file and a body no key file names.
    await mkdir(join(dir, "buckets/restart/blobs/zz"), { recursive: true });
    await writeFile(join(dir, "buckets/restart/blobs/zz/orphan"), "x");
    await writeFile(join(dir, "buckets/restart/bucket.json.tmp-1234"), "{");

    dev = await startTestServer({ dir, bucket: "restart" });
    s = devStore(dev.url, "restart");
    assert.deepEqual(await s.listVersions({}), versions);
    assert.equal(await s.getVersioning(), "Enabled");
    assert.equal(text(await s.get("tasks/a.json")), '{"n":2}');
    assert.equal(text(await s.get("tasks/a.json", { versionId: v1.versionId })), '{"n":1}');
    assert.equal((await s.head("tasks/a.json"))?.etag, v2.etag);
    assert.equal(await s.get("tasks/b.json"), null);
    assert.equal(
      (await s.listVersions({ prefix: "tasks/b.json" })).versions[0]?.versionId,
      marker.versionId,
    );
    assert.deepEqual(dev.engine.bucket("restart").lifecycle.map((r) => r.id), ["idx"]);
    const v3 = await s.put("tasks/a.json", '{"n":3}', { ifMatch: v2.etag });
    assert.ok(
      !versions.versions.some((v) => v.versionId === v3.versionId),
      "new version ids stay unique",
    );
    await rejects412(s.put("tasks/a.json", "stale", { ifMatch: v2.etag }));
    assert.equal(
      await countFiles(join(dir, "buckets/restart/blobs")),
      6,
      "one file per stored body (tasks/a.json x3, tasks/b.json, same/1, same/2); orphan removed",
    );
    assert.ok(
      !(await readdir(join(dir, "buckets/restart"))).some((f) => f.includes(".tmp-")),
      '!(await readdir(join(dir, "buckets/restart"))).some((f) => f.includes(".tmp-"))',
    );
    // Removing every version of a body removes its file.
    await s.deleteMany(
      (await s.listVersions({ prefix: "same/" })).versions.map((v) => ({
        key: v.key,
        versionId: v.versionId,
      })),
    );
    assert.equal(await countFiles(join(dir, "buckets/restart/blobs")), 4);
  });

  it("refuses a directory that holds other files", async () => {
    const other = await tempDir();
    try {
      await writeFile(join(other, "notes.txt"), "mine");
      await assert.rejects(startTestServer({ dir: other }), /not an oq dev data directory/);
    } finally {
      await removeDir(other);
    }
  });
});

async function rejects412(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: Error & { code?: string }) => e.code === "PreconditionFailed");
}

const probe = spawnSync("python3", ["-c", "import boto3"], { encoding: "utf8" });
const boto3Skip = probe.error
  ? `python3 is not available (${probe.error.message})`
  : probe.status !== 0
  ? "boto3 is not installed for python3"
  : false;
if (boto3Skip) console.log(`# boto3 checks skipped: ${boto3Skip}`);

function runBoto3(url: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [
      "tests/boto3_check.py",
      url,
      DEV_DEFAULTS.accessKeyId,
      DEV_DEFAULTS.secretAccessKey,
    ]);
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("oq dev: boto3 drives the server", { skip: boto3Skip }, () => {
  for (const mode of ["memory", "dir"] as const) {
    it(`buckets, versioning, conditional writes, paginated listings, batch delete (${mode})`, async () => {
      const dir = mode === "dir" ? await tempDir() : undefined;
      const dev = await startTestServer(dir !== undefined ? { dir } : { memory: true });
      try {
        const { code, output } = await runBoto3(dev.url);
        assert.equal(code, 0, `tests/boto3_check.py failed:\n${output}`);
      } finally {
        await dev.stop();
        if (dir !== undefined) await removeDir(dir);
      }
    });
  }
});
