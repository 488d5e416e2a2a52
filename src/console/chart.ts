/**
 * The depth-over-time chart of the overview: an inline SVG drawn on the server from the
 * samples taken at each refresh (no script, no external asset).
 *
 * @module
 */

import { html } from "hono/html";
import type { Html } from "./html.ts";
import type { DepthSample } from "./snapshot.ts";

const W = 1200;
const H = 180;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };
const SERIES = ["ready", "scheduled", "running", "failed"] as const;

/** A round upper bound for the y axis (1, 2, 5 × 10^n). */
function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

/** The chart of `samples` (oldest first), or a note while there are fewer than two. */
export function depthChart(samples: readonly DepthSample[]): Html {
  if (samples.length < 2) {
    return html`
      <p
        class="muted">The chart starts with the second refresh (one sample per refresh since the console started).</p>
    `;
  }
  const t0 = samples[0]!.at;
  const t1 = samples[samples.length - 1]!.at;
  const span = Math.max(1, t1 - t0);
  const top = niceMax(Math.max(...samples.flatMap((s) => SERIES.map((k) => s[k]))));
  const x = (t: number) => PAD.left + (t - t0) / span * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom);
  const lines = SERIES.map((k) => {
    const points = samples.map((s) => `${x(s.at).toFixed(1)},${y(s[k]).toFixed(1)}`).join(" ");
    return html`<polyline class="line ${k}" points="${points}"></polyline>`;
  });
  const ticks = [0, top / 2, top].map((v) =>
    html`
      <line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}"></line>
      <text class="axis" x="${PAD.left - 6}" y="${y(v) + 3}" text-anchor="end">${v}</text>
    `
  );
  return html`
    <div class="chart">
      <svg viewBox="0 0 ${W} ${H}" role="img"
        aria-label="Tasks ready, scheduled, running and failed since the console started">${ticks}${lines}
    <text class="axis" x="${PAD.left}" y="${H - 4}">${clock(t0)}</text>
    <text class="axis" x="${W - PAD.right}" y="${H - 4}" text-anchor="end">${clock(
      t1,
    )} UTC</text></svg>
      <div class="legend">${SERIES.map((k) => html`<span><i class="${k}"></i>${k}</span>`)}</div>
    </div>
  `;
}
