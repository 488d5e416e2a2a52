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
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Random bytes drawn 4 KiB at a time: one getRandomValues call per few hundred ids and
// write ids instead of one each (a worker makes several per task).
const pool = new Uint8Array(4096);
let poolAt = pool.length;

/** The offset in `pool` of `n` fresh random bytes (n <= 64). */
function randomAt(n: number): number {
  if (poolAt + n > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += n;
  return at;
}

/** A ULID for `ms`: 10 time characters then 16 random ones, sortable by time. */
export function ulid(ms: number): string {
  let t = Math.max(0, Math.floor(ms));
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const at = randomAt(16);
  let tail = "";
  for (let i = at; i < at + 16; i++) tail += CROCKFORD[pool[i]! % 32]!;
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

const utf8 = new TextEncoder();

/** FNV-1a 32-bit hash of the UTF-8 bytes of `s`: picks a shard (or a spread) from a string. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  const bytes = utf8.encode(s);
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A random nonce for write ids (invariant 3: every write changes the ETag). */
export function nonce(): string {
  // 9 bytes, 72 bits, as 12 base64url characters (3 bytes -> 4 characters).
  const at = randomAt(9);
  let out = "";
  for (let i = at; i < at + 9; i += 3) {
    const v = (pool[i]! << 16) | (pool[i + 1]! << 8) | pool[i + 2]!;
    out += BASE64URL[v >> 18]! + BASE64URL[(v >> 12) & 63]! + BASE64URL[(v >> 6) & 63]! +
      BASE64URL[v & 63]!;
  }
  return out;
}
