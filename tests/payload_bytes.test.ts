// oq-test: runtimes=node,bun,deno timeout=120
/**
 * The byte handling under large payloads: `utf8Length` counts what `TextEncoder` writes
 * without encoding (every range, pairs and lone surrogates), and `BodyCollector` (the Node
 * HTTP client's response reader) returns exactly the bytes that arrived, owned by the reply,
 * whether the announced length is right, short, long or absent.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { utf8Length } from "../src/task/payload_ref.ts";
import { BodyCollector } from "../src/runtime/http_client.ts";
import { it } from "./helpers.ts";

const bytes = (...xs: number[]) => new Uint8Array(xs);

describe("utf8Length", () => {
  it("equals the length TextEncoder writes, for every kind of character", () => {
    const samples = [
      "",
      "plain ascii",
      "\u00e9\u07ff", // 2 bytes each
      "\u0800\u20ac\uffff", // 3 bytes each
      "\u{1F600}\u{10FFFF}", // pairs: 4 bytes each
      "\ud800", // a lone high surrogate at the end
      "\ud800x", // a lone high surrogate before a non-surrogate
      "\udc00\udfff", // lone low surrogates
      "\ud83d\ud83d\ude00", // high, then a pair
      JSON.stringify({ k: "v\u0000\n\u2028", n: [1, 2.5, null] }),
    ];
    let random = "";
    for (let i = 0; i < 5000; i++) random += String.fromCharCode((i * 7919) % 0x10000);
    samples.push(random);
    for (const s of samples) {
      assert.equal(
        utf8Length(s),
        new TextEncoder().encode(s).length,
        `utf8Length of ${JSON.stringify(s.slice(0, 20))}`,
      );
    }
  });
});

describe("BodyCollector", () => {
  it("with the announced length: one buffer, exactly the bytes, not a view of a chunk", () => {
    const pool = bytes(9, 1, 2, 3, 4, 5, 9);
    const c = new BodyCollector("5");
    c.add(pool.subarray(1, 3));
    c.add(pool.subarray(3, 6));
    const body = c.bytes();
    pool.fill(0);
    assert.deepEqual(body, bytes(1, 2, 3, 4, 5), "the bytes, unchanged when the pool is reused");
  });

  it("a body shorter than announced is what arrived; a longer one is whole", () => {
    const short = new BodyCollector("10");
    short.add(bytes(1, 2, 3));
    assert.deepEqual(short.bytes(), bytes(1, 2, 3), "short: what arrived");
    const long = new BodyCollector("2");
    long.add(bytes(1, 2));
    long.add(bytes(3));
    long.add(bytes(4, 5));
    assert.deepEqual(long.bytes(), bytes(1, 2, 3, 4, 5), "longer than announced: every byte");
  });

  it("without a usable length: the chunks joined, copied when there is one", () => {
    for (const header of [undefined, "", "abc", "-1", "0", ["3"]]) {
      const c = new BodyCollector(header);
      const chunk = bytes(7, 8, 9);
      c.add(chunk);
      const body = c.bytes();
      chunk.fill(0);
      assert.deepEqual(body, bytes(7, 8, 9), `length ${JSON.stringify(header)}: a copy`);
    }
    assert.deepEqual(new BodyCollector(undefined).bytes(), bytes(), "no chunk: empty");
    const two = new BodyCollector(undefined);
    two.add(bytes(1));
    two.add(bytes(2, 3));
    assert.deepEqual(two.bytes(), bytes(1, 2, 3), "two chunks joined");
  });
});
