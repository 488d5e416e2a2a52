/**
 * Fuzz: random strings through the key validators and parsers of src/protocol/keys.ts (spec
 * invariant 11). Nothing with `/`, `..` or a control character passes; what passes builds
 * keys that parse back to the same parts; any string given to a parser either parses into
 * parts that rebuild the very same key, or is refused (null), never a throw.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Keys, parseTimeStamp, timeStamp } from "../src/protocol/keys.ts";
import { shardOfTaskId, validateName, validatePrefix, validateShard } from "../src/task/names.ts";
import { hasControl, hostileString, Rng } from "./fixtures/fuzz.ts";
import { it } from "./helpers.ts";

const N = 3000;

function accepts(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    assert.ok(e instanceof TypeError, `a TypeError, got ${(e as Error)?.name}`);
    return false;
  }
}

function safe(s: string): void {
  assert.ok(!s.includes("/"), `no "/" in ${JSON.stringify(s)}`);
  assert.ok(!s.includes(".."), `no ".." in ${JSON.stringify(s)}`);
  assert.ok(!hasControl(s), `no control character in ${JSON.stringify(s)}`);
  assert.ok(!/\s/.test(s), `no white space in ${JSON.stringify(s)}`);
}

describe("fuzz: key validators", () => {
  it("task types, worker and schedule ids: safe when accepted, a clear TypeError otherwise", () => {
    const rng = new Rng(11);
    let accepted = 0;
    const keys = new Keys("oq/");
    for (let i = 0; i < N; i++) {
      const s = hostileString(rng);
      let message = "";
      const ok = (() => {
        try {
          validateName("task type", s);
          return true;
        } catch (e) {
          assert.ok(e instanceof TypeError, "e instanceof TypeError");
          message = (e as Error).message;
          return false;
        }
      })();
      if (!ok) {
        assert.ok(message.startsWith("Invalid task type "), message);
        assert.ok(message.includes(JSON.stringify(s)), "the message quotes the value");
        continue;
      }
      accepted++;
      safe(s);
      assert.ok(s.length >= 1 && s.length <= 128, "s.length >= 1 && s.length <= 128");
      assert.equal(keys.parseSchedule(keys.schedule(s)), s, "schedule id round-trips");
      assert.equal(keys.signal(s), `oq/signals/types/${s}`);
      assert.equal(keys.worker(s), `oq/workers/${s}.json`);
      const ready = keys.ready("3", s, 1_790_000_000_123, "3-abc");
      assert.deepEqual(keys.parseReady(ready), {
        key: ready,
        shard: "3",
        taskType: s,
        dueAt: 1_790_000_000_123,
        sortAt: 1_790_000_000_123,
        priority: 0,
        taskId: "3-abc",
      });
    }
    assert.ok(accepted > N / 10, `enough valid names generated (${accepted})`);
  });

  it("shard names and task ids: safe when accepted; keys built from them parse back", () => {
    const rng = new Rng(12);
    const keys = new Keys();
    let ids = 0;
    for (let i = 0; i < N; i++) {
      const shard = hostileString(rng, "abcxyz0123456789");
      if (accepts(() => validateShard(shard))) {
        safe(shard);
        assert.ok(/^[a-z0-9]{1,16}$/.test(shard), "/^[a-z0-9]{1,16}$/.test(shard)");
        assert.equal(keys.tasksPrefix(shard), `tasks/${shard}/`);
      }
      const id = `${rng.chance(0.8) ? rng.pick(["0", "1", "15", "ab"]) : hostileString(rng)}-${
        hostileString(rng)
      }`;
      if (!accepts(() => shardOfTaskId(id))) continue;
      ids++;
      safe(id);
      const s = shardOfTaskId(id);
      assert.equal(keys.task(id), `tasks/${s}/${id}.json`);
      const at = rng.int(0, 4_000_000_000_000);
      for (const kind of ["lease", "ttl"] as const) {
        const k = keys.deadline(s, at, id, kind);
        assert.deepEqual(keys.parseDeadline(k), { key: k, shard: s, at, taskId: id, kind });
      }
      const r = keys.ready(s, "t", at, id);
      assert.equal(keys.parseReady(r)?.taskId, id);
    }
    assert.ok(ids > N / 20, `enough valid ids generated (${ids})`);
  });

  it("prefixes: accepted ones are clean path segments ending in /", () => {
    const rng = new Rng(13);
    let accepted = 0;
    for (let i = 0; i < N; i++) {
      const raw = rng.chance(0.5) ? `${hostileString(rng)}/` : hostileString(rng);
      if (!accepts(() => validatePrefix(raw))) continue;
      if (raw === "") continue;
      accepted++;
      assert.ok(
        raw.endsWith("/") && !raw.startsWith("/"),
        'raw.endsWith("/") && !raw.startsWith("/")',
      );
      assert.ok(!hasControl(raw), "!hasControl(raw)");
      for (const seg of raw.split("/").slice(0, -1)) {
        assert.ok(seg !== "" && seg !== "." && seg !== "..", `segment ${JSON.stringify(seg)}`);
      }
      const keys = new Keys(raw);
      const k = keys.ready("0", "t", 0, "0-x");
      assert.ok(k.startsWith(raw), "k.startsWith(raw)");
      assert.equal(keys.parseReady(k)?.taskId, "0-x");
      assert.equal(new Keys().parseReady(k), null, "another prefix does not claim the key");
    }
    assert.ok(accepted > 100, `enough valid prefixes generated (${accepted})`);
  });

  it("parsers: any key either rebuilds exactly from its parts or is refused, never a throw", () => {
    const rng = new Rng(14);
    const keys = new Keys("p/");
    const stamp = () => timeStamp(rng.int(0, 4_000_000_000_000));
    const pieces = () =>
      rng.pick([
        hostileString(rng),
        stamp(),
        "0",
        "3",
        "t",
        "0-abc",
        "",
        "..",
        "x.lease",
        "0-abc.ttl",
      ]);
    let parsed = 0;
    // Near-valid keys (each part replaced by junk now and then) and arbitrary ones.
    const part = (valid: string) => (rng.chance(0.15) ? pieces() : valid);
    for (let i = 0; i < N * 2; i++) {
      let key: string;
      const shape = rng.int(0, 3);
      if (shape === 0) {
        key = `${part("p")}/ready/${part("0")}/${part("t")}/${part(stamp())}/${part("0-abc")}`;
      } else if (shape === 1) {
        key = `${part("p")}/deadlines/${part("1")}/${part(stamp())}/${part("1-x")}.${
          part(rng.pick(["lease", "ttl"]))
        }`;
      } else if (shape === 2) {
        key = `p/schedules/${part("nightly")}.${part("json")}`;
      } else {
        const head = rng.pick(["p/ready/", "p/deadlines/", "p/schedules/", "ready/", "p/", ""]);
        const parts = Array.from({ length: rng.int(1, 5) }, pieces);
        key = head + parts.join("/") +
          (rng.chance(0.3) ? rng.pick([".json", ".lease", ".ttl", ".group"]) : "");
      }
      const r = keys.parseReady(key);
      if (r) {
        parsed++;
        assert.equal(keys.ready(r.shard, r.taskType, r.dueAt, r.taskId), key);
      }
      const d = keys.parseDeadline(key);
      if (d) {
        parsed++;
        const rebuilt = d.kind === "group"
          ? keys.leaseGroup(d.shard, `${timeStamp(d.at)}/${d.groupId}`)
          : keys.deadline(d.shard, d.at, d.taskId, d.kind);
        assert.equal(rebuilt, key);
      }
      const s = keys.parseSchedule(key);
      if (s !== null) {
        parsed++;
        assert.equal(keys.schedule(s), key);
      }
    }
    assert.ok(parsed > N / 2, `many keys parsed (${parsed})`);
  });

  it("time stamps round-trip and sort like the times", () => {
    const rng = new Rng(15);
    let prev: [number, string] | undefined;
    for (let i = 0; i < N; i++) {
      const ms = rng.int(0, 253_402_300_799_999); // up to 9999-12-31
      const s = timeStamp(ms);
      assert.equal(parseTimeStamp(s), ms);
      if (prev) assert.equal(prev[0] < ms, prev[1] < s);
      prev = [ms, s];
      const junk = hostileString(rng, "0123456789TZ.");
      const p = parseTimeStamp(junk);
      if (!Number.isNaN(p)) assert.equal(timeStamp(p), junk);
    }
  });
});
