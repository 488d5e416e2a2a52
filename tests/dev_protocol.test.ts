// `oq dev` protocol pieces without a network: SigV4 against AWS's published example
// requests (S3 developer guide, "Signature Calculations for the Authorization Header"
// and "Signature Calculation: Transfer Payload in Multiple Chunks"), checksum check
// values, lifecycle XML, and the engine behaviour the dev server relies on.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { checksum } from "../src/dev/checksums.ts";
import { parseLifecycle, renderLifecycle } from "../src/dev/lifecycle.ts";
import { decodeAwsChunked } from "../src/dev/aws_chunked.ts";
import { canonicalUri, verifySigV4 } from "../src/dev/sigv4.ts";
import { StorageEngine } from "../src/store/engine.ts";
import { it } from "./helpers.ts";

const creds = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const NOW = Date.UTC(2013, 4, 24);
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SCOPE = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";
const enc = new TextEncoder();

function auth(signedHeaders: string, signature: string): string {
  return `AWS4-HMAC-SHA256 Credential=${SCOPE},SignedHeaders=${signedHeaders},Signature=${signature}`;
}

async function verify(url: string, init: RequestInit, now = NOW) {
  return await verifySigV4(new Request(url, init), new URL(url), creds, now);
}

describe("SigV4 verification against AWS's example requests", () => {
  it("GET an object with a Range header", async () => {
    const v = await verify("http://examplebucket.s3.amazonaws.com/test.txt", {
      headers: {
        host: "examplebucket.s3.amazonaws.com",
        range: "bytes=0-9",
        "x-amz-content-sha256": EMPTY,
        "x-amz-date": "20130524T000000Z",
        authorization: auth(
          "host;range;x-amz-content-sha256;x-amz-date",
          "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
      },
    });
    assert.equal(v.payloadHash, EMPTY);
  });

  it("PUT an object whose key needs encoding, with a Date header signed", async () => {
    await verify("http://examplebucket.s3.amazonaws.com/test%24file.text", {
      method: "PUT",
      body: "Welcome to Amazon S3.",
      headers: {
        host: "examplebucket.s3.amazonaws.com",
        date: "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        authorization: auth(
          "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
          "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        ),
      },
    });
  });

  it("GET ?lifecycle and a listing with query parameters", async () => {
    const headers = {
      host: "examplebucket.s3.amazonaws.com",
      "x-amz-date": "20130524T000000Z",
      "x-amz-content-sha256": EMPTY,
    };
    const signed = "host;x-amz-content-sha256;x-amz-date";
    await verify("http://examplebucket.s3.amazonaws.com/?lifecycle", {
      headers: {
        ...headers,
        authorization: auth(
          signed,
          "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
      },
    });
    await verify("http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", {
      headers: {
        ...headers,
        authorization: auth(
          signed,
          "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
      },
    });
  });

  it("a presigned GET URL, valid for 24 hours", async () => {
    const url = "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
      "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z" +
      "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
      "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    const init = { headers: { host: "examplebucket.s3.amazonaws.com" } };
    assert.equal((await verify(url, init)).payloadHash, "UNSIGNED-PAYLOAD");
    await assert.rejects(verify(url, init, NOW + 86_401_000), /Request has expired/);
  });

  it("a chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): seed and chunk signatures", async () => {
    const sigs = [
      "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
      "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
      "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];
    const body = (s: string[]) =>
      `10000;chunk-signature=${s[0]}\r\n${"a".repeat(65536)}\r\n400;chunk-signature=${s[1]}\r\n${
        "a".repeat(1024)
      }\r\n` +
      `0;chunk-signature=${s[2]}\r\n\r\n`;
    const v = await verify("http://s3.amazonaws.com/examplebucket/chunkObject.txt", {
      method: "PUT",
      body: body(sigs),
      headers: {
        host: "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
        authorization: auth(
          "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        ),
      },
    });
    const decoded = await decodeAwsChunked(enc.encode(body(sigs)), v);
    assert.equal(decoded.body.length, 66560);
    const tampered = [sigs[0]!, sigs[1]!.replace(/^0/, "1"), sigs[2]!];
    await assert.rejects(decodeAwsChunked(enc.encode(body(tampered)), v), /chunk signature/);
  });

  it("rejects the same request with another secret, a skewed clock or an unsigned x-amz header", async () => {
    const init = (extra: Record<string, string> = {}) => ({
      headers: {
        host: "examplebucket.s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-content-sha256": EMPTY,
        authorization: auth(
          "host;x-amz-content-sha256;x-amz-date",
          "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        ...extra,
      },
    });
    const url = "http://examplebucket.s3.amazonaws.com/?lifecycle";
    await assert.rejects(
      verifySigV4(new Request(url, init()), new URL(url), { ...creds, secretAccessKey: "x" }, NOW),
      (e: Error & { code?: string }) => e.code === "SignatureDoesNotMatch",
    );
    await assert.rejects(
      verify(url, init(), NOW + 16 * 60_000),
      (e: Error & { code?: string }) => e.code === "RequestTimeTooSkewed",
    );
    await verify(url, init(), NOW + 14 * 60_000);
    await assert.rejects(verify(url, init({ "x-amz-meta-a": "1" })), /not signed/);
  });

  it("canonicalises paths by decoding once and encoding each segment per RFC 3986", () => {
    assert.equal(canonicalUri("/b/a%20b/c+d/%C3%BC!"), "/b/a%20b/c%2Bd/%C3%BC%21");
    assert.equal(canonicalUri("/b//x"), "/b//x");
  });
});

describe("checksums", () => {
  it("match the standard check values of '123456789'", async () => {
    const data = enc.encode("123456789");
    const hex = (b64: string) =>
      [...atob(b64)].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
    assert.equal(hex(await checksum("crc32", data)), "cbf43926");
    assert.equal(hex(await checksum("crc32c", data)), "e3069283");
    assert.equal(hex(await checksum("crc64nvme", data)), "ae8b14860a799888");
    assert.equal(
      await checksum("sha256", enc.encode("abc")),
      "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
    );
  });
});

describe("lifecycle XML", () => {
  const xml = (rules: string) =>
    enc.encode(
      `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rules}</LifecycleConfiguration>`,
    );

  it("parses what oq and boto3 send and renders it back", () => {
    const rules = parseLifecycle(xml(
      "<Rule><ID>idx</ID><Filter><Prefix>ready/</Prefix></Filter><Status>Enabled</Status>" +
        "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>" +
        "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule>" +
        "<Rule><ID>old</ID><Prefix>tmp/</Prefix><Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule>" +
        "<Rule><ID>off</ID><Filter/><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
    ));
    assert.deepEqual(rules, [
      {
        id: "idx",
        prefix: "ready/",
        expiredObjectDeleteMarker: true,
        noncurrentVersionExpirationDays: 1,
      },
      { id: "old", prefix: "tmp/", expirationDays: 7 },
    ]);
    assert.deepEqual(parseLifecycle(enc.encode(renderLifecycle(rules))), rules);
  });

  it("refuses what it cannot honour, and malformed rules", () => {
    const status = (e: Error & { status?: number }) => e.status;
    assert.throws(
      () =>
        parseLifecycle(
          xml(
            "<Rule><Status>Enabled</Status><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>",
          ),
        ),
      (e: Error) => status(e) === 501,
    );
    assert.throws(
      () =>
        parseLifecycle(
          xml(
            "<Rule><Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
          ),
        ),
      (e: Error) => status(e) === 501,
    );
    assert.throws(
      () =>
        parseLifecycle(
          xml("<Rule><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>"),
        ),
      (e: Error) => status(e) === 400,
    );
    assert.throws(
      () =>
        parseLifecycle(
          xml("<Rule><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule>"),
        ),
      (e: Error) => status(e) === 400,
    );
    assert.throws(() => parseLifecycle(enc.encode("not xml")), (e: Error) => status(e) === 400);
  });
});

describe("engine behaviour the dev server relies on", () => {
  it("If-None-Match with an ETag refuses a PUT over an object with that ETag only", () => {
    const e = new StorageEngine(() => 0);
    e.createBucket("b");
    const { etag } = e.put("b", "k", enc.encode("v"));
    const code = (f: () => unknown) => {
      try {
        f();
        return "ok";
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    assert.equal(
      code(() => e.put("b", "k", enc.encode("w"), { ifNoneMatch: `"${etag}"` })),
      "PreconditionFailed",
    );
    assert.equal(code(() => e.put("b", "k", enc.encode("w"), { ifNoneMatch: '"other"' })), "ok");
    assert.equal(
      code(() => e.put("b", "new", enc.encode("w"), { ifNoneMatch: `"${etag}"` })),
      "ok",
    );
    assert.equal(code(() => e.put("b", "gone", enc.encode("w"), { ifMatch: "*" })), "NoSuchKey");
  });

  it("max-keys=0 answers an empty page that is not truncated", () => {
    const e = new StorageEngine(() => 0);
    e.createBucket("b");
    e.put("b", "k", enc.encode("v"));
    assert.deepEqual(e.list("b", { maxKeys: 0 }), {
      objects: [],
      commonPrefixes: [],
      isTruncated: false,
    });
    assert.deepEqual(e.listVersions("b", { maxKeys: 0 }), { versions: [], isTruncated: false });
  });

  it("Expiration Days puts a delete marker on old current versions of a versioned bucket, deletes otherwise", () => {
    let now = 0;
    const e = new StorageEngine(() => now);
    for (const name of ["v", "u"]) {
      e.createBucket(name);
      e.setLifecycle(name, [{ id: "r", prefix: "tmp/", expirationDays: 1 }]);
      e.put(name, "tmp/a", enc.encode("a"));
      e.put(name, "keep/a", enc.encode("a"));
    }
    e.setVersioning("v", true);
    e.put("v", "tmp/b", enc.encode("b"));
    now = 86_400_000 - 1;
    assert.equal(e.applyLifecycle("v"), 0);
    now = 86_400_000;
    assert.equal(e.applyLifecycle("v"), 2);
    assert.deepEqual(
      e.listVersions("v", { prefix: "tmp/a" }).versions.map((v) => v.isDeleteMarker),
      [true, false],
    );
    assert.equal(e.list("v", {}).objects.map((o) => o.key).join(), "keep/a");
    assert.equal(e.applyLifecycle("u"), 1);
    assert.equal(e.listVersions("u", {}).versions.map((v) => v.key).join(), "keep/a");
  });
});
