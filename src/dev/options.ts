/**
 * Turning what a user types into dev server options: key pairs from repeated
 * `--access-key`/`--secret-key` flags or from the `OQ_DEV_*` environment variables (never
 * from `AWS_*`, so real AWS credentials in a shell are not served by accident), and sizes
 * such as `100MiB`.
 *
 * @module
 */

import type { Credentials } from "./sigv4.ts";

/** Environment variable with the access key id(s) of `oq dev` (comma-separated for several). */
export const ACCESS_KEY_ENV = "OQ_DEV_ACCESS_KEY_ID";
/** Environment variable with the secret key(s) of `oq dev`, in the same order. */
export const SECRET_KEY_ENV = "OQ_DEV_SECRET_ACCESS_KEY";

function pairs(ids: string[], secrets: string[], what: string): Credentials[] {
  if (ids.length !== secrets.length) {
    throw new TypeError(
      `Give one secret key per access key (${what}: ${ids.length} access keys, ${secrets.length} secret keys)`,
    );
  }
  return ids.map((accessKeyId, i) => {
    const secretAccessKey = secrets[i]!;
    if (accessKeyId === "" || secretAccessKey === "") {
      throw new TypeError(`Access keys and secret keys must not be empty (${what})`);
    }
    return { accessKeyId, secretAccessKey };
  });
}

/**
 * The key pairs a user chose: the flags when given (pairs in order), else the
 * {@link ACCESS_KEY_ENV} and {@link SECRET_KEY_ENV} variables (comma-separated lists),
 * else `undefined` (the default pair). Throws TypeError when the counts differ.
 *
 * @example
 * ```ts
 * import { chosenCredentials } from "./options.ts";
 * chosenCredentials(["main", "alt"], ["s1", "s2"], () => undefined);
 * // [{ accessKeyId: "main", secretAccessKey: "s1" }, { accessKeyId: "alt", secretAccessKey: "s2" }]
 * ```
 */
export function chosenCredentials(
  accessKeys: string[] | undefined,
  secretKeys: string[] | undefined,
  env: (name: string) => string | undefined,
): Credentials[] | undefined {
  if ((accessKeys?.length ?? 0) > 0 || (secretKeys?.length ?? 0) > 0) {
    return pairs(accessKeys ?? [], secretKeys ?? [], "--access-key / --secret-key");
  }
  const ids = env(ACCESS_KEY_ENV);
  const secrets = env(SECRET_KEY_ENV);
  if (ids === undefined && secrets === undefined) return undefined;
  const split = (v: string | undefined) => v === undefined ? [] : v.split(",").map((s) => s.trim());
  return pairs(split(ids), split(secrets), `${ACCESS_KEY_ENV} / ${SECRET_KEY_ENV}`);
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * A size in bytes from `1048576`, `100MiB`, `5G` (binary) or `1GB` (decimal). Throws
 * RangeError naming `flag` otherwise.
 *
 * @example
 * ```ts
 * import { parseSize } from "./options.ts";
 * parseSize("100MiB", "--max-object-size"); // 104857600
 * ```
 */
export function parseSize(value: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(
      `Flag ${flag} must be a size in bytes such as 1048576, 100MiB or 5GiB, got "${value}"`,
    );
  }
  return n;
}
