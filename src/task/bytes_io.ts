/**
 * Moving {@link Bytes} through the store as streams: a source hashed and sent chunk by
 * chunk ({@link bytesBody}), and stored bytes read back and checked as they stream
 * ({@link storedBytes}). Neither holds the bytes whole where the runtime hashes
 * incrementally (Node, Bun, Deno); elsewhere (WebCrypto only) they are gathered to be hashed.
 *
 * @module
 */

import { nativeHashing, sha256Hex } from "../runtime/hash.ts";
import type { StreamBody } from "../s3/types.ts";
import { Bytes, iterate } from "./bytes.ts";
import { checkPayload, PayloadError, type PayloadRef } from "./payload_ref.ts";
import { concatBytes } from "../runtime/portable.ts";

/** The most one PUT may carry (S3's limit for a single-request upload: 5 GiB). */
export const MAX_BYTES_PAYLOAD = 5 * 1024 ** 3;

/**
 * Bytes as a body to write: their SHA-256 computed by reading the source once, then the
 * source read again as the body is sent (and again for a retry). A source whose stream
 * does not give exactly `size` bytes, or gives something other than bytes, is a
 * `TypeError`/`RangeError` naming the difference.
 */
export async function bytesBody(b: Bytes): Promise<StreamBody> {
  if (b.size > MAX_BYTES_PAYLOAD) {
    throw new RangeError(
      `bytes of ${b.size} bytes are over the ${MAX_BYTES_PAYLOAD} bytes one upload may carry`,
    );
  }
  const native = nativeHashing();
  let sha256: string;
  if (native !== undefined) {
    const hash = native.sha256Stream();
    for await (const chunk of checked(b)) hash.update(chunk);
    sha256 = hash.hex();
  } else {
    const all = new Uint8Array(b.size);
    let at = 0;
    for await (const chunk of checked(b)) all.set(chunk, (at += chunk.length) - chunk.length);
    sha256 = await sha256Hex(all);
  }
  return { size: b.size, sha256, chunks: () => checked(b) };
}

// The source's chunks, checked to be bytes and to add up to its size.
async function* checked(b: Bytes): AsyncGenerator<Uint8Array> {
  let at = 0;
  for await (const chunk of iterate(b.stream())) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`bytes(): the source's stream gave a ${typeof chunk}, not a Uint8Array`);
    }
    at += chunk.length;
    if (at > b.size) throw new RangeError(`bytes(): the source gave more than its size ${b.size}`);
    yield chunk;
  }
  if (at !== b.size) {
    throw new RangeError(`bytes(): the source gave ${at} bytes, not its size ${b.size}`);
  }
}

/** Opens a stored object's body as chunks; `null` when it does not exist. */
export type OpenStored = () => Promise<AsyncIterable<Uint8Array> | null>;

/**
 * Stored bytes named by a reference: each `stream()` reads the object (one GET) and checks
 * the size as it goes and the SHA-256 at the end; a missing object or a mismatch errors the
 * stream with a {@link PayloadError}, so a reader never takes wrong bytes for right ones
 * (it sees the error before the stream ends).
 */
export function storedBytes(key: string, ref: PayloadRef, open: OpenStored): Bytes {
  return new Bytes({ size: ref.size, stream: () => verifiedStream(key, ref, open) }, ref.sha256);
}

function verifiedStream(
  key: string,
  ref: PayloadRef,
  open: OpenStored,
): ReadableStream<Uint8Array> {
  let it: AsyncIterator<Uint8Array> | undefined;
  const native = nativeHashing();
  const hash = native?.sha256Stream();
  const held: Uint8Array[] = []; // without incremental hashing: checked at the end, then given
  let size = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (it === undefined) {
        const chunks = await open();
        if (chunks === null) {
          throw new PayloadError(
            "PayloadMissing",
            key,
            `Payload ${key} is missing (the task records ${ref.size} bytes, SHA-256 ${ref.sha256})`,
          );
        }
        it = chunks[Symbol.asyncIterator]();
      }
      const r = await it.next();
      if (!r.done) {
        size += r.value.length;
        if (size > ref.size) {
          await it.return?.();
          checkPayload(key, ref, size, undefined); // throws: more than recorded
        }
        const chunk = r.value.slice(); // the reader owns it (a chunk may be reused)
        if (hash) {
          hash.update(chunk);
          controller.enqueue(chunk);
        } else held.push(chunk);
        return;
      }
      checkPayload(
        key,
        ref,
        size,
        size !== ref.size ? undefined : hash ? hash.hex() : await sha256Hex(concatBytes(held)),
      );
      for (const c of held.splice(0)) controller.enqueue(c);
      controller.close();
    },
    async cancel() {
      await it?.return?.();
    },
  }, { highWaterMark: 0 });
}
