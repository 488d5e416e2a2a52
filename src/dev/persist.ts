/**
 * The directory-backed variant of the dev server's storage: every mutation of the
 * {@link StorageEngine} is written through to a directory, and start-up restores the
 * buckets from it. The engine stays the one implementation of S3 semantics; this module
 * only serialises its state.
 *
 * On-disk layout (format 2):
 *
 * ```
 * <dir>/oq-dev.json                          {"format":"oq-dev","version":2}
 * <dir>/buckets/<bucket>/bucket.json         {"name","createdAt","versioning","lifecycle",
 *                                             "owner","location"}
 * <dir>/buckets/<bucket>/objects/<hh>/<h>.json
 *     one file per key, h = hex SHA-256 of the key (UTF-8), hh = its first two characters:
 *     {"key", "versions": [{"versionId","deleteMarker","etag","contentType","headers",
 *                           "lastModified","size","blob"}, ...]}   (oldest first)
 * <dir>/buckets/<bucket>/blobs/<bb>/<b>      a body, named b (bb: its first two characters);
 *                                            none for delete markers and empty bodies
 * ```
 *
 * Format 1 named bodies by their hex SHA-256 (field `sha256`, shared by identical
 * bodies); such a directory is read and upgraded in place. Bodies are streamed to their
 * files by the server ({@link DirectoryBodies}) and stay out of memory: after start-up the
 * engine holds only their sizes and names.
 *
 * Every metadata file is written atomically (temporary file, fsync, rename). Bodies are
 * on disk before the key file that names them and removed only after no key file names
 * them, so a crash leaves at worst unreferenced bodies and temporary files, which
 * start-up removes. Writes are queued in order and {@link DirectoryPersistence.flush}
 * resolves once every mutation made before the call is on disk; the server awaits it
 * before answering.
 *
 * @module
 */

import {
  fileSize,
  makeDir,
  readDirEntries,
  readFileBytes,
  removePath,
  writeFileAtomic,
} from "../runtime/mod.ts";
import type { BucketState, StorageEngine, Version } from "../store/engine.ts";
import { latest } from "../store/engine_state.ts";
import { SortedKeys } from "../store/sorted_keys.ts";
import type { LifecycleRule, VersioningState } from "../store/types.ts";
import { blobPath, DirectoryBodies, newBlobName } from "./bodies.ts";
import { sha256Hex } from "./sigv4_crypto.ts";

/** The marker file that identifies a data directory. */
export const MARKER_FILE = "oq-dev.json";
const FORMAT = { format: "oq-dev", version: 2 } as const;

interface BucketFile {
  name: string;
  createdAt: number;
  versioning: VersioningState;
  lifecycle: LifecycleRule[];
  owner?: string;
  location?: string;
}

interface VersionRecord {
  versionId: string;
  deleteMarker: boolean;
  etag: string;
  contentType: string;
  headers?: Record<string, string>;
  lastModified: number;
  size: number;
  blob?: string;
  /** Format 1: the body's hex SHA-256, which named its file. */
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
  /** Where the server streams bodies (files of this directory). */
  readonly bodies: DirectoryBodies;
  readonly #engine: StorageEngine;
  #dirty = new Map<string, Set<string | null>>();
  #chain: Promise<void> = Promise.resolve();
  // Names given to bodies that were handed to the engine as bytes (not streamed to a file).
  readonly #inline = new WeakMap<Uint8Array, string>();
  // Per bucket: blob hashes named by each key file on disk, and how many key files name each blob.
  readonly #persisted = new Map<string, Map<string, string[]>>();
  readonly #refs = new Map<string, Map<string, number>>();

  private constructor(dir: string, engine: StorageEngine) {
    this.dir = dir.replace(/\/+$/, "") || "/";
    this.bodies = new DirectoryBodies(this.dir);
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
    if (key !== null) this.#adopt(bucket, key);
  }

