/**
 * The parts of one console shared by its routes: its own queue over the request meter,
 * the shared snapshot cache, the actions, the access rules, and how errors are described
 * without secrets.
 *
 * @module
 */

import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { Queue } from "../queue/queue.ts";
import type { QueueOptions, ResolvedQueueOptions } from "../protocol/options.ts";
import { Actions } from "./actions.ts";
import type { PageContext } from "./html.ts";
import { MeteredStore } from "./metered_store.ts";
import { CSRF_COOKIE, Guard } from "./security.ts";
import { SnapshotCache } from "./snapshot.ts";

/** Options of `createConsole`. */
export interface ConsoleOptions {
  /**
   * The path the console is mounted under in your app, e.g. `"/admin/oq"` (no trailing
   * `/`). Requests outside it get 404. @default "" (the root)
   */
  basePath?: string;
  /**
   * Require this token (at least 8 characters): `Authorization: Bearer <token>`, or the
   * session cookie the login page sets. Without a token the console answers only
   * loopback names and IP addresses as `Host` (and `allowedHosts`).
   */
  token?: string;
  /** Hide every action and refuse them (403). @default false */
  readOnly?: boolean;
  /**
   * Seconds a snapshot of the queue is shared by every viewer before the next request
   * refreshes it (the console reads nothing while nobody asks). @default 30
   */
  refreshSeconds?: number;
  /**
   * Most task objects one refresh reads (new or changed ones; see `TaskCensus`).
   * @default 10000
   */
  maxReadsPerRefresh?: number;
  /**
   * Seconds between two refreshes that list every task object (finished tasks are counted
   * from them); the refreshes in between list only the indexes. @default 300
   */
  fullCensusSeconds?: number;
  /**
   * `Host` names answered without a token besides loopback names and IP addresses (a
   * guard against DNS rebinding); `["*"]` answers any, for a console behind your own
   * authentication. @default []
   */
  allowedHosts?: string[];
  /** Texts never shown in a page or answer (e.g. secret keys that could appear in an error). */
  redact?: string[];
}

/** Everything one console's routes share. */
export interface ConsoleCore {
  /** Mount prefix (`""` or `/x/y`). */
  base: string;
  /** The console's queue: the given queue's store behind the request meter. */
  queue: Queue;
  /** The request meter. */
  store: MeteredStore;
  /** Shared reads. */
  cache: SnapshotCache;
  /** Actions. */
  actions: Actions;
  /** Access rules. */
  guard: Guard;
  /** Read-only mode. */
  readOnly: boolean;
  /** An error's message without secrets. */
  describe: (e: unknown) => string;
  /** Where the queue lives, for the page header. */
  where: string;
}

function queueOptions(o: ResolvedQueueOptions): QueueOptions {
  return {
    prefix: o.prefix,
    shardCount: o.shardCountExplicit ? o.shards.length : undefined,
    layoutCheckIntervalMs: o.layoutCheckIntervalMs,
    maxInputBytes: o.maxInputBytes,
    maxOutputBytes: o.maxOutputBytes,
    defaultTimeoutSeconds: o.defaultTimeoutSeconds,
    defaultMaxRetries: o.defaultMaxRetries,
    defaultRetryPolicy: o.defaultRetryPolicy,
    signalCoalesceMs: o.signalCoalesceMs,
    warn: o.warn,
  };
}

/** Check the options and build the shared parts (no I/O). */
export function createCore(queue: Queue, o: ConsoleOptions): ConsoleCore {
  const base = o.basePath ?? "";
  if (
    base !== "" &&
    (!/^\/[A-Za-z0-9._~\-/]*$/.test(base) || base.endsWith("/") || base.includes("//"))
  ) {
    throw new TypeError(
      `Invalid basePath ${JSON.stringify(base)}: a path like "/admin/oq" (no trailing "/")`,
    );
  }
  const refreshSeconds = o.refreshSeconds ?? 30;
  if (!(refreshSeconds >= 1 && refreshSeconds <= 86_400)) {
    throw new RangeError(
      `Invalid refreshSeconds: ${JSON.stringify(o.refreshSeconds)} (from 1 to 86400)`,
    );
  }
  const fullCensusSeconds = o.fullCensusSeconds ?? 300;
  if (!(fullCensusSeconds >= 0 && fullCensusSeconds <= 7 * 86_400)) {
    throw new RangeError(
      `Invalid fullCensusSeconds: ${JSON.stringify(o.fullCensusSeconds)} (from 0 to 604800)`,
    );
  }
  const secrets = [...(o.redact ?? []), ...(o.token ? [o.token] : [])].filter((s) => s.length >= 4);
  const describe = (e: unknown): string => {
    let m = e instanceof Error ? e.message : String(e);
    for (const s of secrets) m = m.split(s).join("[redacted]");
    return m.replace(/\/\/[^/@\s]*@/g, "//[redacted]@");
  };
  const store = new MeteredStore(queue.store);
  const q = new Queue(store, queueOptions(queue.options));
  const cache = new SnapshotCache(q, store, {
    refreshMs: refreshSeconds * 1000,
    maxReadsPerRefresh: o.maxReadsPerRefresh ?? 10_000,
    fullListIntervalMs: fullCensusSeconds * 1000,
    describe,
  });
  const prefix = queue.options.prefix ? ` prefix ${queue.options.prefix}` : "";
  return {
    base,
    queue: q,
    store,
    cache,
    actions: new Actions(q, cache, describe),
    guard: new Guard({ token: o.token, allowedHosts: o.allowedHosts ?? [] }),
    readOnly: o.readOnly ?? false,
    describe,
    where: describe(`${queue.store.name}${prefix}`),
  };
}

/** The page context of a request (its CSRF token was set by the middleware). */
export function pageContext(core: ConsoleCore, c: Context): PageContext {
  return {
    base: core.base,
    csrf: (c.get("csrf" as never) as string | undefined) ?? getCookie(c, CSRF_COOKIE) ?? "",
    readOnly: core.readOnly,
    locked: core.guard.locked,
    where: core.where,
  };
}
