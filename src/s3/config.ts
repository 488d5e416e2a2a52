/**
 * Options of the S3 client: their defaults (in one place), validation at construction,
 * and filling them from environment variables.
 *
 * @module
 */

import { ConfigError } from "../base/errors.ts";
import type { RequestCounters } from "./counters.ts";

/** The `fetch` function the client calls (injectable for tests and proxies). */
export type FetchFunction = (input: Request) => Promise<Response>;

/** Options of {@link S3Client}. */
export interface S3ClientOptions {
  /**
   * Base URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`. A path after the
   * host is kept as a prefix. @default `https://s3.{region}.amazonaws.com` (AWS)
   */
  endpoint?: string;
  /** Bucket name. */
  bucket: string;
  /** Region used for signing (and in the AWS endpoint). @default "us-east-1" with an endpoint */
  region?: string;
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
  /**
   * Path-style URLs (`endpoint/bucket/key`) instead of virtual-hosted ones
   * (`bucket.endpoint/key`). @default true with an endpoint, false for AWS
   */
  forcePathStyle?: boolean;
  /** Attempts per request, the first included; only transient failures are retried. @default 4 */
  maxAttempts?: number;
  /** Timeout of each attempt, response body included. @default 30000 */
  requestTimeoutMs?: number;
  /** Backoff before retry n is random in `[0, min(cap, base * 2^(n-1))]`. @default 100 */
  retryBaseDelayMs?: number;
  /** Cap of the backoff delay. @default 5000 */
  retryMaxDelayMs?: number;
  /** The fetch to call. @default globalThis.fetch */
  fetch?: FetchFunction;
  /** Local clock in milliseconds since the epoch (tests inject one). @default Date.now */
  localNow?: () => number;
  /** Random numbers in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
  /**
   * Count requests into these counters. @default a new RequestCounters
   * @internal
   */
  counters?: RequestCounters;
}

/** Defaults of the numeric options, in one place. */
export const S3_DEFAULTS = {
  maxAttempts: 4,
  requestTimeoutMs: 30_000,
  retryBaseDelayMs: 100,
  retryMaxDelayMs: 5_000,
  /** Region assumed when an endpoint is given without one (MinIO's default too). */
  region: "us-east-1",
} as const;

/**
 * Validated options with every default filled in, without the secrets: the secret access
 * key and the session token go only to the request signer (src/s3/sign.ts), which keeps
 * them in private fields, so this object can be logged.
 */
export interface S3ClientConfig {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:9000`. */
  endpoint: string;
  /** True when the endpoint was given (not the AWS default). */
  customEndpoint: boolean;
  /** Bucket name. */
  bucket: string;
  /** Signing region. */
  region: string;
  /** Access key id (not a secret: it names the key, and every signed request carries it). */
  accessKeyId: string;
  /** Path-style addressing. */
  forcePathStyle: boolean;
  /** Attempts per request. */
  maxAttempts: number;
  /** Timeout per attempt. */
  requestTimeoutMs: number;
  /** Backoff base. */
  retryBaseDelayMs: number;
  /** Backoff cap. */
  retryMaxDelayMs: number;
  /**
   * The fetch the caller gave; `undefined` means the runtime's own HTTP client
   * (src/runtime/http_client.ts: `node:http` on Node, the global fetch elsewhere).
   */
  fetch?: FetchFunction;
  /** Local clock. */
  localNow: () => number;
  /** Jitter source. */
  random: () => number;
}

/**
 * Check the options and fill the defaults. Throws `TypeError` for a value of the wrong
 * type (or an endpoint that is not an http(s) URL) and `RangeError` for a number out of
 * range. Never echoes the credentials, and leaves the secret ones (`secretAccessKey`,
 * `sessionToken`) out of the result: hand them to the signer only.
 */
export function validateS3Options(options: S3ClientOptions): S3ClientConfig {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("S3 client options must be an object");
  }
  const o = options;
  requireString(o.bucket, "bucket");
  if (o.bucket === "" || /[/\s]/.test(o.bucket) || o.bucket.length > 255) {
    throw new TypeError(`Option "bucket" is not a valid bucket name: "${o.bucket}"`);
  }
  requireString(o.accessKeyId, "accessKeyId");
  requireString(o.secretAccessKey, "secretAccessKey");
  if (o.accessKeyId === "") throw new TypeError('Option "accessKeyId" must not be empty');
  if (o.secretAccessKey === "") throw new TypeError('Option "secretAccessKey" must not be empty');
  optionalString(o.sessionToken, "sessionToken");
  optionalString(o.region, "region");
  optionalString(o.endpoint, "endpoint");
  if (o.forcePathStyle !== undefined && typeof o.forcePathStyle !== "boolean") {
    throw new TypeError('Option "forcePathStyle" must be a boolean');
  }
  for (const name of ["fetch", "localNow", "random"] as const) {
    if (o[name] !== undefined && typeof o[name] !== "function") {
      throw new TypeError(`Option "${name}" must be a function`);
    }
  }

  const customEndpoint = o.endpoint !== undefined && o.endpoint !== "";
  const region = o.region || (customEndpoint ? S3_DEFAULTS.region : "");
  if (region === "") {
    throw new TypeError('Option "region" is required when no endpoint is given (AWS)');
  }
  if (!/^[A-Za-z0-9._-]+$/.test(region)) {
    throw new TypeError(`Option "region" is not a valid region: "${region}"`);
  }
  const endpoint = customEndpoint
    ? parseEndpoint(o.endpoint!)
    : `https://s3.${region}.amazonaws.com`;

