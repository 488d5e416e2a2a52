/**
 * The servers the benchmark and the chaos run use, started by the harness itself: moto and
 * Ceph RGW through scripts/moto.sh and scripts/ceph.sh (in a state directory of their own,
 * so a test run's servers are never touched), `oq dev` in a child process, the in-memory
 * store (single process), or an external endpoint (`endpoint=URL`, credentials and
 * optionally the bucket from the usual env vars).
 */
import { getEnv } from "../src/runtime/mod.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { S3Store } from "../src/store/s3_store.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { VERSION } from "../src/base/version.ts";
import { FixtureProcess } from "../harness/procs.ts";
import { ROOT, run, shortId } from "./util.ts";

/** A started backend. */
export interface BenchBackend {
  /** moto, ceph, dev, memory or endpoint. */
  readonly name: string;
  /** Server name and version, for the result file. */
  readonly version: string;
  /** Endpoint URL (S3 backends). */
  readonly url?: string;
  /** True for the in-memory store: workers run in the harness process. */
  readonly inProcess: boolean;
  /** Does the bucket keep versions (conditional writes need an unversioned bucket on Ceph). */
  readonly versioned: boolean;
  /** Pids of server processes we started (to exclude from interference checks). */
  readonly pids: number[];
  /**
   * Start the server afresh (moto only: its ListObjectVersions leaks memory and slows down
   * with every object of the bucket, so each workload gets a new server).
   */
  restart?: () => Promise<void>;
  /** A fresh bucket (or, with a fixed S3_BUCKET, the shared bucket) for one run. */
  newBucket(): Promise<string>;
  /** A store on a bucket (a new client each call, with its own counters). */
  store(
    bucket: string,
    fetchFn?: (r: Request) => Promise<Response>,
    endpoint?: string,
  ): ObjectStore;
  /** Connection flags for worker_process.ts. */
  workerArgs(bucket: string, endpoint?: string): string[];
  /** Stop what was started. */
  stop(): Promise<void>;
}

/** Start `spec`: moto | ceph | dev | memory | endpoint=URL. */
export async function startBackend(spec: string): Promise<BenchBackend> {
  if (spec === "moto") return await startMoto();
  if (spec === "ceph") return await startCeph();
  if (spec === "dev") return await startDev();
  if (spec === "memory") return startMemory();
  if (spec.startsWith("endpoint=")) return await startEndpoint(spec.slice("endpoint=".length));
  throw new RangeError(
    `Unknown backend ${JSON.stringify(spec)}: moto, ceph, dev, memory or endpoint=URL`,
  );
}

function envOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function pidOf(path: string): Promise<number[]> {
  const r = await run("cat", [path]).catch(() => null);
  const n = Number(r?.stdout.trim());
  return Number.isInteger(n) && n > 0 ? [n] : [];
}

function s3Backend(o: {
  name: string;
  version: string;
  url: string;
  accessKeyId: string;
  secretAccessKey: string;
  versioned: boolean;
  pids: number[];
  fixedBucket?: string;
  stop: () => Promise<void>;
  restart?: () => Promise<{ url: string; pids: number[] }>;
}): BenchBackend {
  const make = (bucket: string, fetchFn?: (r: Request) => Promise<Response>, endpoint?: string) =>
    new S3Store({
      endpoint: endpoint ?? o.url,
      bucket,
      region: "us-east-1",
      accessKeyId: o.accessKeyId,
      secretAccessKey: o.secretAccessKey,
      fetch: fetchFn,
    });
  const restart = o.restart;
  return {
    name: o.name,
    version: o.version,
    get url() {
      return o.url;
    },
    inProcess: false,
    versioned: o.versioned,
    get pids() {
      return o.pids;
    },
    restart: restart
      ? async () => {
        const r = await restart();
        o.url = r.url;
        o.pids = r.pids;
      }
      : undefined,
    async newBucket() {
      if (o.fixedBucket) return o.fixedBucket;
      const bucket = `oq-bench-${shortId()}`;
      const s = make(bucket);
      await s.createBucket();
      if (o.versioned) await s.putVersioning(true);
      return bucket;
    },
    store: make,
    workerArgs: (bucket, endpoint) => [
      ...["--endpoint", endpoint ?? o.url, "--bucket", bucket],
      ...["--access-key", o.accessKeyId, "--secret-key", o.secretAccessKey],
      ...(o.versioned ? [] : ["--allow-no-versioning"]),
    ],
    stop: o.stop,
  };
}

