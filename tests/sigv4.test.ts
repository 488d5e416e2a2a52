// oq-test: runtimes=node,bun,deno
// The S3 client's SigV4 signer (src/s3/sign.ts) against AWS's published S3 examples and
// against aws4fetch's signatures of many generated requests, with native hashing and with
// WebCrypto alone; and the hashing of src/runtime/hash.ts.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { nativeHashing, sha256Hex, toHex, webSha256 } from "../src/runtime/hash.ts";
import { RequestSigner } from "../src/s3/sign.ts";
import { buildUrl, type Query } from "../src/s3/url.ts";
import { Rng } from "./fixtures/fuzz.ts";
import { it } from "./helpers.ts";

const enc = new TextEncoder();
const MODES = [["native", undefined], ["WebCrypto", null]] as const;

// AWS's examples of header-authenticated S3 requests ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk", Amazon S3 API Reference).
const AWS = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  region: "us-east-1",
  timeMs: Date.UTC(2013, 4, 24),
};

describe("SigV4 signer: AWS's published S3 examples", () => {
  for (const [mode, hashing] of MODES) {
    it(`PUT Object, GET Bucket Lifecycle and GET Bucket (List Objects), ${mode}`, async () => {
      const signer = new RequestSigner({ ...AWS, hashing });
      const put = await signer.sign({
        method: "PUT",
        url: "https://examplebucket.s3.amazonaws.com/test$file.text",
        headers: {
          date: "Fri, 24 May 2013 00:00:00 GMT",
          "x-amz-storage-class": "REDUCED_REDUNDANCY",
        },
        body: enc.encode("Welcome to Amazon S3."),
        timeMs: AWS.timeMs,
      });
      assert.equal(
        put.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
          "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, " +
          "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
      );
      assert.equal(
        put["x-amz-content-sha256"],
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
      );
      for (
        const [url, signature] of [
          ["?lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"],
          [
            "?max-keys=2&prefix=J",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
          ],
        ]
      ) {
        const h = await signer.sign({
          method: "GET",
          url: `https://examplebucket.s3.amazonaws.com/${url}`,
          headers: {},
          timeMs: AWS.timeMs,
        });
        assert.ok(h.authorization!.endsWith(`Signature=${signature}`), url);
      }
    });
  }
});

const KEY_CHARS = [
  ..."abcXYZ019-_.~/ !'()*+,;=:@$&%#?[]{}\"<>^`|\\",
  "ü",
  "é",
  "日本",
  "😀",
  "\u00a0",
];
const ENDPOINTS = [
  ["http://127.0.0.1:9000", true],
  ["https://s3.eu-west-3.amazonaws.com", false],
  ["https://minio.example:443/base/path", true],
  ["http://localhost:80", true],
] as const;

interface Case {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  timeMs: number;
  region: string;
  sessionToken?: string;
}

function makeCase(rng: Rng): Case {
  const random = () => rng.next();
  const pick = <T>(xs: readonly T[]): T => rng.pick(xs);
  const text = (chars: readonly string[], max: number) =>
    Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(chars)).join("");
  let key = text(KEY_CHARS, 24);
  // url.ts refuses "." and ".." segments and empty keys; so do we here.
  key = key.split("/").map((s) => s === "." || s === ".." ? "x" : s).join("/") || "k";
  const [endpoint, forcePathStyle] = pick(ENDPOINTS);
  const query: Query = [];
  for (const name of ["versionId", "prefix", "list-type", "versioning", "delete", "x y"]) {
    if (random() < 0.3) query.push([name, random() < 0.2 ? "" : text(KEY_CHARS, 12)]);
  }
  const method = pick(["GET", "PUT", "POST", "DELETE", "HEAD"]);
  const headers: Record<string, string> = {};
  if (random() < 0.5) headers["content-type"] = pick(["application/json", "text/plain"]);
  if (random() < 0.3) headers["if-match"] = `"${text([..."0123456789abcdef"], 32)}"`;
  if (random() < 0.3) headers["if-none-match"] = "*";
  if (random() < 0.3) headers["content-md5"] = "1B2M2Y8AsgTpgAmY7PhCfg==";
  if (random() < 0.3) headers["x-amz-meta-note"] = `  two  spaces\tand a tab `;
  if (random() < 0.2) headers["Range"] = "bytes=0-9";
  const bodyLength = method === "PUT" || method === "POST" ? pick([0, 1, 100, 5000, 70_000]) : 0;
  const body = bodyLength > 0 ? rng.bytes(bodyLength) : undefined;
  return {
    method,
    url: buildUrl(
      { endpoint, bucket: pick(["b", "oq-bench", "my.bucket"]), forcePathStyle },
      key,
      query,
    ),
    headers,
    body,
    timeMs: Date.UTC(2000, 0, 1) + Math.floor(random() * 40 * 365 * 86_400_000),
    region: pick(["us-east-1", "eu-west-3", "auto"]),
    sessionToken: random() < 0.3 ? `token/${text([..."abcXYZ019+="], 40)}` : undefined,
  };
}

