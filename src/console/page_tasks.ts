/**
 * The task list (filtered by state, type and shard, paged, with id search) and the task
 * page (input, output, every attempt's error, the history timeline, actions).
 *
 * @module
 */

import { html } from "hono/html";
import { CENSUS_STATES, type CensusPage, type TaskCensus } from "../queue/census.ts";
import type { Task } from "../task/task.ts";
import type { VersioningState } from "../store/types.ts";
import {
  actionForm,
  badge,
  banner,
  type Html,
  jsonText,
  num,
  page,
  type PageContext,
  when,
} from "./html.ts";
import { staleBanner } from "./page_overview.ts";
import type { RefreshError, Snapshot } from "./snapshot.ts";

/** The filter of the list page, as given in its query. */
export interface ListFilter {
  /** `state`. */
  state?: string;
  /** `type`. */
  type?: string;
  /** `shard`. */
  shard?: string;
  /** `q`: id prefix. */
  q?: string;
  /** `cursor`. */
  cursor?: string;
}

function query(f: ListFilter): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

function select(name: string, label: string, current: string | undefined, options: string[]): Html {
  return html`<label>${label}<select name="${name}"><option value="">any</option>${
    options.map((o) => html`<option value="${o}" ${o === current ? "selected" : ""}>${o}</option>`)
  }</select></label>`;
}

/** The task list. */
export function listPage(
  ctx: PageContext,
  s: Snapshot,
  error: RefreshError | null,
  census: TaskCensus,
  f: ListFilter,
  result: CensusPage,
): string {
  const now = s.at.getTime();
  const types = [...new Set(s.counts.map((c) => c.taskType))].sort();
  const shards = [...new Set(s.counts.map((c) => c.shard))].sort((a, b) => Number(a) - Number(b));
  const rows = result.entries.map((e) => {
    const state = census.stateOf(e);
    return html`
      <tr data-task="${e.id}">
        <td><a href="${ctx.base}/tasks/${encodeURIComponent(e.id)}">${e.id}</a></td>
        <td>${e.taskType}</td>
        <td>${badge(state)}${e.cancelRequested ? " cancel requested" : ""}</td>
        <td>${e.shard}</td>
        <td class="num">${e.attempt}</td>
        <td class="num">${e.retryCount}/${e.maxRetries}</td>
        <td>${when(e.createdAt, now)}</td>
        <td>${when(e.updatedAt, now)}</td>
        <td class="err">${e.lastError ?? ""}</td>
      </tr>
    `;
  });
  const next = result.next ? `${ctx.base}/tasks${query({ ...f, cursor: result.next })}` : null;
  return page(ctx, {
    title: "Tasks",
    nav: "tasks",
    body: html`
      ${staleBanner(error, s)}<h1>Tasks</h1>
      <form class="filters" method="get" action="${ctx.base}/tasks">${select(
        "state",
        "State",
        f.state,
        [...CENSUS_STATES, "pending"],
      )}${select("type", "Task type", f.type, types)}${select("shard", "Shard", f.shard, shards)}
      <label>Id (or its start)<input name="q" value="${f.q ??
        ""}" placeholder="0-01JD…" size="28"></label>
      <button class="primary">Show</button> <a href="${ctx.base}/tasks">clear</a></form>
      <p class="muted"
        data-matched="${result.matched}">${num(result.matched)} matching task${result.matched === 1
          ? ""
          : "s"}, newest first${f.cursor ? " (continued)" : ""}. As of the snapshot of ${s.at
          .toISOString()}.</p>
      <table data-table="tasks">
        <thead>
          <tr>
            <th>Id</th>
            <th>Type</th>
            <th>State</th>
            <th>Shard</th>
            <th class="num">Attempts</th>
            <th class="num">Retries</th>
            <th>Created</th>
            <th>Updated</th>
            <th>Last error</th>
          </tr>
        </thead>
        <tbody>${rows.length ? rows : html`
          <tr>
            <td colspan="9" class="muted">No tasks match.</td>
          </tr>
        `}</tbody>
      </table>
      <p>${f.cursor
        ? html`
          <a href="${ctx.base}/tasks${query({ ...f, cursor: undefined })}">First page</a> ·
        `
        : ""}${next
        ? html`<a href="${next}" rel="next">Next page</a>`
        : html`<span class="muted">Last page</span>`}</p>
    `,
  });
}