async function startMoto(): Promise<BenchBackend> {
  const dir = `/tmp/oq-bench/moto-${shortId()}`;
  const env = { OQ_SERVERS_DIR: dir };
  const start = async () => {
    const started = await run("bash", ["scripts/moto.sh", "start"], env);
    if (started.code !== 0) throw new Error(`moto did not start: ${started.stderr}`);
    const vars = envOf((await run("bash", ["scripts/moto.sh", "env"], env)).stdout);
    return { url: vars.OQ_TEST_MOTO_URL!, pids: await pidOf(`${dir}/moto/pid`) };
  };
  const stop = async () => void (await run("bash", ["scripts/moto.sh", "stop"], env));
  const first = await start();
  const version = (await run("python3", ["-c", "import moto; print(moto.__version__)"])).stdout
    .trim();
  return s3Backend({
    name: "moto",
    version: `moto ${version || "?"} (moto_server, in memory)`,
    ...first,
    accessKeyId: "testing",
    secretAccessKey: "testing",
    versioned: true,
    stop,
    restart: async () => {
      await stop();
      return await start();
    },
  });
}

async function startCeph(): Promise<BenchBackend> {
  const dir = getEnv("OQ_SERVERS_DIR") ?? "/tmp/oq-bench";
  const env = { OQ_SERVERS_DIR: dir };
  const started = await run("bash", ["scripts/ceph.sh", "start"], env);
  if (started.code !== 0) throw new Error(`Ceph did not start: ${started.stderr.slice(-2000)}`);
  const vars = envOf((await run("bash", ["scripts/ceph.sh", "env"], env)).stdout);
  const version = (await run("radosgw", ["--version"])).stdout.trim().split(" (")[0];
  const pids = [
    ...(await pidOf(`${dir}/ceph/run/rgw.pid`)),
    ...(await pidOf(`${dir}/ceph/run/osd.pid`)),
    ...(await pidOf(`${dir}/ceph/run/mon.pid`)),
  ];
  return s3Backend({
    name: "ceph",
    version: `${version} (radosgw, 1 mon, 1 memstore OSD; unversioned bucket)`,
    url: vars.OQ_TEST_CEPH_URL!,
    accessKeyId: vars.OQ_TEST_CEPH_ACCESS_KEY!,
    secretAccessKey: vars.OQ_TEST_CEPH_SECRET_KEY!,
    versioned: false,
    pids,
    stop: async () => void (await run("bash", ["scripts/ceph.sh", "stop"], env)),
  });
}

async function startDev(): Promise<BenchBackend> {
  const p = new FixtureProcess();
  await p.start("node", `${ROOT}bench/dev_server.ts`, []);
  const ready = await p.waitFor((e) => e.ev === "ready", 60_000, "oq dev");
  return s3Backend({
    name: "dev",
    version: `oq dev ${VERSION} (in memory, node ${
      (globalThis as { process?: { version?: string } }).process?.version ?? "?"
    })`,
    url: ready.url as string,
    accessKeyId: "oqdev",
    secretAccessKey: "oqdevsecret",
    versioned: true,
    pids: [p.pid],
    stop: async () => void (await p.stop(5000)),
  });
}

async function startEndpoint(url: string): Promise<BenchBackend> {
  const accessKeyId = getEnv("AWS_ACCESS_KEY_ID");
  const secretAccessKey = getEnv("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) {
    throw new Error("endpoint=URL needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  const fixedBucket = getEnv("S3_BUCKET");
  let versioned = true;
  if (fixedBucket) {
    const s = new S3Store({ endpoint: url, bucket: fixedBucket, accessKeyId, secretAccessKey });
    versioned = (await s.getVersioning()) === "Enabled";
  }
  return s3Backend({
    name: "endpoint",
    version: `external endpoint ${url}`,
    url,
    accessKeyId,
    secretAccessKey,
    versioned: getEnv("OQ_ALLOW_NO_VERSIONING") === "1" ? false : versioned,
    pids: [],
    fixedBucket,
    stop: () => Promise.resolve(),
  });
}

function startMemory(): BenchBackend {
  const stores = new Map<string, MemoryStore>();
  return {
    name: "memory",
    version: `MemoryStore (oq ${VERSION}, in the harness process)`,
    inProcess: true,
    versioned: true,
    pids: [],
    newBucket: () => {
      const b = `mem-${shortId()}`;
      stores.set(b, new MemoryStore());
      return Promise.resolve(b);
    },
    store: (bucket) => stores.get(bucket)!,
    workerArgs: () => {
      throw new Error("The memory backend runs workers in the harness process only");
    },
    stop: () => Promise.resolve(),
  };
}
