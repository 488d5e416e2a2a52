// Who may use `oq dev`: the Host check (DNS rebinding), unsigned x-amz-* headers on
// presigned URLs, keys kept as written, accounts (one per key pair), and the credentials
// a user chooses (flags or OQ_DEV_* variables, never AWS_*).
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import { accountsOf } from "../src/dev/access.ts";
import { hostAllowed } from "../src/base/host_guard.ts";
import type { DevServer } from "../src/dev/main.ts";
import { chosenCredentials, parseSize } from "../src/dev/options.ts";
import { testBucket } from "./backends.ts";
import { call, devStore, errorCode, signer, startTestServer } from "./dev_backend.ts";
import { signedRaw } from "./dev_raw.ts";
import { killAll, sourceRunner, start } from "./cli_helpers.ts";

const T = { timeout: 30_000 };
const MAIN = { accessKeyId: "main-key", secretAccessKey: "main-secret" };
const ALT = { accessKeyId: "alt-key", secretAccessKey: "alt-secret" };

describe("oq dev: Host header check", () => {
  let dev: DevServer;
  const bucket = testBucket();
  before(async () => {
    dev = await startTestServer({ bucket, allowedHosts: ["dev.example.test"] });
  });
  after(async () => await dev?.stop());

  it("answers loopback names, IP addresses, the configured host and allowed names", () => {
    for (
      const h of [
        "localhost:9000",
        "LOCALHOST",
        "b.localhost:1",
        "127.0.0.1:9000",
        "[::1]:9000",
        "10.1.2.3",
      ]
    ) {
      assert.ok(hostAllowed(h, "127.0.0.1", []), h);
    }
    assert.ok(hostAllowed("myhost:9000", "myhost", []), 'hostAllowed("myhost:9000", "myhost", [])');
    assert.ok(
      hostAllowed("dev.example.test:9000", "127.0.0.1", ["dev.example.test"]),
      'hostAllowed("dev.example.test:9000", "127.0.0.1", ["dev.example.test"])',
    );
    for (const h of ["attacker.example:9000", "localhost.attacker.example", "127.0.0.1.nip.io"]) {
      assert.ok(!hostAllowed(h, "127.0.0.1", []), h);
    }
  });

  it(
    "refuses any other Host with 403 before looking at the request, signed or not",
    T,
    async () => {
      const path = `/${bucket}/k`;
      const evil = await signedRaw(dev.url, {
        method: "PUT",
        path,
        host: "attacker.example:9000",
        body: "x",
      });
      assert.equal(evil.status, 403);
      assert.equal(errorCode(evil.body), "AccessDenied");
      assert.match(evil.body, /DNS rebinding/);
      assert.equal((await signedRaw(dev.url, { path })).status, 404, "nothing was written");
      const port = new URL(dev.url).port;
      for (const host of [`localhost:${port}`, `dev.example.test:${port}`]) {
        const r = await signedRaw(dev.url, { method: "PUT", path, host, body: "x" });
        assert.equal(r.status, 200, `${host}: ${r.body}`);
      }
    },
  );
});

