/**
 * `oq dev`: start the development S3 server (in memory or in a directory), and the banner
 * that tells the user it is for development only and which environment variables to set.
 * No argument parsing here: the CLI calls {@link startDevServer}.
 *
 * @module
 */

import { type HttpServer, serveHttp } from "../runtime/mod.ts";
import { StorageEngine } from "../store/engine.ts";
import { accountsOf } from "./access.ts";
import { MemoryBodies } from "./bodies.ts";
import { DEV_REGION, validateBucketName } from "./buckets.ts";
import { type LifecycleRunResult, runLifecycleOnce } from "./lifecycle.ts";
import { DirectoryPersistence } from "./persist.ts";
import { createDevHandler, MAX_OBJECT_SIZE } from "./server.ts";
import type { Credentials } from "./sigv4.ts";

/** Options of {@link startDevServer}. */
export interface DevServerOptions {
  /** Interface to bind. @default "127.0.0.1" */
  host?: string;
  /** TCP port; 0 picks a free one. @default 9000 */
  port?: number;
  /** Keep the data in this directory (restored at start). Without it the data is in memory. */
  dir?: string;
  /** Keep the data in memory only (the default without `dir`; exclusive with it). */
  memory?: boolean;
  /** Create this bucket (owned by the first key pair), with versioning enabled, unless it exists. */
  bucket?: string;
  /** The access key id clients sign with (one key pair; see `credentials` for several). @default "oqdev" */
  accessKeyId?: string;
  /** The secret access key clients sign with. @default "oqdevsecret" */
  secretAccessKey?: string;
  /**
   * Several key pairs, each an account with its own buckets (exclusive with
   * `accessKeyId`/`secretAccessKey`); the first is the primary account.
   * @default one pair, "oqdev" / "oqdevsecret"
   */
  credentials?: Credentials[];
  /** Largest object accepted, in bytes (EntityTooLarge beyond). @default 5 GiB */
  maxObjectSize?: number;
  /** `Host` names to answer besides loopback names, IP addresses and `host`. @default none */
  allowedHosts?: string[];
  /** Where to print the banner and internal errors. @default no output */
  log?: (line: string) => void;
  /** Also log one line per request. @default false */
  logRequests?: boolean;
  /** The server's clock in ms since the epoch (tests inject one). @default Date.now */
  clock?: () => number;
  /** How often lifecycle rules are applied, in ms; 0 disables the timer. @default 60000 */
  lifecycleIntervalMs?: number;
}

/** A running dev server. */
export interface DevServer {
  /** Base URL, e.g. `http://127.0.0.1:9000`. */
  url: string;
  /** Bound port. */
  port: number;
  /** The storage engine (for tests and embedding). */
  engine: StorageEngine;
  /** Apply every bucket's lifecycle rules now (and persist the result). */
  runLifecycle(): Promise<LifecycleRunResult>;
  /** Stop the server, flush the directory and stop the lifecycle timer. Idempotent. */
  stop(): Promise<void>;
}

/** Defaults of {@link DevServerOptions}, in one place. */
export const DEV_DEFAULTS = {
  host: "127.0.0.1",
  port: 9000,
  accessKeyId: "oqdev",
  secretAccessKey: "oqdevsecret",
  lifecycleIntervalMs: 60_000,
} as const;

/** What the banner describes. */
export interface BannerInfo {
  /** Base URL of the server. */
  url: string;
  /** The bucket to use, if one was created. */
  bucket?: string;
  /** Access key id (of the primary key pair). */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** How many key pairs (accounts) the server accepts. @default 1 */
  keyPairs?: number;
  /** True when the key pair is the public default one. @default false */
  defaultKeys?: boolean;
  /** Data directory; memory when absent. */
  dir?: string;
}

/**
 * The environment variables that point oq (and AWS tools) at a dev server, in the order
 * the banner prints them (`S3_BUCKET` only when a bucket was created).
 *
 * @example
 * ```ts
 * import { devEnv } from "./main.ts";
 * devEnv({ url: "http://127.0.0.1:9000", bucket: "oq-dev", accessKeyId: "oqdev", secretAccessKey: "oqdevsecret" });
 * // { S3_ENDPOINT: "http://127.0.0.1:9000", S3_BUCKET: "oq-dev", S3_REGION: "us-east-1", ... }
 * ```
 */
