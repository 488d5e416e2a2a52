/**
 * Connection settings of the CLI: each global flag, else its environment variable. A
 * missing setting is one usage error naming every variable and flag to set.
 *
 * @module
 */

import type { Queue } from "../queue/queue.ts";
import type { QueueOptions } from "../protocol/options.ts";
import { getEnv } from "../runtime/mod.ts";
import { hideSecrets, type S3ClientOptions } from "../s3/config.ts";
import type { S3Store } from "../store/s3_store.ts";
import { printable, usageError } from "./errors.ts";
import { err } from "./io.ts";

/** The global flags (`oq --endpoint ... COMMAND`). */
export interface GlobalFlags {
  /** `--endpoint URL` (S3_ENDPOINT). */
  endpoint?: string;
  /** `--bucket NAME` (S3_BUCKET). */
  bucket?: string;
  /** `--region NAME` (S3_REGION, AWS_REGION). */
  region?: string;
  /** `--prefix P` (OQ_PREFIX). */
  prefix?: string;
  /** `--shard-count N` (OQ_SHARD_COUNT). */
  shardCount?: string;
}

/** Resolved settings: the S3 client's and the queue's options. */
export interface CliConfig {
  /** S3 connection (the secrets are non-enumerable: pass the object itself, do not spread it). */
  s3: S3ClientOptions;
  /** Queue layout. */
  queue: QueueOptions;
}

function first(...values: Array<string | undefined>): string | undefined {
  return values.find((v) => v !== undefined && v !== "");
}

/**
 * Resolve the settings from flags and env. Throws a usage error (exit 2) listing what is
 * missing, e.g. `Missing configuration: set S3_BUCKET (or --bucket), AWS_ACCESS_KEY_ID`.
 */
export function resolveConfig(flags: GlobalFlags): CliConfig {
  const endpoint = first(flags.endpoint, getEnv("S3_ENDPOINT"));
  const bucket = first(flags.bucket, getEnv("S3_BUCKET"));
  const region = first(
    flags.region,
    getEnv("S3_REGION"),
    getEnv("AWS_REGION"),
    getEnv("AWS_DEFAULT_REGION"),
  );
  const accessKeyId = first(getEnv("AWS_ACCESS_KEY_ID"));
  const secretAccessKey = first(getEnv("AWS_SECRET_ACCESS_KEY"));
  const missing: string[] = [];
  if (bucket === undefined) missing.push("S3_BUCKET (or --bucket)");
  if (endpoint === undefined && region === undefined) {
    missing.push("S3_ENDPOINT (or --endpoint) for a non-AWS server, or S3_REGION (or --region)");
  }
  if (accessKeyId === undefined) missing.push("AWS_ACCESS_KEY_ID");
  if (secretAccessKey === undefined) missing.push("AWS_SECRET_ACCESS_KEY");
  if (missing.length > 0) {
    throw usageError(
      `Missing configuration: set ${missing.join(", ")}\n` +
        "(for local development, `oq dev` starts a server and prints the variables to set)",
    );
  }
  return {
    s3: hideSecrets({
      endpoint,
      bucket: bucket!,
      region,
      accessKeyId: accessKeyId!,
      secretAccessKey: secretAccessKey!,
      sessionToken: first(getEnv("AWS_SESSION_TOKEN")),
    }),
    queue: {
      prefix: normalizePrefix(first(flags.prefix, getEnv("OQ_PREFIX"))),
      shardCount: parseShardCount(first(flags.shardCount, getEnv("OQ_SHARD_COUNT"))),
      warn: (m) => err(printable(m)),
    },
  };
}

/** `myapp` and `myapp/` both mean the prefix `myapp/`. */
function normalizePrefix(p: string | undefined): string | undefined {
  if (p === undefined) return undefined;
  return p.endsWith("/") ? p : `${p}/`;
}

function parseShardCount(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isInteger(n) || n < 1 || n > 256) {
    throw usageError(
      `Invalid shard count ${
        JSON.stringify(v)
      } (--shard-count or OQ_SHARD_COUNT): an integer from 1 to 256`,
    );
  }
  return n;
}

// The library is imported when a command needs it, not at start-up: `oq --help` and
// usage errors stay fast (on Node through tsx especially).

/**
 * Connect to the queue (checks that the bucket exists and keeps versions, and reads its
 * layout). `ignoreShardCount`: use the bucket's shard count whatever is configured (for
 * `oq reshard`, which changes it).
 */
export async function openQueue(
  flags: GlobalFlags,
  o: { ignoreShardCount?: boolean } = {},
): Promise<Queue> {
  const { store, config } = await openStore(flags);
  const { connect } = await import("../queue/connect.ts");
  const queue = { ...config.queue };
  if (o.ignoreShardCount) delete queue.shardCount;
  return await connect({ ...queue, store });
}

/** The bucket's store, without the start-up checks (for `oq init` and `oq doctor`). */
export async function openStore(
  flags: GlobalFlags,
): Promise<{ store: S3Store; config: CliConfig }> {
  const config = resolveConfig(flags);
  const { S3Store } = await import("../store/s3_store.ts");
  return { store: new S3Store(config.s3), config };
}
