/**
 * Helpers of the CLI suites: run `oq` as a real subprocess (from source on the runtime the
 * tests run on, or the compiled dist/oq), and the S3 backends it talks to (an in-process
 * `oq dev` server, and moto when OQ_TEST_MOTO_URL is set).
 */
import { stat } from "node:fs/promises";
import { connect } from "../src/queue/connect.ts";
import { type DevServer, startDevServer } from "../src/dev/main.ts";
import { initBucket } from "../src/queue/init.ts";
import type { Queue } from "../src/queue/queue.ts";
import { S3Store } from "../src/store/s3_store.ts";
import {
  execPath,
  getEnv,
  runtimeName,
  spawnProcess,
  type Subprocess,
} from "../src/runtime/mod.ts";
import type { Task } from "../src/task/task.ts";
import { testBucket } from "./backends.ts";

/** The repository root (where cli.ts is). */
export const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

/** How to start `oq`. */
export interface CliRunner {
  /** For test names. */
  name: string;
  /** Executable. */
  command: string;
  /** Arguments before oq's own. */
  prefix: string[];
}

/** `oq` from source on the runtime running the tests. */
export function sourceRunner(): CliRunner {
  const cli = `${ROOT}/cli.ts`;
  switch (runtimeName()) {
    case "deno":
      return { name: "deno cli.ts", command: execPath(), prefix: ["run", "-A", "--quiet", cli] };
    case "bun":
      return { name: "bun cli.ts", command: execPath(), prefix: [cli] };
    default: {
      // scripts/test.sh builds the npm package's JavaScript from the sources for this run.
      const built = process.env.OQ_NODE_CLI;
      if (built) return { name: "node cli.js", command: execPath(), prefix: [built] };
      return { name: "node cli.ts", command: execPath(), prefix: ["--import", "tsx", cli] };
    }
  }
}

/** The compiled binary. */
export const BINARY = `${ROOT}/dist/oq`;

/**
 * Why the binary tests cannot run (`false`: they can): dist/oq is missing, or older than
 * the sources. With OQ_TEST_BINARY=1 the suite builds it first (scripts/build.sh).
 */
export async function binarySkipReason(): Promise<string | false> {
  const bin = await stat(BINARY).catch(() => null);
  if (bin === null) return "dist/oq is missing: run `npm run build`, or set OQ_TEST_BINARY=1";
  const { readdir } = await import("node:fs/promises");
  const sources = [`${ROOT}/cli.ts`, `${ROOT}/mod.ts`];
  for (const f of await readdir(`${ROOT}/src`, { recursive: true })) {
    if (f.endsWith(".ts")) sources.push(`${ROOT}/src/${f}`);
  }
  for (const f of sources) {
    const s = await stat(f).catch(() => null);
    if (s && s.mtimeMs > bin.mtimeMs) {
      return `dist/oq is older than ${
        f.slice(ROOT.length + 1)
      }: run \`npm run build\`, or set OQ_TEST_BINARY=1`;
    }
  }
  return false;
}

/** Build dist/oq (scripts/build.sh). */
export async function buildBinary(): Promise<void> {
  const r = await run(
    { name: "build", command: "bash", prefix: [] },
    [`${ROOT}/scripts/build.sh`],
    {
      timeoutMs: 120_000,
    },
  );
  if (r.code !== 0) throw new Error(`scripts/build.sh failed:\n${r.stderr}`);
}

/** The outcome of a finished `oq` run. */
export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link run} and {@link start}. */
export interface RunOptions {
  env?: Record<string, string>;
  stdin?: string;
  cwd?: string;
  /** Kill (SIGKILL) after this long. @default 60000 */
  timeoutMs?: number;
}

const live = new Set<Subprocess>();

/** A running `oq` (worker, dev, tail, ...). */
export interface Started {
  proc: Subprocess;
  stdout(): string;
  stderr(): string;
  /** Wait until `stream` matches `re` (fails after `ms`, with the output in the message). */
  waitFor(stream: "stdout" | "stderr", re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Send a signal and wait for the end. */
  stop(signal?: "SIGTERM" | "SIGINT"): Promise<RunResult>;
  /** The end (without sending anything). */
  done: Promise<RunResult>;
}

/** Start `oq args...` and return at once. */
export async function start(
  runner: CliRunner,
  args: string[],
  o: RunOptions = {},
): Promise<Started> {
  let out = "";
  let err = "";
  const dec1 = new TextDecoder();
  const dec2 = new TextDecoder();
  const proc = await spawnProcess({
    command: runner.command,
    args: [...runner.prefix, ...args],
    env: o.env,
    cwd: o.cwd ?? ROOT,
    stdin: o.stdin ?? "",
    onStdout: (c) => (out += dec1.decode(c, { stream: true })),
    onStderr: (c) => (err += dec2.decode(c, { stream: true })),
  });
  live.add(proc);
  const killer = setTimeout(() => proc.kill("SIGKILL"), o.timeoutMs ?? 60_000);
  const done = proc.exited.then((s) => {
    clearTimeout(killer);
    live.delete(proc);
    return { ...s, stdout: out, stderr: err };
  });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    async waitFor(stream, re, ms = 60_000) {
      const end = Date.now() + ms;
      for (;;) {
        const m = (stream === "stdout" ? out : err).match(re);
        if (m) return m;
        const exited = await Promise.race([done.then(() => true), sleep(20).then(() => false)]);
        const m2 = (stream === "stdout" ? out : err).match(re);
        if (m2) return m2;
        if (exited || Date.now() > end) {
          throw new Error(
            `${
              exited ? "oq exited" : "timed out"
            } before ${stream} matched ${re}\n--- stdout\n${out}\n--- stderr\n${err}`,
          );
        }
      }
    },
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      return await done;
    },
    done,
  };
}

