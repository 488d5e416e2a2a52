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
import { compareKeys } from "./sorted_keys.ts";

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

/**
 * How much of the keys under `prefix` one page of a listing of a wider prefix holds:
 * `"whole"` when the page was not truncated or all of them sort before its last key,
 * `"part"` when its last key is one of them, `"none"` when they all sort after it.
 *
 * @example
 * ```ts
 * import { pageCovers } from "./paging.ts";
 * const page = { isTruncated: true, versions: [{ key: "ready/0/a" }, { key: "ready/1/b" }] };
 * pageCovers(page, "ready/0/"); // "whole"
 * pageCovers(page, "ready/1/"); // "part"
 * pageCovers(page, "ready/2/"); // "none"
 * ```
 */
export function pageCovers(
  page: { isTruncated: boolean; versions: ReadonlyArray<{ key: string }> },
  prefix: string,
): "whole" | "part" | "none" {
  if (!page.isTruncated) return "whole";
  const last = page.versions.at(-1)?.key;
  if (last === undefined) return "none";
  if (last.startsWith(prefix)) return "part";
  return compareKeys(prefix, last) < 0 ? "whole" : "none";
}
