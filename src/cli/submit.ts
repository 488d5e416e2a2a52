/**
 * `oq submit`: one task from flags, or many from a JSON-lines file (`--file`).
 *
 * @module
 */

import { MAX_DELAY_SECONDS } from "../base/limits.ts";
import type { Queue } from "../queue/queue.ts";
import type { SubmitOptions } from "../task/new_task.ts";
import type { Task } from "../task/task.ts";
import { openQueue } from "./config.ts";
import { usageError } from "./errors.ts";
import { clearProgress, out, outJson, progress } from "./io.ts";
import {
  parseDuration,
  parseIntFlag,
  parseJsonText,
  parseTimeFlag,
  parseTimeout,
  readJsonInput,
  readTextFlag,
} from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";
import { fileByteSource, readStdin } from "../runtime/mod.ts";
import { bytes, type ByteSource } from "../task/bytes.ts";

// `--bytes PATH`: the file as a source read twice (hashed, then sent), never held whole.
async function bytesFlag(path: string): Promise<ByteSource> {
  if (path === "-") {
    throw usageError("--bytes takes a file path: stdin has no size to announce (save it first)");
  }
  const source = await fileByteSource(path);
  if (source === null) throw usageError(`--bytes: file ${JSON.stringify(path)} not found`);
  return source;
}

/** The flags of `oq submit` that become submit options. */
interface SubmitFlags {
  at?: string;
  delay?: string;
  ttl?: string;
  expiresAt?: string;
  timeout?: string;
  maxRetries?: string;
  idempotencyKey?: string;
  priority?: string;
  idempotencyTtl?: string;
}

/** Turn flags into submit options (validated, before any I/O). */
export function submitOptions(f: SubmitFlags): SubmitOptions {
  if (f.at !== undefined && f.delay !== undefined) {
    throw usageError("Give --at or --delay, not both");
  }
  if (f.ttl !== undefined && f.expiresAt !== undefined) {
    throw usageError("Give --ttl or --expires-at, not both");
  }
  const o: SubmitOptions = {};
  if (f.at !== undefined) o.scheduleAt = parseTimeFlag(f.at, "--at");
  const longest = MAX_DELAY_SECONDS * 1000;
  if (f.delay !== undefined) {
    o.delaySeconds = parseDuration(f.delay, "--delay", "s", longest) / 1000;
  }
  if (f.ttl !== undefined) {
    o.ttlSeconds = parseDuration(f.ttl, "--ttl", "s", longest) / 1000;
    if (!(o.ttlSeconds > 0)) throw usageError("Invalid --ttl: must be more than 0");
  }
  if (f.expiresAt !== undefined) o.expiresAt = parseTimeFlag(f.expiresAt, "--expires-at");
  if (f.timeout !== undefined) o.timeoutSeconds = parseTimeout(f.timeout);
  // Refuse what could never run, naming the flags (the library checks it again with the
  // store's clock, e.g. --expires-at against now).
  if (
    o.ttlSeconds !== undefined && o.delaySeconds !== undefined && o.ttlSeconds <= o.delaySeconds
  ) {
    throw usageError(
      `--ttl ${JSON.stringify(f.ttl)} ends before --delay ${
        JSON.stringify(f.delay)
      }: the task would expire before it could run`,
    );
  }
  if (
    o.scheduleAt instanceof Date && o.expiresAt instanceof Date &&
    o.expiresAt.getTime() <= o.scheduleAt.getTime()
  ) {
    throw usageError(
      `--expires-at ${JSON.stringify(f.expiresAt)} is not after --at ${
        JSON.stringify(f.at)
      }: the task would expire before it could run`,
    );
  }
  if (f.maxRetries !== undefined) o.maxRetries = parseIntFlag(f.maxRetries, "--max-retries", 0);
  if (f.idempotencyKey !== undefined) o.idempotencyKey = f.idempotencyKey;
  if (f.priority !== undefined) o.priority = parseIntFlag(f.priority, "--priority", -9, 9);
  if (f.idempotencyTtl !== undefined) {
    o.idempotencyTtlSeconds = parseDuration(f.idempotencyTtl, "--idempotency-ttl", "s", longest) /
      1000;
    if (!(o.idempotencyTtlSeconds > 0)) {
      throw usageError("Invalid --idempotency-ttl: must be more than 0");
    }
  }
  return o;
}