/** Run `oq args...` to the end. */
export async function run(
  runner: CliRunner,
  args: string[],
  o: RunOptions = {},
): Promise<RunResult> {
  return await (await start(runner, args, o)).done;
}

/** Kill every `oq` still running (for after() hooks). */
export async function killAll(): Promise<void> {
  const all = [...live];
  for (const p of all) p.kill("SIGKILL");
  await Promise.all(all.map((p) => p.exited.catch(() => undefined)));
}

/** Sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An S3 server the CLI can reach. */
export interface CliBackend {
  name: string;
  /** Endpoint URL. */
  endpoint: string;
  /** Env of `oq` for a bucket (every oq variable set, so the caller's env cannot leak in). */
  env(bucket: string, extra?: Record<string, string>): Record<string, string>;
  /** The library's view of a bucket, for assertions. */
  queue(bucket: string): Promise<Queue>;
  /** Create a bucket ready for oq (versioning, lifecycle rules) and connect to it. */
  prepare(bucket: string): Promise<Queue>;
  close(): Promise<void>;
}

function envFor(
  endpoint: string,
  key: string,
  secret: string,
  bucket: string,
): Record<string, string> {
  return {
    S3_ENDPOINT: endpoint,
    S3_BUCKET: bucket,
    S3_REGION: "us-east-1",
    AWS_REGION: "",
    AWS_DEFAULT_REGION: "",
    AWS_ACCESS_KEY_ID: key,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_SESSION_TOKEN: "",
    OQ_PREFIX: "",
    OQ_SHARD_COUNT: "",
    OQ_ALLOW_NO_VERSIONING: "",
    NO_COLOR: "1",
    FORCE_COLOR: "",
  };
}

function backend(
  name: string,
  endpoint: string,
  key: string,
  secret: string,
  close = () => Promise.resolve(),
): CliBackend {
  const options = (bucket: string) => ({
    endpoint,
    bucket,
    region: "us-east-1",
    accessKeyId: key,
    secretAccessKey: secret,
  });
  return {
    name,
    endpoint,
    env: (bucket, extra = {}) => ({ ...envFor(endpoint, key, secret, bucket), ...extra }),
    queue: (bucket) => connect({ ...options(bucket), warn: () => {} }),
    async prepare(bucket) {
      await initBucket(new S3Store(options(bucket)));
      return await connect({ ...options(bucket), warn: () => {} });
    },
    close,
  };
}

/** An in-process `oq dev` server (memory, free port). */
export async function devBackend(): Promise<CliBackend> {
  const dev: DevServer = await startDevServer({ port: 0, lifecycleIntervalMs: 0 });
  return backend("oq dev (in-process)", dev.url, "oqdev", "oqdevsecret", () => dev.stop());
}

/** moto, when OQ_TEST_MOTO_URL is set; a reason to skip otherwise (an error if required). */
export function motoBackend(): CliBackend | string {
  const url = getEnv("OQ_TEST_MOTO_URL");
  if (url) return backend("moto", url, "testing", "testing");
  const required = (getEnv("OQ_REQUIRE_BACKENDS") ?? "").split(",").map((s) => s.trim()).includes(
    "moto",
  );
  if (required) {
    throw new Error(
      "Backend moto is required (OQ_REQUIRE_BACKENDS) but OQ_TEST_MOTO_URL is not set",
    );
  }
  return "OQ_TEST_MOTO_URL is not set; run scripts/servers.sh start";
}

/**
 * The servers a CLI suite runs on: an in-process `oq dev`, and moto (with the reason to skip
 * it when it is not running): `[name, open, skip]`.
 */
export function devAndMoto(): Array<[string, () => Promise<CliBackend>, string | false]> {
  const moto = motoBackend();
  return [
    ["oq dev", () => devBackend(), false],
    ["moto", () => Promise.resolve(moto as CliBackend), typeof moto === "string" ? moto : false],
  ];
}

/** The backend the worker suites use: moto when available, else an in-process dev server. */
export async function primaryBackend(): Promise<CliBackend> {
  const m = motoBackend();
  return typeof m === "string" ? await devBackend() : m;
}

/** A fresh bucket name. */
export { testBucket };

/** Poll a task until `pred` holds (fails after `ms`). */
export async function waitTask(
  queue: Queue,
  id: string,
  pred: (t: Task) => boolean,
  ms = 60_000,
): Promise<Task> {
  const end = Date.now() + ms;
  let last: Task | null = null;
  while (Date.now() < end) {
    last = await queue.get(id);
    if (last && pred(last)) return last;
    await sleep(100);
  }
  throw new Error(`Task ${id} did not reach the expected state; last: ${JSON.stringify(last)}`);
}
