/**
 * Shared parts of the runtime tests (tests/runtime_*.test.ts): an `oq dev` with a bucket,
 * commands run to the end with their output, the scenario's JSON result
 * (runtime-tests/scenario.mjs), a free port, and the scratch directory tmp/runtime-tests.
 */
import { after, afterEach, before, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { DEV_DEFAULTS, type DevServer } from "../src/dev/main.ts";
import { spawnProcess, type Subprocess } from "../src/runtime/mod.ts";
import { testBucket } from "./backends.ts";
import { startTestServer } from "./dev_backend.ts";

/** Repository root. */
export const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
/** Where runtime tests install things (Node 24, the packed tarball's project). */
export const SCRATCH = `${ROOT}/tmp/runtime-tests`;

/** An `oq dev` (in memory) with a fresh versioned bucket, and the env to reach it. */
export async function devWithBucket(): Promise<{ dev: DevServer; env: Record<string, string> }> {
  const bucket = testBucket();
  const dev = await startTestServer({ memory: true, bucket });
  await mkdir(SCRATCH, { recursive: true });
  return {
    dev,
    env: {
      S3_ENDPOINT: dev.url,
      S3_BUCKET: bucket,
      S3_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: DEV_DEFAULTS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: DEV_DEFAULTS.secretAccessKey,
    },
  };
}

/** The end of a command. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<Subprocess>();

/** Start a command; `done` resolves at its end. Killed (SIGKILL) after `timeoutMs`. */
export async function startCommand(
  command: string,
  args: string[],
  o: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ proc: Subprocess; output: () => string; done: Promise<Ran> }> {
  let stdout = "";
  let stderr = "";
  const d1 = new TextDecoder();
  const d2 = new TextDecoder();
  const proc = await spawnProcess({
    command,
    args,
    env: o.env,
    cwd: o.cwd ?? ROOT,
    onStdout: (c) => (stdout += d1.decode(c, { stream: true })),
    onStderr: (c) => (stderr += d2.decode(c, { stream: true })),
  });
  running.add(proc);
  const killer = setTimeout(() => proc.kill("SIGKILL"), o.timeoutMs ?? 300_000);
  const done = proc.exited.then((s) => {
    clearTimeout(killer);
    running.delete(proc);
    return { code: s.code, stdout, stderr };
  });
  return { proc, output: () => stdout + stderr, done };
}

/** Run a command to its end. */
export async function runCommand(
  command: string,
  args: string[],
  o: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  return await (await startCommand(command, args, o)).done;
}

/** Kill every command still running (after a failed case). */
export async function killCommands(): Promise<void> {
  const all = [...running];
  for (const p of all) p.kill("SIGKILL");
  await Promise.all(all.map((p) => p.exited.catch(() => undefined)));
}

/** Assert that a command ran the scenario and that its task completed on `runtime`. */
export function assertScenario(ran: Ran, runtime: string): void {
  assert.equal(ran.code, 0, `${runtime} exited ${ran.code}\n${ran.stdout}\n${ran.stderr}`);
  const line = ran.stdout.trim().split("\n").at(-1) ?? "";
  const r = JSON.parse(line);
  assert.equal(r.runtime, runtime);
  assert.equal(r.status, "completed");
  assert.deepEqual(r.output, { hello: runtime });
  assert.deepEqual(r.history, ["pending", "running", "completed"]);
  assert.equal(r.summary.claimed, 1);
  assert.equal(r.summary.completed, 1);
  assert.equal(r.summary.stoppedBecause, "idle");
  console.log(`# ${runtime}: completed, drained in ${r.summary.elapsedMs} ms`);
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A suite with an `oq dev` and a bucket for its cases (`env()` reaches it); every command a
 * case left running is killed after it, the server stopped at the end.
 */
export function describeWithDev(title: string, body: (env: () => Record<string, string>) => void) {
  describe(title, () => {
    let dev: DevServer | undefined;
    let env: Record<string, string> = {};
    before(async () => ({ dev, env } = await devWithBucket()));
    afterEach(killCommands);
    after(async () => await dev?.stop());
    body(() => env);
  });
}