const FLAG_OF: Record<string, string> = {
  timeoutSeconds: "--timeout",
  maxRetries: "--max-retries",
  scheduleAt: "--at",
  delaySeconds: "--delay",
  ttlSeconds: "--ttl",
  expiresAt: "--expires-at",
  idempotencyKey: "--idempotency-key",
  priority: "--priority",
  idempotencyTtlSeconds: "--idempotency-ttl",
};

/** A submit option's refusal, reworded with the flag names (`expiresAt` → `--expires-at`). */
export function withFlagNames(e: unknown): unknown {
  if (!(e instanceof RangeError || e instanceof TypeError)) return e;
  const names = new RegExp(`\\b(${Object.keys(FLAG_OF).join("|")})\\b`, "g");
  return usageError(e.message.replace(names, (m) => FLAG_OF[m]!));
}

const LINE_OPTIONS = [
  "timeoutSeconds",
  "maxRetries",
  "scheduleAt",
  "delaySeconds",
  "ttlSeconds",
  "expiresAt",
  "idempotencyKey",
  "priority",
  "idempotencyTtlSeconds",
] as const;

type Entry = [string, unknown, SubmitOptions];

/** Parse a JSON-lines file: inputs (with `-t`), or `{ type, input, ...options }` objects. */
export function parseJsonLines(text: string, where: string, taskType?: string): Entry[] {
  const entries: Entry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const at = `${where} line ${i + 1}`;
    const value = parseJsonText(line, at);
    if (taskType !== undefined) return void entries.push([taskType, value, {}]);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw usageError(`${at}: expected an object {"type": ..., "input": ...} (or give -t TYPE)`);
    }
    const { type, taskType: tt, input = null, ...rest } = value as Record<string, unknown>;
    const t = type ?? tt;
    if (typeof t !== "string") throw usageError(`${at}: "type" must be a string`);
    for (const k of Object.keys(rest)) {
      if (!(LINE_OPTIONS as readonly string[]).includes(k)) {
        throw usageError(
          `${at}: unknown field "${k}" (allowed: type, input, ${LINE_OPTIONS.join(", ")})`,
        );
      }
    }
    entries.push([t, input, rest as SubmitOptions]);
  });
  return entries;
}

/**
 * With `--file`, `--idempotency-ttl` is the window of every line that has an
 * `idempotencyKey` and no `idempotencyTtlSeconds` of its own (lines without a key have
 * none). Takes it out of `shared`, which applies to every line.
 */
function withKeyWindow(entries: Entry[], shared: SubmitOptions): Entry[] {
  const ttl = shared.idempotencyTtlSeconds;
  if (ttl === undefined) return entries;
  delete shared.idempotencyTtlSeconds;
  return entries.map(([type, input, o]) => [
    type,
    input,
    o.idempotencyKey !== undefined && o.idempotencyTtlSeconds === undefined
      ? { ...o, idempotencyTtlSeconds: ttl }
      : o,
  ]);
}

async function submitFile(
  queue: Queue,
  entries: Entry[],
  shared: SubmitOptions,
): Promise<Task[]> {
  // Validate every entry before writing anything, so a bad line leaves no half batch.
  const now = (await queue.now()).getTime();
  const { newTaskRecord, PROBE_PLACEMENT } = await import("../task/new_task.ts");
  for (const [i, [type, input, opts]] of entries.entries()) {
    try {
      await newTaskRecord(type, input, { ...shared, ...opts }, queue.options, now, PROBE_PLACEMENT);
    } catch (e) {
      throw usageError(`entry ${i + 1}: ${(e as Error).message}`);
    }
  }
  const tasks: Task[] = [];
  for (let i = 0; i < entries.length; i += 100) {
    tasks.push(...await queue.submitMany(entries.slice(i, i + 100), shared));
    progress(`submitted ${tasks.length}/${entries.length}`);
  }
  clearProgress();
  return tasks;
}

