/**
 * Payload objects: the requests that store an input or output too large for the task object
 * beside it (`payloads/{home}/{task_id}/{kind}-{sha256}`) and read it back. The write rules
 * (docs/format.md, "Payload references"):
 *
 * - a payload is written *before* the task write that points to it (the submit's create, the
 *   completion's compare-and-swap), so a crash in between leaves an orphan payload, never a
 *   task pointing at nothing; orphans are removed by the monitor's sweep
 *   (src/monitor/payload_sweep.ts);
 * - a payload is named by its content's hash, so a write never changes what an existing task
 *   points to (an idempotent re-submit with another input writes another key);
 * - every read checks the size and SHA-256 the task recorded.
 *
 * Payloads are streamed: a write sends the JSON text's UTF-8 bytes a chunk at a time (its
 * size and SHA-256 computed first, chunk by chunk), a read hashes and decodes the response
 * as it arrives, so the bytes are never held whole; the JSON text and the value are (see
 * docs/format.md, "Memory").
 *
 * @module
 */

import type { ObjectStore, VersionInfo } from "../store/types.ts";
import type { Transition } from "../task/transitions.ts";
import type { Keys } from "./keys.ts";
import { versionPages } from "../store/paging.ts";
import { hasPayloadRef, TASK_SCHEMA_VERSION, type TaskRecord } from "../task/task.ts";
import { sha256Hex } from "../runtime/hash.ts";
import { Bytes } from "../task/bytes.ts";
import { bytesBody, storedBytes } from "../task/bytes_io.ts";
import {
  jsonBody,
  PayloadError,
  type PayloadKind,
  type PayloadRef,
  readJsonPayload,
  utf8Length,
} from "../task/payload_ref.ts";

/** A payload this process wrote: where, and which version (to undo exactly that write). */
export interface PayloadWrite {
  /** Object key. */
  key: string;
  /** Version id of the write, when the bucket is versioned. */
  versionId?: string;
  /** The reference the task records. */
  ref: PayloadRef;
}

/** An output ready to record: inline, JSON text to store by reference, or raw bytes. */
export type PreparedOutput = { output: unknown } | { json: string } | { bytes: Bytes };

/** Values of a record's references, read and checked. */
export interface LoadedPayloads {
  /** The input, when the record has an `input_ref`. */
  input?: unknown;
  /** The output, when the record has an `output_ref`. */
  output?: unknown;
}

/** One stored version of a payload object, with the kind its key names. */
export interface PayloadVersion extends VersionInfo {
  /** Input or output. */
  kind: PayloadKind;
}

/** Payload I/O of one queue. */
export class PayloadStore {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #inlineBytes: number;

  /** Payload I/O over a store; values over `inlineBytes` of JSON go beside the task. */
  constructor(store: ObjectStore, keys: Keys, inlineBytes: number) {
    this.#store = store;
    this.#keys = keys;
    this.#inlineBytes = inlineBytes;
  }

  /** The threshold: JSON values over this many bytes are stored by reference. */
  get inlineBytes(): number {
    return this.#inlineBytes;
  }

  /**
   * Store a new task's input beside it when its JSON is over the threshold, or when it is
   * raw bytes (one PUT, streamed), and return the record to create (input `null`,
   * `input_ref`, version 2) with the write; a small input leaves the record as it is and
   * sends nothing.
   */
  async putInput(rec: TaskRecord): Promise<{ rec: TaskRecord; write: PayloadWrite | null }> {
    let write: PayloadWrite;
    if (rec.input instanceof Bytes) write = await this.#put(rec.id, "input", rec.input);
    else {
      const json = JSON.stringify(rec.input) ?? "null";
      if (!this.#over(json)) return { rec, write: null };
      write = await this.#put(rec.id, "input", json);
    }
    return { rec: withRefs({ ...rec, input: null, input_ref: write.ref }), write };
  }

  /**
   * A handler's output (its JSON text, already bounded by `maxOutputBytes`) as it will be
   * recorded: the value to store inline, or the JSON text to stream beside the task.
   */
  prepareOutput(json: string | null): PreparedOutput {
    if (json === null) return { output: null };
    return this.#over(json) ? { json } : { output: JSON.parse(json) };
  }

  // Whether JSON text is over the threshold in UTF-8 bytes; short text is not even counted
  // (a UTF-16 unit is at most 3 bytes).
  #over(json: string): boolean {
    return json.length * 3 > this.#inlineBytes && utf8Length(json) > this.#inlineBytes;
  }

