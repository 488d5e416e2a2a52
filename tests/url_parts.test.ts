// oq-test: runtimes=node,bun,deno timeout=60
/**
 * urlParts (src/runtime/url_parts.ts): the same host, path and query as a WHATWG URL gives,
 * for the URLs the S3 client builds and for ones it must hand to URL whole.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { urlParts } from "../src/runtime/url_parts.ts";
import { buildUrl } from "../src/s3/url.ts";
import { it } from "./helpers.ts";

function viaUrl(s: string) {
  const u = new URL(s);
  const h = u.hostname;
  return {
    protocol: u.protocol,
    hostname: h.startsWith("[") ? h.slice(1, -1) : h,
    port: u.port,
    host: u.host,
    pathname: u.pathname,
    search: u.search,
  };
}

describe("urlParts", () => {
  it("matches URL for built S3 URLs and for odd ones", () => {
    const a = { endpoint: "http://127.0.0.1:9000", bucket: "b", forcePathStyle: true };
    const cases = [
      buildUrl(a, "tasks/0/0-01ABC.json"),
      buildUrl(a, "ready/0/job/20261207T000000.000Z/batch.01KX", [["versionId", "v 1/2"]]),
      buildUrl(a, "a b/ü*(x)!'", [["list-type", "2"], ["prefix", "a/"], ["delete", ""]]),
      buildUrl({ ...a, forcePathStyle: false, endpoint: "https://s3.example.com" }, "k"),
      buildUrl(a),
      "http://LOCALHOST:80/b/k",
      "https://h.example:443/b/k?",
      "http://[::1]:9000/b/k?x=1",
      "http://127.0.0.1:9000",
      "http://127.0.0.1:9000/b/a\\b/../c d",
      "http://127.0.0.1:9000/b/k#frag",
    ];
    for (const s of cases) assert.deepEqual(urlParts(s), viaUrl(s), s);
  });
});
