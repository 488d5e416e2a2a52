/**
 * Page frame and formatting for the console. Every value is interpolated through hono's
 * `html` template, which escapes it as text (in element content and in attributes): a
 * task input of `<script>alert(1)</script>` is shown, never run. Only the frame itself
 * and templates built here are markup.
 *
 * @module
 */

import { html } from "hono/html";

/** A fragment of markup (the result of an `html` template). */
export type Html = ReturnType<typeof html>;

/** What every page needs to know about the request. */
export interface PageContext {
  /** Mount prefix of the console (`""` or `/admin/oq`). */
  base: string;
  /** The CSRF token to put in forms. */
  csrf: string;
  /** Actions hidden and refused. */
  readOnly: boolean;
  /** A token is required (a logout button is shown). */
  locked: boolean;
  /** Where the queue lives, without secrets (`s3 http://127.0.0.1:9000/bucket`). */
  where: string;
}

/** The whole page around `body`. */
export function page(
  ctx: PageContext,
  o: { title: string; nav?: "overview" | "tasks"; reloadSeconds?: number; body: Html },
): string {
  const b = ctx.base;
  const navLink = (name: "overview" | "tasks", href: string, label: string) =>
    html`<a href="${href}" class="${o.nav === name ? "on" : ""}">${label}</a>`;
  // trimStart: the formatter indents the template; the document starts with its doctype.
  return String(html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="same-origin">
        <title>${o.title} · oq</title>
        <link rel="stylesheet" href="${b}/assets/app.css">
        <script src="${b}/assets/app.js" defer></script>
      </head>
      <body data-reload-seconds="${o.reloadSeconds ?? ""}">
        <header><span class="brand">oq console</span>
    <nav>${navLink("overview", `${b}/`, "Overview")}${navLink("tasks", `${b}/tasks`, "Tasks")}</nav>
    <span class="where">${ctx.where}${ctx.readOnly ? " · read-only" : ""}</span>
    ${ctx.locked
      ? html`
        <form method="post"
          action="${b}/logout"><input type="hidden" name="csrf" value="${ctx
            .csrf}"><button>Log out</button></form>
      `
      : ""}
        </header>
        <main>${o.body}</main>
      </body>
    </html>
  `).trimStart();
}

/** A POST form with one button (and hidden fields), or nothing in read-only mode. */
export function actionForm(
  ctx: PageContext,
  o: {
    action: string;
    label: string;
    fields?: Record<string, string>;
    confirm?: string;
    kind?: "primary" | "danger";
    extra?: Html;
  },
): Html | "" {
  if (ctx.readOnly) return "";
  const fields = Object.entries(o.fields ?? {});
  return html`
    <form class="inline" method="post" action="${ctx.base}${o.action}"
      data-confirm="${o.confirm ?? ""}"><input type="hidden" name="csrf" value="${ctx
        .csrf}">${fields.map(([k, v]) =>
          html`<input type="hidden" name="${k}" value="${v}">`
        )}${o.extra ?? ""}<button class="${o.kind ?? ""}" data-action="${o.label}">${o
        .label}</button></form>
  `;
}

/** An integer with thousands separators. */
export function num(n: number): string {
  return n.toLocaleString("en-US");
}

/** Dollars, with enough digits for small amounts. */
export function usd(x: number): string {
  if (x === 0) return "$0";
  if (x < 0.01) return `$${x.toPrecision(2)}`;
  return `$${x.toFixed(2)}`;
}

/** A duration in words: `45 s`, `12 min`, `3 h 5 min`, `2 d`. */
export function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  return `${Math.round(h / 24)} d`;
}

/** A time with how long ago (or ahead) it is: `2026-11-22 12:00:05Z (3 min ago)`. */
export function when(date: Date | null | undefined, now: number): Html | string {
  if (!date) return "–";
  const d = date.getTime() - now;
  const rel = Math.abs(d) < 1000 ? "now" : d < 0 ? `${duration(d)} ago` : `in ${duration(d)}`;
  const iso = date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  return html`
    <time datetime="${date.toISOString()}" title="${date.toISOString()}">${iso}</time> <span
      class="muted">(${rel})</span>
  `;
}

/** A value as indented JSON. */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? "null";
  } catch {
    return String(value);
  }
}

/** A state badge. */
export function badge(state: string, label = state): Html {
  return html`<span class="badge ${state}">${label}</span>`;
}

/** A message in a banner. */
export function banner(kind: "error" | "note" | "done", message: Html | string): Html {
  return html`<div class="banner ${kind}" role="${
    kind === "error" ? "alert" : "status"
  }">${message}</div>`;
}
