/**
 * Bucket lifecycle configuration for the dev server: parsing PutBucketLifecycleConfiguration,
 * rendering GetBucketLifecycleConfiguration, and {@link runLifecycleOnce}, which applies
 * every bucket's rules through the engine (the server runs it every minute and on demand).
 *
 * Honoured: `Expiration/Days`, `Expiration/ExpiredObjectDeleteMarker`,
 * `NoncurrentVersionExpiration/NoncurrentDays`, with a `Filter/Prefix` (or the legacy
 * rule-level `Prefix`, or an empty filter). Accepted and ignored: `AbortIncompleteMultipartUpload`
 * (the dev server has no multipart uploads). Refused with 501 NotImplemented: transitions,
 * tag and size filters, `Expiration/Date` and `NewerNoncurrentVersions`. Disabled rules
 * are accepted but not stored.
 *
 * @module
 */

import type { XmlNode } from "../s3/xml.ts";
import type { StorageEngine } from "../store/engine.ts";
import type { LifecycleRule } from "../store/types.ts";
import { invalidArgument, invalidRequest, malformedXml, notImplemented } from "./errors.ts";
import { document, el, parseBody } from "./xml.ts";

function child(node: XmlNode, name: string): XmlNode | undefined {
  return node.children.find((c) => c.name === name);
}

function days(node: XmlNode, name: string, action: string): number {
  const text = child(node, name)?.text.trim() ?? "";
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw invalidArgument(`'${name}' for ${action} action must be a positive integer`);
  }
  return n;
}

function rulePrefix(rule: XmlNode): string {
  const filter = child(rule, "Filter");
  if (filter) {
    for (const c of filter.children) {
      if (c.name !== "Prefix") throw notImplemented(`lifecycle Filter/${c.name}`);
    }
    return child(filter, "Prefix")?.text ?? "";
  }
  return child(rule, "Prefix")?.text ?? "";
}

/**
 * Parse a `LifecycleConfiguration` body into the enabled rules. Throws MalformedXML,
 * InvalidArgument, InvalidRequest or NotImplemented as described in the module doc.
 *
 * @example
 * ```ts
 * import { parseLifecycle } from "./lifecycle.ts";
 * const xml = "<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>ready/</Prefix></Filter>" +
 *   "<Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>" +
 *   "</NoncurrentVersionExpiration></Rule></LifecycleConfiguration>";
 * parseLifecycle(new TextEncoder().encode(xml)); // [{ id: "r", prefix: "ready/", noncurrentVersionExpirationDays: 1 }]
 * ```
 */
export function parseLifecycle(body: Uint8Array): LifecycleRule[] {
  const root = parseBody(body, "LifecycleConfiguration");
  const rules = root.children.filter((c) => c.name === "Rule");
  if (rules.length === 0 || rules.length > 1000) throw malformedXml();
  const ids = new Set<string>();
  const out: LifecycleRule[] = [];
  for (const node of rules) {
    const id = child(node, "ID")?.text ?? crypto.randomUUID();
    if (id.length > 255) throw invalidArgument("ID length should not exceed allowed limit of 255");
    if (ids.has(id)) {
      throw invalidArgument(
        "Rule ID must be unique. Found same ID for more than one rule",
        "ID",
        id,
      );
    }
    ids.add(id);
    const status = child(node, "Status")?.text.trim();
    if (status !== "Enabled" && status !== "Disabled") throw malformedXml();
    const rule: LifecycleRule = { id, prefix: rulePrefix(node) };
    let actions = 0;
    for (const c of node.children) {
      switch (c.name) {
        case "ID":
        case "Status":
        case "Filter":
        case "Prefix":
          break;
        case "Expiration":
          actions++;
          if (child(c, "Date")) throw notImplemented("lifecycle Expiration/Date");
          if (child(c, "Days")) rule.expirationDays = days(c, "Days", "Expiration");
          if (child(c, "ExpiredObjectDeleteMarker")?.text.trim() === "true") {
            rule.expiredObjectDeleteMarker = true;
          }
          if (rule.expirationDays !== undefined && rule.expiredObjectDeleteMarker) {
            throw invalidRequest(
              "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.",
            );
          }
          break;
        case "NoncurrentVersionExpiration":
          actions++;
          if (child(c, "NewerNoncurrentVersions")) {
            throw notImplemented("lifecycle NewerNoncurrentVersions");
          }
          rule.noncurrentVersionExpirationDays = days(
            c,
            "NoncurrentDays",
            "NoncurrentVersionExpiration",
          );
          break;
        case "AbortIncompleteMultipartUpload":
          actions++;
          break;
        default:
          throw notImplemented(`lifecycle ${c.name}`);
      }
    }
    if (actions === 0) throw invalidRequest("At least one action needs to be specified in a rule");
    if (status === "Enabled") out.push(rule);
  }
  return out;
}

/** Render rules as a GetBucketLifecycleConfiguration answer. */
export function renderLifecycle(rules: LifecycleRule[]): string {
  const inner = rules.map((r) => {
    let expiration = "";
    if (r.expirationDays !== undefined || r.expiredObjectDeleteMarker) {
      expiration = `<Expiration>${el("Days", r.expirationDays)}${
        r.expiredObjectDeleteMarker ? el("ExpiredObjectDeleteMarker", true) : ""
      }</Expiration>`;
    }
    const noncurrent = r.noncurrentVersionExpirationDays !== undefined
      ? `<NoncurrentVersionExpiration>${
        el("NoncurrentDays", r.noncurrentVersionExpirationDays)
      }</NoncurrentVersionExpiration>`
      : "";
    return `<Rule>${el("ID", r.id)}<Filter>${el("Prefix", r.prefix)}</Filter>${
      el("Status", "Enabled")
    }${expiration}${noncurrent}</Rule>`;
  }).join("");
  return document("LifecycleConfiguration", inner);
}

/** What one lifecycle pass did. */
export interface LifecycleRunResult {
  /** Buckets with at least one rule. */
  buckets: number;
  /** Versions and delete markers removed, plus current versions expired. */
  removed: number;
}

/**
 * Apply every bucket's lifecycle rules once, at the engine's current time.
 *
 * @example
 * ```ts
 * import { StorageEngine } from "../store/engine.ts";
 * import { runLifecycleOnce } from "./lifecycle.ts";
 * runLifecycleOnce(new StorageEngine(Date.now)); // { buckets: 0, removed: 0 }
 * ```
 */
export function runLifecycleOnce(engine: StorageEngine): LifecycleRunResult {
  const result: LifecycleRunResult = { buckets: 0, removed: 0 };
  for (const { name } of engine.listBuckets()) {
    if (engine.bucket(name).lifecycle.length === 0) continue;
    result.buckets++;
    result.removed += engine.applyLifecycle(name);
  }
  return result;
}
