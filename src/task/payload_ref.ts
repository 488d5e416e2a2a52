/**
 * Payload references: an input or output too large to live inside the task object is stored
 * as its own object beside the task, and the task records what it must find there (the
 * SHA-256 and the size of the JSON bytes). Pure: building, encoding and checking a
 * payload; the requests are in `src/protocol/payloads.ts`.
 *
 * @module
 */

import { z } from "zod";
import { OqError } from "../base/errors.ts";
import { nativeHashing, sha256Hex } from "../runtime/hash.ts";
import type { StreamBody } from "../s3/types.ts";

/** Which value of a task a payload holds. */
export type PayloadKind = "input" | "output";

/**
 * What a task records of a payload stored beside it: the hex SHA-256 and the size of the
 * value's JSON bytes (UTF-8). The object's key is derived from the task id, the kind and the
 * hash (`payloads/{home}/{task_id}/{kind}-{sha256}`, built in src/protocol/keys.ts), never
 * read from the record, so a record cannot point at another task's objects.
 *
 * @example
 * ```ts
 * import type { PayloadRef } from "./payload_ref.ts";
 * const ref: PayloadRef = { sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", size: 0 };
 * console.log(ref.size); // 0
 * ```
 */
export interface PayloadRef {
  /** Hex SHA-256 (64 lowercase characters) of the payload's bytes. */
  sha256: string;
  /** Size of the payload in bytes. */
  size: number;
  /**
   * `"bytes"` for raw bytes (`bytes(...)`: handed to readers as a stream, not parsed);
   * absent for a JSON value.
   */
  format?: "bytes";
}

/** Schema of {@link PayloadRef} in a stored task. */
export const PayloadRefSchema: z.ZodType<PayloadRef> = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected a hex SHA-256"),
  size: z.number().int().nonnegative(),
  format: z.literal("bytes").optional(),
});

/**
 * A payload that cannot be used: its object is missing, or its bytes do not match the hash
 * or size the task recorded (`code` `"PayloadMissing"` or `"PayloadMismatch"`). Reading it
 * again gives the same answer: a worker fails the attempt without a retry.
 *
 * @example
 * ```ts
 * import { PayloadError } from "../../mod.ts";
 * try {
 *   // await queue.get(id);
 * } catch (e) {
 *   if (e instanceof PayloadError) console.error(e.key, e.message);
 * }
 * ```
 */
export class PayloadError extends OqError {
  /** The payload object's key. */
  readonly key: string;

  /** Create a payload error for `key`. */
  constructor(code: "PayloadMissing" | "PayloadMismatch", key: string, message: string) {
    super(code, message);
    this.key = key;
  }
}

// Hex SHA-256 of bytes: the runtime's native hash where it has one, else WebCrypto.
export { sha256Hex } from "../runtime/hash.ts";

/**
 * Check what was read from `key` against its reference: a size other than recorded (more:
 * reading stopped past it), then a SHA-256 other than recorded, is a `PayloadMismatch`
 * naming the key and both values.
 */
export function checkPayload(
  key: string,
  ref: PayloadRef,
  size: number,
  sha256: string | undefined,
): void {
  if (size !== ref.size) {
    const got = size > ref.size ? `more than ${ref.size}` : `${size}`;
    throw new PayloadError(
      "PayloadMismatch",
      key,
      `Payload ${key} is ${got} bytes, but the task recorded ${ref.size}`,
    );
  }
  if (sha256 !== ref.sha256) {
    throw new PayloadError(
      "PayloadMismatch",
      key,
      `Payload ${key} has SHA-256 ${sha256}, but the task recorded ${ref.sha256}`,
    );
  }
}

/**
 * Check a payload read from `key` against its reference and parse it. A size or hash that
 * differs is a {@link PayloadError} naming the key and both values; bytes that are not JSON
 * (they matched the hash, so the writer stored them so) are one too.
 */
export async function decodePayload(
  key: string,
  bytes: Uint8Array,
  ref: PayloadRef,
): Promise<unknown> {
  checkPayload(key, ref, bytes.length, await sha256Hex(bytes));
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new PayloadError(
      "PayloadMismatch",
      key,
      `Payload ${key} is not valid UTF-8 JSON: ${(e as Error).message}`,
    );
  }
}

