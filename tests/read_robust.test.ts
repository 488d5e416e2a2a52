// Reads that list many objects (schedules, heartbeats, index keys, tasks, versions, tail
// scans) report each bad object once through the queue's `warn` and return the rest: one
// malformed object written by anyone with access to the bucket hides nothing else.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { putHeartbeat } from "./fixtures/heartbeat.ts";
import { listHeartbeats } from "../src/protocol/heartbeats.ts";
import { TaskTail } from "../src/cli/tail_scan.ts";
import { it, memQueue } from "./helpers.ts";

function withWarnings() {
  const warnings: string[] = [];
  const m = memQueue({ warn: (w) => warnings.push(w) });
  return { ...m, warnings };
}

/** Warnings that name `key` (exactly: `"key"`). */
function about(warnings: string[], key: string): string[] {
  return warnings.filter((w) => w.includes(`"${key}"`));
}

async function beat(queue: ReturnType<typeof memQueue>["queue"], id: string): Promise<void> {
  const base = {
    worker_id: id,
    shards: ["0"],
    task_types: ["t"],
    started_at: new Date(queue.store.now()).toISOString(),
    concurrency: 1,
    runtime: "node",
  };
  await putHeartbeat(queue, base);
}

describe("reads that list many objects", () => {
  it(
    "listSchedules returns the good schedules and reports each bad one once",
    { timeout: 30_000 },
    async () => {
      const { queue, store, warnings } = withWarnings();
      await queue.createSchedule("good", "t", { n: 1 }, "0 * * * *");
      const good = JSON.parse(new TextDecoder().decode(
        (await store.get("schedules/good.json") as { body: Uint8Array }).body,
      ));
      const put = (key: string, rec: unknown) => store.put(key, JSON.stringify(rec));
      await put("schedules/badcron.json", { ...good, id: "badcron", cron: "99 * * * *" });
      await put("schedules/badtz.json", { ...good, id: "badtz", timezone: "Mars/Olympus" });
      await put("schedules/other.json", { ...good, id: "good" }); // not the id its key names
      await store.put("schedules/garbage.json", "{not json");
      await store.put("schedules/no-json-suffix", "x");
      for (let round = 0; round < 2; round++) {
        const list = await queue.listSchedules();
        assert.deepEqual(list.map((s) => s.id), ["good"]);
        assert.ok(
          list[0]!.nextRunAfter(new Date()) instanceof Date,
          "list[0]!.nextRunAfter(new Date()) instanceof Date",
        );
      }
      for (
        const [key, why] of [
          ["schedules/badcron.json", /Invalid cron "99 \* \* \* \*"/],
          ["schedules/badtz.json", /Unknown timezone "Mars\/Olympus"/],
          ["schedules/other.json", /id: "good" does not match the key/],
          ["schedules/garbage.json", /not valid UTF-8 JSON/],
          ["schedules/no-json-suffix", /names no schedule/],
        ] as const
      ) {
        const w = about(warnings, key);
        assert.equal(w.length, 1, `${key} reported once over two listings: ${warnings.join("\n")}`);
        assert.match(w[0]!, why);
      }
      assert.equal(warnings.length, 5);
    },
  );

  it("stats counts only valid heartbeats, as listHeartbeats lists them; bad ones once", {
    timeout: 30_000,
  }, async () => {
    const { queue, store, warnings } = withWarnings();
    await beat(queue, "w-1");
    await store.put("workers/garbage.json", "not json");
    await store.put("workers/empty.json", "{}");
    await store.put("workers/README", "hello");
    // A valid heartbeat stored under another worker's key.
    const real = (await store.get("workers/w-1.json")) as { body: Uint8Array };
    await store.put("workers/w-2.json", real.body);
    for (let round = 0; round < 2; round++) {
      const beats = await listHeartbeats(queue.context);
      assert.deepEqual(beats.map((b) => b.worker_id), ["w-1"]);
      assert.equal((await queue.stats()).workers, 1);
    }
    for (const k of ["garbage.json", "empty.json", "README", "w-2.json"]) {
      assert.equal(about(warnings, `workers/${k}`).length, 1, `workers/${k}: ${warnings}`);
    }
    assert.equal(warnings.length, 4);
  });

  it(
    "stats counts neither foreign keys under the indexes nor under tasks/",
    { timeout: 30_000 },
    async () => {
      const { queue, store, warnings } = withWarnings();
      const t = await queue.submit("t", null);
      await queue.submit("t", null, { delaySeconds: 3600 });
      await store.put(`ready/${t.shard}/garbage`, "");
      await store.put(`ready/${t.shard}/t/not-a-time/${t.id}`, "");
      await store.put(`tasks/${t.shard}/notes.txt`, "x");
      await store.put(`deadlines/${t.shard}/junk`, "");
      const st = await queue.stats();
      assert.equal(st.total.ready, 1);
      assert.equal(st.total.scheduled, 1);
      assert.equal(st.total.tasks, 2);
      assert.equal(st.total.running, 0);
      assert.equal(warnings.length, 4, warnings.join("\n"));
      await queue.stats();
      assert.equal(warnings.length, 4, "reported once");
    },
  );

  it(
    "list and history skip bad task objects and versions, reported once",
    { timeout: 30_000 },
    async () => {
      const { queue, store, warnings } = withWarnings();
      const a = await queue.submit("t", { a: 1 }, { maxRetries: 0 });
      const key = queue.keys.task(a.id);
      const good = (await store.get(key)) as { body: Uint8Array };
      await store.put(key, "garbage version");
      await store.put(key, good.body); // the current version is valid again
      const b = await queue.submit("t", { b: 2 });
      await store.put(`tasks/${b.shard}/${b.shard}-nonsense.json`, "{}");
      const history = await queue.getHistory(a.id);
      assert.equal(history.length, 2);
      assert.equal(about(warnings, key).length, 1);
      const listed = (await Promise.all(queue.shards.map((s) => queue.list(s)))).flat();
      assert.deepEqual(listed.map((t) => t.id).sort(), [a.id, b.id].sort());
      await Promise.all(queue.shards.map((s) => queue.list(s)));
      assert.equal(about(warnings, `tasks/${b.shard}/${b.shard}-nonsense.json`).length, 1);
      assert.equal(warnings.length, 2, warnings.join("\n"));
    },
  );

  it(
    "tail reports a bad task object once, however many scans see it",
    { timeout: 30_000 },
    async () => {
      const { queue, store, warnings } = withWarnings();
      const tail = new TaskTail(queue.context, [...queue.shards]);
      await tail.scan();
      const t = await queue.submit("t", null);
      const badKey = `tasks/${t.shard}/${t.shard}-bad.json`;
      await store.put(badKey, "not a task");
      const first = await tail.scan();
      assert.deepEqual(first.map((e) => [e.event, e.taskId]), [["created", t.id]]);
      for (let i = 0; i < 3; i++) assert.deepEqual(await tail.scan(), []);
      assert.equal(about(warnings, badKey).length, 1, warnings.join("\n"));
      await store.put(badKey, "still not a task"); // a new version is a new report
      await tail.scan();
      assert.equal(about(warnings, badKey).length, 2);
    },
  );
});
