/**
 * The schema of a time stored in a task record: an RFC 3339 string within the years oq
 * stores (four digits, see src/base/limits.ts), so every date derived from it is valid.
 *
 * @module
 */

import { z } from "zod";
import { MAX_TIME_MS } from "../base/limits.ts";

/** The earliest time a stored record may hold: 0000-01-01T00:00:00Z (a four-digit year). */
const MIN_TIME_MS = Date.parse("0000-01-01T00:00:00Z");

/** An RFC 3339 time between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z. */
export const isoDate: z.ZodType<string> = z.string().refine(
  (s) => {
    const ms = Date.parse(s);
    return ms >= MIN_TIME_MS && ms <= MAX_TIME_MS;
  },
  "expected an RFC 3339 time with a four-digit year",
);
