/**
 * oq in a Cloudflare Worker: the fetch handler submits tasks (`POST /tasks` with
 * `{"type": "greet", "input": {...}}`), the scheduled handler (a Cron Trigger) drains them
 * with `worker.runUntilIdle()`. Every setting comes from the Worker's env bindings: vars
 * S3_ENDPOINT, S3_BUCKET, S3_REGION and secrets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 * (wrangler.toml). See docs/deploy.md. The runtime tests run this file in workerd.
 */
import { connect, type Handler, Worker } from "oq";

/** The Worker's bindings (strings; other bindings are ignored by connect). */
export type Env = Record<string, unknown>;

// The task types this Worker accepts and runs.
const handlers: Record<string, Handler> = {
  greet: (input) => ({ hello: (input as { name?: unknown }).name ?? "world" }),
};

// Cron runs of the free plan get 30 s of wall time at most here: keep a margin.
const DRAIN_BUDGET_MS = 25_000;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/tasks" || request.method !== "POST") {
      return new Response("Not found\n", { status: 404 });
    }
    const body = await request.json().catch(() => null) as
      | { type?: unknown; input?: unknown }
      | null;
    const type = typeof body?.type === "string" ? body.type : "";
    if (!Object.hasOwn(handlers, type)) {
      return Response.json({ error: `Unknown task type "${type}"` }, { status: 400 });
    }
    const queue = await connect({ env });
    const task = await queue.submit(type, body?.input ?? null);
    return Response.json({ id: task.id, status: task.status }, { status: 201 });
  },

  async scheduled(controller: { scheduledTime: number }, env: Env): Promise<void> {
    const queue = await connect({ env });
    const worker = new Worker(queue, `cron-${controller.scheduledTime}`);
    for (const [type, handler] of Object.entries(handlers)) worker.task(type, handler);
    const summary = await worker.runUntilIdle({ maxTimeMs: DRAIN_BUDGET_MS });
    console.log(JSON.stringify({ event: "oq:drained", ...summary }));
  },
};
