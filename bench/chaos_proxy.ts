/**
 * A fault-injecting HTTP proxy on loopback, between oq and an S3 server. Each request is,
 * with probability `faultRate`, given one fault (picked by weight), else forwarded as is:
 *
 * - `delay`: forwarded after a random delay (`delayMs`);
 * - `error500`: answered 500 InternalError, not forwarded;
 * - `slowDown503`: answered 503 SlowDown, not forwarded;
 * - `reset`: the client connection is destroyed, not forwarded;
 * - `drop`: forwarded, the server applies it, then the client connection is destroyed
 *   without an answer (the write happened, the client never heard);
 * - `applied500`: forwarded and applied, then answered 500 (the server failed after acting).
 *
 * The Host header is passed through, so SigV4 signatures stay valid. Usable as a module
 * (`startChaosProxy`) or alone:
 *
 *   node --import tsx bench/chaos_proxy.ts --upstream http://127.0.0.1:9000 --fault-rate 0.05
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** Kinds of faults. */
export const FAULT_KINDS = [
  "delay",
  "error500",
  "slowDown503",
  "reset",
  "drop",
  "applied500",
] as const;

/** A kind of fault. */
export type FaultKind = typeof FAULT_KINDS[number];

/** Options of {@link startChaosProxy}. */
export interface ChaosProxyOptions {
  /** The server, e.g. `http://127.0.0.1:9000`. */
  upstream: string;
  /** Share of requests that get a fault. @default 0.05 */
  faultRate?: number;
  /** Relative weights of the kinds. @default every kind 1 */
  weights?: Partial<Record<FaultKind, number>>;
  /** Range of injected delays in ms. @default [100, 1500] */
  delayMs?: [number, number];
  /** Seed of the fault choices. @default 1 */
  seed?: number;
  /** Port to listen on (127.0.0.1). @default 0 (a free one) */
  port?: number;
}

/** A running proxy. */
export interface ChaosProxy {
  /** `http://127.0.0.1:{port}`. */
  url: string;
  /** Requests seen, forwarded, and faults injected by kind, by method. */
  stats(): { requests: number; forwarded: number; faults: Record<string, number> };
  /** Change the fault rate (0 turns faults off). */
  setFaultRate(rate: number): void;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

/** mulberry32: a small seeded PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
]);

function errorBody(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>chaos</RequestId></Error>`;
}

/** Start the proxy. */
export async function startChaosProxy(options: ChaosProxyOptions): Promise<ChaosProxy> {
  const upstream = new URL(options.upstream);
  let faultRate = options.faultRate ?? 0.05;
  const weights = FAULT_KINDS.map((k) => options.weights?.[k] ?? 1);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const [dMin, dMax] = options.delayMs ?? [100, 1500];
  const random = seededRandom(options.seed ?? 1);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let requests = 0;
  let forwarded = 0;
  const faults: Record<string, number> = {};
  const sockets = new Set<import("node:net").Socket>();

  const pick = (): FaultKind | null => {
    if (random() >= faultRate) return null;
    let r = random() * totalWeight;
    for (let i = 0; i < FAULT_KINDS.length; i++) {
      r -= weights[i]!;
      if (r < 0) return FAULT_KINDS[i]!;
    }
    return FAULT_KINDS[FAULT_KINDS.length - 1]!;
  };

  const forward = (req: http.IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>(
      (resolve, reject) => {
        const headers = { ...req.headers };
        delete headers["connection"];
        const up = http.request({
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
          agent,
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on(
            "end",
            () =>
              resolve({
                status: res.statusCode ?? 502,
                headers: res.headers,
                body: Buffer.concat(chunks),
              }),
          );
          res.on("error", reject);
        });
        up.on("error", reject);
        up.end(body);
      },
    );

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      requests++;
      const body = Buffer.concat(chunks);
      const fault = pick();
      const count = () => {
        if (fault) faults[fault] = (faults[fault] ?? 0) + 1;
      };
      count();
      const date = new Date().toUTCString();
      if (fault === "reset") return void req.socket.destroy();
      if (fault === "error500" || fault === "slowDown503") {
        const [status, code, msg] = fault === "error500"
          ? [500, "InternalError", "We encountered an internal error. Please try again."]
          : [503, "SlowDown", "Please reduce your request rate."];
        const text = errorBody(code, msg);
        res.writeHead(status, {
          "content-type": "application/xml",
          "content-length": Buffer.byteLength(text),
          date,
        });
        return void res.end(req.method === "HEAD" ? undefined : text);
      }
      if (fault === "delay") {
        await new Promise((r) => setTimeout(r, dMin + random() * (dMax - dMin)));
      }
      let reply;
      try {
        reply = await forward(req, body);
        forwarded++;
      } catch {
        return void req.socket.destroy(); // the server failed us: so does the proxy
      }
      if (fault === "drop") return void req.socket.destroy();
      if (fault === "applied500") {
        const text = errorBody(
          "InternalError",
          "We encountered an internal error. Please try again.",
        );
        res.writeHead(500, {
          "content-type": "application/xml",
          "content-length": Buffer.byteLength(text),
          date,
        });
        return void res.end(req.method === "HEAD" ? undefined : text);
      }
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(reply.headers)) {
        if (v !== undefined && !HOP.has(k)) headers[k] = v;
      }
      if (req.method !== "HEAD") headers["content-length"] = String(reply.body.length);
      res.writeHead(reply.status, headers);
      res.end(req.method === "HEAD" ? undefined : reply.body);
    });
    req.on("error", () => req.socket.destroy());
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ requests, forwarded, faults: { ...faults } }),
    setFaultRate: (r) => void (faultRate = r),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.main ?? (process.argv[1] && import.meta.url.endsWith(process.argv[1]))) {
  const { parseArgs, numberArg } = await import("./util.ts");
  const args = parseArgs(process.argv.slice(2));
  const upstream = args.get("upstream");
  if (!upstream) throw new TypeError("--upstream URL is required");
  const proxy = await startChaosProxy({
    upstream,
    faultRate: numberArg(args, "fault-rate", 0.05),
    seed: numberArg(args, "seed", 1),
    port: numberArg(args, "port", 0),
  });
  console.log(`chaos proxy ${proxy.url} -> ${upstream}`);
  setInterval(() => console.log(JSON.stringify(proxy.stats())), 10_000);
}
