/**
 * The guard against DNS rebinding shared by the servers oq runs on a developer's machine
 * (`oq dev` and `oq serve`): which `Host` header values a server answers.
 *
 * @module
 */

/** The host name of a `Host` header value (port, brackets and a trailing dot removed). */
export function hostName(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    h = end < 0 ? h : h.slice(1, end);
  } else if (h.split(":").length === 2) h = h.slice(0, h.indexOf(":"));
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

function isIpLiteral(name: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return name.split(".").every((p) => Number(p) < 256);
  return name.includes(":") && /^[0-9a-f:.]+$/.test(name);
}

/**
 * Is a `Host` header one the server answers? Loopback names (`localhost`,
 * `*.localhost`), IP literals, the configured host and the allowed names are; a missing
 * header is (no browser omits it).
 *
 * @example
 * ```ts
 * import { hostAllowed } from "./host_guard.ts";
 * hostAllowed("localhost:9000", "127.0.0.1", []); // true
 * hostAllowed("attacker.example:9000", "127.0.0.1", []); // false
 * ```
 */
export function hostAllowed(
  host: string | null,
  configured: string,
  allowed: readonly string[],
): boolean {
  if (host === null) return true;
  const name = hostName(host);
  if (name === "localhost" || name.endsWith(".localhost") || isIpLiteral(name)) return true;
  return name === hostName(configured) || allowed.some((a) => hostName(a) === name);
}
