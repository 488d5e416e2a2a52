/**
 * The small pages: login, a bulk job's progress, and errors.
 *
 * @module
 */

import { html } from "hono/html";
import type { Job } from "./actions.ts";
import { banner, num, page, type PageContext, when } from "./html.ts";

/** The login form (a token sets the session cookie). */
export function loginPage(ctx: PageContext, next: string, failed: boolean): string {
  return page({ ...ctx, locked: false }, {
    title: "Log in",
    body: html`<form class="login" method="post" action="${ctx.base}/login">
<h1>Log in</h1>${failed ? banner("error", "That token is not the console's.") : ""}
<p class="muted">This console needs its token (<code>oq serve --token</code>).</p>
<input type="hidden" name="next" value="${next}">
<label>Token<input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button class="primary">Log in</button></form>`,
  });
}

const JOB_LABEL: Record<Job["kind"], string> = {
  "retry-failed": "Retry every failed task",
  "cancel-type": "Cancel every pending task",
};

/** A bulk job's progress (reloads itself while it runs). */
export function jobPage(ctx: PageContext, job: Job, now: number): string {
  const verb = job.kind === "retry-failed" ? "retried" : "cancelled";
  return page(ctx, {
    title: `${JOB_LABEL[job.kind]} of ${job.taskType}`,
    nav: "overview",
    reloadSeconds: job.state === "running" ? 1 : undefined,
    body: html`
      <h1>${JOB_LABEL[job.kind]} of type <code>${job.taskType}</code></h1>
      <div data-job-state="${job.state}">${job.state === "running"
        ? html`
          Running: ${num(job.done)} of ${num(job.total)} done. <progress max="${Math.max(
            1,
            job.total,
          )}"
            value="${job.done}"></progress>
        `
        : job.state === "done"
        ? banner("done", `Done: ${num(job.changed)} ${verb}, ${num(job.skipped)} skipped.`)
        : banner("error", `Stopped after ${num(job.done)} tasks: ${job.error}`)}</p>
      <p
        class="muted">Started ${when(job.startedAt, now)}${job.finishedAt
          ? html`, ended ${when(job.finishedAt, now)}`
          : ""}.</p>${job.skippedTasks.length > 0
          ? html`
            <h2>Skipped</h2>
            <table>
              <thead>
                <tr>
                  <th>Task</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>${job.skippedTasks.map((s) =>
                html`
                  <tr>
                    <td><a href="${ctx.base}/tasks/${encodeURIComponent(s.taskId)}">${s
                      .taskId}</a></td>
                    <td>${s.reason}</td>
                  </tr>
                `
              )}</tbody>
            </table>
          `
          : ""}<p><a href="${ctx.base}/">Back to the overview</a></p>
    `,
  });
}

/** An error page (refused, not found, failed action). */
export function errorPage(ctx: PageContext, title: string, message: string): string {
  return page(ctx, {
    title,
    body: html`<h1>${title}</h1>${
      banner("error", message)
    }<p><a href="${ctx.base}/">Back to the overview</a></p>`,
  });
}
