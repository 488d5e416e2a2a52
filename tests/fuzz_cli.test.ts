/**
 * Fuzz tests for what crosses the command line (issue 8, bad input): flag values
 * (durations, times, integers, JSON), `oq submit`'s option set and JSON-lines files. Every
 * value is either accepted as something the library takes, or refused with a usage error
 * (exit 2) that names the flag or line and prints safely; nothing else is thrown, and a
 * refused submit writes nothing.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { CliError, describeError, EXIT } from "../src/cli/errors.ts";
import { EventLog } from "../src/cli/log.ts";
import { parseDuration, parseIntFlag, parseJsonText, parseTimeFlag } from "../src/cli/parse.ts";
import { parseJsonLines, submitOptions } from "../src/cli/submit.ts";
import { it, memQueue } from "./helpers.ts";
import { hostileString, randomValue, Rng } from "./fixtures/fuzz.ts";

const SEEDS = [1, 2, 3];
const DURATION_ALPHABET = "0123456789.smhdw ";
const TIME_ALPHABET = "0123456789-:TZ+. tz";

/** True when `s` holds a character a message printed to a terminal must not carry raw. */
function unprintable(s: string): boolean {
  return [...s].some((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && ch !== "\n" && ch !== "\t") || (c >= 0x7f && c <= 0x9f) ||
      (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
  });
}

/** A usage error whose message names `what` and has no raw control characters. */
function assertUsage(e: unknown, what: string, input: string): void {
  assert.ok(e instanceof CliError, `${JSON.stringify(input)}: ${String(e)}`);
  assert.equal(e.exitCode, EXIT.usage);
  assert.ok(e.message.includes(what), `${e.message} names ${what}`);
  assert.ok(!unprintable(e.message), `printable: ${JSON.stringify(e.message)}`);
}

/** A value near the shape a parser accepts: its own alphabet, sometimes hostile characters. */
function nearMiss(rng: Rng, alphabet: string): string {
  return rng.chance(0.3) ? hostileString(rng) : hostileString(rng, alphabet);
}

