/**
 * The oq console, a separate entry point of the library: a web console, a JSON API and
 * Prometheus metrics for a queue, as one web-standard handler you mount in your own Deno,
 * Bun, Node or Cloudflare Workers app (`oq serve` runs the same handler). It depends on
 * hono, which is why it is not part of `mod.ts`: code that only submits or runs tasks does
 * not load it. Also here: the Prometheus metrics of a worker (`WorkerMetrics`).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "./mod.ts";
 * import { createConsole } from "./console.ts";
 * const queue = new Queue(new MemoryStore());
 * const oqConsole = createConsole(queue, { basePath: "/admin/oq", token: "a-long-random-token" });
 * // Deno.serve(oqConsole); Bun.serve({ fetch: oqConsole }); export default { fetch: oqConsole };
 * const res = await oqConsole(new Request("http://127.0.0.1/admin/oq/api/overview"));
 * console.log(res.status); // 401: the token is required
 * ```
 *
 * @module
 */

export { createConsole } from "./src/console/app.ts";
export type { ConsoleHandler } from "./src/console/app.ts";
export type { ConsoleOptions } from "./src/console/core.ts";
export { ATTEMPT_OUTCOMES, DURATION_BUCKETS, WorkerMetrics } from "./src/console/worker_metrics.ts";
export type { AttemptOutcome, WorkerMetricsOptions } from "./src/console/worker_metrics.ts";