/** Register `oq submit`. */
export function registerSubmit(program: Program): void {
  program.command("submit")
    .description("Submit a task (or many from a JSON-lines file); prints the task id")
    .option("-t, --type <type>", "task type")
    .option("-i, --input <json>", "input: JSON, @file.json, or - for stdin (default: null)")
    .option("-f, --file <path>", "submit one task per line of a JSON-lines file (- for stdin)")
    .option("--bytes <path>", "input: the raw bytes of this file, streamed beside the task")
    .option("--at <time>", "not before this RFC 3339 time")
    .option("--delay <duration>", "not before now + duration (30s, 5m, 1h)")
    .option("--ttl <duration>", "expire if not started within this duration")
    .option("--expires-at <time>", "expire if not started by this RFC 3339 time")
    .option("--timeout <duration>", "per-attempt time limit (bare number: seconds; default 300)")
    .option("--max-retries <n>", "retries after the first attempt (default 3)")
    .option("--idempotency-key <key>", "same key, same task: a second submit creates nothing")
    .option("--priority <n>", "-9 to 9, higher runs first; each level is worth an hour of waiting")
    .option(
      "--idempotency-ttl <duration>",
      "the key deduplicates for this long (default: forever); then a finished task is replaced",
    )
    .option("--json", "print the task as JSON (an array with --file)")
    .addHelpText(
      "after",
      examples(
        `oq submit -t send_email -i '{"to":"a@b.c"}'`,
        "oq submit -t report -i @params.json --delay 1h --timeout 10m",
        "oq submit -t send_email -i @urgent.json --priority 5",
        `echo '{"n":1}' | oq submit -t compute -i - --json`,
        "oq submit -t resize --file inputs.jsonl           # one input per line",
        "oq submit -t transcode --bytes video.mp4          # raw bytes, any size up to 5 GiB",
        `oq submit --file tasks.jsonl   # lines like {"type":"resize","input":{...},"delaySeconds":60}`,
      ) +
        "\n\nWith --file, prints one id per line; progress goes to stderr on a terminal.",
    )
    .action(async (flags, cmd) => {
      const shared = submitOptions(flags);
      if (flags.bytes !== undefined && (flags.input !== undefined || flags.file !== undefined)) {
        throw usageError("Give one of --input, --file and --bytes");
      }
      if (flags.file !== undefined) {
        if (flags.input !== undefined) throw usageError("Give --input or --file, not both");
        if (flags.idempotencyKey !== undefined) {
          throw usageError(
            "--idempotency-key applies to one task: put idempotencyKey in each line",
          );
        }
        const text = flags.file === "-"
          ? new TextDecoder().decode(await readStdin())
          : await readTextFlag(flags.file, "--file");
        const entries = withKeyWindow(
          parseJsonLines(text, flags.file === "-" ? "stdin" : flags.file, flags.type),
          shared,
        );
        const queue = await openQueue(globals(cmd));
        const tasks = await submitFile(queue, entries, shared);
        if (flags.json) outJson(tasks);
        else if (tasks.length > 0) out(tasks.map((t) => t.id).join("\n"));
        return;
      }
      if (flags.type === undefined) throw usageError("Missing -t/--type (or give --file)");
      if (flags.idempotencyTtl !== undefined && flags.idempotencyKey === undefined) {
        throw usageError("--idempotency-ttl needs --idempotency-key (it is the key's window)");
      }
      const input = flags.bytes !== undefined
        ? bytes(await bytesFlag(flags.bytes))
        : flags.input === undefined
        ? null
        : await readJsonInput(flags.input, "--input");
      const queue = await openQueue(globals(cmd));
      const task = await queue.submit(flags.type, input, shared).catch((e) => {
        throw withFlagNames(e);
      });
      if (flags.json) outJson(task);
      else out(task.id);
    });
}
