/**
 * The console's handler tested directly with web Requests (no server, every runtime): the
 * JSON API, /metrics, the pages' escaping, access rules, CSRF defence, read-only mode, the
 * shared cache, an unreachable bucket, and mounting under a prefix.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createConsole } from "../console.ts";
import { StoreError } from "../src/base/errors.ts";
import type { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue as QueueClass } from "../src/queue/queue.ts";
import { FAILED_ERROR, type Seeded, seedLimits, seedQueue, XSS_INPUT } from "./console_seed.ts";
import { FakeClock, it, until } from "./helpers.ts";

const ORIGIN = "http://127.0.0.1:8080";

/** A test over a freshly seeded queue, closed afterwards. */
function seededIt(name: string, fn: (s: Seeded) => Promise<void>): void {
  it(name, async () => {
    const s = await seedQueue();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  });
}

function postForm(
  h: (r: Request) => Promise<Response>,
  path: string,
  body: string,
  headers: Record<string, string> = {},
) {
  return h(
    new Request(`${ORIGIN}${path}`, {
      method: "POST",
      headers: {
        host: "127.0.0.1:8080",
        "content-type": "application/x-www-form-urlencoded",
        ...headers,
      },
      body,
    }),
  );
}

function get(h: (r: Request) => Promise<Response>, path: string, headers: HeadersInit = {}) {
  return h(new Request(`${ORIGIN}${path}`, { headers: { host: "127.0.0.1:8080", ...headers } }));
}

