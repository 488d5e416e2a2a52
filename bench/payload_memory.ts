/**
 * Peak memory of a worker handling a large input and output stored by reference.
 *
 *     node --import tsx bench/payload_memory.ts [--mb 50] [--runtime node|bun|deno] [--bytes]
 *
 * Starts an in-process `oq dev` server (memory), submits one task with an input of `--mb`
 * MiB of JSON (a string), then runs a worker in a child process of `--runtime` whose
 * handler returns an output of the same size. With `--bytes` the input is raw bytes
 * (`bytes(...)`), which the handler reads as a stream, and the output is raw bytes made
 * as they are sent: nothing holds the payload whole. The child reports its resident set after
 * connecting (before the task) and its peak (VmHWM from /proc/self/status, Linux) once the
 * task is recorded; the harness checks the task completed with its output beside it.
 */
import { DEV_DEFAULTS, startDevServer } from "../src/dev/main.ts";
import { connect } from "../src/queue/connect.ts";
import { initBucket } from "../src/queue/init.ts";
import { S3Store } from "../src/store/s3_store.ts";
import { Worker } from "../src/worker/worker.ts";
import { type Bytes, bytes, iterate } from "../src/task/bytes.ts";
import {
  cliArgs,
  execPath,
  readFileBytes,
  runtimeName,
  spawnProcess,
  writeStd,
} from "../src/runtime/mod.ts";
import { numberArg, parseArgs } from "./util.ts";

const args = parseArgs(cliArgs());
const MB = 1024 * 1024;

async function status(): Promise<{ rssKb: number; hwmKb: number }> {
  const b = await readFileBytes("/proc/self/status");
  const text = b ? new TextDecoder().decode(b) : "";
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") };
}

function options(endpoint: string, bucket: string) {
  return {
    endpoint,
    bucket,
    region: "us-east-1",
    accessKeyId: DEV_DEFAULTS.accessKeyId,
    secretAccessKey: DEV_DEFAULTS.secretAccessKey,
  };
}

/** The child: one worker, one task, then its memory figures as one JSON line. */
async function workerRole(): Promise<void> {
  const queue = await connect({ ...options(args.get("endpoint")!, args.get("bucket")!) });
  const before = await status();
  let inputChars = 0;
  const worker = new Worker(queue, "mem")
    .task("big", (input: { blob: string }) => {
      inputChars = input.blob.length;
      return { blob: "b".repeat(input.blob.length) };
    })
    .task("raw", async (input: Bytes) => {
      for await (const chunk of iterate(input.stream())) inputChars += chunk.length;
      return bytes(madeAsSent(input.size));
    });
  await worker.pollOnce();
  await worker.drain();
  await worker.stop();
  const after = await status();
  writeStd(
    "stdout",
    JSON.stringify({ runtime: runtimeName(), inputChars, baselineKb: before.rssKb, ...after }) +
      "\n",
  );
}

/** A source of `n` bytes made 64 KiB at a time as they are read (never held whole). */
function madeAsSent(n: number) {
  return {
    size: n,
    stream(): ReadableStream<Uint8Array> {
      let at = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= n) return c.close();
          const len = Math.min(65536, n - at);
          c.enqueue(new Uint8Array(len).fill(98));
          at += len;
        },
      });
    },
  };
}

function command(runtime: string, script: string): { command: string; args: string[] } {
  const bin = new URL("../node_modules/.bin/", import.meta.url).pathname;
  const own = runtime === runtimeName() ? execPath() : undefined;
  if (runtime === "bun") return { command: own ?? `${bin}bun`, args: [script] };
  if (runtime === "deno") return { command: own ?? `${bin}deno`, args: ["run", "-A", script] };
  return { command: own ?? "node", args: ["--import", "tsx", script] };
}

async function harness(): Promise<void> {
  const mb = numberArg(args, "mb", 50);
  const runtime = args.get("runtime") ?? "node";
  const dev = await startDevServer({ port: 0, memory: true, lifecycleIntervalMs: 0 });
  try {
    const bucket = `oq-bench-${crypto.randomUUID().slice(0, 8)}`;
    const o = options(dev.url, bucket);
    await initBucket(new S3Store(o));
    const queue = await connect(o);
    const raw = args.has("bytes");
    const t = raw
      ? await queue.submit("raw", bytes(madeAsSent(mb * MB)))
      : await queue.submit("big", { blob: "a".repeat(mb * MB) });
    const script = new URL(import.meta.url).pathname;
    const c = command(runtime, script);
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    const p = await spawnProcess({
      command: c.command,
      args: [...c.args, "--role", "worker", "--endpoint", dev.url, "--bucket", bucket],
      onStdout: (b) => out.push(b),
      onStderr: (b) => err.push(b),
    });
    const s = await p.exited;
    const text = new TextDecoder().decode(concat(out));
    if (s.code !== 0) {
      throw new Error(`worker exited ${s.code}: ${new TextDecoder().decode(concat(err))}`);
    }
    const r = JSON.parse(text.trim().split("\n").pop()!) as {
      inputChars: number;
      baselineKb: number;
      hwmKb: number;
    };
    const done = await queue.get(t.id, { payloads: false });
    if (done?.status !== "completed" || done.outputRef === null || r.inputChars !== mb * MB) {
      throw new Error(`task not completed as expected: ${done?.status} ${done?.lastError}`);
    }
    const f = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
    writeStd(
      "stdout",
      `${runtime}${raw ? " (bytes)" : ""}: input ${
        done.inputRef!.size
      } B, output ${done.outputRef.size} B; ` +
        `worker RSS after connect ${f(r.baselineKb)}, peak ${f(r.hwmKb)} ` +
        `(+${f(r.hwmKb - r.baselineKb)}, ${((r.hwmKb - r.baselineKb) / 1024 / mb).toFixed(1)}x ` +
        `the payload)\n`,
    );
  } finally {
    await dev.stop();
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) all.set(c, (at += c.length) - c.length);
  return all;
}

if (args.get("role") === "worker") await workerRole();
else await harness();
