/**
 * The `oq dev` server as a conformance-suite backend (in memory or in a temporary
 * directory), reached through oq's own S3 client, plus helpers the dev tests share.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import {
  DEV_DEFAULTS,
  type DevServer,
  type DevServerOptions,
  startDevServer,
} from "../src/dev/main.ts";
import { S3Store } from "../src/store/s3_store.ts";
import type { S3ClientOptions } from "../src/s3/config.ts";
import { type BackendFactory, testBucket } from "./backends.ts";

/** Where the dev server keeps its data in a test. */
export type DevMode = "memory" | "dir";

/** A fresh temporary directory. */
export async function tempDir(): Promise<string> {
  return await mkdtemp(join(tmpdir(), "oq-dev-test-"));
}

/** Remove a temporary directory. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Start a dev server on a free loopback port, without the lifecycle timer. */
export async function startTestServer(options: DevServerOptions = {}): Promise<DevServer> {
  return await startDevServer({ port: 0, lifecycleIntervalMs: 0, ...options });
}

/** An S3Store on a dev server, with the dev credentials and fast retries. */
export function devStore(
  url: string,
  bucket = testBucket(),
  extra: Partial<S3ClientOptions> = {},
): S3Store {
  return new S3Store({
    endpoint: url,
    bucket,
    region: "us-east-1",
    accessKeyId: DEV_DEFAULTS.accessKeyId,
    secretAccessKey: DEV_DEFAULTS.secretAccessKey,
    retryBaseDelayMs: 5,
    ...extra,
  });
}

/** The dev server as a store-conformance backend: a new server (and directory) per suite. */
export function devBackend(mode: DevMode): BackendFactory {
  return {
    name: `oq dev (${mode === "dir" ? "directory" : "memory"})`,
    skip: false,
    versioned: true,
    rounds: 10,
    async open() {
      const dir = mode === "dir" ? await tempDir() : undefined;
      const dev = await startTestServer(dir !== undefined ? { dir } : { memory: true });
      const store = devStore(dev.url);
      await store.createBucket();
      await store.putVersioning(true);
      return {
        store,
        async close() {
          await dev.stop();
          if (dir !== undefined) await removeDir(dir);
        },
      };
    },
  };
}

/** `YYYYMMDDTHHMMSSZ`, for signing at a chosen time. */
export const amzDate = (ms: number): string =>
  new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, "");

/** An aws4fetch signer with the dev credentials (or others). */
export function signer(
  secretAccessKey: string = DEV_DEFAULTS.secretAccessKey,
  accessKeyId: string = DEV_DEFAULTS.accessKeyId,
) {
  return new AwsClient({
    accessKeyId,
    secretAccessKey,
    service: "s3",
    region: "us-east-1",
    retries: 0,
  });
}

/** Sign and send a request with aws4fetch; the body is read. */
export async function call(
  aws: AwsClient,
  url: string,
  init: RequestInit & { aws?: Record<string, unknown> } = {},
) {
  const res = await fetch(await aws.sign(url, init));
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The `<Code>` of an S3 error body. */
export function errorCode(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}
