// oq-test: runtimes=node,bun,deno timeout=120
// connect() configured from an `env` object (a Cloudflare Worker's bindings) against an
// in-process `oq dev`: every setting from it, options win over it, the process environment
// is not read when it is given, non-string bindings count as unset.
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { ConfigError } from "../src/base/errors.ts";
import { DEV_DEFAULTS, type DevServer } from "../src/dev/main.ts";
import { getEnv } from "../src/runtime/mod.ts";
import { testBucket } from "./backends.ts";
import { devStore, startTestServer } from "./dev_backend.ts";
import { it } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
const processEnv = (globalThis as any).process.env as Record<string, string | undefined>;

describe("connect({ env })", () => {
  let dev: DevServer;
  const bucket = testBucket();
  const unversioned = testBucket();
  const envOf = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    S3_ENDPOINT: dev.url,
    S3_BUCKET: bucket,
    AWS_ACCESS_KEY_ID: DEV_DEFAULTS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DEV_DEFAULTS.secretAccessKey,
    ...extra,
  });

  before(async () => {
    dev = await startTestServer({ memory: true });
    const store = devStore(dev.url, bucket);
    await store.createBucket();
    await store.putVersioning(true);
    await devStore(dev.url, unversioned).createBucket();
  });
  after(async () => {
    await dev?.stop();
  });

  it("takes every S3 setting from env and ignores bindings that are not strings", async () => {
    const queue = await connect({
      env: envOf({ TASKS: { get() {} }, S3_REGION: "", COUNTER: 3 }),
      warn: () => {},
    });
    const task = await queue.submit("env_task", { n: 1 });
    assert.deepEqual((await queue.get(task.id))?.input, { n: 1 });
    assert.equal((await queue.get(task.id))?.status, "pending");
  });

  it("lets options win over env", async () => {
    const queue = await connect({
      env: envOf({ S3_BUCKET: "no-such-bucket-here", S3_ENDPOINT: "http://127.0.0.1:1" }),
      endpoint: dev.url,
      bucket,
      warn: () => {},
    });
    const task = await queue.submit("env_task", {});
    assert.equal((await queue.get(task.id))?.id, task.id);
  });

  it("does not read the process environment when env is given", async () => {
    const names = ["S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_ENDPOINT"];
    const saved = names.map((n) => processEnv[n]);
    try {
      processEnv.S3_BUCKET = bucket;
      processEnv.AWS_ACCESS_KEY_ID = DEV_DEFAULTS.accessKeyId;
      processEnv.AWS_SECRET_ACCESS_KEY = DEV_DEFAULTS.secretAccessKey;
      processEnv.S3_ENDPOINT = dev.url;
      assert.equal(getEnv("S3_BUCKET"), bucket); // the process environment does hold them
      const err = await connect({ env: { S3_ENDPOINT: dev.url } }).then(() => null, (e) => e);
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, /S3_BUCKET \(option "bucket"\)/);
      assert.match(err.message, /AWS_ACCESS_KEY_ID/);
      assert.match(err.message, /AWS_SECRET_ACCESS_KEY/);
      // Without env, the same call finds them in the process environment.
      const queue = await connect({ warn: () => {} });
      assert.equal((await queue.submit("env_task", {})).taskType, "env_task");
    } finally {
      names.forEach((n, i) => {
        if (saved[i] === undefined) delete processEnv[n];
        else processEnv[n] = saved[i];
      });
    }
  });

  it("reads OQ_ALLOW_NO_VERSIONING from env", async () => {
    const refused = await connect({ env: envOf({ S3_BUCKET: unversioned }) }).then(
      () => null,
      (e) => e,
    );
    assert.ok(refused instanceof ConfigError, String(refused));
    assert.match(refused.message, /versioning/);
    const queue = await connect({
      env: envOf({ S3_BUCKET: unversioned, OQ_ALLOW_NO_VERSIONING: "1" }),
      warn: () => {},
    });
    assert.equal((await queue.submit("env_task", {})).taskType, "env_task");
  });

  it("refuses an env that is not an object", async () => {
    await assert.rejects(
      connect({ env: "S3_BUCKET=b" as unknown as Record<string, unknown> }),
      (e: unknown) => e instanceof TypeError && /Option "env"/.test(e.message),
    );
  });
});
