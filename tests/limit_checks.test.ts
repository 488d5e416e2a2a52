/**
 * The measures bench/limits.ts and the chaos run report about limits (bench/limit_checks.ts),
 * on hand-made handler runs: overlap, starts in a window, and how well slots were used.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { maxInWindow, maxOverlap, slotUse } from "../bench/limit_checks.ts";
import { it } from "./helpers.ts";

describe("limit measures", () => {
  it("maxOverlap: an end at t closes before a start at t", () => {
    assert.equal(maxOverlap([[0, 10], [10, 20], [5, 15]]), 2, "two at once at most");
    assert.equal(maxOverlap([[0, 10], [0, 10], [0, 10]]), 3, "three together");
  });

  it("maxInWindow: half-open windows", () => {
    assert.equal(maxInWindow([0, 500, 999, 1000], 1000), 3, "0, 500, 999 in [0, 1000)");
    assert.equal(maxInWindow([0, 1000, 2000], 1000), 1, "one per window");
  });

  it("slotUse: busy share of limit x span, and free slot time before the last start", () => {
    // Limit 2 from 0 to 400: runs [0,100], [0,100], [300,400]; one slot busy [0,100] twice,
    // then nothing until 300 (2 free slots x 200), then one run (the last start is at 300).
    const u = slotUse([[0, 100], [0, 100], [300, 400]], 2);
    assert.equal(u.share, 300 / (2 * 400), "300 busy of 800 slot-ms");
    assert.equal(u.freeSlotMs, 400, "two slots free from 100 to 300");
    assert.deepEqual(
      slotUse([[0, Infinity]], 2),
      { share: 0, freeSlotMs: 0 },
      "open runs left out",
    );
  });
});