  return {
    endpoint,
    customEndpoint,
    bucket: o.bucket,
    region,
    accessKeyId: o.accessKeyId,
    forcePathStyle: o.forcePathStyle ?? customEndpoint,
    maxAttempts: integerOption(o.maxAttempts, "maxAttempts", S3_DEFAULTS.maxAttempts, 1, 100),
    requestTimeoutMs: integerOption(
      o.requestTimeoutMs,
      "requestTimeoutMs",
      S3_DEFAULTS.requestTimeoutMs,
      1,
      3_600_000,
    ),
    retryBaseDelayMs: integerOption(
      o.retryBaseDelayMs,
      "retryBaseDelayMs",
      S3_DEFAULTS.retryBaseDelayMs,
      0,
      600_000,
    ),
    retryMaxDelayMs: integerOption(
      o.retryMaxDelayMs,
      "retryMaxDelayMs",
      S3_DEFAULTS.retryMaxDelayMs,
      0,
      600_000,
    ),
    fetch: o.fetch,
    localNow: o.localNow ?? Date.now,
    random: o.random ?? Math.random,
  };
}

/** Reads an environment variable; `undefined` when unset (e.g. `getEnv` of src/runtime/mod.ts). */
export type GetEnv = (name: string) => string | undefined;

// Where each option comes from when it is not given: env vars, first set one wins.
const ENV_SOURCES = [
  { option: "endpoint", vars: ["S3_ENDPOINT"], required: false },
  { option: "bucket", vars: ["S3_BUCKET"], required: true },
  { option: "region", vars: ["S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"], required: false },
  { option: "accessKeyId", vars: ["AWS_ACCESS_KEY_ID"], required: true },
  { option: "secretAccessKey", vars: ["AWS_SECRET_ACCESS_KEY"], required: true },
  { option: "sessionToken", vars: ["AWS_SESSION_TOKEN"], required: false },
] as const;

/**
 * Fill the connection options missing from `options` from environment variables:
 * `S3_ENDPOINT`, `S3_BUCKET`, `S3_REGION` (then `AWS_REGION`, `AWS_DEFAULT_REGION`),
 * `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`. Given options win
 * over the environment; empty values count as unset. Throws one {@link ConfigError} that
 * names every missing variable and its option. The region is required only without an
 * endpoint (AWS); with one it defaults to `us-east-1`.
 *
 * @example
 * ```ts
 * import { resolveS3Config } from "./config.ts";
 * const env: Record<string, string> = { S3_BUCKET: "b", AWS_ACCESS_KEY_ID: "k", AWS_SECRET_ACCESS_KEY: "s" };
 * const options = resolveS3Config({ endpoint: "http://127.0.0.1:9000" }, (n) => env[n]);
 * options.bucket; // "b"
 * ```
 */
