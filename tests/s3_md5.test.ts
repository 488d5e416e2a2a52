import { describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { md5, md5Base64, md5Hex } from "../src/s3/md5.ts";
import { it } from "./helpers.ts";

const enc = new TextEncoder();

describe("md5", () => {
  it("matches the RFC 1321 test suite", () => {
    const vectors: Array<[string, string]> = [
      ["", "d41d8cd98f00b204e9800998ecf8427e"],
      ["a", "0cc175b9c0f1b6a831c399e269772661"],
      ["abc", "900150983cd24fb0d6963f7d28e17f72"],
      ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
      ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
      [
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "d174ab98d277d9f5a5611c2c9f419d9f",
      ],
      [
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
        "57edf4a22be3c955ac49da2e2107b67a",
      ],
    ];
    for (const [input, hex] of vectors) assert.equal(md5Hex(enc.encode(input)), hex, input);
  });

  it("handles UTF-8 and the S3 ETag of a JSON body", () => {
    assert.equal(
      md5Hex(enc.encode("The quick brown fox jumps over the lazy dog")),
      "9e107d9d372bb6826bd81d3542a419d6",
    );
    assert.equal(md5Hex(enc.encode("hello")), "5d41402abc4b2a76b9719d911017c592");
  });

  it("agrees with node:crypto at every padding boundary and across blocks", () => {
    for (const n of [0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 65_537]) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
      const expected = createHash("md5").update(bytes).digest("hex");
      assert.equal(md5Hex(bytes), expected, `length ${n}`);
    }
  });

  it("gives raw bytes and the Content-MD5 base64 form", () => {
    assert.equal(md5(new Uint8Array()).length, 16);
    assert.equal(md5Base64(new Uint8Array()), "1B2M2Y8AsgTpgAmY7PhCfg==");
    const body = enc.encode("<Delete><Object><Key>a</Key></Object></Delete>");
    assert.equal(md5Base64(body), createHash("md5").update(body).digest("base64"));
  });
});
