/**
 * The overview page: tasks by state (per type and per shard), limits in use, queue latency,
 * workers, schedules, depth over time, and what the console itself spends.
 *
 * @module
 */

import { html } from "hono/html";
import { CENSUS_STATES, type CensusState } from "../queue/census.ts";
import { REQUEST_KINDS } from "../s3/counters.ts";
import { depthChart } from "./chart.ts";
import { limitsSection } from "./limits_table.ts";
import {
  actionForm,
  badge,
  banner,
  duration,
  type Html,
  num,
  page,
  type PageContext,
  usd,
  when,
} from "./html.ts";
import type { DepthSample, RefreshError, Snapshot } from "./snapshot.ts";
import { groupCounts, type Spend } from "./views.ts";

const LABELS: Record<CensusState, string> = {
  ready: "ready",
  scheduled: "scheduled",
  running: "running",
  completed: "completed",
  failed: "failed (dead letters)",
  cancelled: "cancelled",
  expired: "expired",
  archived: "archived",
};

/** The page when the bucket has never been read: the error, with the console still up. */
export function unreachablePage(ctx: PageContext, error: RefreshError): string {
  return page(ctx, {
    title: "Bucket unreachable",
    nav: "overview",
    reloadSeconds: 10,
    body: html`
      <h1>The bucket cannot be read</h1>${banner("error", html`${error.message}`)}<p
        class="muted">The console is up and tries again at the next page load (this page reloads every 10 s). Check the endpoint, the bucket name and the credentials the console was started with.</p>
    `,
  });
}

/** A refresh error above the last good snapshot. */
export function staleBanner(error: RefreshError | null, s: Snapshot): Html | "" {
  if (error === null) return "";
  return banner(
    "error",
    html`The bucket could not be read (${error.message}). Showing the snapshot of ${s.at.toISOString()}.`,
  );
}

function stateTable(
  ctx: PageContext,
  rows: Array<{ name: string; counts: Record<CensusState, number> & { total: number } }>,
  by: "type" | "shard",
  paused: ReadonlySet<string> = new Set(),
): Html {
  const link = (name: string, state: CensusState, n: number) =>
    n === 0
      ? html`<span class="muted">0</span>`
      : html`<a href="${ctx.base}/tasks?${by}=${encodeURIComponent(name)}&amp;state=${state}">${
        num(n)
      }</a>`;
  return html`
    <table data-table="by-${by}">
      <thead>
        <tr><th>${by === "type" ? "Task type" : "Shard"}</th>${CENSUS_STATES.map((s) =>
          html`<th class="num">${s}</th>`
        )}<th class="num">total</th>${by === "type" && !ctx.readOnly
          ? html`<th>Actions</th>`
          : ""}</tr>
      </thead>
      <tbody>${rows.length === 0
        ? html`
          <tr>
            <td colspan="10" class="muted">No tasks.</td>
          </tr>
        `
        : rows.map((r) =>
          html`
            <tr
              data-row="${r.name}"><td>${r.name}${paused.has(r.name)
                ? html`
                  ${badge("disabled", "paused")}
                `
                : ""}</td>${CENSUS_STATES.map((s) =>
                  html`<td class="num" data-state="${s}">${link(r.name, s, r.counts[s])}</td>`
                )}<td class="num">${num(r.counts.total)}</td>${by === "type" && !ctx.readOnly
                ? html`<td>${
                  r.counts.failed > 0
                    ? actionForm(ctx, {
                      action: "/actions/retry-failed",
                      label: `Retry ${num(r.counts.failed)} failed`,
                      fields: { taskType: r.name },
                      confirm: `Retry every failed task of type ${r.name}?`,
                    })
                    : ""
                } ${
                  actionForm(
                    ctx,
                    paused.has(r.name)
                      ? {
                        action: `/actions/types/${encodeURIComponent(r.name)}/resume`,
                        label: "Resume",
                      }
                      : {
                        action: `/actions/types/${encodeURIComponent(r.name)}/pause`,
                        label: "Pause",
                        confirm: `Pause ${r.name} for every worker? Running tasks finish.`,
                      },
                  )
                } ${
                  r.counts.ready + r.counts.scheduled > 0
                    ? actionForm(ctx, {
                      action: "/actions/cancel-type",
                      label: "Cancel pending",
                      fields: { taskType: r.name },
                      confirm: `Cancel every pending task of type ${r.name}?`,
                      kind: "danger",
                    })
                    : ""
                }</td>`
                : ""}</tr>
          `
        )}</tbody>
    </table>
  `;
}