describe("oq dev: requests are taken as written", () => {
  let dev: DevServer;
  const bucket = testBucket();
  const aws = signer();
  before(async () => {
    dev = await startTestServer({ bucket });
  });
  after(async () => await dev?.stop());

  it(
    "a presigned URL does not accept unsigned x-amz-* headers (no PUT turned into a copy)",
    T,
    async () => {
      await call(aws, `${dev.url}/${bucket}/secret`, { method: "PUT", body: "secret" });
      const url = (await aws.sign(`${dev.url}/${bucket}/upload?X-Amz-Expires=60`, {
        method: "PUT",
        aws: { signQuery: true },
      })).url;
      const hijack = await fetch(url, {
        method: "PUT",
        body: "",
        headers: { "x-amz-copy-source": `/${bucket}/secret` },
      });
      assert.equal(hijack.status, 403);
      assert.match(await hijack.text(), /HeadersNotSigned>x-amz-copy-source/);
      assert.equal((await call(aws, `${dev.url}/${bucket}/upload`)).status, 404);
      const plain = await fetch(url, { method: "PUT", body: "mine" });
      assert.equal(plain.status, 200, "the presigned PUT itself works");
    },
  );

  it("keys with dot segments are stored as written, not normalised", T, async () => {
    for (const key of ["a/../b", "./c", "d/./e", "f/%2E%2E/g"]) {
      const path = `/${bucket}/dots/${key}`;
      const put = await signedRaw(dev.url, { method: "PUT", path, body: key });
      assert.equal(put.status, 200, `${key}: ${put.body}`);
      const got = await signedRaw(dev.url, { path });
      assert.equal(got.body, key);
    }
    const listed = await devStore(dev.url, bucket).list({ prefix: "dots/" });
    assert.deepEqual(listed.objects.map((o) => o.key), [
      "dots/./c",
      "dots/a/../b",
      "dots/d/./e",
      "dots/f/../g",
    ]);
  });
});

describe("oq dev: accounts, one per key pair", () => {
  let dev: DevServer;
  const main = signer(MAIN.secretAccessKey, MAIN.accessKeyId);
  const alt = signer(ALT.secretAccessKey, ALT.accessKeyId);
  before(async () => {
    dev = await startTestServer({ memory: true, bucket: "shared-start", credentials: [MAIN, ALT] });
  });
  after(async () => await dev?.stop());

  it(
    "each account sees and uses only its own buckets; the first owns the bucket made at start",
    T,
    async () => {
      assert.equal((await call(alt, `${dev.url}/alt-bucket`, { method: "PUT" })).status, 200);
      const mine = await call(main, `${dev.url}/`);
      assert.match(mine.body, /<Name>shared-start<\/Name>/);
      assert.doesNotMatch(mine.body, /alt-bucket/);
      assert.match(mine.body, new RegExp(`<DisplayName>${MAIN.accessKeyId}</DisplayName>`));
      const theirs = await call(alt, `${dev.url}/`);
      assert.doesNotMatch(theirs.body, /shared-start/);
      for (
        const [method, path] of [["GET", "/shared-start"], ["PUT", "/shared-start/k"], [
          "HEAD",
          "/shared-start",
        ]]
      ) {
        assert.equal(
          (await call(alt, `${dev.url}${path}`, { method })).status,
          403,
          `${method} ${path}`,
        );
      }
      const taken = await call(alt, `${dev.url}/shared-start`, { method: "PUT" });
      assert.equal(taken.status, 409);
      assert.equal(errorCode(taken.body), "BucketAlreadyExists");
      assert.equal((await call(main, `${dev.url}/shared-start`, { method: "PUT" })).status, 200);
      await call(main, `${dev.url}/shared-start/src`, { method: "PUT", body: "x" });
      const copy = await call(alt, `${dev.url}/alt-bucket/dst`, {
        method: "PUT",
        headers: { "x-amz-copy-source": "/shared-start/src" },
      });
      assert.equal(copy.status, 403, "no copying out of another account's bucket");
    },
  );

  it("the default key pair is refused once key pairs are chosen", T, async () => {
    const r = await call(signer(), `${dev.url}/`);
    assert.equal(r.status, 403);
    assert.equal(errorCode(r.body), "InvalidAccessKeyId");
  });
});