function details(t: Task, now: number): Html {
  const row = (k: string, v: Html | string | number) =>
    html`
      <dt>${k}</dt>
      <dd>${v}</dd>
    `;
  return html`
    <dl
      class="kv">${row("Type", t.taskType)}${row("Shard", t.shard)}${row(
        "Created",
        when(t.createdAt, now),
      )}${row("Updated", when(t.updatedAt, now))}${row("Available", when(t.availableAt, now))}${row(
        "Expires",
        when(t.expiresAt, now),
      )}${row("Attempts", t.attempt)}${row("Retries", `${t.retryCount} of ${t.maxRetries}`)}${row(
        "Timeout",
        `${t.timeoutSeconds} s`,
      )}${row("Worker", t.workerId ?? "–")}${row(
        "Lease ends",
        when(t.leaseExpiresAt, now),
      )}${t.cancelRequested || t.cancelReason
        ? row(
          "Cancel",
          `${t.cancelRequested ? "requested" : "done"}${
            t.cancelReason ? `: ${t.cancelReason}` : ""
          }`,
        )
        : ""}${t.progressAt
        ? row("Progress", html`${JSON.stringify(t.progress)} (${when(t.progressAt, now)})`)
        : ""}${t.snoozes ? row("Snoozes", t.snoozes) : ""}${t.priority
        ? row("Priority", t.priority)
        : ""}${row(
          "Finished",
          when(t.completedAt, now),
        )}${row(
          "Idempotency key",
          t.idempotencyKey ?? "–",
        )}${row("Revision", t.revision)}</dl>
  `;
}

function errorsTable(t: Task, now: number): Html {
  if (t.errors.length === 0) return html`<p class="muted">No attempt failed.</p>`;
  return html`
    <table data-table="errors">
      <thead>
        <tr>
          <th class="num">Attempt</th>
          <th>When</th>
          <th>Kind</th>
          <th>Worker</th>
          <th>Message</th>
        </tr>
      </thead>
      <tbody>${t.errors.map((e) =>
        html`
          <tr>
            <td class="num">${e.attempt}</td>
            <td>${when(e.at, now)}</td>
            <td>${e.kind}</td>
            <td>${e.workerId ?? "–"}</td>
            <td class="err">${e.message}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

function historyTable(versions: Task[], versioning: VersioningState | null, now: number): Html {
  const note = versioning === "Enabled" ? "" : banner(
    "note",
    versioning === null
      ? "The bucket's versioning state could not be read: the history may be incomplete."
      : html`The bucket's versioning is ${versioning}: earlier versions of the task are not kept, so the history shows only what the bucket still holds.`,
  );
  return html`
    ${note}<table data-table="history">
      <thead>
        <tr>
          <th class="num">Rev</th>
          <th>Status</th>
          <th class="num">Attempt</th>
          <th class="num">Retries</th>
          <th>Worker</th>
          <th>Updated</th>
          <th>Note</th>
        </tr>
      </thead>
      <tbody>${versions.map((v) =>
        html`
          <tr>
            <td class="num">${v.revision}</td>
            <td>${badge(v.status)}${v.cancelRequested ? " cancel requested" : ""}</td>
            <td class="num">${v.attempt}</td>
            <td class="num">${v.retryCount}</td>
            <td>${v.workerId ?? "–"}</td>
            <td>${when(v.updatedAt, now)}</td>
            <td class="err">${v.lastError ?? ""}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

/** The task page. */
export function taskPage(
  ctx: PageContext,
  t: Task,
  history: { versions: Task[]; versioning: VersioningState | null } | { error: string },
  now: number,
  flash: string | null,
): string {
  const id = encodeURIComponent(t.id);
  const canCancel = t.status === "pending" || (t.status === "running" && !t.cancelRequested);
  const canRetry = t.status === "failed" || t.status === "cancelled" || t.status === "expired";
  const actions = ctx.readOnly
    ? ""
    : html`<div class="actions">${
      canRetry
        ? actionForm(ctx, { action: `/actions/tasks/${id}/retry`, label: "Retry", kind: "primary" })
        : ""
    }${
      canCancel
        ? actionForm(ctx, {
          action: `/actions/tasks/${id}/cancel`,
          label: "Cancel",
          kind: "danger",
          confirm: `Cancel task ${t.id}?`,
          extra: html`
            <input name="reason" placeholder="reason (optional)" maxlength="500">
          `,
        })
        : ""
    }</div>`;
  return page(ctx, {
    title: t.id,
    nav: "tasks",
    body: html`
      ${flash ? banner("done", flash) : ""}<h1>Task <code>${t.id}</code> ${badge(
        t.status,
      )}</h1>${actions}
      <div class="grid2">
        <div>${details(t, now)}</div>
        <div>
          <h2>Input</h2>
          <pre data-field="input">${jsonText(t.input)}</pre>
          <h2>Output</h2>
          <pre data-field="output">${jsonText(t.output)}</pre>
        </div>
      </div>
      <h2>Errors of each attempt</h2>${errorsTable(t, now)}
      <h2>History</h2>${"error" in history
        ? banner("error", html`The history could not be read: ${history.error}`)
        : historyTable(history.versions, history.versioning, now)}
    `,
  });
}

/** The page of an id that is no task. */
export function notFoundPage(ctx: PageContext, what: string): string {
  return page(ctx, {
    title: "Not found",
    body: html`<h1>Not found</h1>${
      banner("error", what)
    }<p><a href="${ctx.base}/tasks">All tasks</a></p>`,
  });
}
