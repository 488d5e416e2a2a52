// oq-test: runtimes=node,bun,deno timeout=60
/** LazyAbort (src/worker/lazy_abort.ts): the signal made late behaves as one made early. */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { LazyAbort } from "../src/worker/lazy_abort.ts";
import { it } from "./helpers.ts";

describe("LazyAbort", () => {
  it("a signal asked for before the abort fires; one asked for after comes aborted", () => {
    const early = new LazyAbort();
    const signal = early.signal;
    let fired: unknown;
    signal.addEventListener("abort", () => fired = signal.reason);
    const reason = new Error("first");
    early.abort(reason);
    early.abort(new Error("second"));
    assert.equal(fired, reason, "the listener saw the first reason");
    assert.equal(early.reason, reason);
    const late = new LazyAbort();
    assert.equal(late.aborted, false);
    assert.equal(late.reason, undefined);
    late.abort(reason);
    assert.equal(late.aborted, true);
    assert.equal(late.signal.aborted, true, "made aborted");
    assert.equal(late.signal.reason, reason);
    assert.equal(late.signal, late.signal, "one signal");
  });
});
