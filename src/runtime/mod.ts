/**
 * The runtime adapter: the only modules that touch Deno-, Bun- or Node-specific APIs
 * (environment, process signals, subprocesses, files, digests, HTTP servers). Only the CLI,
 * the dev server, tests and benchmarks import it; the library imports `./portable.ts`, which
 * uses web-standard globals only and is re-exported here.
 *
 * @module
 */

// The portable half (runtime detection, environment, timers) is re-exported here, so the
// CLI, the dev server and tests keep one import point; the library imports portable.ts itself.
export { concatBytes, getEnv, runtimeName, unrefTimer } from "./portable.ts";
export type { RuntimeName } from "./portable.ts";

/** One entry of {@link readDirEntries}. */
export interface DirEntry {
  /** File or directory name (no path). */
  name: string;
  /** True for directories. */
  isDirectory: boolean;
}

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: string }).code === "ENOENT";
}

/** Read a whole file; `null` when it does not exist. */
export async function readFileBytes(path: string): Promise<Uint8Array | null> {
  const fs = await import("node:fs/promises");
  try {
    return new Uint8Array(await fs.readFile(path));
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/**
 * Write a file atomically and durably: write a temporary file next to it (`<path>.tmp-<random>`),
 * flush it to disk, then rename it over `path`. Readers see the old or the new content, never
 * a mix; a crash leaves at worst a stray temporary file.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const fs = await import("node:fs/promises");
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const handle = await fs.open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Create a directory and its parents (`mkdir -p`); an existing directory is fine. */
export async function makeDir(path: string): Promise<void> {
  const fs = await import("node:fs/promises");
  await fs.mkdir(path, { recursive: true });
}

/** The entries of a directory; empty when it does not exist. */
export async function readDirEntries(path: string): Promise<DirEntry[]> {
  const fs = await import("node:fs/promises");
  try {
    const entries = await fs.readdir(path, { withFileTypes: true });
    return entries.map((e) => ({ name: String(e.name), isDirectory: e.isDirectory() }));
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

/** Remove a file, or a directory with everything in it; a missing path is fine. */
export async function removePath(path: string): Promise<void> {
  const fs = await import("node:fs/promises");
  await fs.rm(path, { recursive: true, force: true });
}

/** A file being written by {@link openFileWriter}. */
export interface FileWriter {
  /** Append bytes (buffered; written in large blocks). */
  write(bytes: Uint8Array): Promise<void>;
  /** Write what is buffered, flush the file to disk and close it. */
  close(): Promise<void>;
  /** Close the file and remove it (a failed or refused upload). */
  discard(): Promise<void>;
}

const WRITE_BLOCK = 1 << 20;

/** Create (or truncate) a file to write it in pieces, with a 1 MiB write buffer. */
export async function openFileWriter(path: string): Promise<FileWriter> {
  const fs = await import("node:fs/promises");
  const handle = await fs.open(path, "w");
  let buffer = new Uint8Array(WRITE_BLOCK);
  let used = 0;
  let closed = false;
  const drain = async () => {
    let at = 0;
    while (at < used) at += (await handle.write(buffer, at, used - at)).bytesWritten;
    used = 0;
  };
  return {
    async write(bytes) {
      if (used + bytes.length > buffer.length) await drain();
      if (bytes.length >= buffer.length) {
        let at = 0;
        while (at < bytes.length) {
          at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
        }
        return;
      }
      buffer.set(bytes, used);
      used += bytes.length;
    },
    async close() {
      await drain();
      await handle.sync();
      closed = true;
      await handle.close();
      buffer = new Uint8Array(0);
    },
    async discard() {
      if (!closed) await handle.close().catch(() => {});
      closed = true;
      await fs.rm(path, { force: true });
    },
  };
}

/**
 * A stream of the bytes `start` to `end` (inclusive) of a file, read 256 KiB at a time as
 * the consumer pulls. The file is opened before this resolves, so a missing file is an
 * error here (`null`), not in the middle of an answer.
 */
export async function readFileRange(
  path: string,
  start: number,
  end: number,
): Promise<ReadableStream<Uint8Array> | null> {
  const fs = await import("node:fs/promises");
  let handle: Awaited<ReturnType<typeof fs.open>>;
  try {
    handle = await fs.open(path, "r");
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
  let position = start;
  const close = () => handle.close().catch(() => {});
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const want = Math.min(256 * 1024, end + 1 - position);
      if (want <= 0) {
        await close();
        controller.close();
        return;
      }
      const chunk = new Uint8Array(want);
      const { bytesRead } = await handle.read(chunk, 0, want, position);
      if (bytesRead === 0) {
        await close();
        controller.error(new Error(`File "${path}" ended before byte ${end}`));
        return;
      }
      position += bytesRead;
      controller.enqueue(bytesRead === want ? chunk : chunk.subarray(0, bytesRead));
    },
    async cancel() {
      await close();
    },
  }, { highWaterMark: 0 });
}

/**
 * A file as a source of bytes read as a stream, each time from the start (`{ size,
 * stream() }`, what `bytes(...)` takes); `null` when the file does not exist. The size is
 * taken now: a file that changes size before it is read fails the read.
 */
export async function fileByteSource(
  path: string,
): Promise<{ size: number; stream(): ReadableStream<Uint8Array> } | null> {
  const size = await fileSize(path);
  if (size === null) return null;
  return {
    size,
    stream() {
      let inner: ReadableStream<Uint8Array> | null | undefined;
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (size === 0) return controller.close();
          if (inner === undefined) {
            inner = await readFileRange(path, 0, size - 1);
            if (inner === null) throw new Error(`File "${path}" no longer exists`);
            reader = inner.getReader();
          }
          const r = await reader!.read();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        },
        async cancel() {
          await reader?.cancel();
        },
      }, { highWaterMark: 0 });
    },
  };
}