export function devEnv(info: BannerInfo): Record<string, string> {
  const env: Record<string, string> = { S3_ENDPOINT: info.url };
  if (info.bucket !== undefined) env.S3_BUCKET = info.bucket;
  env.S3_REGION = DEV_REGION;
  env.AWS_ACCESS_KEY_ID = info.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = info.secretAccessKey;
  return env;
}

/**
 * `export NAME=value` lines for a POSIX shell (sh, bash, zsh), one per variable, each
 * value single-quoted unless it is plain (letters, digits and `_ . : / @ % + , = -`), so
 * the lines paste into a shell or go through `eval` as they are.
 *
 * @example
 * ```ts
 * import { shellExports } from "./main.ts";
 * shellExports({ S3_ENDPOINT: "http://[::1]:9000" }); // "export S3_ENDPOINT='http://[::1]:9000'"
 * ```
 */
export function shellExports(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `export ${k}=${shellWord(v)}`).join("\n");
}

/**
 * `value` as one POSIX shell word: as it is when plain (letters, digits and
 * `_ . : / @ % + , = -`), else single-quoted.
 *
 * @example
 * ```ts
 * import { shellWord } from "./main.ts";
 * shellWord("it's"); // "'it'\\''s'"
 * ```
 */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_.:/@%+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The start-up banner: a loud development-only warning, where the data lives, and the
 * `export` lines that point oq (and AWS tools) at the server (see {@link shellExports}).
 *
 * @example
 * ```ts
 * import { devBanner } from "./main.ts";
 * console.log(devBanner({ url: "http://127.0.0.1:9000", bucket: "oq-dev", accessKeyId: "oqdev", secretAccessKey: "oqdevsecret" }));
 * ```
 */
export function devBanner(info: BannerInfo): string {
  const data = info.dir !== undefined
    ? `in directory ${info.dir}`
    : "in memory (lost when it stops)";
  const pairs = info.keyPairs ?? 1;
  const keys = info.defaultKeys
    ? "the public default key pair"
    : pairs > 1
    ? `${pairs} key pairs (accounts)`
    : "your key pair";
  return [
    "!!! oq dev: S3-compatible server FOR DEVELOPMENT ONLY - NOT FOR PRODUCTION !!!",
    `    (no TLS, ${keys}, no multipart uploads or ACLs, limited S3 API)`,
    `oq dev listening on ${info.url}, data ${data}`,
    "",
    "Point oq and AWS tools at it (paste these lines into a shell):",
    shellExports(devEnv(info)),
    ...(info.bucket === undefined ? ["# S3_BUCKET: create a bucket first"] : []),
  ].join("\n");
}

/**
 * The base URL of a dev server bound to `host` and `port` (IPv6 hosts in brackets).
 *
 * @example
 * ```ts
 * import { urlOf } from "./main.ts";
 * urlOf("::1", 9000); // "http://[::1]:9000"
 * ```
 */
export function urlOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function validate(options: DevServerOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Dev server options must be an object");
  }
  const o = options;
  if (o.dir !== undefined && (typeof o.dir !== "string" || o.dir === "")) {
    throw new TypeError('Option "dir" must be a non-empty string');
  }
  if (o.dir !== undefined && o.memory) {
    throw new TypeError('Options "dir" and "memory" are exclusive');
  }
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) {
    throw new RangeError(`Option "port" must be an integer from 0 to 65535, got ${o.port}`);
  }
  for (const name of ["host", "accessKeyId", "secretAccessKey"] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== "string" || v === "")) {
      throw new TypeError(`Option "${name}" must be a non-empty string`);
    }
  }
  if ((o.accessKeyId === undefined) !== (o.secretAccessKey === undefined)) {
    throw new TypeError('Options "accessKeyId" and "secretAccessKey" go together');
  }
  if (o.credentials !== undefined) {
    if (o.accessKeyId !== undefined) {
      throw new TypeError('Options "credentials" and "accessKeyId" are exclusive');
    }
    if (!Array.isArray(o.credentials) || o.credentials.length === 0) {
      throw new TypeError('Option "credentials" must be a non-empty array of key pairs');
    }
  }
  const max = o.maxObjectSize;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) {
    throw new RangeError(`Option "maxObjectSize" must be an integer of 0 or more, got ${max}`);
  }
  if (
    o.allowedHosts !== undefined &&
    (!Array.isArray(o.allowedHosts) ||
      o.allowedHosts.some((h) => typeof h !== "string" || h === ""))
  ) {
    throw new TypeError('Option "allowedHosts" must be an array of non-empty strings');
  }
  const interval = o.lifecycleIntervalMs;
  if (interval !== undefined && (!Number.isFinite(interval) || interval < 0)) {
    throw new RangeError(`Option "lifecycleIntervalMs" must be 0 or more, got ${interval}`);
  }
  if (o.bucket !== undefined) validateBucketName(o.bucket);
}