function pausedNote(s: Snapshot, now: number): Html | "" {
  if (s.paused.length === 0) return "";
  return html`
    <p
      data-paused>Paused for every worker: ${s.paused.map((c, i) =>
        html`${i > 0 ? ", " : ""}<strong>${c.taskType}</strong> (${when(c.updatedAt, now)}${
          c.reason ? html`: ${c.reason}` : ""
        })`
      )}. Their tasks wait, pending; submitting still works.</p>
  `;
}

function workersTable(s: Snapshot): Html {
  const now = s.at.getTime();
  if (s.workers.length === 0) return html`<p class="muted">No worker heartbeats.</p>`;
  return html`
    <table data-table="workers">
      <thead>
        <tr>
          <th>Worker</th>
          <th>Runtime</th>
          <th class="num">In flight</th>
          <th>Types</th>
          <th>Shards</th>
          <th>Started</th>
          <th>Last heartbeat</th>
          <th></th>
        </tr>
      </thead>
      <tbody>${s.workers.map((w) =>
        html`
          <tr>
            <td>${w.worker_id}</td>
            <td>${w.runtime}</td>
            <td class="num">${w.in_flight}/${w.concurrency}</td>
            <td>${w.task_types.join(", ")}</td>
            <td>${w.shards.join(", ")}</td>
            <td>${when(new Date(w.started_at), now)}</td>
            <td>${when(new Date(w.last_seen_at), now)}</td>
            <td>${w.stale ? badge("stale", "stale") : badge("alive", "alive")}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

function schedulesTable(ctx: PageContext, s: Snapshot): Html {
  const now = s.at.getTime();
  if (s.schedules.length === 0) return html`<p class="muted">No schedules.</p>`;
  return html`
    <table data-table="schedules">
      <thead>
        <tr><th>Schedule</th><th>Task type</th><th>Cron</th><th></th><th>Last run</th><th>Next run</th>${ctx
            .readOnly
          ? ""
          : html`<th>Actions</th>`}</tr>
      </thead>
      <tbody>${s.schedules.map(({ schedule: x, lastRun, nextRunAt }) => {
        const id = encodeURIComponent(x.id);
        return html`
          <tr
            data-row="${x.id}"><td>${x.id}</td><td>${x.taskType}</td><td><code>${x
              .cron}</code> <span class="muted">${x.timezone}</span></td><td>${x.enabled
              ? badge("alive", "enabled")
              : badge("disabled", "disabled")}</td><td>${lastRun
              ? html`${when(lastRun.lastRunAt, now)} <a href="${ctx.base}/tasks/${
                encodeURIComponent(lastRun.lastTaskId)
              }">task</a>`
              : "–"}</td><td>${when(nextRunAt, now)}</td>${ctx.readOnly
              ? ""
              : html`<td>${
                actionForm(ctx, {
                  action: `/actions/schedules/${id}/trigger`,
                  label: "Trigger",
                  confirm: `Submit a run of ${x.id} now?`,
                })
              } ${
                actionForm(ctx, {
                  action: `/actions/schedules/${id}/${x.enabled ? "disable" : "enable"}`,
                  label: x.enabled ? "Disable" : "Enable",
                })
              }</td>`}</tr>
        `;
      })}</tbody>
    </table>
  `;
}

function spendSection(spend: Spend): Html {
  const kinds = REQUEST_KINDS.filter((k) => spend.perRefresh[k] > 0 || spend.sinceStart[k] > 0);
  return html`
    <table data-table="spend">
      <thead>
        <tr><th>Requests</th>${kinds.map((k) =>
          html`<th class="num">${k}</th>`
        )}<th class="num">USD</th></tr>
      </thead>
      <tbody>
        <tr><td>last refresh</td>${kinds.map((k) =>
          html`<td class="num">${num(spend.perRefresh[k])}</td>`
        )}<td class="num">${usd(spend.perRefreshUsd)}</td></tr>
        <tr><td>since the console started (${num(
          spend.refreshes,
        )} refreshes, pages, actions)</td>${kinds.map((k) =>
          html`<td class="num">${num(spend.sinceStart[k])}</td>`
        )}<td class="num">${usd(spend.sinceStartUsd)}</td></tr>
      </tbody>
    </table>
    <p
      data-spend-month>At one refresh every ${duration(
        spend.refreshSeconds * 1000,
      )} (someone always watching), the console sends <b>${num(
        spend.monthlyRequests,
      )}</b> requests a month: <b>${usd(
        spend.monthlyUsd,
      )}</b> a month at AWS S3 list prices. Nobody watching: no requests. Every viewer and <code>/metrics</code> share the same refresh.</p>
  `;
}

/** The overview. */
export function overviewPage(
  ctx: PageContext,
  s: Snapshot,
  error: RefreshError | null,
  samples: readonly DepthSample[],
  spend: Spend,
  flash: string | null,
): string {
  const now = s.at.getTime();
  const unread = s.census.unread;
  const latency = s.oldestReadyAt ? duration(now - s.oldestReadyAt.getTime()) : "none ready";
  return page(ctx, {
    title: "Overview",
    nav: "overview",
    reloadSeconds: unread > 0 ? 2 : spend.refreshSeconds,
    body: html`
            ${staleBanner(error, s)}${flash ? banner("done", flash) : ""}${unread > 0
              ? banner(
                "note",
                html`Counting: ${num(unread)} of ${
                  num(s.census.objects)
                } task objects are not read yet (at most ${
                  num(s.census.read)
                } per refresh; this page reloads until they are); the counts below leave them out until then.`,
              )
              : ""}<h1>Overview</h1>
            <div
        class="cards">${CENSUS_STATES.filter((st) => st !== "archived" || s.totals.archived > 0)
          .map((st) =>
            html`
              <a class="card ${st}" href="${ctx.base}/tasks?state=${st}"
                data-card="${st}"><span class="n">${num(
                  s.totals[st],
                )}</span><span class="l">${LABELS[st]}</span></a>
            `
          )}<div class="card" data-card="latency"><span class="n">${latency}</span><span class="l">oldest ready task waits</span></div>
            <div class="card" data-card="workers"><span class="n">${num(
              s.workers.filter((w) => !w.stale).length,
            )}</span><span class="l">workers alive</span></div></div>
            <h2>Depth since the console started</h2>${depthChart(samples)}
            <h2>By task type</h2>${pausedNote(s, now)}${stateTable(
              ctx,
              groupCounts(s, "taskType"),
              "type",
              new Set(s.paused.map((c) => c.taskType)),
            )}
      ${limitsSection(s.limits)}
            <h2>By shard</h2>${stateTable(ctx, groupCounts(s, "shard"), "shard")}
            <h2>Workers</h2>${workersTable(s)}
            <h2>Schedules</h2>${schedulesTable(ctx, s)}
            <h2>What this console spends</h2>${spendSection(spend)}
            <p class="muted"
        data-census>Snapshot of ${when(s.at, now)}; refreshed at most every ${duration(
          spend.refreshSeconds * 1000,
        )} for all viewers, from the ready and deadline indexes. Finished tasks are counted from the last full listing of the ${num(
          s.census.objects,
        )} task objects (${when(
          s.census.fullAt,
          now,
        )}), plus those seen leaving the indexes since. ${num(
          s.census.read,
        )} tasks read by the last refresh.</p>
    `,
  });
}
