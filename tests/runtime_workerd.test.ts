// oq-test: runtimes=node timeout=300
/**
 * Runtime test, workerd (Cloudflare's Workers runtime, from the `workerd` npm package): the
 * example Worker (examples/cloudflare-worker) bundled by esbuild for the browser platform
 * with no externals, served by workerd with its settings as text bindings, against an
 * `oq dev`. Its fetch handler submits a task; its scheduled handler, run through
 * runtime-tests/workerd/trigger.js, drains it; the task is then completed with its history.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { connect } from "../mod.ts";
import { it, until } from "./helpers.ts";
import {
  describeWithDev,
  freePort,
  ROOT,
  runCommand,
  SCRATCH,
  startCommand,
} from "./runtime_helpers.ts";

const DIR = `${SCRATCH}/workerd`;

function config(port: number, env: Record<string, string>): string {
  const text = Object.entries(env).map(([k, v]) => `(name = "${k}", text = "${v}")`);
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .trigger),
    (name = "app", worker = .app),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const trigger :Workerd.Worker = (
  modules = [(name = "trigger.js", esModule = embed "trigger.js")],
  compatibilityDate = "2025-11-01",
  compatibilityFlags = ["service_binding_extra_handlers"],
  bindings = [(name = "APP", service = "app")],
);
const app :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2025-11-01",
  bindings = [${text.join(", ")}],
);
`;
}

describeWithDev("runtime tests: the example Cloudflare Worker in workerd", (env) => {
  it("fetch submits, scheduled drains (runUntilIdle), the task completes", async () => {
    await mkdir(DIR, { recursive: true });
    // For a browser platform with no externals (the way a Worker is bundled), no warning.
    for (
      const [entry, out] of [
        ["examples/cloudflare-worker/worker.ts", "worker.js"],
        ["runtime-tests/workerd/trigger.js", "trigger.js"],
      ] as const
    ) {
      const bundled = await runCommand(`${ROOT}/node_modules/.bin/esbuild`, [
        "--bundle",
        "--platform=browser",
        "--format=esm",
        "--alias:oq=./mod.ts",
        "--log-level=warning",
        `--outfile=${DIR}/${out}`,
        entry,
      ]);
      assert.equal(bundled.code, 0, bundled.stderr);
      assert.equal(bundled.stderr, "", `no esbuild warning for ${entry}`);
    }
    const port = await freePort();
    await writeFile(`${DIR}/config.capnp`, config(port, env()));
    const workerd = await startCommand(
      `${ROOT}/node_modules/.bin/workerd`,
      ["serve", "--experimental", "config.capnp"],
      { cwd: DIR, timeoutMs: 240_000 },
    );
    try {
      const base = `http://127.0.0.1:${port}`;
      await until(
        () => fetch(`${base}/`).then((r) => r.body?.cancel().then(() => true) ?? true, () => false),
        60_000,
        `workerd listening\n${workerd.output()}`,
      );
      const runtime = await fetch(`${base}/__runtime`);
      assert.equal(await runtime.text(), "workerd", "runtime detection (heartbeats report it)");
      const submitted = await fetch(`${base}/tasks`, {
        method: "POST",
        body: JSON.stringify({ type: "greet", input: { name: "edge" } }),
      });
      assert.equal(submitted.status, 201, await submitted.clone().text());
      const { id } = await submitted.json();
      const refused = await fetch(`${base}/tasks`, {
        method: "POST",
        body: JSON.stringify({ type: "nope" }),
      });
      assert.equal(refused.status, 400);
      await refused.body?.cancel();
      const scheduled = await fetch(`${base}/__scheduled`);
      assert.deepEqual((await scheduled.json()).outcome, "ok", workerd.output());
      await until(() => workerd.output().includes(`"event":"oq:drained"`), 30_000, "drained log");
      const line = workerd.output().split("\n").find((l) => l.includes(`"event":"oq:drained"`))!;
      const summary = JSON.parse(line.slice(line.indexOf("{")));
      assert.equal(summary.claimed, 1);
      assert.equal(summary.completed, 1);
      assert.equal(summary.stoppedBecause, "idle");
      console.log(`# workerd: completed, drained in ${summary.elapsedMs} ms`);
      const queue = await connect({ env: env(), warn: () => {} });
      const task = (await queue.get(id))!;
      assert.equal(task.status, "completed");
      assert.deepEqual(task.output, { hello: "edge" });
      assert.deepEqual((await queue.getHistory(id)).map((h) => h.status), [
        "pending",
        "running",
        "completed",
      ]);
    } finally {
      workerd.proc.kill("SIGTERM");
      await workerd.done;
    }
  });
});
