/**
 * Fuzz: cron strings and timezones through parseCron (src/schedule/schedule.ts). Every string is
 * either accepted, and then its next and latest due times are consistent, or refused with a
 * TypeError/RangeError whose message quotes it. Well-formed 5-field expressions are always
 * accepted and fire when their fields say.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { latestDueAt, nextDueAt, parseCron, validateTimezone } from "../src/schedule/schedule.ts";
import { hostileString, Rng } from "./fixtures/fuzz.ts";
import { it } from "./helpers.ts";

const FIELD_BITS = [
  "*",
  "*/5",
  "*/0",
  "0",
  "7",
  "59",
  "60",
  "23",
  "24",
  "31",
  "32",
  "12",
  "13",
  "1-5",
  "5-1",
  "1,2,3",
  "0-59/15",
  "MON",
  "mon-fri",
  "JAN",
  "L",
  "W",
  "1W",
  "5#2",
  "?",
  "-1",
  "1.5",
  "",
  "**",
  "*/",
  ",",
  "/5",
];

const COMMON_BITS = ["*", "*", "*/5", "0", "7", "1-5", "1,2,3", "12", "?"];

function cronLike(rng: Rng): string {
  if (rng.chance(0.05)) {
    return rng.pick([
      "@hourly",
      "@daily",
      "@weekly",
      "@monthly",
      "@yearly",
      "@reboot",
      "@every 5m",
      "@",
      "@midnight",
    ]);
  }
  if (rng.chance(0.1)) return hostileString(rng, "0123456789*/,- ?LW#");
  const n = rng.chance(0.7) ? 5 : rng.int(0, 8);
  const sep = () => rng.pick([" ", " ", " ", "  ", "\t"]);
  return Array.from(
    { length: n },
    () =>
      rng.chance(0.05)
        ? hostileString(rng, "0123456789*/,-")
        : rng.chance(0.85)
        ? rng.pick(COMMON_BITS)
        : rng.pick(FIELD_BITS),
  ).join(sep());
}

function refusedClearly(e: unknown, cron: unknown): void {
  assert.ok(e instanceof TypeError || e instanceof RangeError, `${(e as Error)?.name}: ${e}`);
  const m = (e as Error).message;
  assert.ok(
    m.startsWith(`Invalid cron ${JSON.stringify(cron)}`) || /timezone/.test(m),
    `the message quotes the expression: ${m}`,
  );
}

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

describe("fuzz: cron expressions", () => {
  it("random expressions: accepted with consistent due times, or refused clearly", () => {
    const rng = new Rng(41);
    let accepted = 0;
    let refused = 0;
    // How long parsing takes depends on the machine: the slowest is reported, not asserted
    // (a parser that backtracks without end never returns, and the run's timeout catches it).
    let slowest = { ms: 0, cron: "" };
    for (let i = 0; i < 3000; i++) {
      const cron = cronLike(rng);
      const started = performance.now();
      let parsed;
      try {
        parsed = parseCron(cron);
      } catch (e) {
        refused++;
        refusedClearly(e, cron);
        continue;
      } finally {
        const ms = performance.now() - started;
        if (ms > slowest.ms) slowest = { ms, cron };
      }
      accepted++;
      const after = T0 + rng.int(0, 365 * 86_400_000);
      const next = nextDueAt(parsed, after);
      if (next !== null) assert.ok(next > after, `${cron}: next due after the reference`);
      const now = after + rng.int(1, 40 * 86_400_000);
      const latest = latestDueAt(parsed, after, now);
      if (latest !== null) {
        assert.ok(latest > after && latest <= now, `${cron}: latest due in (after, now]`);
        assert.ok(next !== null && latest >= next, `${cron}: latest is not before the first`);
      } else if (next !== null) {
        assert.ok(next > now, `${cron}: no run in (after, now] means the next is later`);
      }
    }
    assert.ok(accepted > 300 && refused > 300, `accepted ${accepted}, refused ${refused}`);
    console.log(
      `# slowest of 3,000 cron parses: ${slowest.ms.toFixed(1)} ms (${
        JSON.stringify(slowest.cron)
      })`,
    );
  });

  it("non-strings and 6- or 7-field expressions are refused", () => {
    const rng = new Rng(42);
    for (const v of [undefined, null, 5, {}, [], "", "   ", "\n"]) {
      assert.throws(() => parseCron(v), (e: unknown) => (refusedClearly(e, v), true));
    }
    for (let i = 0; i < 200; i++) {
      const n = rng.pick([6, 7]);
      const cron = Array.from({ length: n }, () => rng.pick(["*", "0", "*/5", "1-3"])).join(" ");
      assert.throws(() => parseCron(cron), /Invalid cron .*fields? given/);
    }
  });

  it("well-formed expressions are accepted and fire when their fields say", () => {
    const rng = new Rng(43);
    for (let i = 0; i < 1000; i++) {
      const minute = rng.int(0, 59);
      const hour = rng.int(0, 23);
      const step = rng.pick([1, 2, 3, 5, 10, 15, 20, 30]);
      const form = rng.int(0, 2);
      const cron = form === 0
        ? `${minute} ${hour} * * *`
        : form === 1
        ? `*/${step} ${hour} * * *`
        : `${minute} ${rng.int(0, 11)}-${rng.int(12, 23)} * * ${
          rng.pick(["*", "MON-FRI", "0,6", "1-5"])
        }`;
      const parsed = parseCron(cron);
      const after = T0 + rng.int(0, 365 * 86_400_000);
      const next = nextDueAt(parsed, after)!;
      assert.ok(next > after && next <= after + 8 * 86_400_000, `${cron} fires within a week`);
      const d = new Date(next);
      assert.equal(d.getUTCSeconds(), 0);
      if (form === 0) {
        assert.equal(d.getUTCMinutes(), minute, cron);
        assert.equal(d.getUTCHours(), hour, cron);
        assert.ok(next - after <= 86_400_000, `${cron} fires within a day`);
      } else if (form === 1) {
        assert.equal(d.getUTCMinutes() % step, 0, cron);
        assert.equal(d.getUTCHours(), hour, cron);
      } else {
        assert.equal(d.getUTCMinutes(), minute, cron);
      }
    }
  });

  it("timezones: IANA names accepted, anything else refused clearly", () => {
    const rng = new Rng(44);
    const known = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"];
    for (const tz of known) {
      assert.equal(validateTimezone(tz), tz);
      const next = nextDueAt(parseCron("0 9 * * *", tz), T0)!;
      const local = new Intl.DateTimeFormat("en-GB", {
        timeZone: tz,
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }).format(new Date(next));
      assert.equal(local, "09:00", `09:00 in ${tz}`);
    }
    for (let i = 0; i < 500; i++) {
      const tz = rng.chance(0.5)
        ? hostileString(rng, "abcdefghijklmnopqrstuvwxyzABCDEF/_+-0123456789")
        : hostileString(rng);
      try {
        validateTimezone(tz);
      } catch (e) {
        assert.ok(
          e instanceof TypeError || e instanceof RangeError,
          "e instanceof TypeError || e instanceof RangeError",
        );
        assert.ok((e as Error).message.includes(JSON.stringify(tz)), (e as Error).message);
      }
    }
  });
});
