// Request bodies of `oq dev` stream: nothing is read before the signature and the declared
// size are checked (an unsigned upload is refused while the client is still sending, an
// `Expect: 100-continue` client is refused before it sends), the maximum object size
// answers EntityTooLarge, and with a data directory bodies go to files, not memory.
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { request } from "node:http";
import { Buffer } from "node:buffer";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { AwsChunkedDecoder } from "../src/dev/aws_chunked.ts";
import type { DevServer } from "../src/dev/main.ts";
import type { VerifiedRequest } from "../src/dev/sigv4.ts";
import { runtimeName } from "../src/runtime/mod.ts";
import { md5Hex } from "../src/s3/md5.ts";
import { testBucket } from "./backends.ts";
import { call, errorCode, removeDir, signer, startTestServer, tempDir } from "./dev_backend.ts";
import { signedRaw, signRaw } from "./dev_raw.ts";

const T = { timeout: 60_000 };
const aws = signer();

/** Send a request with a body of `total` bytes written as the server takes them; stop at the answer. */
function upload(
  base: string,
  path: string,
  headers: Record<string, string>,
  total: number,
): Promise<{ status: number; body: string; sent: number }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request({
      host: url.hostname,
      port: Number(url.port),
      method: "PUT",
      path,
      headers: { ...headers, "content-length": String(total) },
      agent: false,
    }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), sent });
        req.destroy();
      });
    });
    req.on("error", (e) => answered ? undefined : reject(e));
    const block = Buffer.alloc(1 << 20);
    const pump = () => {
      while (!answered && sent < total) {
        const n = Math.min(block.length, total - sent);
        sent += n;
        if (!req.write(block.subarray(0, n))) return void req.once("drain", pump);
      }
      if (sent >= total) req.end();
    };
    pump();
  });
}

/**
 * The status lines answered to a request head sent over a raw socket (the body is never
 * sent), up to the first final (non-1xx) one.
 */
function statusLines(base: string, head: string): Promise<string[]> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(head));
    let data = "";
    socket.on("data", (c) => {
      data += c.toString("latin1");
      const lines = data.split("\r\n").filter((l) => l.startsWith("HTTP/1.1 "));
      if (lines.some((l) => !l.startsWith("HTTP/1.1 1"))) {
        socket.destroy();
        resolve(lines);
      }
    });
    socket.on("error", reject);
  });
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, String(e.name));
    if (e.isDirectory()) out.push(...await files(p));
    else out.push(p);
  }
  return out;
}