/** Copy a file (the destination is replaced) and flush the copy to disk. */
export async function copyFile(from: string, to: string): Promise<void> {
  const fs = await import("node:fs/promises");
  await fs.copyFile(from, to);
  const handle = await fs.open(to, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The size of a file in bytes; `null` when it does not exist. */
export async function fileSize(path: string): Promise<number | null> {
  const fs = await import("node:fs/promises");
  try {
    return (await fs.stat(path)).size;
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** An incremental digest (see {@link createDigest}). */
export interface Digest {
  /** Add bytes. */
  update(bytes: Uint8Array): void;
  /** The digest of everything added; the digest cannot be used afterwards. */
  digest(): Uint8Array;
}

/**
 * An incremental MD5, SHA-1 or SHA-256 (`node:crypto`, which Deno and Bun provide too):
 * WebCrypto only digests whole buffers, and streamed uploads are never whole in memory.
 */
export async function createDigest(algorithm: "md5" | "sha1" | "sha256"): Promise<Digest> {
  const { createHash } = await import("node:crypto");
  const hash = createHash(algorithm);
  return {
    update(bytes) {
      hash.update(bytes);
    },
    digest() {
      return new Uint8Array(hash.digest());
    },
  };
}

// The process half of the adapter (arguments, stdio, signals, subprocesses) lives in
// runtime_process.ts; it is re-exported here so this stays the one import point.
export {
  cliArgs,
  currentDir,
  execPath,
  exitProcess,
  hostName,
  isTerminal,
  onTermSignals,
  prepareStdio,
  processId,
  readStdin,
  spawnProcess,
  writeStd,
} from "./process.ts";
export type { ProcessStatus, SpawnOptions, StdStream, Subprocess, TermSignal } from "./process.ts";

// The HTTP server lives in runtime_http.ts, re-exported here for the same reason.
export { serveHttp, targetOf } from "./http.ts";
export type { HttpHandler, HttpServer, RequestInfo, ServeOptions } from "./http.ts";
