/**
 * Who may use a console, and how its actions are protected:
 * - with a token, every request must carry it (`Authorization: Bearer <token>`) or the
 *   session cookie the login form sets (an HMAC of the token, never the token itself);
 * - without one, only loopback names and IP addresses are answered as `Host` (a page whose
 *   name was made to resolve to 127.0.0.1 must not reach the console: DNS rebinding),
 *   plus the names the user allows;
 * - a request that changes anything is a POST from the console's own origin (`Origin`,
 *   `Sec-Fetch-Site`) that carries the CSRF token of its form (double-submit cookie) or,
 *   for the JSON API, `Content-Type: application/json` (which a cross-site form cannot
 *   send, and which a cross-site script cannot send without a CORS preflight the console
 *   never allows), unless it authenticates with a bearer token (never sent by a browser
 *   on its own).
 * Every check is stateless, so any number of console instances (Workers isolates,
 * replicas) accept each other's cookies.
 *
 * @module
 */

import { hostAllowed } from "../base/host_guard.ts";

/** Name of the session cookie. */
export const SESSION_COOKIE = "oq_session";
/** Name of the CSRF cookie. */
export const CSRF_COOKIE = "oq_csrf";

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Random hex (for the CSRF cookie and job ids). */
export function randomHex(bytes = 16): string {
  return hex(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function sha256(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** Equal strings, compared in time that does not depend on where they differ. */
export function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

/** How a request was let in. */
export type Access = "bearer" | "session" | "open";

/**
 * The console's access rules (see the module doc).
 *
 * @example
 * ```ts
 * import { Guard } from "./security.ts";
 * const guard = new Guard({ token: "s3cret", allowedHosts: [] });
 * const req = new Request("http://127.0.0.1/", { headers: { authorization: "Bearer s3cret" } });
 * console.log(await guard.access(req, undefined)); // "bearer"
 * ```
 */
export class Guard {
  readonly #token: string | undefined;
  readonly #allowedHosts: readonly string[];
  #session: Promise<string> | undefined;
  #tokenHash: Promise<string> | undefined;

  /** Rules for a token (or none) and the extra `Host` names answered without one. */
  constructor(o: { token?: string; allowedHosts: readonly string[] }) {
    if (o.token !== undefined && o.token.length < 8) {
      throw new RangeError("Invalid token: use at least 8 characters");
    }
    this.#token = o.token;
    this.#allowedHosts = o.allowedHosts;
  }

  /** True when a token is required. */
  get locked(): boolean {
    return this.#token !== undefined;
  }

  /**
   * Is the `Host` header one this console answers? Any with a token (the token guards);
   * without one, loopback names, IP addresses and the allowed names.
   */
  hostOk(req: Request): boolean {
    if (this.#token !== undefined || this.#allowedHosts.includes("*")) return true;
    return hostAllowed(req.headers.get("host"), "127.0.0.1", this.#allowedHosts);
  }

  /** The session cookie's value: an HMAC of the token (the token is never stored). */
  session(): Promise<string> {
    const token = this.#token;
    if (token === undefined) return Promise.resolve("");
    this.#session ??= (async () => {
      const key = await crypto.subtle.importKey(
        "raw",
        encoder.encode(token),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      return hex(await crypto.subtle.sign("HMAC", key, encoder.encode("oq-console-session v1")));
    })();
    return this.#session;
  }

  /** True when `given` is the token. */
  async isToken(given: string): Promise<boolean> {
    if (this.#token === undefined) return false;
    this.#tokenHash ??= sha256(this.#token);
    return sameText(await sha256(given), await this.#tokenHash);
  }

  /**
   * How the request is let in: its bearer token, its session cookie (`sessionCookie`, read
   * by the caller), or freely when no token is set; `null`: refused.
   */
  async access(req: Request, sessionCookie: string | undefined): Promise<Access | null> {
    const auth = req.headers.get("authorization");
    const m = auth === null ? null : /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m && await this.isToken(m[1]!)) return "bearer";
    if (this.#token === undefined) return "open";
    if (sessionCookie !== undefined && sameText(sessionCookie, await this.session())) {
      return "session";
    }
    return null;
  }
}

/**
 * Does a request come from the console's own origin? A browser sends `Origin` with every
 * POST and `Sec-Fetch-Site` with every request; when present they must say same-origin
 * (`Origin`'s host must be the request's `Host`). Non-browser clients send neither.
 */
export function sameOrigin(req: Request): boolean {
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return false;
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  if (origin === "null") return false;
  try {
    const host = req.headers.get("host") ?? new URL(req.url).host;
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
