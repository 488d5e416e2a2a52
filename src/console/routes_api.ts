/**
 * The JSON API under `/api` (documented in docs/console.md) and `GET /metrics`. Reads go
 * through the shared snapshot; actions through the library's operations.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { CENSUS_STATES, type CensusListOptions } from "../queue/census.ts";
import { ActionError, type ActionStatus } from "./actions.ts";
import type { ConsoleCore } from "./core.ts";
import { consoleMetrics } from "./metrics.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
import { entryJson, overviewJson, spendOf } from "./views.ts";

/** A JSON error answer: `{"error": {"status": 404, "message": "..."}}`. */
export function jsonError(
  c: Context,
  status: ActionStatus | 401 | 403 | 415,
  message: string,
): Response {
  return c.json({ error: { status, message } }, status);
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ActionError(400, "The body is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ActionError(400, "The body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

function stringField(
  body: Record<string, unknown>,
  name: string,
  required: boolean,
): string | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string") throw new ActionError(400, `Field "${name}" must be a string`);
  return v;
}

/** Register the JSON API and the metrics. */
export function apiRoutes(app: Hono, core: ConsoleCore): void {
  const unreachable = (c: Context, message: string) =>
    jsonError(c, 503, `The bucket cannot be read: ${message}`);
  const act = async (c: Context, run: () => Promise<unknown>, status: 200 | 202 = 200) => {
    try {
      return c.json(await run() as object, status);
    } catch (e) {
      const err = e instanceof ActionError ? e : new ActionError(500, core.describe(e));
      return jsonError(c, err.status, err.message);
    }
  };

  app.get("/metrics", async (c) => {
    const { snapshot, error } = await core.cache.current();
    const text = consoleMetrics(snapshot, error, core.cache, core.store);
    return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });

  app.get("/api/overview", async (c) => {
    const { snapshot, error } = await core.cache.current();
    const body = overviewJson(
      snapshot,
      error,
      core.cache,
      spendOf(core.store, core.cache, snapshot),
    );
    return c.json(body, snapshot === null ? 503 : 200);
  });

  app.get("/api/spend", async (c) => {
    const { snapshot } = await core.cache.current();
    return c.json(spendOf(core.store, core.cache, snapshot));
  });

  app.get("/api/workers", async (c) => {
    const { snapshot, error } = await core.cache.current();
    if (snapshot === null) return unreachable(c, error!.message);
    return c.json(snapshot.workers);
  });

  app.get("/api/schedules", async (c) => {
    const { snapshot, error } = await core.cache.current();
    if (snapshot === null) return unreachable(c, error!.message);
    return c.json(snapshot.schedules);
  });

  app.get("/api/tasks", async (c) => {
    const { snapshot, error } = await core.cache.current();
    if (snapshot === null) return unreachable(c, error!.message);
    const state = c.req.query("state") || undefined;
    if (state !== undefined && ![...CENSUS_STATES, "pending"].includes(state)) {
      return jsonError(
        c,
        400,
        `Invalid state ${JSON.stringify(state)}: one of ${
          [...CENSUS_STATES, "pending"].join(", ")
        }`,
      );
    }
    const limitText = c.req.query("limit") ?? "50";
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000) {
      return jsonError(
        c,
        400,
        `Invalid limit ${JSON.stringify(limitText)}: an integer from 1 to 1000`,
      );
    }
    try {
      const page = core.cache.census.list({
        state: state as CensusListOptions["state"],
        taskType: c.req.query("type") || undefined,
        shard: c.req.query("shard") || undefined,
        idPrefix: c.req.query("q") || undefined,
        cursor: c.req.query("cursor") || undefined,
        limit,
      });
      return c.json({
        at: snapshot.at.toISOString(),
        matched: page.matched,
        next: page.next,
        tasks: page.entries.map((e) => entryJson(core.cache.census, e)),
      });
    } catch (e) {
      return jsonError(c, 400, core.describe(e));
    }
  });

  app.get("/api/tasks/:id", (c) =>
    act(c, async () => {
      const id = c.req.param("id");
      const task = await core.cache.task(id).catch((e) => {
        throw e instanceof TypeError ? new ActionError(404, core.describe(e)) : e;
      });
      if (task === null) throw new ActionError(404, `Task ${JSON.stringify(id)} not found`);
      return task;
    }));

  app.get("/api/tasks/:id/history", (c) =>
    act(c, async () => {
      const id = c.req.param("id");
      const versions = await core.cache.history(id).catch((e) => {
        throw e instanceof TypeError ? new ActionError(404, core.describe(e)) : e;
      });
      if (versions.length === 0) throw new ActionError(404, `Task ${JSON.stringify(id)} not found`);
      return { versioning: await core.cache.versioning().catch(() => null), versions };
    }));

  app.get("/api/jobs/:id", (c) => {
    const job = core.actions.job(c.req.param("id"));
    if (!job) return jsonError(c, 404, "No such job in this console process");
    return c.json(job);
  });

  app.post("/api/tasks/:id/cancel", (c) =>
    act(c, async () => {
      const reason = stringField(await jsonBody(c), "reason", false);
      return await core.actions.cancel(c.req.param("id"), reason);
    }));
  app.post("/api/tasks/:id/retry", (c) => act(c, () => core.actions.retry(c.req.param("id"))));
  app.post("/api/bulk/retry-failed", (c) =>
    act(c, async () => {
      const taskType = stringField(await jsonBody(c), "taskType", true)!;
      return core.actions.retryFailed(taskType);
    }, 202));
  app.post("/api/bulk/cancel", (c) =>
    act(c, async () => {
      const body = await jsonBody(c);
      const taskType = stringField(body, "taskType", true)!;
      if (body.includeRunning !== undefined && typeof body.includeRunning !== "boolean") {
        throw new ActionError(400, `Field "includeRunning" must be true or false`);
      }
      return core.actions.cancelByType(taskType, body.includeRunning === true);
    }, 202));
  app.get("/api/paused", async (c) => {
    const { snapshot, error } = await core.cache.current();
    if (snapshot === null) return unreachable(c, error!.message);
    return c.json(snapshot.paused);
  });
  app.get("/api/limits", async (c) => {
    const { snapshot, error } = await core.cache.current();
    if (snapshot === null) return unreachable(c, error!.message);
    return c.json(snapshot.limits);
  });
  app.post("/api/types/:type/pause", (c) =>
    act(c, async () => {
      const body = await jsonBody(c);
      const reason = stringField(body, "reason", false);
      return core.actions.setPaused(c.req.param("type"), true, reason);
    }));
  app.post(
    "/api/types/:type/resume",
    (c) => act(c, () => core.actions.setPaused(c.req.param("type"), false)),
  );
  app.post(
    "/api/schedules/:id/trigger",
    (c) => act(c, () => core.actions.triggerSchedule(c.req.param("id"))),
  );
  app.post(
    "/api/schedules/:id/enable",
    (c) => act(c, () => core.actions.setScheduleEnabled(c.req.param("id"), true)),
  );
  app.post(
    "/api/schedules/:id/disable",
    (c) => act(c, () => core.actions.setScheduleEnabled(c.req.param("id"), false)),
  );
}
