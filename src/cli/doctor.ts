/**
 * `oq doctor`: check that an endpoint and bucket can run oq. Every check is a real
 * request; the conditional-write checks create, swap and remove a scratch object under
 * `doctor/` (every version of it is deleted afterwards).
 *
 * @module
 */

import { AccessDeniedError, PreconditionFailedError } from "../base/errors.ts";
import { Keys } from "../protocol/keys.ts";
import { getEnv } from "../runtime/mod.ts";
import type { ObjectStore } from "../store/types.ts";
import { openStore } from "./config.ts";
import { CliError, EXIT, printable } from "./errors.ts";
import { table } from "./format.ts";
import { out, outJson, styles } from "./io.ts";
import { examples, globals, type Program } from "./program.ts";

/** The result of one check. */
export interface Check {
  /** What was checked. */
  name: string;
  /** `pass`, `warn` (works, with a caveat), `fail`, or `skip` (not run). */
  status: "pass" | "warn" | "fail" | "skip";
  /** What was found. */
  detail: string;
}

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, Math.round(performance.now() - t0)];
}

/** Run every check against a store; later checks are skipped when the bucket is unusable. */
export async function runChecks(store: ObjectStore, keys: Keys): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (name: string, status: Check["status"], detail: string) =>
    checks.push({ name, status, detail });
  const skipRest = (names: string[], why: string) => names.forEach((n) => add(n, "skip", why));
  const later = [
    "list permission",
    "versioning",
    "create-only write",
    "compare-and-swap",
    "read after write",
    "clock",
    "cleanup",
  ];

  let exists: boolean;
  try {
    const [e, ms] = await timed(() => store.headBucket());
    exists = e;
    add("endpoint reachable", "pass", `${store.name} answered in ${ms} ms`);
    add("credentials", "pass", "accepted (HeadBucket)");
  } catch (e) {
    if (e instanceof AccessDeniedError) {
      add("endpoint reachable", "pass", `${store.name} answered`);
      add(
        "credentials",
        "fail",
        `access denied: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (${msg(e)})`,
      );
    } else {
      add("endpoint reachable", "fail", msg(e));
      add("credentials", "skip", "endpoint unreachable");
    }
    add("bucket exists", "skip", "see above");
    skipRest(later, "see above");
    return checks;
  }
  if (!exists) {
    add("bucket exists", "fail", "no such bucket: create it with `oq init`");
    skipRest(later, "no bucket");
    return checks;
  }
  add("bucket exists", "pass", "yes");

  try {
    await store.list({ prefix: `${keys.prefix}tasks/`, maxKeys: 1 });
    add("list permission", "pass", "ListObjectsV2 allowed");
  } catch (e) {
    add("list permission", "fail", msg(e));
  }

  try {
    const v = await store.getVersioning();
    if (v === "Enabled") add("versioning", "pass", "Enabled (task history available)");
    else if (getEnv("OQ_ALLOW_NO_VERSIONING") === "1") {
      add("versioning", "warn", `${v}: runs without task history (OQ_ALLOW_NO_VERSIONING=1)`);
    } else {
      add(
        "versioning",
        "fail",
        `${v}: enable it with \`oq init\`, or set OQ_ALLOW_NO_VERSIONING=1 to run without history`,
      );
    }
  } catch (e) {
    add("versioning", "fail", `GetBucketVersioning failed: ${msg(e)}`);
  }

  const key = keys.scratch(`check-${crypto.randomUUID().slice(0, 8)}`);
  await conditionalChecks(store, key, add);

  const skew = Date.now() - store.now();
  const unc = Math.round(store.clockUncertaintyMs());
  const direction = skew >= 0 ? "ahead of" : "behind";
  const text = `local clock ${Math.abs(Math.round(skew))} ms ${direction} the store (±${unc} ms)`;
  if (Math.abs(skew) <= 2000 + unc) add("clock", "pass", text);
  else {add(
      "clock",
      "warn",
      `${text}: oq schedules by the store's clock, so this only affects local log times`,
    );}

  try {
    const removed = await removeAllVersions(store, key);
    const left = await store.listVersions({ prefix: key });
    if (left.versions.some((v) => v.key === key)) {
      add("cleanup", "fail", `versions of ${key} remain`);
    } else {add(
        "cleanup",
        "pass",
        `scratch object ${key} removed (${removed} version${removed === 1 ? "" : "s"})`,
      );}
  } catch (e) {
    add("cleanup", "fail", `could not remove ${key}: ${msg(e)}`);
  }
  return checks;
}