export function resolveS3Config(
  options: Partial<S3ClientOptions>,
  getEnv: GetEnv,
): S3ClientOptions {
  const out: Record<string, unknown> = { ...options };
  const missing: string[] = [];
  for (const source of ENV_SOURCES) {
    const given = out[source.option];
    if (given !== undefined && given !== "") continue;
    const found = source.vars.map((v) => getEnv(v)).find((v) => v !== undefined && v !== "");
    if (found !== undefined) out[source.option] = found;
    else if (source.required) {
      missing.push(`${source.vars.join(" or ")} (option "${source.option}")`);
    }
  }
  const hasEndpoint = typeof out.endpoint === "string" && out.endpoint !== "";
  if (!hasEndpoint && (out.region === undefined || out.region === "")) {
    missing.push(
      'S3_REGION or AWS_REGION (option "region"; or set S3_ENDPOINT / option "endpoint" for a non-AWS server)',
    );
  }
  if (missing.length > 0) {
    throw new ConfigError(`Missing S3 configuration: set ${missing.join(", ")}`);
  }
  return hideSecrets(out as unknown as S3ClientOptions);
}

/** The options that are secrets: never printed, never serialised. */
export const SECRET_OPTIONS = ["secretAccessKey", "sessionToken"] as const;

const REDACTED = "[redacted]";

/**
 * Make the secret options of a plain options object (`secretAccessKey`, `sessionToken`)
 * non-enumerable, so `JSON.stringify`, `console.log`, `console.table` and object spread
 * skip them, and give the object custom inspect hooks (Node and Bun, Deno) that show them
 * as `[redacted]` even with `showHidden`. The values stay readable as properties, so the
 * object still configures a client. Returns the same object.
 *
 * @example
 * ```ts
 * import { hideSecrets } from "./config.ts";
 * const o = hideSecrets({ bucket: "b", accessKeyId: "k", secretAccessKey: "s3cr3t" });
 * JSON.stringify(o); // '{"bucket":"b","accessKeyId":"k"}'
 * o.secretAccessKey; // "s3cr3t"
 * ```
 */
export function hideSecrets<T extends object>(options: T): T {
  const o = options as Record<string | symbol, unknown>;
  for (const name of SECRET_OPTIONS) {
    if (name in o) {
      Object.defineProperty(o, name, { value: o[name], enumerable: false, writable: true });
    }
  }
  const redacted = () => {
    const view: Record<string, unknown> = { ...o };
    for (const name of SECRET_OPTIONS) if (o[name] !== undefined) view[name] = REDACTED;
    return view;
  };
  Object.defineProperty(o, Symbol.for("nodejs.util.inspect.custom"), { value: redacted });
  Object.defineProperty(o, Symbol.for("Deno.customInspect"), {
    value: (inspect: (v: unknown, opts?: unknown) => string, opts?: unknown) =>
      inspect(redacted(), opts),
  });
  return options;
}

function parseEndpoint(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`Option "endpoint" is not a URL: "${raw}"`);
  }
  // Checked first so that the message below never echoes credentials.
  if (url.username !== "" || url.password !== "") {
    throw new TypeError('Option "endpoint" must not contain credentials');
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Option "endpoint" must be an http or https URL: "${raw}"`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TypeError(`Option "endpoint" must not have a query or fragment: "${raw}"`);
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

function requireString(value: unknown, name: string): asserts value is string {
  if (typeof value !== "string") throw new TypeError(`Option "${name}" must be a string`);
}

function optionalString(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== "string") {
    throw new TypeError(`Option "${name}" must be a string`);
  }
}

function integerOption(
  value: unknown,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`Option "${name}" must be an integer`);
  }
  if (value < min || value > max) {
    throw new RangeError(`Option "${name}" must be between ${min} and ${max}: ${value}`);
  }
  return value;
}
