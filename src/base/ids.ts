/**
 * Task ids. A task id embeds its shard (`{shard}-{body}`), so `get(id)` needs no lookup.
 * Generated bodies are ULIDs (time-ordered); derived bodies (idempotency keys, schedule
 * runs) are hashes, so the same input always names the same task and a create-only write
 * makes it exist at most once.
 *
 * @module
 */

import { nativeHashing, webSha256 } from "../runtime/hash.ts";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A ULID for `ms`: 10 time characters then 16 random ones, sortable by time. */
export function ulid(ms: number): string {
  let t = Math.max(0, Math.floor(ms));
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rand = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const b of rand) tail += CROCKFORD[b % 32]!;
  return time + tail;
}

/** A new task id in `shard`, time-ordered by `nowMs`. */
export function newTaskId(shard: string, nowMs: number): string {
  return `${shard}-${ulid(nowMs)}`;
}

/** SHA-256 of a string, as 32 Crockford base32 characters (160 bits). */
export async function hashId(material: string): Promise<string> {
  const digest = nativeHashing()?.sha256(material) ?? await webSha256(material);
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const byte of digest) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 32) {
      out += CROCKFORD[(acc >> (bits - 5)) & 31]!;
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** FNV-1a 32-bit hash, for picking a shard from a string. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  const bytes = new TextEncoder().encode(s);
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A random nonce for write ids (invariant 3: every write changes the ETag). */
export function nonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_");
}
