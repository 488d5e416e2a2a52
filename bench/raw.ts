/**
 * The server's raw capacity for oq's request mix: plain PUT, GET, LIST (ListObjectVersions
 * of 100 keys, as a worker lists a lane) and DELETE (by version id) per second at a given
 * concurrency, through the same S3 client oq uses, from the harness process.
 */
import type { RequestCounts } from "../src/s3/counters.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { percentile } from "./util.ts";

/** One operation's measured rate. */
export interface OpRate {
  /** Completed requests. */
  n: number;
  /** Requests per second. */
  perSec: number;
  /** Latency percentiles in ms. */
  p50Ms: number;
  p95Ms: number;
  /** Failed requests (after the client's retries). */
  errors: number;
}

/** Raw capacity at one concurrency. */
export interface RawCapacity {
  concurrency: number;
  phaseMs: number;
  PUT: OpRate;
  GET: OpRate;
  LIST: OpRate;
  DELETE: OpRate;
}

const BODY = "x".repeat(1000); // about the size of a task object
const SKIP = Symbol("skip");

async function phase(
  concurrency: number,
  ms: number,
  op: (lane: number, i: number) => Promise<unknown>,
  until?: () => boolean,
): Promise<OpRate> {
  const lat: number[] = [];
  let errors = 0;
  let i = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(Array.from({ length: concurrency }, async (_, lane) => {
    while (performance.now() < end && !(until?.() ?? false)) {
      const t = performance.now();
      try {
        if ((await op(lane, i++)) === SKIP) break;
        lat.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  }));
  const secs = (performance.now() - start) / 1000;
  return {
    n: lat.length,
    perSec: lat.length / secs,
    p50Ms: percentile(lat, 50),
    p95Ms: percentile(lat, 95),
    errors,
  };
}

/**
 * Fill a bucket with `n` task-sized objects (some servers' ListObjectVersions, moto's for one,
 * slows down with the number of objects in the whole bucket, so raw LIST rates are measured
 * in a bucket as full as the workload's).
 */
export async function fillBucket(store: ObjectStore, prefix: string, n: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < n) {
      const i = next++;
      await store.put(`${prefix}fill/${i}`, BODY, { contentType: "application/json" }).catch(
        () => undefined, // a failed PUT only leaves the bucket one object short
      );
    }
  }));
}

/** Measure PUT, GET, LIST and DELETE rates at `concurrency`, `phaseMs` each. */
export async function measureRaw(
  store: ObjectStore,
  prefix: string,
  concurrency: number,
  phaseMs: number,
  listKeys = 100,
): Promise<RawCapacity> {
  const p = `${prefix}raw-${concurrency}/`;
  // The LIST target: `listKeys` entries, like a lane page.
  await Promise.all(
    Array.from(
      { length: listKeys },
      (_, i) => store.put(`${p}l/${String(i).padStart(4, "0")}`, "").catch(() => undefined),
    ),
  );
  const written: Array<{ key: string; versionId?: string }> = [];
  const PUT = await phase(concurrency, phaseMs, async (lane, i) => {
    const key = `${p}o/${lane}/${i}`;
    const r = await store.put(key, BODY, { contentType: "application/json" });
    written.push({ key, versionId: r.versionId });
  });
  const GET = await phase(
    concurrency,
    phaseMs,
    (_, i) => store.get(written[i % written.length]!.key),
  );
  const LIST = await phase(
    concurrency,
    phaseMs,
    () => store.listVersions({ prefix: `${p}l/`, maxKeys: 100 }),
  );
  let next = 0;
  const DELETE = await phase(concurrency, phaseMs, () => {
    const w = written[next++];
    if (!w) return Promise.resolve(SKIP);
    return store.delete(w.key, { versionId: w.versionId });
  }, () => next >= written.length);
  return { concurrency, phaseMs, PUT, GET, LIST, DELETE };
}

/**
 * Tasks per second the server allows for a per-task request mix, if its time per request
 * kind adds up (one server, requests competing for it): `1 / sum(n_k / rate_k)`. HEAD counts
 * as GET, LIST_VERSIONS as LIST, DeleteObjects as DELETE, bucket operations as PUT.
 */
export function capacityForMix(raw: RawCapacity, perTask: RequestCounts): number {
  const secs = (perTask.PUT + perTask.BUCKET) / raw.PUT.perSec +
    (perTask.GET + perTask.HEAD) / raw.GET.perSec +
    (perTask.LIST + perTask.LIST_VERSIONS) / raw.LIST.perSec +
    (perTask.DELETE + perTask.DELETE_MANY) / raw.DELETE.perSec;
  return secs > 0 ? 1 / secs : Number.POSITIVE_INFINITY;
}

/** Failed requests of the last {@link replayMix}. */
export let lastReplayErrors = 0;

/**
 * The server's capacity for a per-task mix, measured directly: `concurrency` lanes each run
 * "virtual tasks" of plain requests in the mix's proportions (a kind with 1.3 requests per
 * task gets 1, or 2 with probability 0.3): LISTs of a `listKeys`-key prefix, GETs of a
 * task-sized object, PUTs (alternately empty, like index entries, and task-sized), DELETEs of
 * entries by version id. Returns virtual tasks per second.
 */
export async function replayMix(
  store: ObjectStore,
  prefix: string,
  concurrency: number,
  perTask: RequestCounts,
  ms: number,
  listKeys: number,
): Promise<number> {
  const p = `${prefix}mix-${concurrency}-${Math.random().toString(36).slice(2, 8)}/`;
  await Promise.all(
    Array.from(
      { length: listKeys },
      (_, i) => store.put(`${p}l/${String(i).padStart(4, "0")}`, "").catch(() => undefined),
    ),
  );
  await store.put(`${p}task`, BODY, { contentType: "application/json" }).catch(() => undefined);
  const n = (x: number) => Math.floor(x) + (Math.random() < x - Math.floor(x) ? 1 : 0);
  const puts = perTask.PUT + perTask.BUCKET;
  const gets = perTask.GET + perTask.HEAD;
  const lists = perTask.LIST + perTask.LIST_VERSIONS;
  const deletes = perTask.DELETE + perTask.DELETE_MANY;
  let done = 0;
  let errors = 0;
  // A failed request (moto answers 500 now and then under load) counts as done: the server
  // spent its time on it, as it would for oq.
  const attempt = async (f: () => Promise<unknown>) => {
    try {
      return await f();
    } catch {
      errors++;
      return undefined;
    }
  };
  const start = performance.now();
  const end = start + ms;
  await Promise.all(Array.from({ length: concurrency }, async (_, lane) => {
    const entries: Array<{ key: string; versionId?: string }> = [];
    let i = 0;
    while (performance.now() < end) {
      for (let k = n(lists); k > 0; k--) {
        await attempt(() => store.listVersions({ prefix: `${p}l/`, maxKeys: 100 }));
      }
      for (let k = n(gets); k > 0; k--) await attempt(() => store.get(`${p}task`));
      for (let k = n(puts); k > 0; k--) {
        const key = `${p}e/${lane}/${i++}`;
        const r = await attempt(() => store.put(key, i % 2 ? "" : BODY)) as
          | { versionId?: string }
          | undefined;
        if (r) entries.push({ key, versionId: r.versionId });
      }
      for (let k = n(deletes); k > 0; k--) {
        const e = entries.shift();
        if (e) await attempt(() => store.delete(e.key, { versionId: e.versionId }));
      }
      done++;
    }
  }));
  lastReplayErrors = errors;
  return done / ((performance.now() - start) / 1000);
}