function postJson(
  h: (r: Request) => Promise<Response>,
  path: string,
  body: unknown = {},
  headers: Record<string, string> = {},
) {
  return h(
    new Request(`${ORIGIN}${path}`, {
      method: "POST",
      headers: { host: "127.0.0.1:8080", "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
  );
}

/** The value of a cookie a response sets. */
function setCookie(res: Response, name: string): string | undefined {
  for (const c of res.headers.getSetCookie()) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(c);
    if (m) return m[1];
  }
  return undefined;
}

describe("console JSON API", () => {
  seededIt(
    "the overview counts a seeded queue: one task in each state, by type and shard",
    async (s) => {
      await s.queue.createSchedule("nightly", "report", { n: 1 }, "0 2 * * *");
      const h = createConsole(s.queue);
      const res = await get(h, "/api/overview");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      const o = await res.json();
      for (
        const st of ["ready", "scheduled", "running", "completed", "failed", "cancelled", "expired"]
      ) {
        assert.equal(o.totals[st], 1, st);
      }
      const email = o.byType.find((t: { taskType: string }) => t.taskType === "email");
      assert.deepEqual([email.completed, email.failed, email.scheduled], [1, 1, 1]);
      assert.equal(o.byShard.reduce((n: number, x: { total: number }) => n + x.total, 0), 7);
      assert.equal(typeof o.oldestReadyAgeSeconds, "number");
      assert.deepEqual(o.schedules.map((x: { schedule: { id: string } }) => x.schedule.id), [
        "nightly",
      ]);
      assert.equal(o.schedules[0].nextRunAt, "2026-11-23T02:00:00.000Z");
      assert.equal(o.error, null);
      assert.ok(o.spend.perRefresh.LIST >= 3, "tasks, workers and schedules listed");
    },
  );

  seededIt(
    "lists tasks by state and type in pages, and answers a task and its history",
    async (s) => {
      const h = createConsole(s.queue);
      const failed = await (await get(h, "/api/tasks?state=failed")).json();
      assert.equal(failed.matched, 1);
      assert.equal(failed.tasks[0].id, s.ids.failed);
      assert.equal(failed.tasks[0].state, "failed");
      assert.match(failed.tasks[0].lastError, /boom/);
      const p1 = await (await get(h, "/api/tasks?limit=4")).json();
      assert.equal(p1.tasks.length, 4);
      const p2 = await (await get(h, `/api/tasks?limit=4&cursor=${encodeURIComponent(p1.next)}`))
        .json();
      assert.equal(p2.tasks.length, 3);
      assert.equal(p2.next, null);
      const all = [...p1.tasks, ...p2.tasks].map((t: { id: string }) => t.id).sort();
      assert.deepEqual(all, Object.values(s.ids).sort());
      assert.equal((await get(h, "/api/tasks?type=report&state=pending")).status, 200);
      assert.equal((await get(h, "/api/tasks?state=bogus")).status, 400);
      assert.equal((await get(h, "/api/tasks?limit=0")).status, 400);

      const task = await (await get(h, `/api/tasks/${s.ids.failed}`)).json();
      const direct = JSON.parse(JSON.stringify(await s.queue.get(s.ids.failed)));
      assert.deepEqual(task, direct, "the shape of `oq get --json`");
      assert.equal(task.errors.length, 2);
      const hist = await (await get(h, `/api/tasks/${s.ids.failed}/history`)).json();
      assert.equal(hist.versioning, "Enabled");
      assert.deepEqual(
        hist.versions.map((v: { status: string }) => v.status),
        ["pending", "running", "pending", "running", "failed"],
      );
      const missing = await get(h, "/api/tasks/0-NOSUCHTASK");
      assert.equal(missing.status, 404);
      assert.match((await missing.json()).error.message, /not found/);
      assert.equal((await get(h, "/api/tasks/not%20an%20id")).status, 404);
      assert.equal((await get(h, "/api/nothing")).status, 404);
    },
  );

  seededIt(
    "actions are the library's operations: retry, cancel, bulk retry, schedules",
    async (s) => {
      await s.queue.createSchedule("nightly", "report", {}, "0 2 * * *");
      const h = createConsole(s.queue);
      const r = await postJson(h, `/api/tasks/${s.ids.failed}/retry`);
      assert.equal(r.status, 200);
      assert.equal((await r.json()).status, "pending");
      assert.equal((await s.queue.get(s.ids.failed))?.status, "pending");
      const again = await postJson(h, `/api/tasks/${s.ids.completed}/retry`);
      assert.equal(again.status, 409);
      assert.match((await again.json()).error.message, /Cannot retry/);
      assert.equal((await postJson(h, "/api/tasks/0-NOSUCH/retry")).status, 404);

      const c = await postJson(h, `/api/tasks/${s.ids.ready}/cancel`, { reason: "no" });
      assert.deepEqual(await c.json(), {
        taskId: s.ids.ready,
        outcome: "cancelled",
        status: "cancelled",
      });
      const cr = await postJson(h, `/api/tasks/${s.ids.running}/cancel`);
      assert.equal((await cr.json()).outcome, "requested");
      assert.equal((await postJson(h, `/api/tasks/${s.ids.completed}/cancel`)).status, 409);
      assert.equal((await postJson(h, "/api/tasks/x/cancel", { reason: 5 })).status, 400);

      const off = await postJson(h, "/api/schedules/nightly/disable");
      assert.equal((await off.json()).enabled, false);
      assert.equal((await s.queue.getSchedule("nightly"))?.enabled, false);
      await postJson(h, "/api/schedules/nightly/enable");
      assert.equal((await s.queue.getSchedule("nightly"))?.enabled, true);
      const run = await (await postJson(h, "/api/schedules/nightly/trigger")).json();
      assert.equal((await s.queue.get(run.id))?.taskType, "report");
      assert.equal((await postJson(h, "/api/schedules/nope/trigger")).status, 404);

      // The retried task failed again: bulk retry of its type.
      await s.queue.cancel(s.ids.failed);
      const started = await postJson(h, "/api/bulk/retry-failed", { taskType: "email" });
      assert.equal(started.status, 202);
      const job = await started.json();
      await until(
        async () => (await (await get(h, `/api/jobs/${job.id}`)).json()).state !== "running",
        30_000,
        "the bulk job",
      );
      const done = await (await get(h, `/api/jobs/${job.id}`)).json();
      assert.equal(done.state, "done");
      assert.equal(done.changed, 0, "no failed email task is left (it was cancelled)");
      assert.equal((await postJson(h, "/api/bulk/retry-failed", {})).status, 400);
      assert.equal((await postJson(h, "/api/bulk/retry-failed", { taskType: "a/b" })).status, 400);
      const bc = await postJson(h, "/api/bulk/cancel", { taskType: "email" });
      assert.equal(bc.status, 202);
    },
  );

  seededIt(
    "bulk retry reports progress and leaves every failed task of the type pending",
    async (s) => {
      const h = createConsole(s.queue);
      const job = await (await postJson(h, "/api/bulk/retry-failed", { taskType: "email" })).json();
      await until(async () =>
        (await (await get(h, `/api/jobs/${job.id}`)).json()).state === "done"
      );
      const done = await (await get(h, `/api/jobs/${job.id}`)).json();
      assert.deepEqual([done.total, done.done, done.changed, done.skipped], [1, 1, 1, 0]);
      assert.equal((await s.queue.get(s.ids.failed))?.status, "pending");
    },
  );
});

describe("console flow control", () => {
  seededIt(
    "pause and resume a task type through the API and the overview; read-only hides the buttons",
    async (s) => {
      const h = createConsole(s.queue);
      assert.deepEqual(await (await get(h, "/api/paused")).json(), []);
      const p = await postJson(h, "/api/types/email/pause", { reason: "outage <b>" });
      assert.equal(p.status, 200);
      assert.equal((await p.json()).control.paused, true);
      assert.equal(await s.queue.isPaused("email"), true);
      const listed = await (await get(h, "/api/paused")).json();
      assert.deepEqual(listed.map((c: { taskType: string }) => c.taskType), ["email"]);
      const page = await (await get(h, "/")).text();
      assert.match(page, /Paused for every worker: <strong>email<\/strong>/);
      assert.ok(page.includes("outage &lt;b&gt;"), "the reason is escaped");
      assert.match(page, /actions\/types\/email\/resume/);
      assert.equal((await postJson(h, "/api/types/a%2Fb/pause")).status, 400);
      assert.equal((await postJson(h, "/api/types/email/pause", { reason: 5 })).status, 400);
      const ro = createConsole(s.queue, { readOnly: true });
      const roPage = await (await get(ro, "/")).text();
      assert.match(roPage, /Paused for every worker/);
      assert.ok(!roPage.includes("actions/types/"), "no pause/resume buttons in read-only mode");
      assert.ok(
        (await postJson(ro, "/api/types/email/resume")).status >= 400,
        '(await postJson(ro, "/api/types/email/resume")).status >= 400',
      );
      assert.equal(await s.queue.isPaused("email"), true);
      const r = await postJson(h, "/api/types/email/resume");
      assert.equal((await r.json()).control.paused, false);
      assert.equal(await s.queue.isPaused("email"), false);
      assert.ok(
        !(await (await get(h, "/")).text()).includes("Paused for every worker"),
        '!(await (await get(h, "/")).text()).includes("Paused for every worker")',
      );
    },
  );
});

describe("console /metrics", () => {
  seededIt(
    "speaks the Prometheus text format: tasks by state/type/shard, latency, workers, requests",
    async (s) => {
      const h = createConsole(s.queue);
      const res = await get(h, "/metrics");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      const text = await res.text();
      const failed = (await s.queue.get(s.ids.failed))!;
      assert.ok(
        text.includes(
          `oq_tasks{state="failed",task_type="email",shard="${failed.shard}"} 1\n`,
        ),
        text,
      );
      assert.match(text, /^oq_tasks_by_state\{state="running"\} 1$/m);
      assert.match(text, /^oq_oldest_ready_age_seconds \d/m);
      assert.match(text, /^oq_console_s3_requests_total\{kind="LIST"\} [1-9]/m);
      assert.match(text, /^oq_console_up 1$/m);
      // Every line is a comment or a well-formed sample.
      for (const line of text.trimEnd().split("\n")) {
        assert.match(
          line,
          /^(# (HELP|TYPE) [a-z_:][a-z0-9_:]* .+|[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\\n]|\\.)*",?)*\})? -?[0-9.e+]+|[a-z_:]+(\{.*\})? [+-]Inf|NaN)$/,
          line,
        );
      }
    },
  );
});

describe("console pages and cache", () => {
  seededIt(
    "every value from the bucket is text: the XSS input and a markup error stay escaped",
    async (s) => {
      const h = createConsole(s.queue);
      const ready = await (await get(h, `/tasks/${s.ids.ready}`)).text();
      assert.ok(ready.includes("&lt;script&gt;alert(1)&lt;/script&gt;"), "input shown as text");
      assert.ok(!ready.includes(XSS_INPUT.note), "never as markup");
      assert.ok(!ready.includes("<dt>Priority</dt>"), "level 0 is not shown");
      const scheduled = await (await get(h, `/tasks/${s.ids.scheduled}`)).text();
      assert.match(scheduled, /<dt>Priority<\/dt>\s*<dd>2<\/dd>/);
      const failed = await (await get(h, `/tasks/${s.ids.failed}`)).text();
      assert.ok(!failed.includes(FAILED_ERROR), "!failed.includes(FAILED_ERROR)");
      assert.ok(
        failed.includes("boom &lt;img src=x onerror=&quot;alert(2)&quot;&gt;"),
        'failed.includes("boom &lt;img src=x onerror=&quot;alert(2)&quot;&gt;")',
      );
      const list = await (await get(h, "/tasks?state=failed")).text();
      assert.ok(!list.includes("<img src=x"), '!list.includes("<img src=x")');
      const res = await get(h, "/");
      assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    },
  );

  seededIt("viewers share one refresh per interval: a second view sends no request", async (s) => {
    // The types the console knows: of the tasks, the worker and the schedule.
    const types = new Set([
      ...await Promise.all(
        Object.values(s.ids).map(async (id) => (await s.queue.get(id))!.taskType),
      ),
      ...s.worker.taskTypes,
      ...(await s.queue.listSchedules()).map((x) => x.taskType),
    ]);
    const h = createConsole(s.queue, { refreshSeconds: 30 });
    await get(h, "/");
    const before = s.store.counters.snapshot();
    await get(h, "/");
    await get(h, "/api/overview");
    await get(h, "/metrics");
    await get(h, "/tasks?state=ready");
    assert.deepEqual(s.store.counters.snapshot(), before, "served from the snapshot");
    s.clock.advance(30_000);
    await get(h, "/metrics");
    const after = s.store.counters.snapshot();
    assert.ok(after.LIST > before.LIST, "refreshed after the interval");
    // Nothing changed: no task read again; only each known type's flow control (one GET each).
    assert.equal(after.GET - before.GET, types.size, "one flow-control GET per known type");
    const o = await (await get(h, "/api/overview")).json();
    assert.equal(o.depth.length, 2, "one depth sample per refresh");
    assert.equal(o.spend.refreshes, 2);
    assert.equal(o.spend.perRefresh.GET, types.size);
    assert.ok(o.spend.monthlyUsd > 0, "o.spend.monthlyUsd > 0");
  });

  it("while tasks are left unread, each request goes on counting; then the interval holds", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now });
    const queue = new QueueClass(store, { warn: () => {}, shardCount: 1 });
    for (let i = 0; i < 5; i++) await queue.submit("t", { i });
    const h = createConsole(queue, { maxReadsPerRefresh: 2 });
    const unread = async () => (await (await get(h, "/api/overview")).json()).census.unread;
    assert.equal(await unread(), 3);
    const page = await (await get(h, "/")).text();
    assert.match(page, /data-reload-seconds="2"/);
    assert.match(page, /Counting: 1 of 5 task objects are not read yet/);
    assert.equal(await unread(), 0);
    const before = store.counters.snapshot();
    assert.equal(await unread(), 0);
    assert.deepEqual(store.counters.snapshot(), before, "counted: the refresh interval holds");
  });

  it("an unreachable bucket gives a clear error, and the console stays up and recovers", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now });
    const queue = new QueueClass(store, { warn: () => {}, shardCount: 1 });
    await queue.submit("t", {});
    let down = true;
    const list = store.list.bind(store);
    store.list = (o) =>
      down
        ? Promise.reject(
          new StoreError(
            "NetworkError",
            { operation: "ListObjectsV2" },
            "connect ECONNREFUSED 127.0.0.1:9 (secret-key-xyz)",
          ),
        )
        : list(o);
    const h = createConsole(queue, { redact: ["secret-key-xyz"] });
    const page = await get(h, "/");
    assert.equal(page.status, 503);
    const html = await page.text();
    assert.match(html, /The bucket cannot be read/);
    assert.match(html, /ECONNREFUSED/);
    assert.ok(!html.includes("secret-key-xyz"), "secrets redacted");
    const api = await get(h, "/api/workers");
    assert.equal(api.status, 503);
    assert.match((await api.json()).error.message, /ECONNREFUSED.*\[redacted\]/);
    const metrics = await (await get(h, "/metrics")).text();
    assert.match(metrics, /^oq_console_up 0$/m);
    assert.equal((await get(h, "/assets/app.css")).status, 200, "still up");
    down = false;
    clock.advance(5_000);
    const ok = await get(h, "/api/overview");
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).totals.ready, 1);
    // A later failure keeps the last good snapshot, with the error above it.
    down = true;
    clock.advance(30_000);
    const stale = await get(h, "/");
    assert.equal(stale.status, 200);
    assert.match(await stale.text(), /could not be read .*ECONNREFUSED/);
  });
});

