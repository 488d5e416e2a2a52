// oq-test: runtimes=node timeout=600
/**
 * The console in a real headless browser: Debian's chromium (scripts/chromium.sh install),
 * driven by playwright-core pointed at /usr/bin/chromium (playwright's own browser download
 * is never used). Skipped, with the reason, when /usr/bin/chromium is missing, unless
 * OQ_REQUIRE_BROWSER=1 (CI), where a missing browser fails the suite.
 *
 * OQ_UPDATE_SCREENSHOT=1 also writes docs/console.png (the overview of a seeded queue).
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { createConsole } from "../console.ts";
import type { ConsoleOptions } from "../src/console/core.ts";
import { getEnv, type HttpServer, serveHttp } from "../src/runtime/mod.ts";
import { Worker } from "../src/worker/worker.ts";
import { FAILED_ERROR, type Seeded, seedLimits, seedQueue, XSS_INPUT } from "./console_seed.ts";
import { it, until } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

async function skipReason(): Promise<string | false> {
  const found = await stat(CHROMIUM).then(() => true, () => false);
  if (found) return false;
  const why = `${CHROMIUM} is missing: run scripts/chromium.sh install (as root)`;
  if (getEnv("OQ_REQUIRE_BROWSER") === "1") throw new Error(`OQ_REQUIRE_BROWSER=1 but ${why}`);
  return why;
}

const skip = await skipReason();
if (skip) console.log(`# console browser tests skipped: ${skip}`);

/** A seeded queue served over HTTP on a free loopback port. */
async function serve(
  s: Seeded,
  options: ConsoleOptions = {},
): Promise<{ url: string; server: HttpServer }> {
  const handler = createConsole(s.queue, options);
  const server = await serveHttp({ port: 0, handler: (req) => handler(req) });
  return { url: `http://127.0.0.1:${server.port}`, server };
}

