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
import { sha256Hex } from "../runtime/hash.ts";

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
}

/** Schema of {@link PayloadRef} in a stored task. */
export const PayloadRefSchema: z.ZodType<PayloadRef> = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected a hex SHA-256"),
  size: z.number().int().nonnegative(),
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

/** A value serialized for storage: its JSON bytes and their reference. */
export interface EncodedPayload {
  /** The JSON bytes (UTF-8). */
  bytes: Uint8Array;
  /** Their hash and size. */
  ref: PayloadRef;
}

// Hex SHA-256 of bytes: the runtime's native hash where it has one, else WebCrypto.
export { sha256Hex } from "../runtime/hash.ts";

/** A payload of JSON bytes: the bytes with their hash and size. */
export async function encodePayload(bytes: Uint8Array): Promise<EncodedPayload> {
  return { bytes, ref: { sha256: await sha256Hex(bytes), size: bytes.length } };
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
  if (bytes.length !== ref.size) {
    throw new PayloadError(
      "PayloadMismatch",
      key,
      `Payload ${key} is ${bytes.length} bytes, but the task recorded ${ref.size}`,
    );
  }
  const got = await sha256Hex(bytes);
  if (got !== ref.sha256) {
    throw new PayloadError(
      "PayloadMismatch",
      key,
      `Payload ${key} has SHA-256 ${got}, but the task recorded ${ref.sha256}`,
    );
  }
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

/**
 * The UTF-8 bytes of JSON text when they are over `limit`, else `null`: a value to store
 * beside its task, encoded once. Short text needs no encoding to be checked: a UTF-16 unit
 * is at most 3 UTF-8 bytes.
 */
export function bytesOver(json: string, limit: number): Uint8Array | null {
  if (json.length * 3 <= limit) return null;
  const bytes = new TextEncoder().encode(json);
  return bytes.length > limit ? bytes : null;
}