  // A body the server streamed to a file belongs to its key from the moment the engine
  // took it (before the key file is written), so that if it is replaced before the next
  // flush, that flush still removes its file.
  #adopt(bucket: string, key: string): void {
    if (!this.#engine.hasBucket(bucket)) return;
    const v = latest(this.#engine.bucket(bucket), key);
    if (v?.blob === undefined) return;
    let persisted = this.#persisted.get(bucket);
    if (!persisted) this.#persisted.set(bucket, persisted = new Map());
    let refs = this.#refs.get(bucket);
    if (!refs) this.#refs.set(bucket, refs = new Map());
    const names = persisted.get(key) ?? [];
    if (names.includes(v.blob)) return;
    persisted.set(key, [...names, v.blob]);
    refs.set(v.blob, (refs.get(v.blob) ?? 0) + 1);
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

  async #flushBucket(name: string, keys: Set<string | null>): Promise<void> {
    const bdir = `${this.dir}/buckets/${name}`;
    if (!this.#engine.hasBucket(name)) {
      await removePath(bdir);
      this.#persisted.delete(name);
      this.#refs.delete(name);
      return;
    }
    const b = this.#engine.bucket(name);
    const persisted = this.#persisted.get(name) ?? new Map<string, string[]>();
    const refs = this.#refs.get(name) ?? new Map<string, number>();
    this.#persisted.set(name, persisted);
    this.#refs.set(name, refs);
    // Snapshot each key's versions synchronously, before any await of this flush.
    const plans: Array<{ key: string; file: KeyFile; names: string[] }> = [];
    const inline = new Map<string, Uint8Array>();
    for (const key of keys) {
      if (key === null) continue;
      const records = (b.objects.get(key) ?? []).map((v) => this.#record(v, inline));
      const names = [...new Set(records.flatMap((r) => (r.blob ? [r.blob] : [])))];
      plans.push({ key, file: { key, versions: records }, names });
    }
    const meta: BucketFile = {
      name,
      createdAt: b.createdAt,
      versioning: b.versioning,
      lifecycle: b.lifecycle,
      owner: b.owner,
      location: b.location,
    };
    if (keys.has(null)) {
      await makeDir(bdir);
      await writeFileAtomic(`${bdir}/bucket.json`, JSON.stringify(meta, null, 1));
    }
    // Reference counts change only once the key files are written, so a failed flush
    // (retried later) never leaves them off.
    const delta = new Map<string, number>();
    for (const plan of plans) {
      const old = persisted.get(plan.key) ?? [];
      for (const n of plan.names) if (!old.includes(n)) delta.set(n, (delta.get(n) ?? 0) + 1);
      for (const n of old) if (!plan.names.includes(n)) delta.set(n, (delta.get(n) ?? 0) - 1);
    }
    await Promise.all([...inline].map(async ([n, body]) => {
      if ((refs.get(n) ?? 0) > 0) return;
      await makeDir(blobPath(this.dir, name, n).replace(/\/[^/]*$/, ""));
      await writeFileAtomic(blobPath(this.dir, name, n), body);
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
      else persisted.set(plan.key, plan.names);
    }
    const toDelete: string[] = [];
    for (const [n, d] of delta) {
      const count = (refs.get(n) ?? 0) + d;
      if (count > 0) refs.set(n, count);
      else {
        refs.delete(n);
        toDelete.push(n);
      }
    }
    await Promise.all(toDelete.map((n) => removePath(blobPath(this.dir, name, n))));
  }

  #record(v: Version, inline: Map<string, Uint8Array>): VersionRecord {
    const r: VersionRecord = {
      versionId: v.versionId,
      deleteMarker: v.deleteMarker,
      etag: v.etag,
      contentType: v.contentType,
      lastModified: v.lastModified,
      size: v.size,
    };
    if (v.headers !== undefined) r.headers = v.headers;
    if (v.blob !== undefined) r.blob = v.blob;
    else if (!v.deleteMarker && v.size > 0) {
      // Bytes handed to the engine directly (not through the server): give them a file.
      let n = this.#inline.get(v.body);
      if (n === undefined) this.#inline.set(v.body, n = newBlobName());
      inline.set(n, v.body);
      r.blob = n;
    }
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
    if (format.format !== FORMAT.format || (format.version !== 1 && format.version !== 2)) {
      throw new Error(
        `Directory "${this.dir}" holds an unsupported data format: ${decoder.decode(marker)}`,
      );
    }
    for (const entry of await readDirEntries(`${this.dir}/buckets`)) {
      if (entry.isDirectory) await this.#restoreBucket(entry.name);
    }
    // Format 1 is read as is; what is written from now on is format 2.
    if (format.version !== FORMAT.version) {
      await writeFileAtomic(`${this.dir}/${MARKER_FILE}`, JSON.stringify(FORMAT));
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
    if (meta.owner !== undefined) state.owner = meta.owner;
    if (meta.location !== undefined) state.location = meta.location;
    const persisted = new Map<string, string[]>();
    const refs = new Map<string, number>();
    const sizes = new Map<string, number | null>();
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
        const v: Version = {
          versionId: r.versionId,
          deleteMarker: r.deleteMarker,
          body: new Uint8Array(0),
          size: r.deleteMarker ? 0 : r.size,
          etag: r.etag,
          contentType: r.contentType,
          lastModified: r.lastModified,
        };
        if (r.headers !== undefined) v.headers = r.headers;
        const blob = r.blob ?? r.sha256;
        if (!r.deleteMarker && r.size > 0 && blob !== undefined) {
          let size = sizes.get(blob);
          if (size === undefined) {
            sizes.set(blob, size = await fileSize(blobPath(this.dir, name, blob)));
          }
          if (size !== r.size) {
            throw new Error(
              `Data directory is damaged: body ${blob} of "${kf.key}" in bucket "${name}" is missing or truncated`,
            );
          }
          v.blob = blob;
        }
        versions.push(v);
      }
      if (versions.length === 0) continue;
      state.objects.set(kf.key, versions);
      state.keys.add(kf.key);
      const names = [...new Set(versions.flatMap((v) => (v.blob ? [v.blob] : [])))];
      persisted.set(kf.key, names);
      for (const n of names) refs.set(n, (refs.get(n) ?? 0) + 1);
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
