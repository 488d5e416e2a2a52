// oq-test: runtimes=node,bun,deno
// The S3 client's HTTP sender (src/runtime/http_client.ts) as each runtime picks it
// (node:http on Node, fetch on Bun and Deno), against a local node:http server: bodies both
// ways, HEAD, the length of a bodiless PUT, redirects not followed, keep-alive reuse, the
// timeout, the caller's abort and a refused connection; streamed bodies both ways.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { httpSender, HttpTimeoutError } from "../src/runtime/http_client.ts";
import { it, until } from "./helpers.ts";

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

async function withServer(handler: Handler, test: (url: string) => Promise<void>) {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      open.add(res);
      res.on("close", () => open.delete(res));
      handler(req, Buffer.concat(chunks), res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await test(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    for (const res of open) res.destroy();
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
}

const echo: Handler = (req, body, res) => {
  res.writeHead(200, {
    "content-type": "application/json",
    "X-Port": String(req.socket.remotePort),
  });
  res.end(JSON.stringify({
    method: req.method,
    length: req.headers["content-length"] ?? null,
    chunked: req.headers["transfer-encoding"] ?? null,
    signed: req.headers["x-amz-date"] ?? null,
    body: body.toString("utf8"),
  }));
};

const send = httpSender();
const dec = new TextDecoder();

describe("httpSender: the runtime's own HTTP client", () => {
  it("sends bodies and headers, reads bodies whole, answers HEAD without a body", async () => {
    await withServer(echo, async (url) => {
      const put = await send({
        method: "PUT",
        url: `${url}/b/k`,
        headers: { "x-amz-date": "20261206T000000Z" },
        body: new TextEncoder().encode("ü".repeat(40_000)),
        timeoutMs: 30_000,
      });
      assert.equal(put.status, 200);
      assert.equal(put.headers.get("Content-Type"), "application/json");
      const seen = JSON.parse(dec.decode(put.body));
      assert.deepEqual(
        { ...seen, body: seen.body.length },
        { method: "PUT", length: "80000", chunked: null, signed: "20261206T000000Z", body: 40_000 },
      );
      const empty = JSON.parse(dec.decode(
        (await send({ method: "PUT", url, headers: {}, timeoutMs: 30_000 })).body,
      ));
      assert.equal(empty.length, "0", "a bodiless PUT says Content-Length: 0");
      assert.equal(empty.chunked, null);
      const head = await send({ method: "HEAD", url, headers: {}, timeoutMs: 30_000 });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get("x-missing"), null);
    });
  });

  it("reuses the connection for sequential requests", async () => {
    await withServer(echo, async (url) => {
      const ports = [];
      for (let i = 0; i < 3; i++) {
        const r = await send({ method: "GET", url, headers: {}, timeoutMs: 30_000 });
        ports.push(r.headers.get("x-port"));
      }
      assert.equal(new Set(ports).size, 1, `one connection, saw ports ${ports}`);
    });
  });

  it("returns a redirect as an answer instead of following it", async () => {
    const redirect: Handler = (_req, _body, res) => {
      res.writeHead(301, { location: "http://127.0.0.1:9/elsewhere" });
      res.end("<Error><Code>PermanentRedirect</Code></Error>");
    };
    await withServer(redirect, async (url) => {
      const r = await send({ method: "GET", url, headers: {}, timeoutMs: 30_000 });
      assert.equal(r.status, 301);
      assert.match(dec.decode(r.body), /PermanentRedirect/);
    });
  });

  it("rejects with HttpTimeoutError when no complete answer comes in time", async () => {
    const silent: Handler = () => {};
    await withServer(silent, async (url) => {
      await assert.rejects(
        send({ method: "GET", url, headers: {}, timeoutMs: 50 }),
        (e) => e instanceof HttpTimeoutError && e.name === "TimeoutError",
      );
    });
  });

  it("rejects with the caller's reason when the caller aborts, before or during", async () => {
    const silent: Handler = () => {};
    await withServer(silent, async (url) => {
      const reason = new Error("stop");
      const before = new AbortController();
      before.abort(reason);
      await assert.rejects(
        send({ method: "GET", url, headers: {}, signal: before.signal, timeoutMs: 30_000 }),
        (e) => e === reason,
      );
      const during = new AbortController();
      const pending = send({
        method: "PUT",
        url,
        headers: {},
        body: new Uint8Array(10),
        signal: during.signal,
        timeoutMs: 30_000,
      });
      during.abort(reason);
      await assert.rejects(pending, (e) => e === reason);
    });
  });

  it("rejects a refused connection with a network error, not a timeout", async () => {
    let url = "";
    await withServer(echo, (u) => Promise.resolve(void (url = u)));
    await assert.rejects(
      send({ method: "GET", url, headers: {}, timeoutMs: 30_000 }),
      (e) => e instanceof Error && !(e instanceof HttpTimeoutError),
    );
  });

  it("streams a request body with its Content-Length (never chunked), again for a retry", async () => {
    await withServer(echo, async (url) => {
      const parts = ["ab", "cde", "", "\u00fc".repeat(30_000)].map((t) =>
        new TextEncoder().encode(t)
      );
      const size = parts.reduce((n, p) => n + p.length, 0);
      const body = {
        size,
        chunks: async function* () {
          yield* parts;
        },
      };
      for (const round of [1, 2]) {
        const r = await send({ method: "PUT", url, headers: {}, body, timeoutMs: 30_000 });
        const seen = JSON.parse(dec.decode(r.body));
        assert.equal(seen.length, String(size), `round ${round}: Content-Length sent`);
        assert.equal(seen.chunked, null, `round ${round}: not chunked`);
        assert.equal(seen.body, "abcde" + "\u00fc".repeat(30_000), `round ${round}: the bytes`);
      }
    });
  });

  it("a request body stream that fails or ends short fails the request", async () => {
    await withServer(echo, async (url) => {
      const failing = {
        size: 10,
        chunks: async function* () {
          yield new Uint8Array(4);
          throw new Error("source broke");
        },
      };
      await assert.rejects(
        send({ method: "PUT", url, headers: {}, body: failing, timeoutMs: 5000 }),
      );
      const short = {
        size: 10,
        chunks: async function* () {
          yield new Uint8Array(4);
        },
      };
      await assert.rejects(send({ method: "PUT", url, headers: {}, body: short, timeoutMs: 5000 }));
    });
  });

  it("streams a response: chunks in order; a slow reader is not cut off, a stalled server is", async () => {
    const parts = ["one,", "two,", "three"];
    let stall = false;
    const trickle: Handler = (_req, _body, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      if (stall) return void res.write("first,"); // then nothing
      for (const p of parts) res.write(p);
      res.end();
    };
    await withServer(trickle, async (url) => {
      const r = await send({ method: "GET", url, headers: {}, stream: true, timeoutMs: 1000 });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0, "the body comes as chunks");
      let text = "";
      for await (const c of r.chunks!) {
        text += dec.decode(c);
        await new Promise((resolve) => setTimeout(resolve, 1500)); // longer than the timeout
      }
      assert.equal(text, parts.join(""));

      stall = true;
      const s = await send({ method: "GET", url, headers: {}, stream: true, timeoutMs: 1000 });
      const it = s.chunks![Symbol.asyncIterator]();
      assert.equal(dec.decode((await it.next()).value), "first,");
      await assert.rejects(it.next(), (e) => e instanceof HttpTimeoutError);
    });
  });

  it("stopping early closes the streamed response's connection", async () => {
    let closed = false;
    const endless: Handler = (_req, _body, res) => {
      res.writeHead(200);
      res.on("close", () => void (closed = true));
      const timer = setInterval(() => res.write(new Uint8Array(16_384)), 5);
      res.on("close", () => clearInterval(timer));
    };
    await withServer(endless, async (url) => {
      const r = await send({ method: "GET", url, headers: {}, stream: true, timeoutMs: 30_000 });
      let n = 0;
      for await (const c of r.chunks!) {
        n += c.length;
        if (n > 50_000) break;
      }
      await until(() => closed, 30_000, "the server sees the connection closed");
    });
  });
});
