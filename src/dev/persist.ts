/**
 * The directory-backed variant of the dev server's storage: every mutation of the
 * {@link StorageEngine} is written through to a directory, and start-up restores the
 * buckets from it. The engine stays the one implementation of S3 semantics; this module
 * only serialises its state.
 *
 * On-disk layout (format 1):
 *
 * ```
 * <dir>/oq-dev.json                          {"format":"oq-dev","version":1}
 * <dir>/buckets/<bucket>/bucket.json         {"name","createdAt","versioning","lifecycle"}
 * <dir>/buckets/<bucket>/objects/<hh>/<h>.json
 *     one file per key, h = hex SHA-256 of the key (UTF-8), hh = its first two characters:
 *     {"key", "versions": [{"versionId","deleteMarker","etag","contentType",
 *                           "lastModified","size","sha256"}, ...]}   (oldest first)
 * <dir>/buckets/<bucket>/blobs/<bb>/<b>      a body, named by its hex SHA-256 b (shared by
 *                                            identical bodies; none for delete markers)
 * ```
 *
 * Every file is written atomically (temporary file, fsync, rename). Bodies are written
 * before the key file that names them and removed only after no key file names them, so
 * a crash leaves at worst unreferenced bodies and temporary files, which start-up removes.
 * Writes are queued in order and {@link DirectoryPersistence.flush} resolves once every
 * mutation made before the call is on disk; the server awaits it before answering.
 *
 * @module
 */

import { makeDir, readDirEntries, readFileBytes, removePath, writeFileAtomic } from "../runtime.ts";
import type { BucketState, StorageEngine, Version } from "../store/engine.ts";
import { SortedKeys } from "../store/sorted_keys.ts";
import type { LifecycleRule, VersioningState } from "../store/types.ts";
import { sha256Hex } from "./sigv4_crypto.ts";

/** The marker file that identifies a data directory. */
export const MARKER_FILE = "oq-dev.json";
const FORMAT = { format: "oq-dev", version: 1 } as const;

interface BucketFile {
  name: string;
  createdAt: number;
  versioning: VersioningState;
  lifecycle: LifecycleRule[];
}

interface VersionRecord {
  versionId: string;
  deleteMarker: boolean;
  etag: string;
  contentType: string;
  lastModified: number;
  size: number;
  sha256?: string;
}

interface KeyFile {
  key: string;
  versions: VersionRecord[];
}

const decoder = new TextDecoder();

function shard(dir: string, hash: string, suffix = ""): { dir: string; file: string } {
  const d = `${dir}/${hash.slice(0, 2)}`;
  return { dir: d, file: `${d}/${hash}${suffix}` };
}

/**
 * Write-through persistence of an engine into a directory.
 *
 * @example
 * ```ts ignore
 * import { StorageEngine } from "../store/engine.ts";
 * import { DirectoryPersistence } from "./persist.ts";
 * const engine = new StorageEngine(Date.now);
 * const persistence = await DirectoryPersistence.open(".oq-data", engine); // restores, then writes through
 * engine.createBucket("oq");
 * await persistence.flush(); // on disk now
 * await persistence.close();
 * ```
 */
export class DirectoryPersistence {
  /** The data directory. */
  readonly dir: string;
  readonly #engine: StorageEngine;
  #dirty = new Map<string, Set<string | null>>();
  #chain: Promise<void> = Promise.resolve();
  readonly #hashes = new WeakMap<Uint8Array, string>();
  // Per bucket: blob hashes named by each key file on disk, and how many key files name each blob.
  readonly #persisted = new Map<string, Map<string, string[]>>();
  readonly #refs = new Map<string, Map<string, number>>();

  private constructor(dir: string, engine: StorageEngine) {
    this.dir = dir.replace(/\/+$/, "") || "/";
    this.#engine = engine;
  }

  /**
   * Open (or initialise) a data directory: restore its buckets into `engine` (which
   * should be empty) and start writing its mutations through. Throws when the directory
   * holds other files and no {@link MARKER_FILE}.
   */
  static async open(dir: string, engine: StorageEngine): Promise<DirectoryPersistence> {
    const p = new DirectoryPersistence(dir, engine);
    await p.#restore();
    engine.onMutation = (bucket, key) => p.#mark(bucket.name, key);
    return p;
  }

  /** Resolve once every mutation made before this call is on disk. */
  flush(): Promise<void> {
    const run = this.#chain.then(() => this.#drain());
    this.#chain = run.catch(() => {}); // a failed flush must not block later ones
    return run;
  }

