/**
 * Who may use the dev server: its accounts (one per key pair, as AWS accounts are: each
 * sees and uses only the buckets it created) and the `Host` names it answers to.
 *
 * The Host check guards against DNS rebinding: a web page whose name is made to resolve
 * to 127.0.0.1 could otherwise reach the server from the browser, and the default key
 * pair is public. A browser always sends the page's own name as `Host`, so answering
 * only loopback names, IP literals (a page served from an IP is that IP's own origin),
 * the configured `--host` and names the user allowed closes that door.
 *
 * @module
 */

import { S3Error } from "./errors.ts";
import type { Credentials } from "./sigv4.ts";
import { sha256Hex } from "./sigv4_crypto.ts";

/** An account of the dev server: a key pair and the identity listings show for it. */
export interface Account extends Credentials {
  /** Canonical user id (64 hex digits, from the access key id). */
  id: string;
  /** Display name: the access key id. */
  displayName: string;
}

/**
 * The accounts of a list of key pairs (the first is the primary account: it owns the
 * bucket created at start and buckets whose owner is no longer configured). A pair given
 * twice counts once. Throws TypeError on an empty list, an empty key, or one access key
 * id given with two secrets.
 *
 * @example
 * ```ts
 * import { accountsOf } from "./access.ts";
 * const [main] = await accountsOf([{ accessKeyId: "oqdev", secretAccessKey: "oqdevsecret" }]);
 * main?.id.length; // 64
 * ```
 */
export async function accountsOf(credentials: readonly Credentials[]): Promise<Account[]> {
  if (credentials.length === 0) throw new TypeError("At least one key pair is required");
  const seen = new Map<string, string>();
  const out: Account[] = [];
  for (const c of credentials) {
    for (const name of ["accessKeyId", "secretAccessKey"] as const) {
      if (typeof c?.[name] !== "string" || c[name] === "") {
        throw new TypeError(`Key pair field "${name}" must be a non-empty string`);
      }
    }
    const secret = seen.get(c.accessKeyId);
    if (secret === c.secretAccessKey) continue;
    if (secret !== undefined) {
      throw new TypeError(`Access key id "${c.accessKeyId}" is given with two secret keys`);
    }
    seen.set(c.accessKeyId, c.secretAccessKey);
    out.push({
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      id: await sha256Hex(`oq-dev:${c.accessKeyId}`),
      displayName: c.accessKeyId,
    });
  }
  return out;
}

/** The account that owns a bucket: its recorded owner, or the primary account. */
export function ownerOf(accounts: readonly Account[], owner: string | undefined): Account {
  return accounts.find((a) => a.accessKeyId === owner) ?? accounts[0]!;
}

/** 403 for a `Host` the server does not answer. */
export function hostRefused(host: string): S3Error {
  return new S3Error(
    "AccessDenied",
    403,
    `Host "${host}" is not served by oq dev: it answers loopback names, IP addresses, its --host and --allow-host names (a guard against DNS rebinding)`,
  );
}