describe("fuzz: CLI flag values", () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: durations, times, integers and JSON parse or give a usage error`, () => {
      const rng = new Rng(seed);
      for (let i = 0; i < 400; i++) {
        const d = nearMiss(rng, DURATION_ALPHABET);
        try {
          const ms = parseDuration(d, "--delay");
          assert.ok(Number.isFinite(ms) && ms >= 0, `${JSON.stringify(d)} -> ${ms}`);
        } catch (e) {
          assertUsage(e, "--delay", d);
        }
        const t = nearMiss(rng, TIME_ALPHABET);
        try {
          const at = parseTimeFlag(t, "--at");
          assert.ok(Number.isFinite(at.getTime()), `${JSON.stringify(t)} -> ${at}`);
        } catch (e) {
          assertUsage(e, "--at", t);
        }
        const n = nearMiss(rng, "0123456789-+e. ");
        try {
          const v = parseIntFlag(n, "--max-retries", 0);
          assert.ok(Number.isSafeInteger(v) && v >= 0, `${JSON.stringify(n)} -> ${v}`);
        } catch (e) {
          assertUsage(e, "--max-retries", n);
        }
        const j = rng.chance(0.5)
          ? JSON.stringify(randomValue(rng)) ?? "undefined"
          : nearMiss(rng, '{}[]":,0123456789truefalsn ');
        const cut = rng.chance(0.3) ? j.slice(0, rng.int(0, j.length)) : j;
        try {
          parseJsonText(cut, "--input");
        } catch (e) {
          assertUsage(e, "--input", cut);
        }
      }
    });
  }

  it("well-formed values are accepted with the right meaning", () => {
    assert.equal(parseDuration("1h30m", "--ttl"), 5_400_000);
    assert.equal(parseDuration("250", "--poll", "ms"), 250);
    assert.equal(
      parseTimeFlag("2026-01-28T10:00:00+01:00", "--at").toISOString(),
      "2026-01-28T09:00:00.000Z",
    );
    assert.equal(parseIntFlag(" 7 ", "--max-retries", 0), 7);
    for (const bad of ["", " ", "1x", "-1s", "1e3", "NaN", "Infinity", "1h-5m"]) {
      assert.throws(() => parseDuration(bad, "--ttl"), CliError, JSON.stringify(bad));
    }
    assert.throws(() => parseTimeFlag("2026-01-28T10:00:00", "--at"), /with a zone/);
    assert.throws(() => parseIntFlag("9007199254740993", "--max-retries", 0), CliError);
  });
});

describe("fuzz: oq submit options and JSON-lines files", () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: random flag sets submit a task or are refused with nothing written`, async () => {
      const rng = new Rng(seed);
      const { queue, store } = memQueue({ shardCount: 2 });
      const flagValue = (alphabet: string) =>
        rng.chance(0.7) ? hostileString(rng, alphabet) : hostileString(rng);
      let accepted = 0;
      let refused = 0;
      for (let i = 0; i < 150; i++) {
        const f: Record<string, string> = {};
        if (rng.chance(0.3)) {
          f.at = rng.chance(0.5) ? "2030-01-01T00:00:00Z" : flagValue(TIME_ALPHABET);
        }
        if (rng.chance(0.3)) f.delay = flagValue(DURATION_ALPHABET);
        if (rng.chance(0.3)) f.ttl = flagValue(DURATION_ALPHABET);
        if (rng.chance(0.2)) f.expiresAt = flagValue(TIME_ALPHABET);
        if (rng.chance(0.4)) f.timeout = flagValue(DURATION_ALPHABET);
        if (rng.chance(0.4)) f.maxRetries = flagValue("0123456789-");
        if (rng.chance(0.2)) f.idempotencyKey = hostileString(rng);
        const type = rng.chance(0.8) ? "email" : hostileString(rng);
        const before = (await store.list({ prefix: "" })).objects.length;
        try {
          const options = submitOptions(f);
          const t = await queue.submit(type, randomValue(rng), options);
          assert.equal((await queue.get(t.id))?.status, "pending");
          accepted++;
        } catch (e) {
          refused++;
          if (e instanceof CliError) assertUsage(e, "", JSON.stringify(f));
          else {
            // Refused by the library (a value the flag syntax allows but submit does not,
            // e.g. a TTL shorter than the delay, or a bad type): a clear TypeError/RangeError.
            assert.ok(e instanceof TypeError || e instanceof RangeError, String(e));
            const d = describeError(e);
            assert.equal(d.exitCode, EXIT.usage, d.message);
            assert.ok(d.message.length > 10 && !unprintable(d.message), JSON.stringify(d.message));
          }
          const after = (await store.list({ prefix: "" })).objects.length;
          assert.equal(after, before, `refused ${JSON.stringify(f)}: nothing written`);
        }
      }
      assert.ok(accepted > 5 && refused > 5, `both outcomes seen (${accepted} / ${refused})`);
    });
  }

  it("JSON-lines files: every line is an entry, or the file is refused naming the line", () => {
    const rng = new Rng(9);
    for (let i = 0; i < 300; i++) {
      const lines = Array.from({ length: rng.int(0, 6) }, () => {
        if (rng.chance(0.6)) {
          const o: Record<string, unknown> = { type: "t", input: randomValue(rng) };
          if (rng.chance(0.2)) o.maxRetries = rng.int(0, 5);
          if (rng.chance(0.1)) o[hostileString(rng)] = 1;
          return JSON.stringify(o);
        }
        return rng.chance(0.5) ? hostileString(rng) : JSON.stringify(randomValue(rng)) ?? "";
      });
      const text = lines.join(rng.chance(0.5) ? "\n" : "\r\n");
      try {
        const entries = parseJsonLines(text, "f.jsonl");
        assert.ok(entries.length <= lines.length, "entries.length <= lines.length");
        for (const [type] of entries) assert.equal(typeof type, "string");
      } catch (e) {
        assertUsage(e, "f.jsonl line ", text);
      }
    }
  });
});

describe("fuzz: worker log lines", () => {
  it("human lines never carry raw control characters from task output or ids", () => {
    const rng = new Rng(11);
    const log = new EventLog("human");
    for (let i = 0; i < 300; i++) {
      const fields = {
        task_id: hostileString(rng),
        line: hostileString(rng) + "\x1b[2J\x07\u202e",
        error: hostileString(rng),
        attempt: rng.int(0, 9),
      };
      const line = log.line(rng.chance(0.5) ? "task:stderr" : "task:failed", fields, "error");
      assert.ok(!unprintable(line), JSON.stringify(line));
      assert.ok(line.includes("\\u001b[2J"), "escaped, not dropped");
    }
    const message = log.line("log", { message: "ok\x1b]0;pwned\x07" });
    assert.ok(!unprintable(message) && message.includes("\\u001b]0;pwned\\u0007"), message);
  });
});
