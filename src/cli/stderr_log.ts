/**
 * The lines an `--exec` command writes to stderr, on their way to the worker log: split
 * into lines as they come, and capped per attempt (a command that prints 300,000 lines must
 * not add 56 MB to the log); what is left out is counted and reported once at the end.
 *
 * @module
 */

/** Lines of one attempt's stderr forwarded to the log, at most. */
export const STDERR_LOG_MAX_LINES = 1000;
/** Bytes of one attempt's stderr forwarded to the log, at most (64 KiB). */
export const STDERR_LOG_MAX_BYTES = 64 * 1024;
/** A line longer than this is forwarded in pieces of this many characters. */
const MAX_LINE_CHARS = 4096;

/** What was left out of the log. */
export interface Dropped {
  /** Lines not forwarded (a last line without a newline counts as one). */
  lines: number;
  /** Bytes not forwarded. */
  bytes: number;
}

/**
 * Splits one attempt's stderr into lines and forwards at most `maxLines` lines and
 * `maxBytes` bytes of them; past the cap it only counts what it drops.
 *
 * @example
 * ```ts
 * import { StderrLines } from "./stderr_log.ts";
 * const lines: string[] = [];
 * const s = new StderrLines((l) => lines.push(l), 1, 1024);
 * s.push(new TextEncoder().encode("one\ntwo\nthree\n"));
 * s.end(); // { lines: 2, bytes: 10 }; lines is ["one"]
 * ```
 */
export class StderrLines {
  readonly #onLine: (line: string) => void;
  readonly #maxLines: number;
  readonly #maxBytes: number;
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  #partial = "";
  #lines = 0;
  #bytes = 0;
  #full = false;
  #dropped: Dropped = { lines: 0, bytes: 0 };
  #openDropped = false; // a dropped line without its newline yet

  /** Forward lines to `onLine`, at most `maxLines` lines and `maxBytes` bytes. */
  constructor(
    onLine: (line: string) => void,
    maxLines = STDERR_LOG_MAX_LINES,
    maxBytes = STDERR_LOG_MAX_BYTES,
  ) {
    this.#onLine = onLine;
    this.#maxLines = maxLines;
    this.#maxBytes = maxBytes;
  }

  /** Take a chunk of stderr. */
  push(chunk: Uint8Array): void {
    if (this.#full) return this.#count(chunk);
    this.#split(this.#decoder.decode(chunk, { stream: true }), false);
  }

  /** The command has ended: forward the last line, and say what was dropped. */
  end(): Dropped {
    if (!this.#full) this.#split(this.#decoder.decode(), true);
    else if (this.#openDropped) this.#dropped.lines++;
    this.#openDropped = false;
    return { ...this.#dropped };
  }

  #split(text: string, flush: boolean): void {
    this.#partial += text;
    const parts = this.#partial.split("\n");
    this.#partial = flush ? "" : parts.pop()!;
    while (this.#partial.length > MAX_LINE_CHARS) {
      parts.push(this.#partial.slice(0, MAX_LINE_CHARS));
      this.#partial = this.#partial.slice(MAX_LINE_CHARS);
    }
    for (const [i, line] of parts.entries()) {
      if (flush && line === "" && i === parts.length - 1) continue; // the final newline
      const bytes = this.#encoder.encode(line).length + 1;
      if (this.#full || this.#lines >= this.#maxLines || this.#bytes + bytes > this.#maxBytes) {
        this.#full = true;
        this.#dropped.lines++;
        this.#dropped.bytes += bytes;
        continue;
      }
      this.#lines++;
      this.#bytes += bytes;
      this.#onLine(line);
    }
    if (this.#full && this.#partial !== "") {
      // From here on only counted: the pending piece is the start of a dropped line.
      this.#dropped.bytes += this.#encoder.encode(this.#partial).length;
      this.#openDropped = true;
      this.#partial = "";
    }
  }

  #count(chunk: Uint8Array): void {
    this.#dropped.bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === 10) {
        this.#dropped.lines++;
        this.#openDropped = false;
      } else this.#openDropped = true;
    }
  }
}