describe("console in Chromium", { skip }, () => {
  let browser: Browser;
  before(async () => {
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  after(async () => {
    await browser?.close();
  });

  /** A fresh page that fails the test on any script dialog (an alert() means XSS). */
  async function newPage(): Promise<{ page: Page; dialogs: string[]; close(): Promise<void> }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      // Confirmations of actions are accepted; anything else is recorded and dismissed.
      void (d.type() === "confirm" ? d.accept() : d.dismiss());
    });
    return { page, dialogs, close: () => context.close() };
  }

  async function withConsole(
    options: ConsoleOptions,
    fn: (s: Seeded, url: string, page: Page, dialogs: string[]) => Promise<void>,
  ): Promise<void> {
    const s = await seedQueue();
    const { url, server } = await serve(s, options);
    const p = await newPage();
    try {
      await fn(s, url, p.page, p.dialogs);
    } finally {
      await p.close();
      await server.close();
      await s.close();
    }
  }

  it("the overview shows the counts of a seeded queue (one task in each state)", {
    timeout: 120_000,
  }, async () => {
    await withConsole({}, async (s, url, page) => {
      const res = await page.goto(`${url}/`);
      assert.equal(res?.status(), 200);
      for (
        const state of [
          "ready",
          "scheduled",
          "running",
          "completed",
          "failed",
          "cancelled",
          "expired",
        ]
      ) {
        assert.equal(await page.textContent(`[data-card="${state}"] .n`), "1", state);
      }
      const loadMs = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
        return nav.loadEventEnd - nav.startTime;
      });
      console.log(
        `# overview page load in Chromium: ${loadMs.toFixed(1)} ms (first view, refresh included)`,
      );
      const emailFailed = await page.textContent(
        '[data-table="by-type"] tr[data-row="email"] td[data-state="failed"]',
      );
      assert.equal(emailFailed?.trim(), "1");
      // A second view within the refresh interval is served from the snapshot.
      const before = s.store.counters.snapshot();
      await page.reload();
      assert.deepEqual(s.store.counters.snapshot(), before);
      const again = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
        return nav.loadEventEnd - nav.startTime;
      });
      console.log(
        `# overview page load in Chromium: ${again.toFixed(1)} ms (from the shared snapshot)`,
      );
    });
  });

  it("the overview shows each limited type's slots in use and recent starts", {
    timeout: 120_000,
  }, async () => {
    await withConsole({}, async (s, url, page) => {
      await seedLimits(s);
      assert.equal((await page.goto(`${url}/`))?.status(), 200);
      const cell = (type: string, use: string) =>
        page.textContent(`[data-table="limits"] tr[data-row="${type}"] [data-use="${use}"]`);
      assert.equal(await cell("slow", "slots"), "1 / 2");
      assert.equal(await cell("email", "rate"), "1 / 5");
      assert.equal(await page.isVisible('[data-table="limits"]'), true);
      const rows = await page.$$eval(
        '[data-table="limits"] tbody tr',
        (trs) => trs.map((tr) => (tr as HTMLElement).innerText.replace(/\s+/g, " ").trim()),
      );
      assert.deepEqual(rows, [
        "email none 1 / 5 per s",
        "slow 1 / 2 running none",
      ]);
    });
  });

  it(
    "a failed task's page shows every attempt's error and its history",
    { timeout: 120_000 },
    async () => {
      await withConsole({}, async (s, url, page) => {
        await page.goto(`${url}/tasks?state=failed`);
        await page.click(`a[href="/tasks/${s.ids.failed}"]`);
        await page.waitForURL(`${url}/tasks/${s.ids.failed}`);
        const errors = await page.$$eval(
          '[data-table="errors"] tbody tr',
          (rows) => rows.map((r) => r.textContent ?? ""),
        );
        assert.equal(errors.length, 2);
        assert.ok(errors[0]!.includes(`${FAILED_ERROR} (attempt 1)`), errors[0]);
        assert.ok(errors[1]!.includes("(attempt 2)"), 'errors[1]!.includes("(attempt 2)")');
        const history = await page.$$eval(
          '[data-table="history"] tbody tr td:nth-child(2)',
          (cells) => cells.map((c) => c.textContent?.trim()),
        );
        assert.deepEqual(history, ["pending", "running", "pending", "running", "failed"]);
        assert.equal(await page.locator(".banner.note").count(), 0, "versioned: no note");
      });
    },
  );

  it("Retry makes the task pending in the bucket, and a worker then completes it", {
    timeout: 120_000,
  }, async () => {
    await withConsole({}, async (s, url, page) => {
      await page.goto(`${url}/tasks/${s.ids.failed}`);
      await Promise.all([
        page.waitForURL(/done=retried/),
        page.click('button[data-action="Retry"]'),
      ]);
      assert.match((await page.textContent(".banner.done")) ?? "", /pending again/);
      assert.equal((await s.queue.get(s.ids.failed))?.status, "pending", "in the bucket");
      s.clock.advance(10_000); // past the worker's candidate cache, on the queue's clock
      s.worker.configure({ concurrency: 4 });
      await s.worker.pollOnce();
      await until(
        async () => (await s.queue.get(s.ids.failed))?.status === "completed",
        30_000,
        "the worker to complete the retried task",
      );
      s.clock.advance(30_000); // the page's read is shared for the refresh interval
      await page.reload();
      assert.equal((await page.textContent("h1 .badge"))?.trim(), "completed");
    });
  });

  it("bulk retry of a type shows its progress and ends done", { timeout: 120_000 }, async () => {
    await withConsole({}, async (s, url, page, dialogs) => {
      await page.goto(`${url}/`);
      await page.click('tr[data-row="email"] button[data-action^="Retry 1 failed"]');
      await page.waitForURL(/\/jobs\//);
      await page.waitForSelector('[data-job-state="done"]', { timeout: 30_000 });
      assert.match(
        (await page.textContent('[data-job-state="done"]')) ?? "",
        /1 retried, 0 skipped/,
      );
      assert.deepEqual(dialogs, ["confirm: Retry every failed task of type email?"]);
      assert.equal((await s.queue.get(s.ids.failed))?.status, "pending");
    });
  });

  it(
    "task input <script>alert(1)</script> shows as text and never runs",
    { timeout: 120_000 },
    async () => {
      await withConsole({}, async (s, url, page, dialogs) => {
        await page.goto(`${url}/tasks/${s.ids.ready}`);
        const input = await page.textContent('pre[data-field="input"]');
        assert.ok(input?.includes(XSS_INPUT.note), input ?? "");
        assert.equal(await page.locator("main script").count(), 0);
        await page.goto(`${url}/tasks/${s.ids.failed}`);
        assert.equal(await page.locator("main img").count(), 0, "the error's <img> is text");
        await page.goto(`${url}/tasks?state=failed`);
        await page.goto(`${url}/`);
        assert.deepEqual(dialogs, [], "no script ran");
      });
    },
  );

  it("with a token: refused without it, the login form lets in", { timeout: 120_000 }, async () => {
    const token = "browser-token-0123456789";
    await withConsole({ token }, async (_s, url, page) => {
      const res = await page.goto(`${url}/`);
      assert.equal(res?.status(), 401);
      assert.equal(await page.locator('[data-card="failed"]').count(), 0, "nothing shown");
      const api = await page.request.get(`${url}/api/overview`);
      assert.equal(api.status(), 401);
      await page.fill('input[name="token"]', "wrong-token-000");
      await page.click("button.primary");
      assert.match((await page.textContent(".banner.error")) ?? "", /not the console's/);
      await page.fill('input[name="token"]', token);
      await Promise.all([page.waitForURL(`${url}/`), page.click("button.primary")]);
      assert.equal(await page.textContent('[data-card="failed"] .n'), "1");
      assert.ok(!(await page.content()).includes(token), "the token is in no page");
      const cookies = await page.context().cookies();
      assert.ok(
        cookies.every((c) => !c.value.includes(token)),
        "cookies.every((c) => !c.value.includes(token))",
      );
      assert.ok(
        cookies.find((c) => c.name === "oq_session")?.httpOnly,
        'cookies.find((c) => c.name === "oq_session")?.httpOnly',
      );
    });
  });

  it("read-only hides every action and refuses them", { timeout: 120_000 }, async () => {
    await withConsole({ readOnly: true }, async (s, url, page) => {
      for (const path of ["/", `/tasks/${s.ids.failed}`, `/tasks/${s.ids.ready}`]) {
        await page.goto(`${url}${path}`);
        assert.equal(await page.locator("button[data-action]").count(), 0, path);
      }
      const status = await page.evaluate(async (id) => {
        const r = await fetch(`/api/tasks/${id}/retry`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        return r.status;
      }, s.ids.failed);
      assert.equal(status, 403);
      assert.equal((await s.queue.get(s.ids.failed))?.status, "failed");
    });
  });

  it("screenshot of the overview (docs/console.png, with OQ_UPDATE_SCREENSHOT=1)", {
    timeout: 120_000,
  }, async () => {
    await withConsole({}, async (s, url, page) => {
      await s.queue.createSchedule("nightly-report", "report", { day: "yesterday" }, "0 2 * * *");
      await s.queue.createSchedule("hourly-sync", "email", {}, "0 * * * *", { enabled: false });
      const idle = new Worker(s.queue, "thumbnailer-1").task("thumbnail", () => null);
      const running = idle.run({ withMonitor: false });
      try {
        await until(async () => (await s.queue.stats()).workers === 1, 30_000, "the heartbeat");
        await page.goto(`${url}/`);
        for (let i = 0; i < 5; i++) {
          s.clock.advance(30_000);
          for (let j = 0; j <= i; j++) await s.queue.submit("report", { n: j });
          await page.reload();
        }
        assert.equal(await page.locator(".chart polyline").count(), 4);
        assert.equal(await page.textContent('[data-card="workers"] .n'), "1");
        if (getEnv("OQ_UPDATE_SCREENSHOT") === "1") {
          await page.screenshot({ path: `${ROOT}/docs/console.png`, fullPage: true });
          console.log("# wrote docs/console.png");
        }
      } finally {
        await idle.stop({ timeoutMs: 0 });
        await running;
      }
    });
  });
});