async function conditionalChecks(
  store: ObjectStore,
  key: string,
  add: (name: string, status: Check["status"], detail: string) => void,
): Promise<void> {
  let etag: string;
  let written = "create";
  try {
    etag = (await store.put(key, "create", { ifNoneMatch: "*" })).etag;
    try {
      await store.put(key, "create again", { ifNoneMatch: "*" });
      written = "create again";
      add(
        "create-only write",
        "fail",
        "a second If-None-Match: * PUT succeeded: the server ignores it (oq needs it)",
      );
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
      add("create-only write", "pass", "If-None-Match: * creates once, then 412");
    }
  } catch (e) {
    add("create-only write", "fail", msg(e));
    add("compare-and-swap", "skip", "no scratch object");
    add("read after write", "skip", "no scratch object");
    return;
  }
  try {
    const current = (await store.head(key))?.etag ?? etag;
    let swapped: string | undefined;
    try {
      swapped = (await store.put(key, "swap", { ifMatch: current })).etag;
      written = "swap";
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
      add(
        "compare-and-swap",
        "fail",
        "If-Match with the current ETag got 412 (Ceph RGW does this on versioned buckets)",
      );
    }
    if (swapped !== undefined) {
      try {
        await store.put(key, "stale", { ifMatch: current });
        written = "stale";
        add(
          "compare-and-swap",
          "fail",
          "If-Match with a stale ETag succeeded: the server ignores it (oq needs it)",
        );
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
        add(
          "compare-and-swap",
          "pass",
          "If-Match swaps with the current ETag, 412 with a stale one",
        );
      }
    }
  } catch (e) {
    add("compare-and-swap", "fail", msg(e));
  }
  try {
    const o = await store.get(key);
    const body = o && o.kind === "object" ? new TextDecoder().decode(o.body) : null;
    if (body === written) add("read after write", "pass", "GET returns the last write");
    else {add(
        "read after write",
        "fail",
        `GET returned ${JSON.stringify(body)}, expected ${JSON.stringify(written)}`,
      );}
  } catch (e) {
    add("read after write", "fail", msg(e));
  }
}

async function removeAllVersions(store: ObjectStore, key: string): Promise<number> {
  let n = 0;
  for (let round = 0; round < 10; round++) {
    const page = await store.listVersions({ prefix: key });
    const mine = page.versions.filter((v) => v.key === key);
    if (mine.length === 0) break;
    for (const v of mine) {
      await store.delete(key, { versionId: v.versionId === "null" ? undefined : v.versionId });
      n++;
    }
  }
  if (n === 0) await store.delete(key);
  return n;
}

/** Register `oq doctor`. */
export function registerDoctor(program: Program): void {
  program.command("doctor")
    .description(
      "Check the endpoint and bucket: reachability, credentials, versioning, conditional writes, clock, permissions",
    )
    .option("--json", "print {ok, store, checks} as JSON")
    .addHelpText(
      "after",
      examples("oq doctor", "S3_ENDPOINT=http://127.0.0.1:9000 S3_BUCKET=jobs oq doctor --json") +
        "\n\nWrites, swaps and deletes a scratch object under doctor/. Exit 1 when a check fails.",
    )
    .action(async (flags, cmd) => {
      const { store, config } = await openStore(globals(cmd));
      const keys = new Keys(config.queue.prefix ?? "");
      const checks = await runChecks(store, keys);
      const ok = !checks.some((c) => c.status === "fail");
      if (flags.json) outJson({ ok, store: store.name, checks });
      else {
        const s = styles.out;
        out(
          table(
            ["CHECK", "RESULT", "DETAIL"],
            checks.map((c) => [c.name, s.status(c.status), printable(c.detail)]),
            s,
          ),
        );
        const count = (st: string) => checks.filter((c) => c.status === st).length;
        out(
          `\n${ok ? s.paint("green", "ok") : s.paint("red", "FAILED")}: ${count("pass")} passed, ${
            count("warn")
          } warnings, ${count("fail")} failed, ${count("skip")} skipped`,
        );
      }
      if (!ok) throw new CliError("doctor: some checks failed", EXIT.failure);
    });
}
