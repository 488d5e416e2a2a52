/**
 * Names that become parts of object keys: task types, worker ids, schedule ids, shard names,
 * task ids and key prefixes. Each is validated here before any key is built from it, so no
 * `/`, `..` or control character can reach the bucket layout (spec invariant 11).
 *
 * @module
 */

/** Characters allowed in task types, worker ids and schedule ids. */
export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:=@+-]{0,127}$/;
/** Shard names: short lowercase alphanumerics (no `-`, which separates shard and id). */
export const SHARD_RE = /^[a-z0-9]{1,16}$/;
/** Task ids: `{shard}-{body}`. */
export const TASK_ID_RE = /^([a-z0-9]{1,16})-([A-Za-z0-9_.:=@+-]{1,200})$/;

/** Validate a task type, worker id or schedule id; throws `TypeError` naming the value. */
export function validateName(kind: string, value: unknown): string {
  if (typeof value !== "string" || !NAME_RE.test(value) || value.includes("..")) {
    throw new TypeError(
      `Invalid ${kind} ${
        JSON.stringify(value)
      }: use 1-128 characters from A-Z a-z 0-9 _ . : = @ + -, ` +
        `starting with a letter, digit or _, without ".."`,
    );
  }
  return value;
}

/** Validate a shard name. */
export function validateShard(value: unknown): string {
  if (typeof value !== "string" || !SHARD_RE.test(value)) {
    throw new TypeError(`Invalid shard ${JSON.stringify(value)}: use 1-16 characters from a-z 0-9`);
  }
  return value;
}

/** Validate a task id and return its shard (the id embeds it, so `get(id)` is one request). */
export function shardOfTaskId(id: unknown): string {
  const m = typeof id === "string" ? TASK_ID_RE.exec(id) : null;
  if (!m || id === undefined || (id as string).includes("..")) {
    throw new TypeError(
      `Invalid task id ${JSON.stringify(id)}: expected "{shard}-{id}", e.g. "0-01JD3X..."`,
    );
  }
  return m[1]!;
}

/** Validate a key prefix: empty, or path segments ending with `/`. */
export function validatePrefix(value: unknown): string {
  if (value === undefined || value === "") return "";
  if (
    typeof value !== "string" || !value.endsWith("/") || value.startsWith("/") ||
    value.split("/").slice(0, -1).some((seg) => seg === "" || seg === "." || seg === "..") ||
    hasControl(value)
  ) {
    throw new TypeError(
      `Invalid prefix ${JSON.stringify(value)}: use path segments ending with "/", e.g. "oq/"`,
    );
  }
  return value;
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