describe("console access rules", () => {
  seededIt(
    "with a token: refused without it; bearer or the login cookie let in; no token in any answer",
    async (s) => {
      const token = "tok-0123456789abcdef";
      const h = createConsole(s.queue, { token });
      const api = await get(h, "/api/overview");
      assert.equal(api.status, 401);
      assert.match(api.headers.get("www-authenticate") ?? "", /Bearer/);
      assert.equal((await get(h, "/metrics")).status, 401);
      const page = await get(h, "/");
      assert.equal(page.status, 401);
      assert.match(await page.text(), /name="token"/);
      assert.equal(
        (await get(h, "/api/overview", { authorization: "Bearer wrong-token" })).status,
        401,
      );
      const ok = await get(h, "/api/overview", { authorization: `Bearer ${token}` });
      assert.equal(ok.status, 200);
      assert.ok(!(await ok.text()).includes(token), "!(await ok.text()).includes(token)");
      assert.equal((await postJson(h, `/api/tasks/${s.ids.failed}/retry`)).status, 401);

      const bad = await postForm(h, "/login", "token=nope&next=/");
      assert.equal(bad.status, 401);
      const login = await postForm(
        h,
        "/login",
        `token=${token}&next=${encodeURIComponent("//evil.example/")}`,
      );
      assert.equal(login.status, 303);
      assert.equal(login.headers.get("location"), "/", "no redirect out of the console");
      const session = setCookie(login, "oq_session")!;
      assert.ok(session && !session.includes(token), "the cookie is not the token");
      assert.match(login.headers.getSetCookie().join(";"), /HttpOnly.*SameSite=Strict/i);
      const withCookie = await get(h, "/", { cookie: `oq_session=${session}` });
      assert.equal(withCookie.status, 200);
      assert.ok(
        !(await withCookie.text()).includes(token),
        "!(await withCookie.text()).includes(token)",
      );
      assert.equal((await get(h, "/", { cookie: `oq_session=${session}x` })).status, 401);
      assert.throws(() => createConsole(s.queue, { token: "short" }), RangeError);
    },
  );

  seededIt(
    "without a token only loopback names and IPs are answered (DNS rebinding)",
    async (s) => {
      const h = createConsole(s.queue);
      assert.equal((await get(h, "/api/overview", { host: "localhost:8080" })).status, 200);
      assert.equal((await get(h, "/api/overview", { host: "10.1.2.3:8080" })).status, 200);
      const evil = await get(h, "/api/overview", { host: "attacker.example:8080" });
      assert.equal(evil.status, 403);
      assert.match((await evil.json()).error.message, /DNS rebinding/);
      const allowed = createConsole(s.queue, { allowedHosts: ["ops.example"] });
      assert.equal((await get(allowed, "/api/overview", { host: "ops.example" })).status, 200);
    },
  );

  seededIt(
    "form actions need the CSRF token and a same-origin request; API posts need JSON",
    async (s) => {
      const h = createConsole(s.queue);
      const page = await get(h, `/tasks/${s.ids.failed}`);
      const csrf = setCookie(page, "oq_csrf")!;
      const html = await page.text();
      assert.ok(html.includes(`name="csrf" value="${csrf}"`), "forms carry the token");
      const form = (body: string, headers: Record<string, string> = {}) =>
        postForm(h, `/actions/tasks/${s.ids.failed}/retry`, body, {
          cookie: `oq_csrf=${csrf}`,
          ...headers,
        });
      assert.equal((await form("")).status, 403, "no token");
      assert.equal((await form(`csrf=${"0".repeat(32)}`)).status, 403, "another token");
      assert.equal(
        (await form(`csrf=${csrf}`, { origin: "http://evil.example" })).status,
        403,
        "cross-site",
      );
      assert.equal((await form(`csrf=${csrf}`, { "sec-fetch-site": "cross-site" })).status, 403);
      assert.equal((await s.queue.get(s.ids.failed))?.status, "failed", "nothing happened");
      const ok = await form(`csrf=${csrf}`, { origin: ORIGIN, "sec-fetch-site": "same-origin" });
      assert.equal(ok.status, 303);
      assert.equal(ok.headers.get("location"), `/tasks/${s.ids.failed}?done=retried`);
      assert.equal((await s.queue.get(s.ids.failed))?.status, "pending");

      const plain = await postForm(h, `/api/tasks/${s.ids.ready}/cancel`, "{}", {
        "content-type": "text/plain",
      });
      assert.equal(plain.status, 415, "a cross-site form cannot send JSON");
      assert.equal(
        (await postJson(h, `/api/tasks/${s.ids.ready}/cancel`, {}, {
          origin: "http://evil.example",
        }))
          .status,
        403,
      );
      assert.equal((await s.queue.get(s.ids.ready))?.status, "pending");
      assert.equal((await get(h, `/actions/tasks/${s.ids.ready}/cancel`)).status, 404, "POST only");
    },
  );

  seededIt("read-only hides every action and refuses them", async (s) => {
    await s.queue.createSchedule("nightly", "report", {}, "0 2 * * *");
    const h = createConsole(s.queue, { readOnly: true });
    for (const path of ["/", `/tasks/${s.ids.failed}`, `/tasks/${s.ids.ready}`]) {
      const html = await (await get(h, path)).text();
      assert.ok(!html.includes("/actions/"), `no action form on ${path}`);
      assert.ok(!/<button[^>]*data-action/.test(html), `no action button on ${path}`);
    }
    const r = await postJson(h, `/api/tasks/${s.ids.failed}/retry`);
    assert.equal(r.status, 403);
    assert.match((await r.json()).error.message, /read-only/);
    const csrf = setCookie(await get(h, "/"), "oq_csrf")!;
    const form = await postForm(h, `/actions/tasks/${s.ids.failed}/retry`, `csrf=${csrf}`, {
      cookie: `oq_csrf=${csrf}`,
    });
    assert.equal(form.status, 403);
    assert.equal((await s.queue.get(s.ids.failed))?.status, "failed");
  });
});

