/**
 * Raw bytes as a task's input or output, streamed to and from the store and never held
 * whole by oq: a file, a video, an archive. A producer submits `bytes(source)`, a handler
 * receives a {@link Bytes} it reads as a stream, and may return `bytes(source)` as its
 * output. Bytes are always stored beside the task (docs/format.md, "Payload references"),
 * whatever their size.
 *
 * @module
 */

/**
 * Where bytes come from: their size and a way to read them from the start. A `Blob` is one
 * (`new Blob([...])`, Node's `fs.openAsBlob(path)`, `Bun.file(path)`), and so is any object
 * with these two members. oq calls `stream()` more than once: once to hash the bytes
 * (their SHA-256 names the stored object) and once to send them, and again for a retry.
 *
 * @example
 * ```ts
 * import type { ByteSource } from "./bytes.ts";
 * const source: ByteSource = new Blob(["hello"]);
 * console.log(source.size); // 5
 * ```
 */
export interface ByteSource {
  /** Length in bytes. */
  readonly size: number;
  /** The bytes from the first one, each time it is called. */
  stream(): ReadableStream<Uint8Array>;
}

/**
 * Bytes given to oq, or read from it: a submit's input or a handler's output made with
 * {@link bytes}, or a stored input or output handed to a handler or returned by
 * `queue.get` (then `sha256` is set, and reading checks the bytes against it: a stream
 * that does not match ends with a `PayloadError`). Reading stored bytes costs one GET each
 * time `stream()`, `bytes()` or `text()` is called. In JSON (`oq get --json`, the console)
 * it is shown as `{ "bytes": size, "sha256": ... }`.
 *
 * @example
 * ```ts
 * import { bytes } from "../../mod.ts";
 * const b = bytes(new TextEncoder().encode("hello"));
 * console.log(b.size, await b.text()); // 5 hello
 * ```
 */
export class Bytes implements ByteSource {
  /** Length in bytes. */
  readonly size: number;
  /** Hex SHA-256 of the bytes when known (always, for stored bytes). */
  readonly sha256: string | undefined;
  readonly #open: () => ReadableStream<Uint8Array>;
  readonly #memory: Uint8Array | undefined;

  /** Bytes over a source; `sha256` when it is known (stored bytes). */
  constructor(source: ByteSource | Uint8Array, sha256?: string) {
    if (source instanceof Uint8Array) {
      const held = source;
      this.size = held.length;
      this.#memory = held;
      this.#open = () =>
        new ReadableStream<Uint8Array>({
          start(c) {
            if (held.length > 0) c.enqueue(held);
            c.close();
          },
        });
    } else {
      if (!Number.isSafeInteger(source.size) || source.size < 0) {
        throw new TypeError(
          `bytes(): the source's size must be a whole number of bytes, got ${source.size}`,
        );
      }
      if (typeof source.stream !== "function") {
        throw new TypeError("bytes(): the source needs a stream() method (a Blob has one)");
      }
      this.size = source.size;
      this.#open = () => source.stream();
    }
    this.sha256 = sha256;
  }

  /** The bytes as a stream, from the first one. */
  stream(): ReadableStream<Uint8Array> {
    return this.#open();
  }

  /** All the bytes in one buffer (held whole: for small payloads). */
  async bytes(): Promise<Uint8Array> {
    if (this.#memory !== undefined) return this.#memory;
    const out = new Uint8Array(this.size);
    let at = 0;
    for await (const chunk of iterate(this.stream())) {
      if (at + chunk.length > out.length) {
        throw new RangeError(`bytes are longer than their size ${this.size}`);
      }
      out.set(chunk, at);
      at += chunk.length;
    }
    if (at !== out.length) {
      throw new RangeError(`bytes are ${at} long, not their size ${this.size}`);
    }
    return out;
  }

  /** The bytes decoded as UTF-8 (held whole). */
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /** How bytes appear in JSON: their size and hash, never their content. */
  toJSON(): { bytes: number; sha256?: string } {
    return this.sha256 === undefined
      ? { bytes: this.size }
      : { bytes: this.size, sha256: this.sha256 };
  }
}

/**
 * Mark bytes as a task's input or a handler's output, to be stored and read as a stream.
 *
 * @example
 * ```ts
 * import { bytes, MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * await queue.submit("thumbnail", bytes(new Blob(["...image..."])));
 * // worker.task("thumbnail", async (input: Bytes) => bytes(await makeThumbnail(input.stream())));
 * ```
 */
export function bytes(source: ByteSource | Uint8Array): Bytes {
  return source instanceof Bytes ? source : new Bytes(source);
}

/** The chunks of a ReadableStream (its reader released at the end or on an early stop). */
export async function* iterate(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let ended = false;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) {
        ended = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
