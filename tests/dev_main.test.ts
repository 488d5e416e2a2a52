// `oq dev` start-up: option validation, the banner, and lifecycle rules applied on demand
// with an injected clock.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { devBanner, startDevServer } from "../src/dev/main.ts";
import type { StoredObject } from "../src/store/types.ts";
import { devStore, startTestServer } from "./dev_backend.ts";
import { it } from "./helpers.ts";

const dec = new TextDecoder();
const text = (o: unknown) => dec.decode((o as StoredObject).body);

describe("oq dev: lifecycle rules are honoured", () => {
  it("expires noncurrent versions, orphaned delete markers and old current versions", async () => {
    let now = Date.UTC(2026, 0, 1, 12);
    const dev = await startTestServer({ bucket: "lc-test", clock: () => now });
    try {
      const s = devStore(dev.url, "lc-test", { localNow: () => now });
      await s.putLifecycle([
        {
          id: "idx",
          prefix: "ready/",
          noncurrentVersionExpirationDays: 1,
          expiredObjectDeleteMarker: true,
        },
        { id: "tmp", prefix: "tmp/", expirationDays: 2 },
      ]);
      await s.put("ready/x", "1");
      await s.put("ready/x", "2");
      await s.delete("ready/x");
      await s.put("tasks/t", "1");
      await s.put("tasks/t", "2");
      await s.put("tmp/a", "a");
      now += 86_400_000 + 1000;
      assert.deepEqual(await dev.runLifecycle(), { buckets: 1, removed: 3 });
      assert.equal((await s.listVersions({ prefix: "ready/" })).versions.length, 0);
      assert.equal(
        (await s.listVersions({ prefix: "tasks/" })).versions.length,
        2,
        "other prefixes untouched",
      );
      assert.equal(text(await s.get("tmp/a")), "a");
      now += 86_400_000;
      assert.deepEqual(await dev.runLifecycle(), { buckets: 1, removed: 1 });
      assert.equal(await s.get("tmp/a"), null, "expired: hidden by a delete marker");
      assert.deepEqual(
        (await s.listVersions({ prefix: "tmp/" })).versions.map((v) => v.isDeleteMarker),
        [true, false],
      );
    } finally {
      await dev.stop();
    }
  });
});

describe("oq dev: options and banner", () => {
  it("validates options before any I/O", async () => {
    await assert.rejects(startDevServer({ port: 70000 }), RangeError);
    await assert.rejects(startDevServer({ dir: "x", memory: true }), TypeError);
    await assert.rejects(startDevServer({ port: 0, bucket: "Not_A_Bucket" }), /not valid/);
  });

  it("binds loopback and prints a development-only banner with the env vars", async () => {
    const lines: string[] = [];
    const dev = await startDevServer({
      port: 0,
      bucket: "banner",
      log: (l) => lines.push(l),
      lifecycleIntervalMs: 0,
    });
    try {
      assert.match(dev.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const banner = lines.join("\n");
      assert.match(banner, /DEVELOPMENT ONLY - NOT FOR PRODUCTION/);
      for (
        const line of [
          `S3_ENDPOINT=${dev.url}`,
          "S3_BUCKET=banner",
          "S3_REGION=us-east-1",
          "AWS_ACCESS_KEY_ID=oqdev",
          "AWS_SECRET_ACCESS_KEY=oqdevsecret",
        ]
      ) {
        assert.ok(banner.includes(line), `banner has ${line}`);
      }
      assert.equal(await devStore(dev.url, "banner").getVersioning(), "Enabled");
    } finally {
      await dev.stop();
    }
    assert.match(
      devBanner({
        url: "http://127.0.0.1:9000",
        accessKeyId: "a",
        secretAccessKey: "b",
        dir: ".oq-data",
      }),
      /directory \.oq-data/,
    );
  });
});