  /** Flush, then stop writing through. */
  async close(): Promise<void> {
    await this.flush();
    this.#engine.onMutation = null;
  }

  #mark(bucket: string, key: string | null): void {
    let keys = this.#dirty.get(bucket);
    if (!keys) this.#dirty.set(bucket, keys = new Set());
    keys.add(key);
  }

  async #drain(): Promise<void> {
    const dirty = this.#dirty;
    this.#dirty = new Map();
    try {
      for (const [bucket, keys] of dirty) await this.#flushBucket(bucket, keys);
    } catch (e) {
      for (const [bucket, keys] of dirty) for (const k of keys) this.#mark(bucket, k);
      throw e;
    }
  }

  async #hash(body: Uint8Array): Promise<string> {
    let h = this.#hashes.get(body);
    if (h === undefined) this.#hashes.set(body, h = await sha256Hex(body));
    return h;
  }

  async #flushBucket(name: string, keys: Set<string | null>): Promise<void> {
    const bdir = `${this.dir}/buckets/${name}`;
    if (!this.#engine.hasBucket(name)) {
      await removePath(bdir);
      this.#persisted.delete(name);
      this.#refs.delete(name);
      return;
    }
    const b = this.#engine.bucket(name);
    if (keys.has(null) || !this.#persisted.has(name)) {
      await makeDir(bdir);
      const meta: BucketFile = {
        name,
        createdAt: b.createdAt,
        versioning: b.versioning,
        lifecycle: b.lifecycle,
      };
      await writeFileAtomic(`${bdir}/bucket.json`, JSON.stringify(meta, null, 1));
    }
    const persisted = this.#persisted.get(name) ?? new Map<string, string[]>();
    const refs = this.#refs.get(name) ?? new Map<string, number>();
    this.#persisted.set(name, persisted);
    this.#refs.set(name, refs);
    // Snapshot each key's versions (and their bodies) before any await of this flush.
    const plans: Array<{ key: string; file: KeyFile; hashes: string[] }> = [];
    const bodies = new Map<string, Uint8Array>();
    for (const key of keys) {
      if (key === null) continue;
      const versions = [...(b.objects.get(key) ?? [])];
      const records = await Promise.all(versions.map((v) => this.#record(v)));
      records.forEach((r, i) => r.sha256 !== undefined && bodies.set(r.sha256, versions[i]!.body));
      const hashes = [...new Set(records.flatMap((r) => (r.sha256 ? [r.sha256] : [])))];
      plans.push({ key, file: { key, versions: records }, hashes });
    }
    // Reference counts change only once the key files are written, so a failed flush
    // (retried later) never leaves them off.
    const delta = new Map<string, number>();
    const count = (h: string) => (refs.get(h) ?? 0) + (delta.get(h) ?? 0);
    const toWrite = new Map<string, Uint8Array>();
    for (const plan of plans) {
      const old = persisted.get(plan.key) ?? [];
      for (const h of plan.hashes) {
        if (old.includes(h)) continue;
        if (count(h) === 0) toWrite.set(h, bodies.get(h)!);
        delta.set(h, (delta.get(h) ?? 0) + 1);
      }
    }
    const toDelete: string[] = [];
    for (const plan of plans) {
      for (const h of persisted.get(plan.key) ?? []) {
        if (plan.hashes.includes(h)) continue;
        delta.set(h, (delta.get(h) ?? 0) - 1);
      }
    }
    for (const [h] of delta) if (count(h) <= 0) toDelete.push(h);
    const blobs = `${bdir}/blobs`;
    await Promise.all([...toWrite].map(async ([h, body]) => {
      const { dir, file } = shard(blobs, h);
      await makeDir(dir);
      await writeFileAtomic(file, body);
    }));
    await Promise.all(plans.map(async (plan) => {
      const { dir, file } = shard(`${bdir}/objects`, await sha256Hex(plan.key), ".json");
      if (plan.file.versions.length === 0) {
        await removePath(file);
        return;
      }
      await makeDir(dir);
      await writeFileAtomic(file, JSON.stringify(plan.file));
    }));
    for (const plan of plans) {
      if (plan.file.versions.length === 0) persisted.delete(plan.key);
      else persisted.set(plan.key, plan.hashes);
    }
    for (const [h, d] of delta) {
      const n = (refs.get(h) ?? 0) + d;
      if (n > 0) refs.set(h, n);
      else refs.delete(h);
    }
    await Promise.all(toDelete.map((h) => removePath(shard(blobs, h).file)));
  }

  async #record(v: Version): Promise<VersionRecord> {
    const r: VersionRecord = {
      versionId: v.versionId,
      deleteMarker: v.deleteMarker,
      etag: v.etag,
      contentType: v.contentType,
      lastModified: v.lastModified,
      size: v.body.length,
    };
    if (!v.deleteMarker) r.sha256 = await this.#hash(v.body);
    return r;
  }

  async #restore(): Promise<void> {
    await makeDir(this.dir);
    const marker = await readFileBytes(`${this.dir}/${MARKER_FILE}`);
    if (marker === null) {
      const entries = await readDirEntries(this.dir);
      if (entries.length > 0) {
        throw new Error(
          `Directory "${this.dir}" is not empty and is not an oq dev data directory (no ${MARKER_FILE})`,
        );
      }
      await writeFileAtomic(`${this.dir}/${MARKER_FILE}`, JSON.stringify(FORMAT));
      return;
    }
    const format = JSON.parse(decoder.decode(marker)) as { format?: string; version?: number };
    if (format.format !== FORMAT.format || format.version !== FORMAT.version) {
      throw new Error(
        `Directory "${this.dir}" holds an unsupported data format: ${decoder.decode(marker)}`,
      );
    }
    for (const entry of await readDirEntries(`${this.dir}/buckets`)) {
      if (entry.isDirectory) await this.#restoreBucket(entry.name);
    }
  }

  async #restoreBucket(name: string): Promise<void> {
    const bdir = `${this.dir}/buckets/${name}`;
    const metaBytes = await readFileBytes(`${bdir}/bucket.json`);
    if (metaBytes === null) {
      await removePath(bdir); // created and never completed: nothing was acknowledged
      return;
    }
    for (const entry of await readDirEntries(bdir)) {
      if (!entry.isDirectory && entry.name.includes(".tmp-")) {
        await removePath(`${bdir}/${entry.name}`);
      }
    }
    const meta = JSON.parse(decoder.decode(metaBytes)) as BucketFile;
    const state: BucketState = {
      name,
      createdAt: meta.createdAt,
      versioning: meta.versioning,
      lifecycle: meta.lifecycle ?? [],
      objects: new Map(),
      keys: new SortedKeys(),
    };
    const persisted = new Map<string, string[]>();
    const refs = new Map<string, number>();
    const bodies = new Map<string, Uint8Array>();
    for (const file of await listFiles(`${bdir}/objects`)) {
      if (!file.endsWith(".json")) {
        await removePath(file); // a temporary file of an interrupted write
        continue;
      }
      const bytes = await readFileBytes(file);
      if (bytes === null) continue;
      const kf = JSON.parse(decoder.decode(bytes)) as KeyFile;
      const versions: Version[] = [];
      for (const r of kf.versions) {
        let body: Uint8Array = new Uint8Array();
        if (!r.deleteMarker && r.sha256) {
          let blob = bodies.get(r.sha256);
          if (!blob) {
            const read = await readFileBytes(shard(`${bdir}/blobs`, r.sha256).file);
            if (read === null || read.length !== r.size) {
              throw new Error(
                `Data directory is damaged: body ${r.sha256} of "${kf.key}" in bucket "${name}" is missing or truncated`,
              );
            }
            bodies.set(r.sha256, blob = read);
          }
          body = blob;
          this.#hashes.set(body, r.sha256);
        }
        versions.push({
          versionId: r.versionId,
          deleteMarker: r.deleteMarker,
          body,
          etag: r.etag,
          contentType: r.contentType,
          lastModified: r.lastModified,
        });
      }
      if (versions.length === 0) continue;
      state.objects.set(kf.key, versions);
      state.keys.add(kf.key);
      const hashes = [...new Set(kf.versions.flatMap((r) => (r.sha256 ? [r.sha256] : [])))];
      persisted.set(kf.key, hashes);
      for (const h of hashes) refs.set(h, (refs.get(h) ?? 0) + 1);
    }
    // Remove bodies no key file names (left by a crash between writes).
    for (const file of await listFiles(`${bdir}/blobs`)) {
      const base = file.slice(file.lastIndexOf("/") + 1);
      if (!refs.has(base)) await removePath(file);
    }
    this.#persisted.set(name, persisted);
    this.#refs.set(name, refs);
    this.#engine.restoreBucket(state);
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readDirEntries(dir)) {
    if (!sub.isDirectory) {
      out.push(`${dir}/${sub.name}`);
      continue;
    }
    for (const f of await readDirEntries(`${dir}/${sub.name}`)) {
      if (!f.isDirectory) out.push(`${dir}/${sub.name}/${f.name}`);
    }
  }
  return out;
}
