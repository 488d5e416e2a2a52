/**
 * Fuzz: random task inputs through submit (huge, deeply nested, values JSON cannot carry,
 * lone surrogates) and random bytes through the stored-object parsers (invalid UTF-8,
 * truncated JSON, mutated records, newer schema versions). Every input is either accepted
 * and read back equal to its JSON form, or refused with a TypeError/RangeError whose message
 * says why, with nothing written; every stored object either parses or is a SchemaError
 * naming its key.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { SchemaError } from "../src/base/errors.ts";
import { parseStored as parseSchedule, ScheduleRecordSchema } from "../src/schedule/schedule.ts";
import { parseTaskRecord, type TaskRecord } from "../src/task/task.ts";
import { it, memQueue } from "./helpers.ts";
import { hostileString, randomValue, Rng, taskRecord } from "./fixtures/fuzz.ts";

const enc = new TextEncoder();

function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

describe("fuzz: task inputs through submit", () => {
  it("random values: accepted and read back as JSON, or refused with nothing written", async () => {
    const rng = new Rng(21);
    const { queue, store } = memQueue({ maxInputBytes: 4096 });
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      const input = randomValue(rng, 0, true);
      const before = (await store.list({})).objects.length;
      let task;
      try {
        task = await queue.submit("t", input);
      } catch (e) {
        refused++;
        assert.ok(e instanceof TypeError || e instanceof RangeError, `${(e as Error).name}`);
        assert.match((e as Error).message, /Task input|Invalid/);
        assert.equal((await store.list({})).objects.length, before, "nothing written");
        continue;
      }
      accepted++;
      const expected = JSON.parse(JSON.stringify(input) ?? "null");
      const back = await queue.get(task.id);
      assert.deepEqual(back?.input, expected, "read back as its JSON form");
    }
    assert.ok(accepted > 100 && refused > 10, `accepted ${accepted}, refused ${refused}`);
  });

  it("huge, deep, cyclic and non-JSON inputs get clear errors and write nothing", async () => {
    const { queue, store } = memQueue({ maxInputBytes: 256 * 1024 });
    const cyclic: Record<string, unknown> = {};
    cyclic.me = [cyclic];
    const cases: Array<[unknown, RegExp]> = [
      ["x".repeat(300 * 1024), /over the limit of 262144/],
      [{ a: "é".repeat(140 * 1024) }, /over the limit/], // counted in UTF-8 bytes, not characters
      // Too deep for JSON.stringify's stack on Node and Bun; Deno's stack copes, and then
      // the 800 KB text is over the size limit: a clear error either way.
      [deep(200_000), /not JSON-serializable|over the limit/],
      [cyclic, /not JSON-serializable/],
      [{ n: 10n }, /not JSON-serializable/],
      [() => 1, /not JSON-serializable/],
      [Symbol("s"), /not JSON-serializable/],
      [undefined, /not JSON-serializable/],
    ];
    for (const [input, re] of cases) {
      await assert.rejects(queue.submit("t", input), (e: Error) => {
        assert.ok(e instanceof TypeError || e instanceof RangeError, e.name);
        assert.match(e.message, re);
        return true;
      });
    }
    await assert.rejects(
      queue.submitMany([["t", { ok: 1 }], ["t", deep(200_000)], ["t", { ok: 2 }]]),
      /not JSON-serializable|over the limit/,
    );
    assert.equal((await store.list({})).objects.length, 0, "nothing was written");
    // Deep but serializable, and lone surrogates: accepted and stored as JSON.
    const t1 = await queue.submit("t", deep(500));
    assert.deepEqual((await queue.get(t1.id))?.input, deep(500));
    const t2 = await queue.submit("t", { s: "\ud800x\udfff" });
    assert.deepEqual((await queue.get(t2.id))?.input, { s: "\ud800x\udfff" });
  });
});

function validRecord(): TaskRecord {
  return taskRecord("0-abc", Date.parse("2026-11-22T12:00:00.000Z"));
}

function schemaErrorOrRecord(key: string, body: Uint8Array): TaskRecord | null {
  try {
    return parseTaskRecord(key, body);
  } catch (e) {
    assert.ok(e instanceof SchemaError, `a SchemaError, got ${(e as Error)?.name}: ${e}`);
    assert.ok((e as SchemaError).message.includes(key), "the message names the key");
    assert.equal((e as SchemaError).key, key);
    return null;
  }
}

describe("fuzz: stored objects through the parsers", () => {
  it("random bytes, invalid UTF-8 and truncated JSON: SchemaError naming the key", () => {
    const rng = new Rng(22);
    const good = enc.encode(JSON.stringify(validRecord()));
    assert.ok(
      schemaErrorOrRecord("tasks/0/0-abc.json", good),
      'schemaErrorOrRecord("tasks/0/0-abc.json", good)',
    );
    for (let i = 0; i < 2000; i++) {
      const key = `tasks/0/0-f${i}.json`;
      const k = rng.int(0, 3);
      let body: Uint8Array;
      if (k === 0) body = rng.bytes(rng.int(0, 64));
      else if (k === 1) body = good.slice(0, rng.int(0, good.length - 1));
      else if (k === 2) {
        body = good.slice();
        body[rng.int(0, body.length - 1)] = rng.pick([0xff, 0xc3, 0x80, 0xed, 0x00]);
      } else body = enc.encode(hostileString(rng));
      schemaErrorOrRecord(key, body);
    }
  });

  it("mutated records: every field set to junk, missing, or a newer schema version", () => {
    const rng = new Rng(23);
    const fields = Object.keys(validRecord()) as Array<keyof TaskRecord>;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const rec: Record<string, unknown> = validRecord() as unknown as Record<string, unknown>;
      for (let m = rng.int(1, 3); m > 0; m--) {
        const f = rng.pick(fields);
        if (rng.chance(0.3)) delete rec[f];
        else rec[f] = randomValue(rng, 3);
      }
      if (rng.chance(0.05)) rec.schema_version = rng.int(2, 99); // 2 needs a payload reference
      const body = enc.encode(JSON.stringify(rec));
      const parsed = schemaErrorOrRecord(`tasks/0/0-m${i}.json`, body);
      if (parsed === null) {
        refused++;
        continue;
      }
      // Accepted: every field has its type.
      assert.equal(parsed.schema_version, 1);
      assert.equal(typeof parsed.id, "string");
      assert.ok(Array.isArray(parsed.errors), "Array.isArray(parsed.errors)");
      assert.ok(
        !Number.isNaN(Date.parse(parsed.created_at)),
        "!Number.isNaN(Date.parse(parsed.created_at))",
      );
    }
    assert.ok(refused > 2000, `most mutations refused (${refused})`);
    const newer = enc.encode(JSON.stringify({ ...validRecord(), schema_version: 3 }));
    assert.throws(() => parseTaskRecord("k.json", newer), /newer than this oq understands/);
    const noRef = enc.encode(JSON.stringify({ ...validRecord(), schema_version: 2 }));
    assert.throws(
      () => parseTaskRecord("k.json", noRef),
      /schema_version 2 is for a task with a payload reference/,
    );
  });

  it("schedule objects: random bytes and mutations are SchemaErrors naming the key", () => {
    const rng = new Rng(24);
    const valid = {
      schema_version: 1,
      id: "s",
      task_type: "t",
      input: null,
      cron: "* * * * *",
      timezone: "UTC",
      timeout_seconds: null,
      max_retries: null,
      enabled: true,
      enabled_at: "2026-11-22T12:00:00Z",
      created_at: "2026-11-22T12:00:00Z",
      updated_at: "2026-11-22T12:00:00Z",
      revision: 0,
      write_id: "w",
    };
    assert.equal(
      parseSchedule("schedules/s.json", enc.encode(JSON.stringify(valid)), ScheduleRecordSchema).id,
      "s",
    );
    for (let i = 0; i < 1000; i++) {
      const rec: Record<string, unknown> = { ...valid };
      const f = rng.pick(Object.keys(valid));
      rec[f] = randomValue(rng, 2);
      const body = rng.chance(0.3) ? rng.bytes(rng.int(0, 40)) : enc.encode(JSON.stringify(rec));
      try {
        parseSchedule(`schedules/x${i}.json`, body, ScheduleRecordSchema);
      } catch (e) {
        assert.ok(e instanceof SchemaError, `${(e as Error).name}`);
        assert.ok(
          (e as Error).message.includes(`schedules/x${i}.json`),
          "(e as Error).message.includes(`schedules/x${i}.json`)",
        );
      }
    }
  });
});