/**
 * Start the development S3 server.
 *
 * @example
 * ```ts
 * import { startDevServer } from "./main.ts";
 * const dev = await startDevServer({ port: 0, bucket: "oq-dev", log: console.log });
 * // ... S3_ENDPOINT=dev.url, AWS_ACCESS_KEY_ID=oqdev, AWS_SECRET_ACCESS_KEY=oqdevsecret
 * await dev.stop();
 * ```
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  validate(options);
  const host = options.host ?? DEV_DEFAULTS.host;
  const defaultKeys = options.credentials === undefined && options.accessKeyId === undefined;
  const accounts = await accountsOf(
    options.credentials ?? [{
      accessKeyId: options.accessKeyId ?? DEV_DEFAULTS.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? DEV_DEFAULTS.secretAccessKey,
    }],
  );
  const primary = accounts[0]!;
  const log = options.log;
  const engine = new StorageEngine(options.clock ?? (() => Date.now()));
  const persistence = options.dir !== undefined
    ? await DirectoryPersistence.open(options.dir, engine)
    : undefined;
  if (options.bucket !== undefined && !engine.hasBucket(options.bucket)) {
    engine.createBucket(options.bucket);
    engine.bucket(options.bucket).owner = primary.accessKeyId;
    engine.setVersioning(options.bucket, true);
    await persistence?.flush();
  }
  const handler = createDevHandler(engine, {
    accounts,
    bodies: persistence?.bodies ?? new MemoryBodies(),
    maxObjectSize: options.maxObjectSize ?? MAX_OBJECT_SIZE,
    host,
    allowedHosts: options.allowedHosts,
    afterWrite: persistence ? () => persistence.flush() : undefined,
    log,
    logRequests: options.logRequests,
  });
  let server: HttpServer;
  try {
    server = await serveHttp({
      hostname: host,
      port: options.port ?? DEV_DEFAULTS.port,
      handler,
      onError: (e) => log?.(`oq dev: ${e instanceof Error ? e.stack ?? e.message : e}`),
    });
  } catch (e) {
    await persistence?.close();
    throw e;
  }
  const url = urlOf(host, server.port);
  const runLifecycle = async (): Promise<LifecycleRunResult> => {
    const result = runLifecycleOnce(engine);
    await persistence?.flush();
    return result;
  };
  const interval = options.lifecycleIntervalMs ?? DEV_DEFAULTS.lifecycleIntervalMs;
  const timer = interval > 0
    ? setInterval(() => {
      runLifecycle().catch((e) =>
        log?.(`oq dev: lifecycle run failed: ${e instanceof Error ? e.message : e}`)
      );
    }, interval)
    : undefined;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") {
    log?.(
      `!!! oq dev is listening on ${host}, not loopback: anyone who can reach it and knows a key pair can use it`,
    );
  }
  log?.(devBanner({
    url,
    bucket: options.bucket,
    accessKeyId: primary.accessKeyId,
    secretAccessKey: primary.secretAccessKey,
    keyPairs: accounts.length,
    defaultKeys,
    dir: options.dir,
  }));
  let stopped: Promise<void> | undefined;
  return {
    url,
    port: server.port,
    engine,
    runLifecycle,
    stop() {
      stopped ??= (async () => {
        if (timer !== undefined) clearInterval(timer);
        await server.close();
        await persistence?.close();
      })();
      return stopped;
    },
  };
}