describe("oq dev: credentials and sizes as typed", () => {
  it("key pairs come from the flags, else from OQ_DEV_* variables, never from AWS_*", () => {
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    assert.deepEqual(chosenCredentials(["a", "b"], ["x", "y"], env({})), [
      { accessKeyId: "a", secretAccessKey: "x" },
      { accessKeyId: "b", secretAccessKey: "y" },
    ]);
    assert.deepEqual(
      chosenCredentials(
        undefined,
        undefined,
        env({
          OQ_DEV_ACCESS_KEY_ID: "m, n",
          OQ_DEV_SECRET_ACCESS_KEY: "s1,s2",
        }),
      ),
      [{ accessKeyId: "m", secretAccessKey: "s1" }, { accessKeyId: "n", secretAccessKey: "s2" }],
    );
    assert.equal(
      chosenCredentials(
        undefined,
        undefined,
        env({ AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" }),
      ),
      undefined,
    );
    assert.throws(() => chosenCredentials(["a"], [], env({})), TypeError);
    assert.throws(
      () => chosenCredentials(undefined, undefined, env({ OQ_DEV_ACCESS_KEY_ID: "a" })),
      TypeError,
    );
  });

  it("a key pair given twice counts once; one access key with two secrets is refused", async () => {
    const accounts = await accountsOf([MAIN, ALT, MAIN]);
    assert.deepEqual(accounts.map((a) => a.accessKeyId), [MAIN.accessKeyId, ALT.accessKeyId]);
    await assert.rejects(
      accountsOf([MAIN, { ...MAIN, secretAccessKey: "other" }]),
      /given with two secret keys/,
    );
  });

  it("sizes take binary and decimal units", () => {
    assert.equal(parseSize("1048576", "--max-object-size"), 1048576);
    assert.equal(parseSize("100MiB", "--max-object-size"), 100 * 1024 ** 2);
    assert.equal(parseSize("5G", "--max-object-size"), 5 * 1024 ** 3);
    assert.equal(parseSize("1GB", "--max-object-size"), 1e9);
    assert.throws(() => parseSize("lots", "--max-object-size"), /--max-object-size/);
  });
});

describe("oq dev (subprocess): key pairs from flags and environment", () => {
  after(async () => await killAll());

  it("serves the chosen key pairs and prints the first one", { timeout: 60_000 }, async () => {
    const cli = sourceRunner();
    const env = { NO_COLOR: "1", AWS_ACCESS_KEY_ID: "real-aws", AWS_SECRET_ACCESS_KEY: "real" };
    const flags = await start(cli, [
      "dev",
      "--memory",
      "--port",
      "0",
      "--json",
      "--access-key",
      MAIN.accessKeyId,
      "--secret-key",
      MAIN.secretAccessKey,
      "--access-key",
      ALT.accessKeyId,
      "--secret-key",
      ALT.secretAccessKey,
    ], { env });
    const settings = JSON.parse((await flags.waitFor("stdout", /^\{.*\}\n/m))[0]);
    assert.equal(settings.AWS_ACCESS_KEY_ID, MAIN.accessKeyId);
    assert.match(flags.stderr(), /2 key pairs/);
    assert.equal(
      (await call(signer(ALT.secretAccessKey, ALT.accessKeyId), `${settings.url}/`)).status,
      200,
    );
    assert.equal((await call(signer("real", "real-aws"), `${settings.url}/`)).status, 403);
    assert.equal((await flags.stop("SIGINT")).code, 0);
    const fromEnv = await start(cli, ["dev", "--memory", "--port", "0", "--json"], {
      env: { ...env, OQ_DEV_ACCESS_KEY_ID: "env-key", OQ_DEV_SECRET_ACCESS_KEY: "env-secret" },
    });
    const s2 = JSON.parse((await fromEnv.waitFor("stdout", /^\{.*\}\n/m))[0]);
    assert.equal(s2.AWS_ACCESS_KEY_ID, "env-key");
    assert.equal((await call(signer("env-secret", "env-key"), `${s2.url}/`)).status, 200);
    assert.equal((await call(signer(), `${s2.url}/`)).status, 403, "the default pair is off");
    assert.equal((await fromEnv.stop("SIGINT")).code, 0);
    const unpaired = await start(cli, ["dev", "--memory", "--port", "0", "--access-key", "x"], {
      env,
    });
    const r = await unpaired.done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /one secret key per access key/);
  });
});
