/**
 * The console as one web-standard handler, `(Request) => Promise<Response>`, built with
 * hono: it runs unchanged in `oq serve`, or mounted under a path in your own Deno, Bun,
 * Node or Cloudflare Workers app. Access rules run before every route (see security.ts).
 *
 * @module
 */

import { type Context, Hono, type Next } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Queue } from "../queue/queue.ts";
import { CSS, JS } from "./assets.ts";
import { type ConsoleCore, type ConsoleOptions, createCore, pageContext } from "./core.ts";
import { errorPage, loginPage } from "./page_misc.ts";
import { apiRoutes, jsonError } from "./routes_api.ts";
import { pageRoutes } from "./routes_pages.ts";
import {
  type Access,
  CSRF_COOKIE,
  randomHex,
  sameOrigin,
  sameText,
  SESSION_COOKIE,
} from "./security.ts";

/** A console: answers every request under its base path. */
export type ConsoleHandler = (request: Request) => Promise<Response>;

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

function isSecure(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" ||
    c.req.header("x-forwarded-proto")?.split(",")[0]?.trim() === "https";
}

/**
 * Create a console for a queue: pages, a JSON API under `/api` and `GET /metrics`, all
 * under `basePath`. It sends requests only when asked (at most one refresh of the queue
 * per `refreshSeconds`, shared by every viewer), through its own queue over the same
 * store, so that it can count what it spends. See docs/console.md.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { createConsole } from "./app.ts";
 * const queue = new Queue(new MemoryStore());
 * const oqConsole = createConsole(queue, { basePath: "/admin/oq", readOnly: true });
 * const res = await oqConsole(new Request("http://127.0.0.1/admin/oq/api/overview"));
 * console.log(res.status); // 200
 * // Deno.serve(oqConsole), Bun.serve({ fetch: oqConsole }), or in hono:
 * // app.all("/admin/oq/*", (c) => oqConsole(c.req.raw))
 * ```
 */
export function createConsole(queue: Queue, options: ConsoleOptions = {}): ConsoleHandler {
  const core = createCore(queue, options);
  const root = new Hono({ strict: false });
  const app = core.base === "" ? root : root.basePath(core.base);
  app.use("*", (c, next) => guard(core, c, next));
  app.get(
    "/assets/app.css",
    (c) => c.body(CSS, 200, { "content-type": "text/css; charset=utf-8" }),
  );
  app.get(
    "/assets/app.js",
    (c) => c.body(JS, 200, { "content-type": "text/javascript; charset=utf-8" }),
  );
  loginRoutes(app, core);
  pageRoutes(app, core);
  apiRoutes(app, core);
  root.notFound((c) => {
    if (isApi(core, c)) return jsonError(c, 404, "No such API path");
    return c.html(errorPage(pageContext(core, c), "Not found", "No such page"), 404);
  });
  root.onError((e, c) => {
    const message = core.describe(e);
    if (isApi(core, c)) return jsonError(c, 500, message);
    return c.html(errorPage(pageContext(core, c), "Error", message), 500);
  });
  return async (request: Request) => await root.fetch(request);
}

function rel(core: ConsoleCore, c: Context): string {
  return c.req.path.slice(core.base.length) || "/";
}

function isApi(core: ConsoleCore, c: Context): boolean {
  const p = rel(core, c);
  return p.startsWith("/api/") || p === "/metrics";
}

async function guard(core: ConsoleCore, c: Context, next: Next): Promise<Response | void> {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
  const api = isApi(core, c);
  const refuse = (status: 401 | 403 | 415, message: string) =>
    api ? jsonError(c, status, message) : c.html(
      errorPage(pageContext(core, c), status === 401 ? "Log in" : "Refused", message),
      status,
    );
  if (!core.guard.hostOk(c.req.raw)) {
    return refuse(
      403,
      `Host "${c.req.header("host")}" is not answered: without a token the console answers ` +
        "loopback names and IP addresses only (a guard against DNS rebinding)",
    );
  }
  const path = rel(core, c);
  const post = c.req.method === "POST";
  if (post && !sameOrigin(c.req.raw)) return refuse(403, "Refused: a cross-site request");
  // The CSRF cookie: a random value forms echo back (double submit).
  let csrf = getCookie(c, CSRF_COOKIE);
  if (csrf === undefined || !/^[0-9a-f]{32}$/.test(csrf)) {
    csrf = randomHex(16);
    setCookie(c, CSRF_COOKIE, csrf, cookieOptions(core, c));
  }
  c.set("csrf" as never, csrf as never);
  if (path.startsWith("/assets/") || path === "/login") return await next();
  const access = await core.guard.access(c.req.raw, getCookie(c, SESSION_COOKIE));
  if (access === null) {
    if (api) {
      c.header("www-authenticate", 'Bearer realm="oq console"');
      return jsonError(c, 401, "A token is required: Authorization: Bearer <token>");
    }
    return c.html(loginPage(pageContext(core, c), c.req.path, false), 401);
  }
  if (post) {
    const problem = await postProblem(core, c, path, access, csrf);
    if (problem) return refuse(problem.status, problem.message);
  }
  return await next();
}

async function postProblem(
  core: ConsoleCore,
  c: Context,
  path: string,
  access: Access,
  csrf: string,
): Promise<{ status: 403 | 415; message: string } | null> {
  const action = path.startsWith("/actions/") || path.startsWith("/api/");
  if (core.readOnly && action) return { status: 403, message: "The console is read-only" };
  if (access === "bearer") return null; // never sent by a browser on its own
  if (path.startsWith("/api/")) {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/json\b/i.test(type)) {
      return { status: 415, message: "POST /api/... takes Content-Type: application/json" };
    }
    return null;
  }
  const body = await c.req.parseBody();
  const given = typeof body.csrf === "string" ? body.csrf : "";
  if (!sameText(given, csrf)) {
    return {
      status: 403,
      message: "Refused: the form's CSRF token is missing or stale; reload the page",
    };
  }
  return null;
}

function cookieOptions(core: ConsoleCore, c: Context) {
  return {
    path: core.base || "/",
    httpOnly: true,
    sameSite: "Strict" as const,
    secure: isSecure(c),
  };
}

function loginRoutes(app: Hono, core: ConsoleCore): void {
  const b = core.base;
  app.get("/login", (c) => {
    if (!core.guard.locked) return c.redirect(`${b}/`, 303);
    return c.html(loginPage(pageContext(core, c), safeNext(b, c.req.query("next")), false));
  });
  app.post("/login", async (c) => {
    if (!core.guard.locked) return c.redirect(`${b}/`, 303);
    const body = await c.req.parseBody();
    const token = typeof body.token === "string" ? body.token : "";
    const next = safeNext(b, typeof body.next === "string" ? body.next : undefined);
    if (!(await core.guard.isToken(token))) {
      return c.html(loginPage(pageContext(core, c), next, true), 401);
    }
    setCookie(c, SESSION_COOKIE, await core.guard.session(), cookieOptions(core, c));
    return c.redirect(next, 303);
  });
  app.post("/logout", (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: b || "/" });
    return c.redirect(`${b}/login`, 303);
  });
}

/** A redirect target inside the console (anything else goes to its overview). */
function safeNext(base: string, next: string | undefined): string {
  if (next && next.startsWith(`${base}/`) && !next.startsWith("//") && !/[\\\s]/.test(next)) {
    return next;
  }
  return `${base}/`;
}
