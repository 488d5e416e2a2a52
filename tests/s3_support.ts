/**
 * Test support for the S3 client: a scripted fetch stub that records every request and
 * answers from a list of canned responses, and a client factory with fast retries.
 */
import { S3Client } from "../src/s3/client.ts";
import type { FetchFunction, S3ClientOptions } from "../src/s3/config.ts";

/** A request as the stub saw it. */
export interface Recorded {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
}

/** What the stub does for one request: answer, throw, or hang until aborted. */
export type Step =
  | { status: number; body?: string; headers?: Record<string, string> }
  | { throw: unknown }
  | { hang: true }
  | ((r: Recorded) => Response | Promise<Response>);

/** A fetch stub answering the steps in order (the last one repeats). */
export function stubFetch(steps: Step[]): { fetch: FetchFunction; requests: Recorded[] } {
  const requests: Recorded[] = [];
  const fetch: FetchFunction = async (request) => {
    const r: Recorded = {
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
      body: request.method === "GET" || request.method === "HEAD" ? "" : await request.text(),
    };
    requests.push(r);
    const step = steps[Math.min(requests.length - 1, steps.length - 1)]!;
    if (typeof step === "function") return await step(r);
    if ("throw" in step) throw step.throw;
    if ("hang" in step) {
      return await new Promise<Response>((_, reject) => {
        const signal = request.signal;
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    const headers = new Headers({ date: new Date(0).toUTCString(), ...step.headers });
    const noBody = request.method === "HEAD" || step.status === 204 || step.status === 304;
    return new Response(noBody ? null : step.body ?? "", { status: step.status, headers });
  };
  return { fetch, requests };
}

/** An S3 error body as AWS sends it. */
export function errorXml(code: string, message = "An error", key?: string): string {
  const k = key !== undefined ? `<Key>${key}</Key>` : "";
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${k}<RequestId>4442587FB7D0A2F9</RequestId><HostId>hid</HostId></Error>`;
}

/** A client on a stubbed fetch, with retries that do not wait. */
export function stubClient(
  steps: Step[],
  options: Partial<S3ClientOptions> = {},
): { client: S3Client; requests: Recorded[] } {
  const { fetch, requests } = stubFetch(steps);
  const client = new S3Client({
    endpoint: "http://s3.test:9000",
    bucket: "bkt",
    region: "us-east-1",
    accessKeyId: "AKIDEXAMPLE12345",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    retryBaseDelayMs: 0,
    fetch,
    ...options,
  });
  return { client, requests };
}