async function aws4fetchHeaders(c: Case): Promise<Headers> {
  const client = new AwsClient({
    accessKeyId: "AKIDEXAMPLE12345",
    secretAccessKey: "secret/Key+with=odd chars",
    sessionToken: c.sessionToken,
    service: "s3",
    region: c.region,
    retries: 0,
  });
  const headers = {
    ...c.headers,
    "x-amz-content-sha256": await sha256Hex(c.body ?? new Uint8Array()),
  };
  const request = await client.sign(c.url, {
    method: c.method,
    headers,
    body: c.body as BodyInit | undefined,
    aws: { datetime: new Date(c.timeMs).toISOString().replace(/[:-]|\.\d{3}/g, "") },
  });
  return request.headers;
}

describe("SigV4 signer: the same signatures as aws4fetch", () => {
  for (const [mode, hashing] of MODES) {
    it(`300 generated requests, ${mode}`, async () => {
      const rng = new Rng(mode === "native" ? 20 : 21);
      for (let i = 0; i < 300; i++) {
        const c = makeCase(rng);
        const signer = new RequestSigner({
          accessKeyId: "AKIDEXAMPLE12345",
          secretAccessKey: "secret/Key+with=odd chars",
          sessionToken: c.sessionToken,
          region: c.region,
          hashing,
        });
        const ours = await signer.sign(c);
        const theirs = await aws4fetchHeaders(c);
        const what = `case ${i}: ${c.method} ${c.url}`;
        for (const name of ["authorization", "x-amz-date", "x-amz-content-sha256"]) {
          assert.equal(ours[name], theirs.get(name), `${name} of ${what}`);
        }
        assert.equal(ours["x-amz-security-token"], theirs.get("x-amz-security-token") ?? undefined);
        // Every header we send is one aws4fetch's Request carries, with the same value.
        for (const [name, value] of Object.entries(ours)) {
          assert.equal(theirs.get(name), value, `header ${name} of ${what}`);
        }
      }
    });
  }

  it("signs across a day boundary, concurrent first requests of a date included", async () => {
    const signer = new RequestSigner({ ...AWS, hashing: null });
    const day = Date.UTC(2026, 11, 5, 23, 59, 59, 500);
    const signs = await Promise.all(
      [day, day, day + 1000, day + 1000].map((timeMs) =>
        signer.sign({ method: "GET", url: "http://127.0.0.1:9/b/k", headers: {}, timeMs })
      ),
    );
    const scopes = signs.map((h) => /Credential=[^/]+\/(\d{8})\//.exec(h.authorization!)?.[1]);
    assert.deepEqual(scopes, ["20261205", "20261205", "20261206", "20261206"]);
    const native = new RequestSigner(AWS);
    for (const [i, t] of [day, day, day + 1000, day + 1000].entries()) {
      const h = await native.sign({
        method: "GET",
        url: "http://127.0.0.1:9/b/k",
        headers: {},
        timeMs: t,
      });
      assert.equal(h.authorization, signs[i]!.authorization);
    }
  });

  it("refuses header names and values that fetch would refuse", async () => {
    const signer = new RequestSigner(AWS);
    const sign = (headers: Record<string, string>) =>
      signer.sign({ method: "GET", url: "http://127.0.0.1:9/b/k", headers, timeMs: 0 });
    await assert.rejects(sign({ "bad name": "x" }), TypeError);
    await assert.rejects(sign({ "x-amz-meta-a": "line\nbreak" }), TypeError);
    await assert.rejects(sign({ "x-amz-meta-a": "日本" }), TypeError);
  });
});

describe("runtime hashing", () => {
  it("native SHA-256 and HMAC agree with WebCrypto", async () => {
    const native = nativeHashing();
    // Node 20.16+, Bun and Deno all have process.getBuiltinModule("node:crypto").
    assert.ok(native, "this runtime has native hashing");
    for (const data of ["", "abc", "ü日本😀", enc.encode("x".repeat(100_000))]) {
      assert.equal(toHex(native.sha256(data)), toHex(await webSha256(data)));
      assert.equal(native.sha256Hex(data), toHex(await webSha256(data)));
      assert.equal(await sha256Hex(data), toHex(await webSha256(data)));
    }
    const key = await crypto.subtle.importKey(
      "raw",
      enc.encode("key"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const web = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode("data")));
    assert.equal(toHex(native.hmacSha256("key", "data")), toHex(web));
    assert.equal(native.hmacSha256Hex("key", "data"), toHex(web));
    assert.equal(toHex(native.hmacSha256(enc.encode("key"), enc.encode("data"))), toHex(web));
  });
});
