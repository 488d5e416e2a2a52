/**
 * The CPU floor of one S3 request on Node: client CPU per request (user + system, from
 * `process.cpuUsage`) of a bare `node:http` keep-alive client, of oq's S3Client (SigV4,
 * retries, counters, `src/runtime/http_node.ts`) and, when it can be imported, of undici's
 * `Pool.request`, all sending the same small signed-looking PUT to a local `node:http`
 * server (a child process) that answers after `--delay-ms` (as a real server's latency
 * makes each answer its own event-loop turn). 4 requests in flight, as a worker of
 * concurrency 4.
 *
 *   node --import tsx bench/http_floor.ts [--requests 4000] [--delay-ms 3] [--rounds 3]
 *
 * bench/README.md ("Where a worker's CPU goes") has the figures and what they mean for
 * the 2 ms per task target.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import { S3Client } from "../src/s3/client.ts";
import { cliArgs } from "../src/runtime/mod.ts";
import { numberArg, parseArgs } from "./util.ts";

const args = parseArgs(cliArgs());
const requests = numberArg(args, "requests", 4000);
const delayMs = numberArg(args, "delay-ms", 3);
const rounds = numberArg(args, "rounds", 3);
const LANES = 4;

const SERVER = `
const http = require("node:http");
const s = http.createServer((req, res) => {
  req.on("data", () => {});
  req.on("end", () => setTimeout(() => {
    res.writeHead(200, { etag: '"abc"', "content-length": "0" });
    res.end();
  }, ${delayMs}));
});
s.listen(0, "127.0.0.1", () => console.log(s.address().port));
`;

const body = new Uint8Array(600).fill(120);
const headers = {
  "content-length": String(body.length),
  "x-amz-date": "20261207T000000Z",
  "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "if-match": '"abc"',
  authorization: "AWS4-HMAC-SHA256 Credential=a/20261207/us-east-1/s3/aws4_request, " +
    "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef",
};

/** CPU ms per request of `one`, run `requests` times over 4 lanes (after a warm-up). */
async function measure(one: () => Promise<void>): Promise<number> {
  const lane = async (n: number) => {
    for (let i = 0; i < n; i++) await one();
  };
  await lane(200);
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: LANES }, () => lane(requests / LANES)));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / requests;
}

const server = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
try {
  const port = await new Promise<number>((resolve) => {
    server.stdout!.once("data", (d: Uint8Array) => resolve(Number(String(d).trim())));
  });
  const agent = new http.Agent({ keepAlive: true, scheduling: "lifo" });
  const bare = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${port}/b/tasks/x`, {
        method: "PUT",
        agent,
        headers,
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve());
      });
      req.end(body);
    });
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    bucket: "b",
    accessKeyId: "a",
    secretAccessKey: "s",
    region: "us-east-1",
  });
  const viaS3 = async () => {
    await s3.putObject("tasks/x", body, { ifMatch: "abc" });
  };
  // undici is not a dependency of oq (a test tool brings it): measured when present.
  const undici = await import("undici").catch(() => null);
  const pool = undici ? new undici.Pool(`http://127.0.0.1:${port}`, { connections: 8 }) : null;
  const viaUndici = pool
    ? async () => {
      const r = await pool.request({ path: "/b/tasks/x", method: "PUT", headers, body });
      await r.body.arrayBuffer();
    }
    : null;
  console.log(`server answers after ${delayMs} ms; ${requests} requests, ${LANES} in flight`);
  console.log("| round | node:http bare | oq S3Client | undici Pool.request |");
  console.log("| --- | --- | --- | --- |");
  for (let r = 1; r <= rounds; r++) {
    const a = await measure(bare);
    const b = await measure(viaS3);
    const c = viaUndici ? await measure(viaUndici) : null;
    const ms = (x: number | null) => x === null ? "n/a" : `${x.toFixed(3)} ms`;
    console.log(`| ${r} | ${ms(a)} | ${ms(b)} | ${ms(c)} |`);
  }
  agent.destroy();
  await pool?.close();
} finally {
  server.kill();
}