describe("oq dev: bodies are read only once the request is allowed", () => {
  let dev: DevServer;
  const bucket = testBucket();
  before(async () => {
    dev = await startTestServer({ bucket, maxObjectSize: 4096 });
  });
  after(async () => await dev?.stop());

  it(
    "an unsigned 256 MiB upload is refused with 403 while most of it is still unsent",
    T,
    async () => {
      const total = 256 * 1024 * 1024;
      const r = await upload(dev.url, `/${bucket}/big`, {}, total);
      assert.equal(r.status, 403);
      assert.equal(errorCode(r.body), "AccessDenied");
      assert.ok(r.sent < total / 4, `the server answered before reading (client sent ${r.sent})`);
    },
  );

  it("an Expect: 100-continue upload gets its refusal instead of 100 Continue", T, async () => {
    const host = new URL(dev.url).host;
    const lines = await statusLines(
      dev.url,
      `PUT /${bucket}/k HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n`,
    );
    // Deno.serve answers 100 Continue itself, before any handler runs: there the refusal
    // follows it (and the body is still not read).
    const expected = runtimeName() === "deno"
      ? ["100 Continue", "403 Forbidden"]
      : ["403 Forbidden"];
    assert.deepEqual(lines.map((l) => l.slice(9)), expected);
  });

  it("a signed Expect: 100-continue upload is told to continue and stored", T, async () => {
    const body = Buffer.from("continued");
    const headers = await signRaw({
      method: "PUT",
      path: `/${bucket}/cont`,
      host: new URL(dev.url).host,
      headers: { expect: "100-continue" },
      body,
    });
    const url = new URL(dev.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: Number(url.port),
        method: "PUT",
        path: `/${bucket}/cont`,
        headers: { ...headers, "content-length": String(body.length) },
        agent: false,
      }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("continue", () => req.end(body));
      req.on("error", reject);
    });
    assert.equal(status, 200);
    assert.equal((await call(aws, `${dev.url}/${bucket}/cont`)).body, "continued");
  });

  it(
    "a declared size over the limit is EntityTooLarge at once, without waiting for the body",
    T,
    async () => {
      const path = `/${bucket}/huge`;
      const headers = await signRaw({
        method: "PUT",
        path,
        host: new URL(dev.url).host,
        payloadHash: "UNSIGNED-PAYLOAD",
      });
      const r = await upload(dev.url, path, headers, 10_000_000);
      assert.equal(r.status, 400);
      assert.equal(errorCode(r.body), "EntityTooLarge");
      assert.match(
        r.body,
        /<ProposedSize>10000000<\/ProposedSize><MaxSizeAllowed>4096<\/MaxSizeAllowed>/,
      );
    },
  );

  it(
    "a body without a declared size is cut at the limit; the limit itself is accepted",
    T,
    async () => {
      const send = async (size: number) => {
        const path = `/${bucket}/chunked-${size}`;
        const headers = await signRaw({
          method: "PUT",
          path,
          host: new URL(dev.url).host,
          payloadHash: "UNSIGNED-PAYLOAD",
        });
        const url = new URL(dev.url);
        return await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request({
            host: url.hostname,
            port: Number(url.port),
            method: "PUT",
            path,
            headers: { ...headers, "transfer-encoding": "chunked" },
            agent: false,
          }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on(
              "end",
              () =>
                resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            );
          });
          req.on("error", reject);
          for (let i = 0; i < size; i += 1000) {
            req.write(Buffer.alloc(Math.min(1000, size - i)));
          }
          req.end();
        });
      };
      const over = await send(5000);
      assert.equal(over.status, 400);
      assert.equal(errorCode(over.body), "EntityTooLarge");
      assert.equal((await call(aws, `${dev.url}/${bucket}/chunked-5000`)).status, 404);
      assert.equal((await send(4096)).status, 200);
    },
  );
});

describe("oq dev --dir: bodies live in files", () => {
  let dev: DevServer;
  let dir: string;
  const bucket = "bodies";
  before(async () => {
    dir = await tempDir();
    dev = await startTestServer({ dir, bucket });
  });
  after(async () => {
    await dev?.stop();
    await removeDir(dir);
  });

  it("an upload streams to its own file; the engine keeps only its size and name", T, async () => {
    const body = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const r = await signedRaw(dev.url, { method: "PUT", path: `/${bucket}/big`, body });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers.etag, `"${md5Hex(body)}"`);
    const v = dev.engine.bucket(bucket).objects.get("big")![0]!;
    assert.equal(v.body.length, 0, "no bytes in memory");
    assert.equal(v.size, body.length);
    const file = join(dir, "buckets", bucket, "blobs", v.blob!.slice(0, 2), v.blob!);
    assert.equal((await stat(file)).size, body.length);
    const ranged = await call(aws, `${dev.url}/${bucket}/big`, {
      headers: { range: "bytes=1000-1009" },
    });
    assert.equal(ranged.status, 206);
    const whole = new Uint8Array(
      await (await fetch(await aws.sign(`${dev.url}/${bucket}/big`))).arrayBuffer(),
    );
    assert.deepEqual(whole, body);
  });

  it("refused, failed and replaced uploads leave no file behind", T, async () => {
    const blobs = join(dir, "buckets", bucket, "blobs");
    const before = (await files(blobs)).length;
    const first = await call(aws, `${dev.url}/${bucket}/once`, { method: "PUT", body: "1" });
    assert.equal(first.status, 200);
    assert.equal((await files(blobs)).length, before + 1);
    const lost = await call(aws, `${dev.url}/${bucket}/once`, {
      method: "PUT",
      body: "2",
      headers: { "if-none-match": "*" },
    });
    assert.equal(lost.status, 412);
    const bad = await signedRaw(dev.url, {
      method: "PUT",
      path: `/${bucket}/bad`,
      body: "abc",
      payloadHash: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae",
    });
    assert.equal(errorCode(bad.body), "XAmzContentSHA256Mismatch");
    assert.equal((await files(blobs)).length, before + 1, "lost and refused bodies removed");
    await call(aws, `${dev.url}/${bucket}/once`, { method: "DELETE" });
    const versions = dev.engine.bucket(bucket).objects.get("once")!;
    for (const v of versions) {
      await call(aws, `${dev.url}/${bucket}/once?versionId=${v.versionId}`, { method: "DELETE" });
    }
    assert.equal((await files(blobs)).length, before, "a removed version's file is removed");
    await call(aws, `${dev.url}/${bucket}/empty`, { method: "PUT", body: "" });
    assert.equal((await files(blobs)).length, before, "an empty body has no file");
  });
});

