/**
 * Peak memory of `oq dev` while it takes large uploads (issue 17's "Done when"): for each
 * runtime, the server (`cli.ts dev --dir <temp>`) in its own process, then
 *
 * - an unsigned PUT of `--unsigned-mib` (default 800) MiB: refused with 403 while the client is
 *   still sending;
 * - a signed PUT of `--signed-mib` (default 1024) MiB (`x-amz-content-sha256` is the body's real
 *   SHA-256, hashed in a first pass): stored in the data directory.
 *
 * Bodies are generated block by block as the socket takes them (never held whole by the
 * client). The server's RSS is read from /proc/PID/status (VmRSS sampled every 50 ms, VmHWM the
 * kernel's peak) and printed as a markdown table. Linux only.
 *
 *   node --import tsx bench/dev_upload_memory.ts [--runtimes node,bun,deno] [--unsigned-mib 800] [--signed-mib 1024]
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Buffer } from "node:buffer";
import { AwsClient } from "aws4fetch";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const KEY = { accessKeyId: "bench", secretAccessKey: "bench-secret-key" };
const BUCKET = "mem";
const BLOCK = 1 << 20;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** Block `i` of a generated body: 1 MiB, different per block, the same on every pass. */
function block(i: number): Buffer {
  const b = Buffer.alloc(BLOCK, i % 251);
  b.writeUInt32BE(i, 0);
  return b;
}

function sha256Of(mib: number): string {
  const h = createHash("sha256");
  for (let i = 0; i < mib; i++) h.update(block(i));
  return h.digest("hex");
}

/** Reads the server's memory figures from /proc (kB). */
async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const s = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? NaN);
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/**
 * PUT `mib` generated MiB with `headers`; resolves with the status once answered, or with the
 * socket error's code when the server closed the connection before its answer was read.
 */
function put(url: string, headers: Record<string, string>, mib: number): Promise<string> {
  const u = new URL(url);
  return new Promise((done, fail) => {
    let answered = false;
    let i = 0;
    const req = request({
      host: u.hostname,
      port: Number(u.port),
      method: "PUT",
      path: u.pathname,
      headers: { ...headers, "content-length": String(mib * BLOCK) },
      agent: false,
    }, (res) => {
      answered = true;
      res.resume();
      res.on("end", () => {
        done(String(res.statusCode ?? 0));
        req.destroy();
      });
    });
    let error: (Error & { code?: string }) | undefined;
    req.on("error", (e) => error ??= e);
    req.on("close", () => {
      if (answered) return;
      if (error?.code === "EPIPE" || error?.code === "ECONNRESET") done(`closed (${error.code})`);
      else fail(error ?? new Error("connection closed without an answer"));
    });
    const pump = () => {
      while (!answered && i < mib) {
        if (!req.write(block(i++))) return void req.once("drain", pump);
      }
      if (i >= mib) req.end();
    };
    pump();
  });
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startServer(runtime: string, dir: string): Promise<Server> {
  const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);
  const cmd: Record<string, string[]> = {
    node: [process.execPath, "--import", "tsx"],
    bun: [bin("bun"), "run"],
    deno: [bin("deno"), "run", "-A"],
  };
  const argv = [
    ...cmd[runtime]!,
    "cli.ts",
    "dev",
    "--dir",
    dir,
    "--port",
    "0",
    "--json",
    "--bucket",
    BUCKET,
    "--access-key",
    KEY.accessKeyId,
    "--secret-key",
    KEY.secretAccessKey,
  ];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => err += c.toString());
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const url = await new Promise<string>((ok, fail) => {
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) ok(JSON.parse(line).url as string);
    });
    child.once("exit", (code) => fail(new Error(`${runtime} server exited ${code}: ${err}`)));
  });
  return {
    url,
    pid: child.pid!,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Runs `work` while sampling the server's RSS; returns the figures in MB (10^6 bytes). */
async function measured(pid: number, work: () => Promise<string>) {
  const before = await memory(pid);
  let maxRss = before.rss;
  const timer = setInterval(() => {
    memory(pid).then((m) => maxRss = Math.max(maxRss, m.rss), () => {});
  }, 50);
  const t0 = performance.now();
  try {
    const status = await work();
    const after = await memory(pid);
    const mb = (kb: number) => Math.round(kb * 1024 / 1e6);
    return {
      status,
      seconds: ((performance.now() - t0) / 1000).toFixed(1),
      before: mb(before.rss),
      maxSampled: mb(Math.max(maxRss, after.rss)),
      hwm: mb(after.hwm),
    };
  } finally {
    clearInterval(timer);
  }
}

const runtimes = flag("runtimes", "node,bun,deno").split(",");
const unsignedMib = Number(flag("unsigned-mib", "800"));
const signedMib = Number(flag("signed-mib", "1024"));
const signedHash = sha256Of(signedMib);
const rows: string[] = [];
for (const runtime of runtimes) {
  const dir = await mkdtemp(join(tmpdir(), "oq-devmem-"));
  const server = await startServer(runtime, dir);
  try {
    const target = `${server.url}/${BUCKET}/big`;
    const unsigned = await measured(server.pid, () => put(target, {}, unsignedMib));
    const aws = new AwsClient({ ...KEY, service: "s3", region: "us-east-1", retries: 0 });
    const signedReq = await aws.sign(target, {
      method: "PUT",
      headers: { "x-amz-content-sha256": signedHash, "content-length": String(signedMib * BLOCK) },
    });
    const headers: Record<string, string> = {};
    signedReq.headers.forEach((v, k) => headers[k] = v);
    const signed = await measured(server.pid, () => put(target, headers, signedMib));
    for (
      const [what, r] of [[`unsigned ${unsignedMib} MiB`, unsigned], [
        `signed ${signedMib} MiB`,
        signed,
      ]] as const
    ) {
      rows.push(
        `| ${runtime} | ${what} | ${r.status} | ${r.seconds} | ${r.before} | ${r.maxSampled} | ${r.hwm} |`,
      );
    }
    console.error(rows.slice(-2).join("\n"));
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
console.log(
  [
    "| runtime | upload | status | s | RSS before (MB) | RSS max sampled (MB) | VmHWM after (MB) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n"),
);
