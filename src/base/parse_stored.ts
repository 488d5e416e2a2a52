/**
 * Parsing stored JSON objects against a schema: the one check every object read from the
 * bucket passes (tasks, schedules, heartbeats, the layout).
 *
 * @module
 */

import type { z } from "zod";
import { SchemaError } from "./errors.ts";

// One decoder for every read (creating one per object showed in workers' profiles).
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parse stored bytes with a schema. Invalid UTF-8, invalid JSON, a `schema_version` newer
 * than `version`, or a schema mismatch is a {@link SchemaError} naming the key.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { parseStored } from "./parse_stored.ts";
 * const schema = z.object({ schema_version: z.literal(1), n: z.number() });
 * parseStored("a.json", new TextEncoder().encode('{"schema_version":1,"n":2}'), schema, 1); // { schema_version: 1, n: 2 }
 * ```
 */
export function parseStored<T>(
  key: string,
  body: Uint8Array,
  schema: z.ZodType<T>,
  version: number,
): T {
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(body));
  } catch (e) {
    throw new SchemaError(key, `not valid UTF-8 JSON (${(e as Error).message})`, { cause: e });
  }
  return checkStored(key, json, schema, version);
}

/**
 * {@link parseStored} for a value already parsed from JSON (a record carried inside another
 * object): the same version and schema checks.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { checkStored } from "./parse_stored.ts";
 * const schema = z.object({ schema_version: z.literal(1), n: z.number() });
 * checkStored("a.json", { schema_version: 1, n: 2 }, schema, 1); // { schema_version: 1, n: 2 }
 * ```
 */
export function checkStored<T>(
  key: string,
  json: unknown,
  schema: z.ZodType<T>,
  version: number,
): T {
  const v = (json as { schema_version?: unknown } | null)?.schema_version;
  if (typeof v === "number" && v > version) {
    throw new SchemaError(
      key,
      `schema_version ${v} is newer than this oq understands (${version})`,
    );
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new SchemaError(key, `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return r.data;
}
