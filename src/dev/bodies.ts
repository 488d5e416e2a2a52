/**
 * Where the dev server keeps object bodies: in memory ({@link MemoryBodies}), or in files
 * of the data directory ({@link DirectoryBodies}, `oq dev --dir`), where an upload streams
 * to its own file and the engine holds only its size and name. Either way an upload is
 * received completely and checked before the engine sees it; a refused one is discarded.
 *
 * @module
 */

import {
  concatBytes,
  copyFile,
  makeDir,
  openFileWriter,
  readFileRange,
  removePath,
} from "../runtime/mod.ts";
import type { ExternalBody, Version } from "../store/engine.ts";
import type { BodySink } from "./payload.ts";

/** A body being received. */
export interface Upload extends BodySink {
  /** The received body, for the engine (after every digest was checked). */
  finish(): Promise<Uint8Array | ExternalBody>;
  /** Drop what was received: a refused upload, or one whose condition failed. */
  discard(): Promise<void>;
}

/** A copy of a stored body, made for CopyObject. */
export interface BodyCopy {
  /** The copy, for the engine. */
  body: Uint8Array | ExternalBody;
  /** Drop the copy (the copy was refused). */
  discard(): Promise<void>;
}

/** Body storage of the dev server. */
export interface BodyStore {
  /** Start receiving a body for `bucket`; `sizeHint` is the declared size, when known. */
  receive(bucket: string, sizeHint?: number): Promise<Upload>;
  /**
   * Bytes `start` to `end` (inclusive) of a stored version's body; `null` when the body
   * is gone (the version was removed since it was read from the engine).
   */
  read(
    bucket: string,
    version: Version,
    start: number,
    end: number,
  ): Promise<ReadableStream<Uint8Array> | Uint8Array | null>;
  /** Copy a stored version's body for a write to `toBucket`; `null` when it is gone. */
  copy(fromBucket: string, version: Version, toBucket: string): Promise<BodyCopy | null>;
}

const READ_PIECE = 1024 * 1024;

function allocate(size: number | undefined): Uint8Array | undefined {
  if (size === undefined) return undefined;
  try {
    return new Uint8Array(size);
  } catch {
    return undefined; // too large for one array here: collected in pieces instead
  }
}

/**
 * Bodies held in memory (`oq dev --memory`).
 *
 * @example
 * ```ts
 * import { MemoryBodies } from "./bodies.ts";
 * const upload = await new MemoryBodies().receive("b", 3);
 * await upload.write(new TextEncoder().encode("abc"));
 * await upload.finish(); // Uint8Array [97, 98, 99]
 * ```
 */
export class MemoryBodies implements BodyStore {
  /** See {@link BodyStore}. */
  receive(_bucket: string, sizeHint?: number): Promise<Upload> {
    // With a declared size the body lands in one array, allocated ahead of the data (its
    // pages are only backed by memory as they are written).
    let whole = allocate(sizeHint);
    let used = 0;
    const chunks: Uint8Array[] = [];
    return Promise.resolve({
      write(bytes: Uint8Array) {
        if (whole !== undefined && used + bytes.length <= whole.length) {
          whole.set(bytes, used);
          used += bytes.length;
          return;
        }
        if (whole !== undefined) {
          chunks.push(whole.subarray(0, used));
          whole = undefined;
        }
        chunks.push(bytes);
      },
      finish() {
        if (whole !== undefined) return Promise.resolve(whole.subarray(0, used));
        return Promise.resolve(concatBytes(chunks));
      },
      discard() {
        whole = undefined;
        chunks.length = 0;
        return Promise.resolve();
      },
    });
  }

  /** See {@link BodyStore}. Large bodies are answered in 1 MiB views, never copied whole. */
  read(
    _bucket: string,
    v: Version,
    start: number,
    end: number,
  ): Promise<ReadableStream<Uint8Array> | Uint8Array> {
    const bytes = v.body.subarray(start, end + 1);
    if (bytes.length <= READ_PIECE) return Promise.resolve(bytes);
    let at = 0;
    return Promise.resolve(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(bytes.subarray(at, at += READ_PIECE));
          if (at >= bytes.length) controller.close();
        },
      }, { highWaterMark: 0 }),
    );
  }

  /** See {@link BodyStore}. */
  copy(_from: string, v: Version): Promise<BodyCopy> {
    return Promise.resolve({ body: v.body, discard: () => Promise.resolve() });
  }
}

/** The file of a body named `name` in `bucket`, under a data directory. */
export function blobPath(dir: string, bucket: string, name: string): string {
  return `${blobDir(dir, bucket, name)}/${name}`;
}

function blobDir(dir: string, bucket: string, name: string): string {
  return `${dir}/buckets/${bucket}/blobs/${name.slice(0, 2)}`;
}

/** A new, unique body name (32 hex digits). */
export function newBlobName(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/**
 * Bodies kept in files of a data directory (`oq dev --dir`): each upload streams to a
 * file of its own, flushed to disk before the engine is told about it, and only its size
 * and name stay in memory. Empty bodies get no file. The directory store
 * (`persist.ts`) removes a file once no version names it.
 *
 * @example
 * ```ts ignore
 * import { DirectoryBodies } from "./bodies.ts";
 * const upload = await new DirectoryBodies(".oq-data").receive("oq-dev");
 * ```
 */
export class DirectoryBodies implements BodyStore {
  readonly #dir: string;

  /** Keep bodies under `dir` (the data directory). */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** See {@link BodyStore}. */
  async receive(bucket: string): Promise<Upload> {
    const name = newBlobName();
    const path = blobPath(this.#dir, bucket, name);
    await makeDir(blobDir(this.#dir, bucket, name));
    const file = await openFileWriter(path);
    let size = 0;
    return {
      async write(bytes: Uint8Array) {
        size += bytes.length;
        await file.write(bytes);
      },
      async finish() {
        await file.close();
        if (size > 0) return { size, blob: name };
        await removePath(path);
        return new Uint8Array(0);
      },
      discard: () => file.discard(),
    };
  }

  /** See {@link BodyStore}. */
  async read(
    bucket: string,
    v: Version,
    start: number,
    end: number,
  ): Promise<ReadableStream<Uint8Array> | Uint8Array | null> {
    if (v.blob === undefined || end < start) return v.body.subarray(start, end + 1);
    return await readFileRange(blobPath(this.#dir, bucket, v.blob), start, end);
  }

  /** See {@link BodyStore}. */
  async copy(from: string, v: Version, to: string): Promise<BodyCopy | null> {
    if (v.blob === undefined) return { body: v.body, discard: () => Promise.resolve() };
    const name = newBlobName();
    const path = blobPath(this.#dir, to, name);
    await makeDir(blobDir(this.#dir, to, name));
    try {
      await copyFile(blobPath(this.#dir, from, v.blob), path);
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return null;
      throw e;
    }
    return { body: { size: v.size, blob: name }, discard: () => removePath(path) };
  }
}