  /**
   * Store a prepared output beside the task when it is over the threshold (one PUT, before
   * the completion write). Returns the value to record inline, or the reference.
   */
  async putOutput(
    taskId: string,
    prepared: PreparedOutput,
  ): Promise<{ output: unknown; ref?: PayloadRef }> {
    if ("output" in prepared) return { output: prepared.output };
    const write = await this.#put(
      taskId,
      "output",
      "json" in prepared ? prepared.json : prepared.bytes,
    );
    return { output: null, ref: write.ref };
  }

  // One PUT of JSON text or raw bytes, streamed; the key is named by the content's hash.
  async #put(taskId: string, kind: PayloadKind, value: string | Bytes): Promise<PayloadWrite> {
    const body = value instanceof Bytes ? await bytesBody(value) : jsonBody(value);
    const ref: PayloadRef = body instanceof Uint8Array
      ? { sha256: await sha256Hex(body), size: body.length }
      : { sha256: body.sha256, size: body.size };
    if (value instanceof Bytes) ref.format = "bytes";
    const key = this.#keys.payload(taskId, kind, ref.sha256);
    // Unconditional: the key is the content's hash, so a repeat writes the same bytes.
    const contentType = value instanceof Bytes ? "application/octet-stream" : "application/json";
    const r = await this.#store.put(key, body, { contentType });
    return { key, versionId: r.versionId, ref };
  }

  /**
   * Undo a payload write that no task points to (a re-submit that found its task existing):
   * delete exactly the version written. In an unversioned bucket an object the existing
   * task also points to (same hash) is kept. (A create that landed while its answer said
   * 412, sent again unseen by the HTTP stack, is recognised as the submit's own by its
   * `write_id` before this is reached: src/protocol/stored.ts.)
   */
  async undo(write: PayloadWrite, existing: TaskRecord | null): Promise<void> {
    const versioned = write.versionId !== undefined && write.versionId !== "null";
    if (!versioned && existing?.input_ref?.sha256 === write.ref.sha256) return;
    await this.#store.delete(write.key, { versionId: versioned ? write.versionId : undefined })
      .catch(() => undefined); // an orphan left here is removed by the sweep
  }

  /**
   * Read one payload (one GET, streamed) and check it against its reference. A missing
   * object or one that does not match is a {@link PayloadError}. Raw bytes are returned
   * as a {@link Bytes} without a request; each read of it is one GET, checked as it streams.
   */
  async read(
    taskId: string,
    kind: PayloadKind,
    ref: PayloadRef,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const key = this.#keys.payload(taskId, kind, ref.sha256);
    if (ref.format === "bytes") return this.open(taskId, kind, ref); // read when streamed
    const o = await this.#store.getStream(key, { signal });
    if (o === null) {
      throw new PayloadError(
        "PayloadMissing",
        key,
        `Payload ${key} of task ${taskId} is missing (the task records ${ref.size} bytes, ` +
          `SHA-256 ${ref.sha256})`,
      );
    }
    return await readJsonPayload(key, o.chunks, ref);
  }

  /**
   * A stored payload as {@link Bytes}, as stored (raw bytes, or a value's JSON text), with
   * no request yet: each `stream()` is one GET, checked against the reference as it
   * streams (`oq payload` writes it out this way).
   */
  open(taskId: string, kind: PayloadKind, ref: PayloadRef): Bytes {
    const key = this.#keys.payload(taskId, kind, ref.sha256);
    return storedBytes(key, ref, async () => (await this.#store.getStream(key))?.chunks ?? null);
  }

  /** Read every reference of a record (one GET each); `{}` for a record without any. */
  async load(rec: TaskRecord, signal?: AbortSignal): Promise<LoadedPayloads> {
    const out: LoadedPayloads = {};
    if (rec.input_ref) out.input = await this.read(rec.id, "input", rec.input_ref, signal);
    if (rec.output_ref) out.output = await this.read(rec.id, "output", rec.output_ref, signal);
    return out;
  }

  /**
   * The payload versions of one home shard (`payloads/{shard}/`), a page at a time (one LIST
   * of up to 1,000 versions each) until the listing ends or the caller stops iterating.
   * Each page maps a task id to its versions; keys that are not payloads are left out.
   */
  async *shardVersions(shard: string): AsyncGenerator<Map<string, PayloadVersion[]>> {
    const prefix = this.#keys.payloadsPrefix(shard);
    for await (const page of versionPages(this.#store, { prefix, maxKeys: 1000 })) {
      const byTask = new Map<string, PayloadVersion[]>();
      for (const v of page.versions) {
        const p = this.#keys.parsePayload(v.key);
        if (p === null) continue; // not ours: left alone
        const list = byTask.get(p.taskId) ?? [];
        list.push({ ...v, kind: p.kind });
        byTask.set(p.taskId, list);
      }
      yield byTask;
    }
  }

  /**
   * Whether `v` is the object a record's reference names (`input_ref`, `output_ref`), as
   * opposed to a payload no reference names.
   */
  referenced(taskId: string, rec: TaskRecord, v: PayloadVersion): boolean {
    const ref = v.kind === "input" ? rec.input_ref : rec.output_ref;
    return ref !== undefined && v.key === this.#keys.payload(taskId, v.kind, ref.sha256);
  }

  /** Delete these payload versions (free DELETEs); returns how many were removed. */
  async removeVersions(versions: readonly PayloadVersion[]): Promise<number> {
    if (versions.length === 0) return 0;
    const refs = versions.map((v) => ({
      key: v.key,
      versionId: v.versionId === "null" ? undefined : v.versionId,
    }));
    return (await this.#store.deleteMany(refs)).deleted.length;
  }

  /**
   * Delete every payload of a task, with every version (one LIST per 1,000 versions plus
   * free DELETEs). Returns how many versions were removed.
   */
  async removeAll(taskId: string): Promise<number> {
    const prefix = this.#keys.payloadsOf(taskId);
    let removed = 0;
    for await (const page of versionPages(this.#store, { prefix })) {
      const refs = page.versions.map((v) => ({
        key: v.key,
        versionId: v.versionId === "null" ? undefined : v.versionId,
      }));
      if (refs.length) {
        const r = await this.#store.deleteMany(refs);
        removed += r.deleted.length;
      }
    }
    return removed;
  }
}

/** A record with its version set by whether it carries a reference. */
export function withRefs(rec: TaskRecord): TaskRecord {
  return { ...rec, schema_version: hasPayloadRef(rec) ? 2 : TASK_SCHEMA_VERSION };
}

/**
 * A completion's record: an output stored beside the task is recorded by its reference
 * (version 2) instead of the value, also when the attempt ends cancelled (a cancel request
 * came while the handler ran); an inline output drops the reference an earlier attempt left
 * (a cancelled task retried), whose object the sweep then removes.
 */
export function withOutputRef(t: Transition, ref: PayloadRef | undefined): Transition {
  if (!t.ok) return t;
  if (ref !== undefined) {
    return { ...t, next: withRefs({ ...t.next, output: null, output_ref: ref }) };
  }
  if (t.next.output_ref === undefined) return t;
  const { output_ref: _earlier, ...next } = t.next;
  return { ...t, next: withRefs(next) };
}
