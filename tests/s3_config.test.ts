import { describe } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../src/base/errors.ts";
import { resolveS3Config, S3_DEFAULTS, validateS3Options } from "../src/s3/config.ts";
import { buildUrl, validateKey } from "../src/s3/url.ts";
import { S3Store } from "../src/store/s3_store.ts";
import { it } from "./helpers.ts";

const creds = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret-example-key" };

describe("resolveS3Config", () => {
  it("fills missing options from the environment; given options win", () => {
    const env: Record<string, string> = {
      S3_ENDPOINT: "http://127.0.0.1:9000",
      S3_BUCKET: "from-env",
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIDENV",
      AWS_SECRET_ACCESS_KEY: "env-secret",
      AWS_SESSION_TOKEN: "env-token",
    };
    const o = resolveS3Config({ bucket: "given" }, (n) => env[n]);
    assert.equal(o.bucket, "given");
    assert.equal(o.endpoint, "http://127.0.0.1:9000");
    assert.equal(o.region, "eu-west-1");
    assert.equal(o.accessKeyId, "AKIDENV");
    assert.equal(o.secretAccessKey, "env-secret");
    assert.equal(o.sessionToken, "env-token");
  });

  it("prefers S3_REGION over AWS_REGION and treats empty values as unset", () => {
    const env: Record<string, string> = {
      S3_BUCKET: "b",
      S3_REGION: "",
      AWS_REGION: "ap-south-1",
      AWS_ACCESS_KEY_ID: "k",
      AWS_SECRET_ACCESS_KEY: "s",
    };
    assert.equal(resolveS3Config({}, (n) => env[n]).region, "ap-south-1");
    env.S3_REGION = "us-west-2";
    assert.equal(resolveS3Config({}, (n) => env[n]).region, "us-west-2");
  });

  it("throws one ConfigError naming every missing variable and its option", () => {
    assert.throws(
      () => resolveS3Config({}, () => undefined),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, "e instanceof ConfigError");
        assert.equal(e.code, "ConfigError");
        for (
          const s of [
            "S3_BUCKET",
            '"bucket"',
            "AWS_ACCESS_KEY_ID",
            '"accessKeyId"',
            "AWS_SECRET_ACCESS_KEY",
            '"secretAccessKey"',
            "S3_REGION",
            '"region"',
          ]
        ) {
          assert.ok(e.message.includes(s), `message names ${s}: ${e.message}`);
        }
        return true;
      },
    );
  });

  it("needs no region when an endpoint is given (it defaults to us-east-1)", () => {
    const o = resolveS3Config(
      { endpoint: "http://127.0.0.1:9000", bucket: "b", ...creds },
      () => undefined,
    );
    assert.equal(o.region, undefined);
    assert.equal(validateS3Options(o).region, S3_DEFAULTS.region);
  });

  it("never puts a secret in the message", () => {
    try {
      resolveS3Config({ secretAccessKey: "super-secret-value" }, () => undefined);
      assert.fail("expected a ConfigError");
    } catch (e) {
      assert.ok(e instanceof ConfigError, "e instanceof ConfigError");
      assert.ok(
        !e.message.includes("super-secret-value"),
        '!e.message.includes("super-secret-value")',
      );
    }
  });
});

describe("validateS3Options", () => {
  it("fills the defaults in one place", () => {
    const c = validateS3Options({ bucket: "b", region: "eu-west-1", ...creds });
    assert.equal(c.endpoint, "https://s3.eu-west-1.amazonaws.com");
    assert.equal(c.forcePathStyle, false);
    assert.equal(c.maxAttempts, 4);
    assert.equal(c.requestTimeoutMs, 30_000);
    const local = validateS3Options({ endpoint: "http://127.0.0.1:9000/", bucket: "b", ...creds });
    assert.equal(local.endpoint, "http://127.0.0.1:9000");
    assert.equal(local.forcePathStyle, true);
  });

  it("rejects bad types with TypeError and bad numbers with RangeError", () => {
    const ok = { bucket: "b", endpoint: "http://h:1", ...creds };
    assert.throws(() => validateS3Options({ ...ok, endpoint: "not a url" }), TypeError);
    assert.throws(() => validateS3Options({ ...ok, endpoint: "ftp://h/" }), TypeError);
    assert.throws(() => validateS3Options({ ...ok, endpoint: "http://u:p@h/" }), /credentials/);
    assert.throws(() => validateS3Options({ ...ok, bucket: 3 as unknown as string }), TypeError);
    assert.throws(() => validateS3Options({ ...ok, bucket: "a/b" }), TypeError);
    assert.throws(() => validateS3Options({ ...ok, accessKeyId: "" }), TypeError);
    assert.throws(
      () => validateS3Options({ ...ok, forcePathStyle: "yes" as unknown as boolean }),
      TypeError,
    );
    assert.throws(() => validateS3Options({ ...ok, maxAttempts: 1.5 }), TypeError);
    assert.throws(() => validateS3Options({ ...ok, maxAttempts: 0 }), RangeError);
    assert.throws(() => validateS3Options({ ...ok, requestTimeoutMs: -1 }), RangeError);
    assert.throws(() => validateS3Options({ ...ok, fetch: "x" as never }), TypeError);
    assert.throws(() => validateS3Options({ bucket: "b", ...creds }), /region/);
  });

  it("names the store after its endpoint and bucket", () => {
    const s = new S3Store({ endpoint: "http://127.0.0.1:9000", bucket: "oq", ...creds });
    assert.equal(s.name, "s3 http://127.0.0.1:9000/oq");
    assert.equal(s.clockSynced(), false);
  });
});

describe("request URLs", () => {
  const path = { endpoint: "http://127.0.0.1:9000", bucket: "b", forcePathStyle: true };
  it("encodes keys per RFC 3986 and keeps slashes", () => {
    assert.equal(
      buildUrl(path, "tasks/a b+c!'()*~ü.json", [["versionId", "v+1/="]]),
      "http://127.0.0.1:9000/b/tasks/a%20b%2Bc%21%27%28%29%2A~%C3%BC.json?versionId=v%2B1%2F%3D",
    );
    assert.equal(
      buildUrl(path, undefined, [["versioning", ""], ["x", undefined]]),
      "http://127.0.0.1:9000/b/?versioning",
    );
  });

  it("addresses AWS virtual-hosted, and dotted buckets by path", () => {
    const aws = {
      endpoint: "https://s3.eu-west-1.amazonaws.com",
      bucket: "b",
      forcePathStyle: false,
    };
    assert.equal(buildUrl(aws, "k"), "https://b.s3.eu-west-1.amazonaws.com/k");
    assert.equal(
      buildUrl({ ...aws, bucket: "a.b" }, "k"),
      "https://s3.eu-west-1.amazonaws.com/a.b/k",
    );
  });

  it("rejects keys a URL cannot carry", () => {
    assert.throws(() => validateKey(""), TypeError);
    assert.throws(() => validateKey("a/../b"), TypeError);
    assert.throws(() => validateKey("./a"), TypeError);
    assert.throws(() => validateKey("x".repeat(1025)), TypeError);
    validateKey("a..b/c.d/.e");
  });
});
