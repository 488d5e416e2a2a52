import { describe } from "node:test";
import assert from "node:assert/strict";
import { ServerClock } from "../src/s3/clock.ts";
import { it } from "./helpers.ts";

// A server clock 10 s ahead of the local one, whose Date header truncates to the second.
const SKEW = 10_000;
const dateAt = (serverMs: number) => new Date(Math.floor(serverMs / 1000) * 1000).toUTCString();

describe("ServerClock", () => {
  it("is the local clock, unsynced and infinitely uncertain, before any sample", () => {
    const clock = new ServerClock({ localNow: () => 123_456 });
    assert.equal(clock.synced(), false);
    assert.equal(clock.now(), 123_456);
    assert.equal(clock.uncertaintyMs(), Infinity);
  });

  it("bounds the offset with one sample: the 1 s resolution plus the round trip", () => {
    let local = 1_000_000_250;
    const clock = new ServerClock({ localNow: () => local });
    // Sent at local 1_000_000_200, answered at 1_000_000_300; server generated Date at 250.
    assert.ok(
      clock.observe(dateAt(1_000_000_250 + SKEW), 1_000_000_200, 1_000_000_300),
      "clock.observe(dateAt(1_000_000_250 + SKEW), 1_000_000_200, 1_000_000_300)",
    );
    assert.equal(clock.synced(), true);
    assert.equal(clock.uncertaintyMs(), 560); // (1000 + 100 + 2 x 10 of slack) / 2
    const error = clock.now() - (local + SKEW);
    assert.ok(Math.abs(error) <= clock.uncertaintyMs(), `error ${error}`);
    local += 5000;
    assert.ok(
      Math.abs(clock.now() - (local + SKEW)) <= clock.uncertaintyMs(),
      "Math.abs(clock.now() - (local + SKEW)) <= clock.uncertaintyMs()",
    );
  });

  it("narrows the interval by intersecting samples taken at different sub-second phases", () => {
    let local = 2_000_000_000;
    const clock = new ServerClock({ localNow: () => local });
    for (let i = 0; i < 20; i++) {
      local += 1337; // walk across the second boundaries
      clock.observe(dateAt(local + 5 + SKEW), local, local + 10);
      local += 10;
    }
    assert.ok(clock.uncertaintyMs() < 100, `uncertainty ${clock.uncertaintyMs()}`);
    assert.ok(
      Math.abs(clock.now() - (local + SKEW)) <= clock.uncertaintyMs(),
      "Math.abs(clock.now() - (local + SKEW)) <= clock.uncertaintyMs()",
    );
  });

  it("holds the true time when the server stamps Date from a clock a few ms behind (Ceph under load)", () => {
    // The same clocks (no skew), but the server's Date comes from a time read 3 ms before
    // the request left: without slack the bounds exclude the truth by up to 3 ms.
    let local = 3_000_000_000;
    const clock = new ServerClock({ localNow: () => local });
    // Requests sent just after a second boundary, and at other phases, one a second.
    for (const phase of [1, 500, 4, 999, 250, 2, 750, 3, 100, 900, 1, 600]) {
      local = Math.floor(local / 1000) * 1000 + 1000 + phase;
      clock.observe(dateAt(local - 3), local, local + 2);
    }
    const error = clock.now() - local;
    assert.ok(
      Math.abs(error) <= clock.uncertaintyMs(),
      `error ${error} ms, ${clock.uncertaintyMs()}`,
    );
  });

  it("restarts from the newest sample when the intervals stop overlapping (a clock jumped)", () => {
    let local = 3_000_000_000;
    const clock = new ServerClock({ localNow: () => local });
    for (let i = 0; i < 5; i++) {
      local += 700;
      clock.observe(dateAt(local + SKEW), local, local + 20);
    }
    local += 1000;
    clock.observe(dateAt(local + SKEW + 60_000), local, local + 20); // server jumped 1 min
    assert.ok(
      Math.abs(clock.now() - (local + SKEW + 60_000)) <= clock.uncertaintyMs(),
      "Math.abs(clock.now() - (local + SKEW + 60_000)) <= clock.uncertaintyMs()",
    );
    assert.ok(clock.uncertaintyMs() <= 520, "one sample's width: (1000 + 20 + 2 x 10) / 2");
  });

  it("forgets samples older than maxSampleAgeMs", () => {
    let local = 4_000_000_000;
    const clock = new ServerClock({ localNow: () => local, maxSampleAgeMs: 1000 });
    clock.observe(dateAt(local + 400 + SKEW), local, local);
    local += 1400;
    clock.observe(dateAt(local + SKEW), local, local);
    // Only the second sample is left: its full one-second width, plus the slack.
    assert.equal(clock.uncertaintyMs(), 510);
  });

  it("ignores a missing or unparsable Date and a reversed interval", () => {
    const clock = new ServerClock({ localNow: () => 0 });
    assert.equal(clock.observe(null, 0, 1), false);
    assert.equal(clock.observe("not a date", 0, 1), false);
    assert.equal(clock.observe(new Date(0).toUTCString(), 5, 1), false);
    assert.equal(clock.synced(), false);
  });
});

