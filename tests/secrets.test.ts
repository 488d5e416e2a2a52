// No public object built from S3 credentials (queue, store, S3 client and its config,
// resolved options, worker, monitor, scheduler, and every error a request can end in)
// shows the secret access key, the session token or a request signature through
// JSON.stringify, util.inspect, Deno.inspect, Bun.inspect or the console, on each runtime.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { execPath, runtimeName } from "../src/runtime/mod.ts";
import { ROOT, run } from "./cli_helpers.ts";
import { ACCESS_KEY, SECRET, secretObjects, TOKEN } from "./fixtures/secret_objects.ts";
import { it } from "./helpers.ts";

type Inspect = (value: unknown, options?: Record<string, unknown>) => string;
const g = globalThis as { Deno?: { inspect: Inspect }; Bun?: { inspect: Inspect } };

// A signature in an Authorization header or a presigned URL: 64 hex digits.
const SIGNATURE = /Signature=[0-9a-f]{64}/i;

function assertClean(text: string, where: string): void {
  assert.ok(!text.includes(SECRET), `${where} shows the secret access key:\n${text}`);
  assert.ok(!text.includes(TOKEN), `${where} shows the session token:\n${text}`);
  assert.doesNotMatch(text, SIGNATURE, `${where} shows a request signature`);
}

// Plain options objects hold their secrets in non-enumerable properties and show them
// through custom inspect hooks as "[redacted]"; only an inspect told to skip those hooks
// and show hidden properties reads them (as a debugger would). Class instances keep the
// secrets in the signer's private fields, which nothing can print.
const PLAIN_OPTIONS = new Set(["resolveS3Config (options)", "resolveS3Config (env)", "CLI config"]);

// Every way this runtime turns an object into text, as deep and as revealing as it goes.
function renderings(name: string, o: unknown): Array<[string, () => string]> {
  const deep = { depth: Infinity, showHidden: true, getters: true };
  const out: Array<[string, () => string]> = [
    ["JSON.stringify", () => {
      try {
        return JSON.stringify(o) ?? "";
      } catch (e) {
        return String(e); // a cycle: its message must not leak either
      }
    }],
    ["util.inspect", () => inspect(o)],
    ["util.inspect (deep, hidden, getters)", () => inspect(o, deep)],
    ["String", () => String(o)],
  ];
  if (!PLAIN_OPTIONS.has(name)) {
    out.push([
      "util.inspect (no custom inspect)",
      () => inspect(o, { ...deep, customInspect: false }),
    ]);
  }
  if (g.Deno) {
    out.push(["Deno.inspect", () => g.Deno!.inspect(o)]);
    out.push(["Deno.inspect (deep, hidden, getters)", () => g.Deno!.inspect(o, deep)]);
  }
  if (g.Bun) {
    out.push(["Bun.inspect", () => g.Bun!.inspect(o)]);
    out.push(["Bun.inspect (deep)", () => g.Bun!.inspect(o, { depth: Infinity })]);
  }
  if (o instanceof Error) {
    out.push(["error message", () => o.message]);
    out.push(["error stack", () => o.stack ?? ""]);
    out.push(["error cause", () => inspect(o.cause, deep)]);
  }
  return out;
}

describe(`secrets never reach text (${runtimeName()})`, () => {
  it("the check itself finds a secret, a token and a signature", () => {
    for (const planted of [SECRET, TOKEN, `Signature=${"ab".repeat(32)}`]) {
      assert.throws(() => assertClean(inspect({ x: { y: planted } }), "planted"));
    }
  });

  it(
    "no public object or error shows them, however it is printed",
    { timeout: 30_000 },
    async () => {
      const objects = await secretObjects();
      assert.ok(objects.length >= 17, "objects.length >= 17");
      for (const [name, o] of objects) {
        for (const [how, render] of renderings(name, o)) assertClean(render(), `${how}(${name})`);
      }
    },
  );

  it("the printed forms stay useful for debugging", { timeout: 30_000 }, async () => {
    const objects = new Map(await secretObjects());
    const queue = inspect(objects.get("Queue"), { depth: Infinity });
    for (const shown of ["http://127.0.0.1:9", "oq-secrets", "eu-test-1", ACCESS_KEY]) {
      assert.ok(queue.includes(shown), `inspect(queue) lacks ${shown}:\n${queue}`);
    }
    // Resolved options show that a secret is set, not what it is.
    const options = inspect(objects.get("resolveS3Config (env)"), { showHidden: true });
    assert.match(options, /secretAccessKey: '\[redacted\]'/);
    assert.match(options, /sessionToken: '\[redacted\]'/);
    const cli = objects.get("CLI config") as { s3: { secretAccessKey: string } };
    assert.equal(cli.s3.secretAccessKey, SECRET, "the value itself stays usable");
    const denied = objects.get("error: access denied (server echoes the request)") as Error;
    assert.match(denied.message, /GetObject failed on "k": AccessDenied \(HTTP 403\): Denied/);
    assert.match(denied.message, /\[redacted\]/);
    const reset = objects.get("error: fetch failure quoting the request") as Error;
    const cause = reset.cause as Error;
    assert.equal(cause.name, "TypeError");
    assert.equal((cause.cause as { code?: string }).code, "ECONNRESET");
  });

  it(
    "console.log and the other console methods print none of them",
    { timeout: 60_000 },
    async () => {
      const script = `${ROOT}/tests/fixtures/print_secrets.ts`;
      const prefix = runtimeName() === "deno"
        ? ["run", "-A", "--quiet"]
        : runtimeName() === "bun"
        ? []
        : ["--import", "tsx"];
      const r = await run({ name: "print", command: execPath(), prefix }, [script], {
        env: { NO_COLOR: "1", FORCE_COLOR: "" },
      });
      assert.equal(r.code, 0, r.stderr);
      // The output is there (every object printed), and it is clean.
      assert.ok(r.stdout.includes("--- error: timeout"), r.stdout.slice(-2000));
      assert.ok(r.stdout.includes(ACCESS_KEY), "the access key id may show, and does");
      assertClean(r.stdout, "console (stdout)");
      assertClean(r.stderr, "console (stderr)");
    },
  );
});
