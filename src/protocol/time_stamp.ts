/**
 * The sortable UTC stamps of index keys (`20261122T124005.123Z`), made and parsed.
 *
 * @module
 */

/** Render a time as the sortable UTC stamp used in index keys: `20261122T124005.123Z`. */
export function timeStamp(ms: number): string {
  const at = Math.floor(ms);
  // The tasks of one batch share a due time: a worker stamps the same one again and again.
  if (at === lastStampAt) return lastStamp;
  const iso = new Date(at).toISOString(); // 2026-11-22T12:40:05.123Z
  lastStamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${
    iso.slice(14, 16)
  }${iso.slice(17, 23)}Z`;
  lastStampAt = at;
  return lastStamp;
}

let lastStampAt = Number.NaN;
let lastStamp = "";

/** Parse a stamp made by {@link timeStamp}; `NaN` when malformed. */
export function parseTimeStamp(stamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(stamp);
  if (!m) return Number.NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}
