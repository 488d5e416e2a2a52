/**
 * `connect()`: a Queue over an S3 bucket, configured from options, an `env` object (a
 * Worker's bindings) or the process environment, after checking that the bucket exists and
 * keeps versions.
 *
 * @module
 */

import { AccessDeniedError, ConfigError, NoSuchBucketError } from "../base/errors.ts";
import type { QueueOptions } from "../protocol/options.ts";
import { Queue } from "./queue.ts";
import { getEnv } from "../runtime/portable.ts";
import { type GetEnv, resolveS3Config, type S3ClientOptions } from "../s3/config.ts";
import { S3Store } from "../store/s3_store.ts";
import type { ObjectStore } from "../store/types.ts";

/**
 * Where {@link connect} reads the settings not given as options: variable name → value, e.g.
 * a Cloudflare Worker's `env` bindings. Values that are not strings (KV namespaces, queues,
 * other bindings) and empty strings count as unset.
 *
 * @example
 * ```ts
 * import { connect, type ConnectEnv } from "../../mod.ts";
 * const env: ConnectEnv = {
 *   S3_ENDPOINT: "http://127.0.0.1:9000",
 *   S3_BUCKET: "oq-dev",
 *   AWS_ACCESS_KEY_ID: "oqdev",
 *   AWS_SECRET_ACCESS_KEY: "oqdevsecret",
 * };
 * const queue = await connect({ env });
 * ```
 */
export type ConnectEnv = Readonly<Record<string, unknown>>;

/** Options of {@link connect}: S3 settings (else env vars) plus queue options. */
export interface ConnectOptions extends QueueOptions, Partial<Omit<S3ClientOptions, "counters">> {
  /** Use this store instead of building an S3 client (e.g. a `MemoryStore`). */
  store?: ObjectStore;
  /**
   * The variables to read settings from when they are not given as options (`S3_ENDPOINT`,
   * `S3_BUCKET`, `S3_REGION`/`AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
   * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `OQ_ALLOW_NO_VERSIONING`). When given, the
   * process environment is not read at all: pass a Worker's `env` here.
   * @default the process environment (none on runtimes without one, such as workerd)
   */
  env?: ConnectEnv;
  /**
   * Accept a bucket without versioning (history is then not guaranteed).
   * @default false, or true when the env var OQ_ALLOW_NO_VERSIONING=1
   */
  allowNoVersioning?: boolean;
  /** Skip the start-up checks (bucket exists, versioning). @default false */
  skipChecks?: boolean;
}

let warnedNoVersioning = false;

/**
 * Connect to a queue. S3 settings come from options, else from `S3_ENDPOINT`, `S3_BUCKET`,
 * `S3_REGION` (or `AWS_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
 * `AWS_SESSION_TOKEN`, read from the `env` option when given (a Worker's bindings), else
 * from the process environment. Checks that the bucket exists and that versioning is
 * Enabled (unless `allowNoVersioning` / `OQ_ALLOW_NO_VERSIONING=1`, then warns once).
 *
 * @example
 * ```ts
 * import { connect } from "../../mod.ts";
 * const queue = await connect({ endpoint: "http://127.0.0.1:9000", bucket: "oq-dev" });
 * await queue.submit("send_email", { to: "a@b.c" });
 * ```
 *
 * @example In a Cloudflare Worker: every setting from its `env` bindings
 * ```ts
 * import { connect } from "../../mod.ts";
 * export default {
 *   async fetch(_request: Request, env: Record<string, unknown>): Promise<Response> {
 *     const queue = await connect({ env });
 *     const task = await queue.submit("send_email", { to: "a@b.c" });
 *     return Response.json({ id: task.id });
 *   },
 * };
 * ```
 */
export async function connect(options: ConnectOptions = {}): Promise<Queue> {
  const { store: given, allowNoVersioning, skipChecks, env, ...rest } = options;
  const lookup = env === undefined ? getEnv : envLookup(env);
  const store = given ?? new S3Store(resolveS3Config(s3Part(rest), lookup));
  const queue = new Queue(store, rest);
  if (skipChecks) return queue;
  const bucket = "bucket" in store ? String((store as { bucket?: unknown }).bucket ?? "") : "";
  let exists: boolean;
  try {
    exists = await store.headBucket();
  } catch (e) {
    if (e instanceof AccessDeniedError) {
      throw new ConfigError(
        `Access denied to bucket "${bucket}" at ${store.name}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ` +
          `(options accessKeyId/secretAccessKey) and the key's permissions`,
      );
    }
    throw e;
  }
  if (!exists) {
    throw new ConfigError(
      `Bucket "${bucket}" does not exist at ${store.name}: create it with \`oq init\`, or set S3_BUCKET (option bucket)`,
    );
  }
  const versioning = await store.getVersioning().catch((e) => {
    if (e instanceof NoSuchBucketError) throw new ConfigError(`Bucket "${bucket}" does not exist`);
    throw e;
  });
  const allow = allowNoVersioning ?? lookup("OQ_ALLOW_NO_VERSIONING") === "1";
  if (versioning !== "Enabled") {
    if (!allow) {
      throw new ConfigError(
        `Bucket versioning is ${versioning} on "${bucket}": enable it (\`oq init\` does), or set ` +
          `OQ_ALLOW_NO_VERSIONING=1 (option allowNoVersioning) to run without task history`,
      );
    }
    if (!warnedNoVersioning) {
      warnedNoVersioning = true;
      queue.options.warn(
        `oq: bucket versioning is ${versioning}: running without versioning, task history (getHistory) is not guaranteed`,
      );
    }
  }
  // The bucket's layout: adopt its shard count, or refuse a different explicit one.
  await queue.syncLayout();
  return queue;
}

/** Reads variables from an `env` object: strings only, anything else is unset. */
function envLookup(env: ConnectEnv): GetEnv {
  if (typeof env !== "object" || env === null) {
    throw new TypeError('Option "env" must be an object of variable names to values');
  }
  return (name) => {
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    return typeof value === "string" ? value : undefined;
  };
}

function s3Part(
  o: Omit<ConnectOptions, "store" | "allowNoVersioning" | "skipChecks" | "env">,
): Partial<S3ClientOptions> {
  const keys = [
    "endpoint",
    "bucket",
    "region",
    "accessKeyId",
    "secretAccessKey",
    "sessionToken",
    "forcePathStyle",
    "maxAttempts",
    "requestTimeoutMs",
    "retryBaseDelayMs",
    "retryMaxDelayMs",
    "fetch",
  ] as const;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out as Partial<S3ClientOptions>;
}
