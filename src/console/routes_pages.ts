/**
 * The console's HTML routes: the pages (GET) and the form actions (POST, then a redirect
 * to the page that shows the result).
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { CENSUS_STATES, type CensusListOptions } from "../queue/census.ts";
import { shardOfTaskId } from "../task/names.ts";
import { ActionError } from "./actions.ts";
import { type ConsoleCore, pageContext } from "./core.ts";
import { overviewPage, unreachablePage } from "./page_overview.ts";
import { errorPage, jobPage } from "./page_misc.ts";
import { type ListFilter, listPage, notFoundPage, taskPage } from "./page_tasks.ts";
import { spendOf } from "./views.ts";

/** Messages shown after a form action, by the key in the redirect (never text from the request). */
const DONE: Record<string, string> = {
  retried: "Retried: the task is pending again.",
  cancelled: "Cancelled.",
  requested: "Cancellation requested: the task ends cancelled when its handler returns.",
  triggered: "Triggered: a run of the schedule was submitted.",
  enabled: "Schedule enabled.",
  disabled: "Schedule disabled.",
  paused: "Paused: no worker claims the type from its next wake-up check (a few seconds).",
  resumed: "Resumed: idle workers are woken.",
};

function flashOf(c: Context): string | null {
  return DONE[c.req.query("done") ?? ""] ?? null;
}

function isTaskId(s: string): boolean {
  try {
    shardOfTaskId(s);
    return true;
  } catch {
    return false;
  }
}

/** Register the pages and form actions. */
export function pageRoutes(app: Hono, core: ConsoleCore): void {
  const b = core.base;

  app.get("/", async (c) => {
    const ctx = pageContext(core, c);
    const { snapshot, error } = await core.cache.current();
    if (snapshot === null) return c.html(unreachablePage(ctx, error!), 503);
    const spend = spendOf(core.store, core.cache, snapshot);
    return c.html(overviewPage(ctx, snapshot, error, core.cache.samples, spend, flashOf(c)));
  });

  app.get("/tasks", async (c) => {
    const ctx = pageContext(core, c);
    const f: ListFilter = {
      state: c.req.query("state") || undefined,
      type: c.req.query("type") || undefined,
      shard: c.req.query("shard") || undefined,
      q: c.req.query("q")?.trim() || undefined,
      cursor: c.req.query("cursor") || undefined,
    };
    // A whole id goes straight to its page (one GET), listed in the snapshot or not.
    if (f.q !== undefined && isTaskId(f.q) && !f.state && !f.type && !f.shard) {
      return c.redirect(`${b}/tasks/${encodeURIComponent(f.q)}`, 303);
    }
    const { snapshot, error } = await core.cache.current();
    if (snapshot === null) return c.html(unreachablePage(ctx, error!), 503);
    if (f.state !== undefined && ![...CENSUS_STATES, "pending"].includes(f.state)) {
      return c.html(errorPage(ctx, "Bad filter", `Unknown state ${JSON.stringify(f.state)}`), 400);
    }
    try {
      const result = core.cache.census.list({
        state: f.state as CensusListOptions["state"],
        taskType: f.type,
        shard: f.shard,
        idPrefix: f.q,
        cursor: f.cursor,
      });
      return c.html(listPage(ctx, snapshot, error, core.cache.census, f, result));
    } catch (e) {
      return c.html(errorPage(ctx, "Bad filter", core.describe(e)), 400);
    }
  });

  app.get("/tasks/:id", async (c) => {
    const ctx = pageContext(core, c);
    const id = c.req.param("id");
    if (!isTaskId(id)) {
      return c.html(notFoundPage(ctx, `No task has the id ${JSON.stringify(id)}`), 404);
    }
    let task;
    try {
      task = await core.cache.task(id);
    } catch (e) {
      return c.html(errorPage(ctx, "Bucket unreachable", core.describe(e)), 503);
    }
    if (task === null) {
      return c.html(notFoundPage(ctx, `Task ${JSON.stringify(id)} not found`), 404);
    }
    let history;
    try {
      const [versions, versioning] = await Promise.all([
        core.cache.history(id),
        core.cache.versioning().catch(() => null),
      ]);
      history = { versions, versioning };
    } catch (e) {
      history = { error: core.describe(e) };
    }
    return c.html(taskPage(ctx, task, history, core.queue.store.now(), flashOf(c)));
  });

  app.get("/jobs/:id", (c) => {
    const ctx = pageContext(core, c);
    const job = core.actions.job(c.req.param("id"));
    if (!job) {
      return c.html(
        notFoundPage(ctx, "No such job in this console process (jobs are kept in memory)"),
        404,
      );
    }
    return c.html(jobPage(ctx, job, core.queue.store.now()));
  });

  // Form actions: each calls the library's operation, then shows the result.
  const act = async (c: Context, run: () => Promise<string>) => {
    try {
      return c.redirect(await run(), 303);
    } catch (e) {
      const err = e instanceof ActionError ? e : new ActionError(500, core.describe(e));
      return c.html(errorPage(pageContext(core, c), "Action failed", err.message), err.status);
    }
  };
  const form = async (c: Context, name: string) => {
    const body = await c.req.parseBody();
    const v = body[name];
    return typeof v === "string" ? v : "";
  };
  const taskUrl = (id: string, done: string) => `${b}/tasks/${encodeURIComponent(id)}?done=${done}`;

  app.post("/actions/tasks/:id/retry", (c) =>
    act(c, async () => {
      const id = c.req.param("id");
      await core.actions.retry(id);
      return taskUrl(id, "retried");
    }));
  app.post("/actions/tasks/:id/cancel", (c) =>
    act(c, async () => {
      const id = c.req.param("id");
      const r = await core.actions.cancel(id, (await form(c, "reason")).slice(0, 500));
      return taskUrl(id, r.outcome === "cancelled" ? "cancelled" : "requested");
    }));
  app.post(
    "/actions/retry-failed",
    (c) =>
      act(c, async () => `${b}/jobs/${core.actions.retryFailed(await form(c, "taskType")).id}`),
  );
  app.post("/actions/cancel-type", (c) =>
    act(c, async () => {
      const job = core.actions.cancelByType(await form(c, "taskType"), false);
      return `${b}/jobs/${job.id}`;
    }));
  app.post("/actions/schedules/:id/trigger", (c) =>
    act(c, async () => {
      const task = await core.actions.triggerSchedule(c.req.param("id"));
      return taskUrl(task.id, "triggered");
    }));
  for (const verb of ["pause", "resume"] as const) {
    app.post(`/actions/types/:type/${verb}`, (c) =>
      act(c, async () => {
        await core.actions.setPaused(c.req.param("type"), verb === "pause");
        return `${b}/?done=${verb}d`;
      }));
  }
  for (const verb of ["enable", "disable"] as const) {
    app.post(`/actions/schedules/:id/${verb}`, (c) =>
      act(c, async () => {
        await core.actions.setScheduleEnabled(c.req.param("id"), verb === "enable");
        return `${b}/?done=${verb}d`;
      }));
  }
}