describe("console mounted under a prefix", () => {
  seededIt("answers under basePath inside another hono app, with links under it", async (s) => {
    const oqConsole = createConsole(s.queue as Queue, { basePath: "/admin/oq" });
    const app = new Hono();
    app.get("/", (c) => c.text("my app"));
    app.all("/admin/oq/*", (c) => oqConsole(c.req.raw));
    const h = (r: Request) => Promise.resolve(app.fetch(r));
    assert.equal(await (await get(h, "/")).text(), "my app");
    const o = await get(h, "/admin/oq/api/overview");
    assert.equal(o.status, 200);
    assert.equal((await o.json()).totals.failed, 1);
    const page = await (await get(h, "/admin/oq/")).text();
    assert.match(page, /href="\/admin\/oq\/assets\/app.css"/);
    assert.match(page, /href="\/admin\/oq\/tasks\?state=failed"/);
    assert.equal((await get(h, "/admin/oq/assets/app.js")).status, 200);
    assert.equal((await get(h, "/admin/oq/metrics")).status, 200);
    assert.equal((await oqConsole(new Request(`${ORIGIN}/api/overview`))).status, 404);
    const search = await get(h, `/admin/oq/tasks?q=${s.ids.failed}`);
    assert.equal(search.status, 303);
    assert.equal(search.headers.get("location"), `/admin/oq/tasks/${s.ids.failed}`);
    assert.throws(() => createConsole(s.queue, { basePath: "admin/" }), TypeError);
  });

  seededIt(
    "limits: /api/limits and the overview show slots in use and recent starts",
    async (s) => {
      const plain = createConsole(s.queue);
      assert.deepEqual(await (await get(plain, "/api/limits")).json(), []);
      assert.ok(
        !(await (await get(plain, "/")).text()).includes('data-table="limits"'),
        '!(await (await get(plain, "/")).text()).includes(\'data-table="limits"\')',
      );

      await seedLimits(s);
      const h = createConsole(s.queue);
      assert.deepEqual(await (await get(h, "/api/limits")).json(), [
        {
          taskType: "email",
          paused: false,
          concurrency: null,
          slotsInUse: null,
          rateLimit: { limit: 5, windowMs: 1000 },
          recentStarts: 1,
        },
        {
          taskType: "slow",
          paused: false,
          concurrency: 2,
          slotsInUse: 1,
          rateLimit: null,
          recentStarts: null,
        },
      ]);
      const page = await (await get(h, "/")).text();
      assert.match(page, /data-table="limits"/);
      assert.match(page, /<tr data-row="slow">[\s\S]*?data-use="slots">1 \/ 2<\/span> running/);
      assert.match(page, /<tr data-row="email">[\s\S]*?data-use="rate">1 \/ 5<\/span> per s/);
    },
  );
});
