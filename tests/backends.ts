/**
 * The stores the suites run against. Real servers are started by `scripts/servers.sh`
 * (which `npm test` calls) and announced through env vars; a backend whose server is not
 * available is skipped with its reason, unless `OQ_REQUIRE_BACKENDS` names it (CI), in
 * which case its absence fails the run.
 */
import { getEnv } from "../src/runtime/mod.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { S3Store } from "../src/store/s3_store.ts";
import type { ObjectStore } from "../src/store/types.ts";

/** An opened store plus how to release it. */
export interface Backend {
  store: ObjectStore;
  close(): Promise<void>;
}

/** How to open one backend, or why it is skipped. */
export interface BackendFactory {
  name: string;
  /** A reason to skip, or false. */
  skip: string | false;
  /** Does the bucket keep versions? */
  versioned: boolean;
  /** Rounds of the concurrency race cases. */
  rounds?: number;
  open(): Promise<Backend>;
}

function required(name: string): boolean {
  return (getEnv("OQ_REQUIRE_BACKENDS") ?? "").split(",").map((s) => s.trim()).includes(name);
}

function unavailable(name: string, reason: string, versioned: boolean): BackendFactory {
  if (required(name)) {
    throw new Error(`Backend ${name} is required (OQ_REQUIRE_BACKENDS) but unavailable: ${reason}`);
  }
  console.log(`# backend ${name}: skipped (${reason})`);
  return { name, skip: reason, versioned, open: () => Promise.reject(new Error(reason)) };
}

/** A fresh bucket name for one test file. */
export function testBucket(): string {
  return `oq-test-${crypto.randomUUID().slice(0, 12)}`;
}

/** The in-memory store, versioned. */
export function memoryBackend(): BackendFactory {
  return {
    name: "memory",
    skip: false,
    versioned: true,
    rounds: 50,
    open: () => Promise.resolve({ store: new MemoryStore(), close: () => Promise.resolve() }),
  };
}

async function openS3(
  endpoint: string,
  accessKeyId: string,
  secretAccessKey: string,
  versioned: boolean,
): Promise<Backend> {
  const store = new S3Store({
    endpoint,
    bucket: testBucket(),
    region: "us-east-1",
    accessKeyId,
    secretAccessKey,
  });
  await store.createBucket();
  if (versioned) await store.putVersioning(true);
  return { store, close: () => Promise.resolve() };
}

/** moto_server, with a versioned bucket. */
export function motoBackend(): BackendFactory {
  const url = getEnv("OQ_TEST_MOTO_URL");
  if (!url) {
    return unavailable("moto", "OQ_TEST_MOTO_URL is not set; run scripts/servers.sh start", true);
  }
  console.log(`# backend moto: ${url}`);
  return {
    name: "moto",
    skip: false,
    versioned: true,
    rounds: 10,
    open: () => openS3(url, "testing", "testing", true),
  };
}

/** Ceph RGW, unversioned: it ignores conditional writes on versioned buckets (see docs). */
export function cephBackend(): BackendFactory {
  const url = getEnv("OQ_TEST_CEPH_URL");
  const key = getEnv("OQ_TEST_CEPH_ACCESS_KEY");
  const secret = getEnv("OQ_TEST_CEPH_SECRET_KEY");
  if (!url || !key || !secret) {
    return unavailable("ceph", "OQ_TEST_CEPH_URL is not set; run scripts/servers.sh start", false);
  }
  console.log(`# backend ceph: ${url} (unversioned bucket)`);
  return {
    name: "ceph",
    skip: false,
    versioned: false,
    rounds: 10,
    open: () => openS3(url, key, secret, false),
  };
}

/** MinIO in a container through testcontainers; skipped when no container runtime exists. */
export async function minioBackend(): Promise<BackendFactory> {
  let container: { getConnectionUrl(): string; stop(): Promise<unknown> } | undefined;
  try {
    const { MinioContainer } = await import("@testcontainers/minio");
    container = await new MinioContainer("minio/minio:RELEASE.2025-09-07T16-13-09Z").start();
  } catch (e) {
    const reason = e instanceof Error ? e.message.split("\n")[0]! : String(e);
    return unavailable("minio", `no container runtime: ${reason}`, true);
  }
  const url = container.getConnectionUrl();
  console.log(`# backend minio: ${url}`);
  return {
    name: "minio",
    skip: false,
    versioned: true,
    rounds: 10,
    open: async () => {
      const b = await openS3(url, "minioadmin", "minioadmin", true);
      return { store: b.store, close: async () => void (await container!.stop()) };
    },
  };
}