describe("ServerClock.now is monotonic", () => {
  it("never reads earlier when a new sample moves the estimate back a little", () => {
    let local = 5_000_000_000;
    const clock = new ServerClock({ localNow: () => local });
    // A sample bounding the offset to [SKEW - 1000, SKEW + 1000], then one taken when the
    // server's clock reads x.999 s, which caps the offset at SKEW + 1: the midpoint steps
    // back by about 500 ms.
    clock.observe(dateAt(local + SKEW + 900), local, local + 1000);
    local += 999;
    const before = clock.now();
    clock.observe(dateAt(local + SKEW), local, local + 5);
    assert.ok(clock.now() >= before, `${clock.now()} >= ${before}`);
    local += 2000;
    assert.ok(clock.now() > before, "and moves on once the estimate catches up");
    assert.ok(
      Math.abs(clock.now() - (local + SKEW)) <= clock.uncertaintyMs() + 1000,
      "Math.abs(clock.now() - (local + SKEW)) <= clock.uncertaintyMs() + 1000",
    );
  });

  it("follows a large jump back", () => {
    let local = 6_000_000_000;
    const clock = new ServerClock({ localNow: () => local });
    clock.observe(dateAt(local + SKEW), local, local + 10);
    clock.now();
    local += 100;
    clock.observe(dateAt(local + SKEW - 60_000), local, local + 10); // server set back 1 min
    assert.ok(
      Math.abs(clock.now() - (local + SKEW - 60_000)) <= clock.uncertaintyMs(),
      "Math.abs(clock.now() - (local + SKEW - 60_000)) <= clock.uncertaintyMs()",
    );
  });
});

describe("ServerClock keeps its bounds incrementally", () => {
  // The definition, recomputed from scratch: the samples of the last maxSampleAgeMs, at most
  // maxSamples of the newest, intersected; an empty intersection keeps only the newest.
  class Reference {
    samples: { lo: number; hi: number; at: number }[] = [];
    lo = 0;
    hi = 0;
    readonly max: number;
    readonly ageMs: number;
    constructor(max: number, ageMs: number) {
      this.max = max;
      this.ageMs = ageMs;
    }
    observe(date: number, sentAt: number, receivedAt: number) {
      const s = { lo: date - receivedAt - 10, hi: date + 1000 - sentAt + 10, at: receivedAt };
      this.samples = [...this.samples, s].filter((x) => x.at >= receivedAt - this.ageMs)
        .slice(-this.max);
      this.lo = Math.max(...this.samples.map((x) => x.lo));
      this.hi = Math.min(...this.samples.map((x) => x.hi));
      if (this.lo > this.hi) [this.samples, this.lo, this.hi] = [[s], s.lo, s.hi];
    }
  }

  it("agrees with the definition over random samples, clock jumps and expiries", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (
      const [max, ageMs] of [[64, 600_000], [64, 100], [8, 50], [4, 2_000], [1, 1_000]] as const
    ) {
      const clock = new ServerClock({ localNow: () => 0, maxSamples: max, maxSampleAgeMs: ageMs });
      const ref = new Reference(max, ageMs);
      let local = 1_000_000_000;
      let skew = SKEW;
      for (let i = 0; i < 5_000; i++) {
        const r = rand();
        // Mostly steps of a few ms; sometimes a long gap (expiry), a local clock set back,
        // or a server clock that jumps.
        local += r < 0.02 ? 3_000 : r < 0.03 ? -500 : Math.floor(rand() * 20);
        if (rand() < 0.005) skew += rand() < 0.5 ? 60_000 : -60_000;
        const rtt = Math.floor(rand() * 30);
        const date = Math.floor((local + skew + rand() * rtt) / 1000) * 1000;
        assert.ok(clock.observe(new Date(date).toUTCString(), local, local + rtt), `sample ${i}`);
        ref.observe(date, local, local + rtt);
        assert.equal(clock.offsetMs(), (ref.lo + ref.hi) / 2, `offset after sample ${i}`);
        assert.equal(clock.uncertaintyMs(), (ref.hi - ref.lo) / 2, `uncertainty after ${i}`);
      }
    }
  });
});
