import { describe } from "node:test";
import assert from "node:assert/strict";
import { StorageEngine } from "../src/store/engine.ts";
import { compareKeys, SortedKeys } from "../src/store/sorted_keys.ts";
import { it } from "./helpers.ts";

const enc = new TextEncoder();

describe("SortedKeys", () => {
  it("keeps many keys in code point order across chunks", () => {
    const s = new SortedKeys();
    const keys = Array.from({ length: 5000 }, (_, i) => `k/${(i * 7919) % 5000}`);
    for (const k of keys) s.add(k);
    for (const k of keys.slice(0, 1000)) s.delete(k);
    const expected = keys.slice(1000).sort(compareKeys);
    assert.equal(s.size, 4000);
    assert.deepEqual([...s.from("")], expected);
    assert.deepEqual(
      [...s.from("k/4999")].slice(0, 1),
      expected.filter((k) => compareKeys(k, "k/4999") >= 0).slice(0, 1),
    );
  });

  it("orders by code point, as S3 orders by UTF-8 bytes", () => {
    // U+FF5E (3 UTF-8 bytes) sorts before U+1F600 (4 bytes) although its UTF-16 unit is larger.
    assert.ok(compareKeys("\uFF5E", "\u{1F600}") < 0, 'compareKeys("\\uFF5E", "\\u{1F600}") < 0');
    assert.ok(compareKeys("a", "ab") < 0, 'compareKeys("a", "ab") < 0');
    assert.ok(compareKeys("b", "a") > 0, 'compareKeys("b", "a") > 0');
  });
});

describe("StorageEngine lifecycle", () => {
  it("expires noncurrent versions and orphaned delete markers", () => {
    let now = Date.UTC(2026, 0, 1);
    const e = new StorageEngine(() => now);
    e.createBucket("b");
    e.setVersioning("b", true);
    e.put("b", "ready/x", enc.encode("1"));
    e.put("b", "ready/x", enc.encode("2"));
    e.delete("b", "ready/x");
    e.put("b", "tasks/t", enc.encode("1"));
    e.put("b", "tasks/t", enc.encode("2"));
    e.setLifecycle("b", [{
      id: "idx",
      prefix: "ready/",
      noncurrentVersionExpirationDays: 1,
      expiredObjectDeleteMarker: true,
    }]);
    now += 86_400_000;
    assert.equal(e.applyLifecycle("b"), 3);
    assert.equal(e.listVersions("b", { prefix: "ready/" }).versions.length, 0);
    assert.equal(
      e.listVersions("b", { prefix: "tasks/" }).versions.length,
      2,
      "other prefixes untouched",
    );
  });

  it("suspended versioning overwrites the null version", () => {
    const e = new StorageEngine(() => 0);
    e.createBucket("b");
    e.setVersioning("b", true);
    e.put("b", "k", enc.encode("v1"));
    e.setVersioning("b", false);
    e.put("b", "k", enc.encode("n1"));
    e.put("b", "k", enc.encode("n2"));
    const versions = e.listVersions("b", {}).versions;
    assert.deepEqual(versions.map((v) => v.versionId === "null"), [true, false]);
  });
});
