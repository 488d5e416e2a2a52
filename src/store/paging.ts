/**
 * Paging through listings: the one loop that follows continuation tokens (ListObjectsV2)
 * and key/version-id markers (ListObjectVersions), so no caller writes it again.
 *
 * @module
 */

import type {
  ListOptions,
  ListPage,
  ListVersionsOptions,
  ObjectStore,
  VersionPage,
} from "./types.ts";

/**
 * Every page of a ListObjectsV2 listing, one request each, until the listing ends or the
 * caller stops iterating (then no further request is sent).
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./memory_store.ts";
 * import { listPages } from "./paging.ts";
 * const store = new MemoryStore();
 * await store.put("a/1", "x");
 * for await (const page of listPages(store, { prefix: "a/" })) console.log(page.objects.length); // 1
 * ```
 */
export async function* listPages(
  store: ObjectStore,
  options: ListOptions = {},
): AsyncGenerator<ListPage> {
  let continuationToken = options.continuationToken;
  for (;;) {
    const page = await store.list({ ...options, continuationToken });
    yield page;
    if (!page.isTruncated || !page.nextContinuationToken) return;
    continuationToken = page.nextContinuationToken;
  }
}

/**
 * Every page of a ListObjectVersions listing, one request each, until it ends or the caller
 * stops iterating.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./memory_store.ts";
 * import { versionPages } from "./paging.ts";
 * const store = new MemoryStore();
 * await store.put("a/1", "x");
 * for await (const page of versionPages(store, { prefix: "a/" })) console.log(page.versions.length); // 1
 * ```
 */
export async function* versionPages(
  store: ObjectStore,
  options: ListVersionsOptions = {},
): AsyncGenerator<VersionPage> {
  let { keyMarker, versionIdMarker } = options;
  for (;;) {
    const page = await store.listVersions({ ...options, keyMarker, versionIdMarker });
    yield page;
    if (!page.isTruncated) return;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  }
}

/** Every object under a prefix (one LIST per 1,000). */
export async function listAllObjects(
  store: ObjectStore,
  prefix: string,
): Promise<ListPage["objects"]> {
  const out: ListPage["objects"] = [];
  for await (const page of listPages(store, { prefix })) out.push(...page.objects);
  return out;
}