/** UTF-16 units encoded per chunk of a streamed payload (at most 192 KiB of UTF-8). */
const TEXT_CHUNK_UNITS = 64 * 1024;

/**
 * JSON text as a body to write without holding its UTF-8 bytes whole: its size counted
 * ({@link utf8Length}) and its SHA-256 computed chunk by chunk, then the chunks encoded
 * again as they are sent (again for a retry). Where the runtime has no incremental
 * SHA-256 (WebCrypto only: browsers, Workers without `nodejs_compat`) the text is encoded
 * once, whole, and the bytes are the body.
 *
 * @example
 * ```ts
 * import { jsonBody } from "./payload_ref.ts";
 * const body = jsonBody(JSON.stringify({ blob: "x".repeat(1000) }));
 * body instanceof Uint8Array ? body.length : body.size; // 1012
 * ```
 */
export function jsonBody(text: string): StreamBody | Uint8Array {
  const native = nativeHashing();
  if (native === undefined) return new TextEncoder().encode(text);
  const hash = native.sha256Stream();
  for (const chunk of textChunks(text)) hash.update(chunk);
  return {
    size: utf8Length(text),
    sha256: hash.hex(),
    async *chunks() {
      yield* textChunks(text);
    },
  };
}

/**
 * The UTF-8 bytes of `text`, a chunk at a time. A chunk never ends between the two units
 * of a surrogate pair, so the chunks together are exactly `TextEncoder`'s bytes.
 */
export function* textChunks(text: string): Generator<Uint8Array> {
  const encoder = new TextEncoder();
  for (let at = 0; at < text.length;) {
    let end = Math.min(at + TEXT_CHUNK_UNITS, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last < 0xdc00) end--; // keep a pair together
    yield encoder.encode(text.slice(at, end));
    at = end;
  }
}

/**
 * Read a payload's JSON from its chunks, checking it against its reference as it streams
 * (the size, then the SHA-256 at the end), and parse it: the bytes are never held whole,
 * only the decoded text (until it is parsed) and the value. Reading stops as soon as more
 * bytes arrive than recorded. Errors as {@link decodePayload}'s. Where the runtime has no
 * incremental SHA-256 the bytes are gathered and handed to {@link decodePayload}.
 */
export async function readJsonPayload(
  key: string,
  chunks: AsyncIterable<Uint8Array>,
  ref: PayloadRef,
): Promise<unknown> {
  const native = nativeHashing();
  if (native === undefined) {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c.slice());
    const all = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of parts) all.set(c, (at += c.length) - c.length);
    return await decodePayload(key, all, ref);
  }
  const hash = native.sha256Stream();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let text: string[] = [];
  let size = 0;
  let invalid: Error | undefined;
  for await (const c of chunks) {
    size += c.length;
    if (size > ref.size) break; // closes the response: the size check below fails
    hash.update(c);
    if (invalid) continue;
    try {
      text.push(decoder.decode(c, { stream: true }));
    } catch (e) {
      invalid = e as Error;
      text = [];
    }
  }
  checkPayload(key, ref, size, size === ref.size ? hash.hex() : undefined);
  try {
    if (invalid) throw invalid;
    text.push(decoder.decode());
    const whole = text.join("");
    text = []; // the pieces go before the value is built: text and value, not twice the text
    return JSON.parse(whole);
  } catch (e) {
    throw new PayloadError(
      "PayloadMismatch",
      key,
      `Payload ${key} is not valid UTF-8 JSON: ${(e as Error).message}`,
    );
  }
}

/**
 * The length of `text` in UTF-8 bytes, counted without encoding it (a lone surrogate counts
 * as the 3 bytes of U+FFFD, as `TextEncoder` writes it): checking a large value's size
 * allocates nothing.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./payload_ref.ts";
 * utf8Length("a\u00e9\u20ac\u{1F600}"); // 1 + 2 + 3 + 4 = 10
 * ```
 */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 2 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}