describe("oq dev --memory: one copy of a body", () => {
  it("the engine keeps an uploaded body as received and answers it in pieces", T, async () => {
    const dev = await startTestServer({ memory: true, bucket: "mem" });
    try {
      const body = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 253);
      const r = await signedRaw(dev.url, { method: "PUT", path: "/mem/k", body });
      assert.equal(r.status, 200, r.body);
      const v = dev.engine.bucket("mem").objects.get("k")![0]!;
      assert.equal(v.body.buffer.byteLength, body.length, "one array of the declared size");
      const back = await fetch(await aws.sign(`${dev.url}/mem/k`));
      assert.deepEqual(new Uint8Array(await back.arrayBuffer()), body);
      const bytes = new TextEncoder().encode("mine");
      dev.engine.put("mem", "copied", bytes);
      dev.engine.put("mem", "kept", bytes, { transfer: true });
      const stored = (key: string) => dev.engine.bucket("mem").objects.get(key)![0]!.body;
      assert.notEqual(stored("copied"), bytes);
      assert.equal(stored("kept"), bytes);
    } finally {
      await dev.stop();
    }
  });
});

describe("oq dev --dir: a client that goes away mid-upload", () => {
  it("leaves nothing stored and no file behind", T, async () => {
    const dir = await tempDir();
    const dev = await startTestServer({ dir, bucket: "aborted" });
    let socket: ReturnType<typeof connect> | undefined;
    try {
      const url = new URL(dev.url);
      const path = "/aborted/half";
      const headers = await signRaw({
        method: "PUT",
        path,
        host: url.host,
        payloadHash: "UNSIGNED-PAYLOAD",
        headers: { "content-length": "1000000" },
      });
      const head = `PUT ${path} HTTP/1.1\r\n` +
        Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
      const blobs = join(dir, "buckets", "aborted", "blobs");
      const until = async (done: (n: number) => boolean, what: string) => {
        for (let i = 0; i < 400; i++) {
          if (done((await files(blobs)).length)) return;
          await new Promise((r) => setTimeout(r, 25));
        }
        assert.fail(what);
      };
      socket = connect(Number(url.port), url.hostname);
      await new Promise<void>((resolve, reject) => {
        socket!.once("connect", resolve);
        socket!.once("error", reject);
      });
      socket.write(head);
      socket.write(Buffer.alloc(100_000));
      await until((n) => n === 1, "the upload started streaming to a file");
      socket.destroy();
      await until((n) => n === 0, "the partial body's file was removed");
      assert.equal((await call(aws, `${dev.url}/aborted/half`)).status, 404);
    } finally {
      socket?.destroy();
      await dev.stop();
      await removeDir(dir);
    }
  });
});

describe("aws-chunked decoding", () => {
  it("decodes the same whatever the split of the raw bytes", async () => {
    const raw = new TextEncoder().encode(
      "6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n",
    );
    const verified = {
      accessKeyId: "k",
      payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      signing: {} as VerifiedRequest["signing"],
    } as VerifiedRequest;
    for (const step of [1, 2, 3, 7, raw.length]) {
      let out = "";
      const d = new AwsChunkedDecoder(verified, (b) => {
        out += new TextDecoder().decode(b);
        return Promise.resolve();
      });
      for (let i = 0; i < raw.length; i += step) await d.push(raw.subarray(i, i + step));
      const trailers = await d.end();
      assert.equal(out, "hello world", `split every ${step}`);
      assert.equal(trailers.get("x-amz-checksum-crc32"), "DUoRhQ==");
    }
    const cut = new AwsChunkedDecoder(verified, () => Promise.resolve());
    await cut.push(raw.subarray(0, 10));
    await assert.rejects(cut.end(), /ended before its last chunk/);
  });
});
