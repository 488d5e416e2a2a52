/**
 * The overview's limits section: each limited task type with its slots in use against its
 * concurrency limit and its recent starts against its rate limit (src/protocol/type_limits.ts
 * reads them; the snapshot refreshes them with the rest).
 *
 * @module
 */

import { html } from "hono/html";
import type { LimitUsage } from "../protocol/type_limits.ts";
import { badge, type Html, num } from "./html.ts";

function per(windowMs: number): string {
  return windowMs === 1000 ? "s" : windowMs === 60_000 ? "min" : `${num(windowMs)} ms`;
}

/** "used / limit", marked full when the limit is reached. */
function use(used: number, limit: number, unit: string, kind: string): Html {
  return html`<span data-use="${kind}">${num(used)} / ${num(limit)}</span> ${unit}${
    used >= limit
      ? html`
        ${badge("running", "full")}
      `
      : ""
  }`;
}

/** The section, or nothing when no known type has a limit. */
export function limitsSection(limits: readonly LimitUsage[]): Html | "" {
  if (limits.length === 0) return "";
  return html`
    <h2>Limits</h2>
    <table data-table="limits">
      <thead>
        <tr>
          <th>Task type</th>
          <th>Concurrency (slots in use / limit)</th>
          <th>Rate (starts in the last window / limit)</th>
        </tr>
      </thead>
      <tbody>${limits.map((u) =>
        html`
          <tr data-row="${u.taskType}">
            <td>${u.taskType}${u.paused
              ? html`
                ${badge("disabled", "paused")}
              `
              : ""}</td>
            <td>${u.concurrency === null
              ? html`<span class="muted">none</span>`
              : use(u.slotsInUse ?? 0, u.concurrency, "running", "slots")}</td>
            <td>${u.rateLimit === null ? html`<span class="muted">none</span>` : use(
              u.recentStarts ?? 0,
              u.rateLimit.limit,
              `per ${per(u.rateLimit.windowMs)}`,
              "rate",
            )}</td>
          </tr>
        `
      )}</tbody>
    </table>
    <p
      class="muted">Counted across every worker: a slot is held from the claim until the outcome is written (a crashed worker's until its lease ends); starts are those recorded in the rate log.</p>
  `;
}
